"""The one module that talks to the OpenID provider: discovery, the authorization request (code
flow with PKCE S256, state and nonce), the token exchange (client_secret_basic), the ID token's
verification against the provider's keys (joserfc), and the userinfo call.

The issuer is an operator setting, so these calls are exempt from the public-address rule; they
still never follow a redirect. Nothing here touches users or the database: portal.accounts.sso
does, with the claims this module returns.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import httpx
from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.conf import settings
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import KeySet

TIMEOUT = 10.0
DISCOVERY_TTL = 300  # seconds a discovery document (and its keys) are reused
LEEWAY = 60  # seconds of clock difference allowed with the provider
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


class OidcError(Exception):
    """A sign-in the provider could not complete. `status`: the answer to give (502: the provider
    failed us; 4xx: the request or the token was wrong). The message is a sentence, never a secret."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Pending:
    """What the browser's session keeps between the redirect to the provider and the callback."""

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    next: str
    started_at: float


_discovered: dict[str, tuple[float, dict[str, Any], KeySet]] = {}


def _http() -> httpx.Client:
    return httpx.Client(timeout=TIMEOUT, follow_redirects=False)


def _get_json(client: httpx.Client, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
    try:
        response = client.get(url, **kwargs)
    except httpx.HTTPError:
        raise OidcError(f"The sign-in provider could not be reached for its {what}.", status=502) from None
    if response.status_code != 200:
        raise OidcError(f"The sign-in provider answered {response.status_code} for its {what}.", status=502)
    try:
        data = response.json()
    except ValueError:
        raise OidcError(f"The sign-in provider's {what} is not JSON.", status=502) from None
    if not isinstance(data, dict):
        raise OidcError(f"The sign-in provider's {what} is not a JSON object.", status=502)
    return data


def _provider(*, refresh: bool = False) -> tuple[dict[str, Any], KeySet]:
    issuer = settings.OIDC_ISSUER
    cached = _discovered.get(issuer)
    if cached and not refresh and cached[0] > time.monotonic():
        return cached[1], cached[2]
    with _http() as client:
        meta = _get_json(client, f"{issuer}/.well-known/openid-configuration", "discovery document")
        if meta.get("issuer") != issuer:
            raise OidcError("The sign-in provider's discovery document names another issuer.", status=502)
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(meta.get(key), str):
                raise OidcError(f"The sign-in provider's discovery document has no {key}.", status=502)
        try:
            keys = KeySet.import_key_set(_get_json(client, meta["jwks_uri"], "signing keys"))
        except (JoseError, ValueError, TypeError, KeyError):
            raise OidcError("The sign-in provider's signing keys could not be read.", status=502) from None
    _discovered[issuer] = (time.monotonic() + DISCOVERY_TTL, meta, keys)
    return meta, keys


def begin(*, redirect_uri: str, next_url: str) -> tuple[str, Pending]:
    """The provider's authorization URL to send the browser to, and what to keep until it returns."""
    meta, _ = _provider()
    pending = Pending(
        state=generate_token(32),
        nonce=generate_token(32),
        code_verifier=generate_token(64),
        redirect_uri=redirect_uri,
        next=next_url,
        started_at=time.time(),
    )
    url = add_params_to_uri(
        meta["authorization_endpoint"],
        [
            ("response_type", "code"),
            ("client_id", settings.OIDC_CLIENT_ID),
            ("redirect_uri", redirect_uri),
            ("scope", " ".join(settings.OIDC_SCOPES)),
            ("state", pending.state),
            ("nonce", pending.nonce),
            ("code_challenge", create_s256_code_challenge(pending.code_verifier)),
            ("code_challenge_method", "S256"),
        ],
    )
    return url, pending


def finish(*, pending: Pending, code: str) -> dict[str, Any]:
    """Exchange the code, verify the ID token, add the userinfo claims: the signed-in user's claims."""
    meta, keys = _provider()
    basic = base64.b64encode(
        f"{_form_encode(settings.OIDC_CLIENT_ID)}:{_form_encode(settings.OIDC_CLIENT_SECRET)}".encode()
    ).decode()
    with _http() as client:
        try:
            response = client.post(
                meta["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": pending.redirect_uri,
                    "code_verifier": pending.code_verifier,
                },
                headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
            )
        except httpx.HTTPError:
            raise OidcError("The sign-in provider could not be reached to finish the sign-in.", status=502) from None
        if response.status_code != 200:
            error = _error_code(response)
            raise OidcError(f"The sign-in provider refused the sign-in at its token endpoint ({error}).", status=502)
        try:
            tokens = response.json()
        except ValueError:
            raise OidcError("The sign-in provider's token answer is not JSON.", status=502) from None
        id_token, access_token = tokens.get("id_token"), tokens.get("access_token")
        if not isinstance(id_token, str):
            raise OidcError("The sign-in provider sent no ID token.", status=502)
        claims = _verified(id_token, keys=keys, nonce=pending.nonce)
        endpoint = meta.get("userinfo_endpoint")
        if isinstance(endpoint, str) and isinstance(access_token, str):
            userinfo = _get_json(client, endpoint, "userinfo", headers={"Authorization": f"Bearer {access_token}"})
            if userinfo.get("sub") != claims["sub"]:
                raise OidcError("The sign-in provider's userinfo is about another subject.", status=502)
            claims = {**userinfo, **claims}  # the signed ID token has the last word on what both hold
    return claims


def _verified(id_token: str, *, keys: KeySet, nonce: str) -> dict[str, Any]:
    try:
        token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
    except (JoseError, ValueError):
        # Perhaps the provider rotated its keys since they were fetched: fetch once more.
        try:
            token = jwt.decode(id_token, _provider(refresh=True)[1], algorithms=ALGORITHMS)
        except (JoseError, ValueError):
            raise OidcError("The ID token's signature does not match the sign-in provider's keys.") from None
    claims = token.claims
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY,
        iss={"essential": True, "value": settings.OIDC_ISSUER},
        sub={"essential": True},
        aud={"essential": True, "value": settings.OIDC_CLIENT_ID},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise OidcError("The ID token has expired.") from None
    except JoseError as problem:
        claim = getattr(problem, "claim", "") or ""
        if claim == "aud":
            raise OidcError("The ID token was issued for another client (wrong audience).") from None
        raise OidcError(f"The ID token is not valid ({claim or problem.error}).") from None
    audience = claims["aud"]
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != settings.OIDC_CLIENT_ID:
        raise OidcError("The ID token was issued for another client (wrong authorized party).")
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise OidcError("The ID token names no subject.")
    return dict(claims)


def _form_encode(value: str) -> str:
    # RFC 6749 2.3.1: client id and secret are form-encoded before they are joined for Basic auth.
    return quote_plus(value)


def _error_code(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    # Only the provider's error code, which is a short token: its description may echo a secret.
    return error if isinstance(error, str) and error.replace("_", "").isalnum() else f"status {response.status_code}"
