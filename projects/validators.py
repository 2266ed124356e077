"""Validation of user data that reaches git: refs and repository / remote URLs."""

import os
import re
from fnmatch import fnmatchcase
from ipaddress import ip_address
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

RESERVED_SLUGS = frozenset({"targets", "insights", "settings"})
HEX_SHA = re.compile(r"^[0-9a-f]{7,40}$")
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
# user@host:path; none of the three may look like an option to ssh or git.
_SCP_LIKE = re.compile(
    r"^(?P<user>[A-Za-z0-9._][A-Za-z0-9._-]*)@(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*):(?P<path>[^\s-]\S*)$"
)
_BAD_REF_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
MAX_REF_LENGTH = 255


def validate_slug(value: str) -> None:
    if value in RESERVED_SLUGS:
        raise ValidationError(f"'{value}' is a reserved word and cannot be used as a slug.")


def ref_problem(ref: str) -> str | None:
    """Why `ref` is not a safe ref name or hex sha, or None when it is.

    Mirrors git check-ref-format rules (with --allow-onelevel), plus: never starts with '-'.
    """
    if not ref:
        return "is empty"
    if len(ref) > MAX_REF_LENGTH:
        return f"is longer than {MAX_REF_LENGTH} characters"
    if ref.startswith("-"):
        return "starts with '-'"
    if HEX_SHA.match(ref):
        return None
    if _BAD_REF_CHARS.search(ref):
        return "contains a character git does not allow in ref names"
    if ref.startswith("/") or ref.endswith("/") or "//" in ref:
        return "has an empty path component"
    if ref.endswith(".") or ".." in ref or "@{" in ref or ref == "@":
        return "contains a sequence git does not allow in ref names"
    for part in ref.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            return "has a component git does not allow in ref names"
    return None


def url_problem(url: str) -> str | None:
    """Why `url` is not an allowed repository or remote URL, or None when it is.

    Allowed: https; http to loopback hosts; ssh:// or user@host:path; absolute local paths.
    """
    if not url or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "must be a non-empty URL without spaces or control characters"
    if url.startswith("-"):
        return "must not start with '-'"
    if "::" in url.split("/", 1)[0]:
        return "uses a transport that is not allowed (ext::, fd:: and the like)"
    if url.startswith("/"):
        return _local_path_problem(url)
    if _SCP_LIKE.match(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. brackets around something that is no IPv6 address
        return "is not a valid URL"
    scheme = parts.scheme.lower()
    if scheme not in {"https", "http", "ssh"}:
        return "must be https, http to a loopback host, ssh or an absolute local path"
    if not parts.hostname or parts.hostname.startswith("-"):
        return "must name a host"
    if (parts.username or "").startswith("-"):
        return "must not have a user name starting with '-'"
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return "has a port that is not a number"
    if scheme in {"http", "https"} and (parts.username is not None or parts.password is not None):
        # A token in the user-name part would be shown to everyone who can see the app.
        return "must not contain a user name or password; store the credential separately"
    if parts.password is not None:
        return "must not contain a password; store the credential separately"
    if scheme == "http" and not _is_loopback(parts.hostname):
        return "may use plain http only for loopback hosts; use https"
    return None


_KERNEL_FOLDERS = ("/proc", "/sys", "/dev")


def _local_path_problem(url: str) -> str | None:
    # Bartender's own folder holds every app's mirror: a target pushing there could put one
    # app's commits into another app's history. Checked again where git runs (its DATA_DIR).
    from django.conf import settings

    # /proc/self/cwd and its kind mean a different folder in every process (git runs in the
    # mirror's folder, not the web's): such paths are refused before and after resolving.
    lexical = os.path.normpath(url)
    data = Path(os.path.realpath(settings.DATA_DIR))
    where = Path(os.path.realpath(url))
    for path in (lexical, str(where)):
        if any(path == kernel or path.startswith(kernel + "/") for kernel in _KERNEL_FOLDERS):
            return "points into /proc, /sys or /dev, which no repository or remote may use"
    own = [data / name for name in ("mirrors", "bin", "tmp", "home", "static")]
    if where == data or any(where == folder or folder in where.parents for folder in own):
        return "points into Bartender's own working folders (DATA_DIR), which no repository or remote may use"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def remote_matches(url: str, patterns: list[str]) -> bool:
    """Whether one of `patterns` (`*`: any run of characters) matches the whole of `url`."""
    # fnmatch's other wildcards (?, [...]) are taken literally: only `*` is a wildcard here.
    literal = [p.replace("[", "[[]").replace("?", "[?]") for p in patterns if p]
    return any(fnmatchcase(url, pattern) for pattern in literal)


def validate_remote_patterns(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(p, str) and p.strip() for p in value):
        raise ValidationError("Give a list of non-empty URL patterns, such as https://git.example.com/team/*.")


def validate_git_url(value: str) -> None:
    problem = url_problem(value)
    if problem:
        raise ValidationError(f"The URL {problem}.")


def validate_branch(value: str) -> None:
    problem = ref_problem(value) if value else None
    if problem or (value and HEX_SHA.match(value) and len(value) == 40):
        raise ValidationError(f"The branch name '{value}' {problem or 'looks like a sha, not a branch'}.")


def validate_push_ref(value: str) -> None:
    # Branches and tags only: refs/replace/ and the like would rewrite how history reads.
    if not value.startswith(("refs/heads/", "refs/tags/")) or ref_problem(value):
        raise ValidationError("The push ref must be a branch or tag ref such as refs/heads/main.")
