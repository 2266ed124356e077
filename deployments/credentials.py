"""A target's API key as the worker reads it, and the error that ends a deployment that cannot run."""

from __future__ import annotations

from projects.models import Target


class CannotRun(Exception):
    """Why a claimed deployment cannot go on, as a sentence for its page."""


def api_key(target: Target) -> str:
    """The target's API key, or CannotRun when ENCRYPTION_KEY changed since it was stored."""
    try:
        return target.api_key
    except ValueError:
        raise CannotRun("The target's API key cannot be read with this ENCRYPTION_KEY; set it again.") from None
