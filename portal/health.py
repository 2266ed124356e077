"""Liveness facts for /healthz and the no-worker banner."""

import logging

from django.db import connection

log = logging.getLogger("bartender.health")


def live_workers() -> int:
    """How many django-q2 clusters reported in the last few seconds."""
    from django_q.status import Stat

    try:
        return len(Stat.get_all())
    except Exception:  # a broker that cannot answer counts as no worker
        log.warning("cannot read cluster statistics", exc_info=True)
        return 0


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False
