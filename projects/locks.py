"""Whether a target is locked: the one read every layer above asks before anything starts."""

from __future__ import annotations

from django.utils import timezone

from projects.models import Lock, Target


def active_lock(target: Target) -> Lock | None:
    """The target's lock, unless it has none or its `until` has passed."""
    try:
        lock = target.lock
    except Lock.DoesNotExist:
        return None
    if lock.until and lock.until <= timezone.now():
        return None
    return lock
