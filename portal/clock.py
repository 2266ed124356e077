"""The time that deploy policy reads: approval expiry, deploy windows, freezes.

Production reads the real clock. Tests move time (in this process and in the qcluster processes
they start) by writing an ISO 8601 instant with its offset into the file named by `CLOCK_FILE`:
the clock then reads that instant plus the real time since the file was written. Unset, or the
file missing or empty, it is the real clock.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone


def now() -> datetime:
    path = settings.CLOCK_FILE
    if not path:
        return timezone.now()
    try:
        with open(path) as handle:
            text = handle.read().strip()
            written = os.fstat(handle.fileno()).st_mtime
    except FileNotFoundError:
        return timezone.now()
    if not text:
        return timezone.now()
    try:
        instant = datetime.fromisoformat(text)
    except ValueError as error:
        raise ImproperlyConfigured(f"CLOCK_FILE {path} holds {text!r}, not an ISO 8601 instant.") from error
    if instant.tzinfo is None:
        raise ImproperlyConfigured(f"CLOCK_FILE {path} holds {text!r} without its UTC offset.")
    return instant + timedelta(seconds=max(0.0, time.time() - written))
