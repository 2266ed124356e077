"""Secrets at rest: Fernet, written with ENCRYPTION_KEY, read with it or any of ENCRYPTION_OLD_KEYS."""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

UNREADABLE = "A stored secret cannot be read with this ENCRYPTION_KEY."


def _current() -> Fernet:
    return Fernet(settings.ENCRYPTION_KEY)


def _any_key() -> MultiFernet:
    """Encrypts with the first key (ENCRYPTION_KEY), decrypts with whichever key fits."""
    return MultiFernet([_current(), *(Fernet(key) for key in settings.ENCRYPTION_OLD_KEYS)])


def encrypt(value: str) -> str:
    return _current().encrypt(value.encode()).decode() if value else ""


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _any_key().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError(UNREADABLE) from None


def uses_current_key(token: str) -> bool:
    """Whether `token` is empty or already encrypted with ENCRYPTION_KEY itself."""
    if not token:
        return True
    try:
        _current().decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def rotate(token: str) -> str:
    """`token` encrypted again with ENCRYPTION_KEY; ValueError when no configured key reads it."""
    if not token:
        return ""
    try:
        return _any_key().rotate(token.encode()).decode()
    except InvalidToken:
        raise ValueError(UNREADABLE) from None
