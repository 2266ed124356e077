"""Tiny helpers that read settings from the environment and fail loudly on bad values."""

import ipaddress
import os
import secrets
import stat
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def env_networks(name: str) -> list[str]:
    """Comma-separated networks in CIDR notation ("10.0.0.0/8", "fd00::/8"; a bare address is
    itself alone); a value that is no network, or one with host bits set, is named and refused."""
    networks = []
    for item in env_list(name, ""):
        try:
            networks.append(str(ipaddress.ip_network(item)))
        except ValueError as problem:
            raise ImproperlyConfigured(
                f"{name} must list networks in CIDR notation, such as 10.0.0.0/8; {item!r} is not one ({problem})."
            ) from None
    return networks


def generated_secret(name: str, path: Path, *, allowed: bool, make: "callable[[], str]") -> str:
    """Return $name, or a key kept in `path` (made once, 0600) when generating one is allowed."""
    value = os.environ.get(name, "")
    if value:
        return value
    if not allowed:
        raise ImproperlyConfigured(
            f"{name} must be set when DATABASE_URL points at a shared database: "
            "every web and worker process of one installation needs the same value."
        )
    if not path.exists():
        # Written whole under a temporary name, then linked into place: a process starting at the
        # same moment finds either no key or the whole key, never an empty file.
        draft = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(make())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    private_files(path)
    return path.read_text().strip()


def env_fernet_keys(name: str) -> list[str]:
    """Comma-separated Fernet keys; a bad one is named by its position, never printed."""
    keys = env_list(name, "")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} must list Fernet keys (32 url-safe base64-encoded bytes each); key {position} is not one."
            ) from None
    return keys


# Everything Bartender writes (the SQLite database, generated keys, mirrors, work files) is
# for the user it runs as alone: other local users could read session keys and credentials.
PRIVATE_UMASK = 0o077


def private_folder(path: Path) -> Path:
    """Create `path` as 0700, or take group and other access away from an existing one."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _tighten(path)
    return path


def private_files(*paths: Path) -> None:
    """Take group and other access away from those of `paths` that exist (0644 becomes 0600)."""
    for path in paths:
        if path.exists():
            _tighten(path)


def _tighten(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & PRIVATE_UMASK:
        return
    try:
        path.chmod(mode & ~PRIVATE_UMASK)
    except OSError as error:
        raise ImproperlyConfigured(
            f"{path} is open to other users (mode {mode:04o}) and cannot be made private: {error.strerror}. "
            "Give it to the user Bartender runs as, or remove group and other access yourself."
        ) from None


def random_token() -> str:
    return secrets.token_urlsafe(50)


def env_issuer(name: str) -> str:
    """An OpenID issuer URL: https, or http to a loopback host; kept without a trailing slash."""
    raw = env_str(name).strip()
    if not raw:
        return ""
    parts = urlsplit(raw)
    loopback = parts.hostname in {"localhost", "127.0.0.1", "::1"}
    if parts.scheme not in {"https", "http"} or not parts.hostname or (parts.scheme == "http" and not loopback):
        raise ImproperlyConfigured(
            f"{name} must be an https URL (http only to a loopback host), "
            f"such as https://login.example.com, not {raw!r}."
        )
    if parts.query or parts.fragment:
        raise ImproperlyConfigured(f"{name} must be the issuer URL alone, without a query or fragment.")
    return raw.rstrip("/")


def env_team_map(name: str) -> dict[str, str]:
    """`group=Team,group2=Other team`: the provider's group names to Bartender team names."""
    mapping: dict[str, str] = {}
    for item in env_list(name, ""):
        group, sep, team = (part.strip() for part in item.partition("="))
        if not sep or not group or not team:
            raise ImproperlyConfigured(
                f"{name} must list group=Team pairs separated by commas, such as platform=Platform; "
                f"{item!r} is not one."
            )
        if len(team) > 150:
            raise ImproperlyConfigured(f"{name}: the team name {team!r} is longer than 150 characters.")
        if group in mapping and mapping[group] != team:
            raise ImproperlyConfigured(f"{name} maps the group {group!r} twice.")
        mapping[group] = team
    return mapping
