"""Living through a database or broker outage: telling one from a bug, reconnecting, retrying.

A PostgreSQL restart leaves every open connection dead; Django notices only at the start and end
of a web request, so a worker (or one of its threads) keeps a dead connection until it closes it
itself. These helpers close it and try again, with a bounded backoff, until the database is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

log = logging.getLogger("bartender.outage")
T = TypeVar("T")

_FIRST_WAIT = 0.5
_LONGEST_WAIT = 5.0


def _broker_errors() -> tuple[type[BaseException], ...]:
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover - redis is in requirements.txt
        return ()
    return (RedisConnectionError, RedisTimeoutError)


# What an unreachable database or Redis raises; anything else is a bug and is not retried.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, *_broker_errors())


def is_outage(error: BaseException) -> bool:
    return isinstance(error, OUTAGE_ERRORS)


def reconnect() -> None:
    """Drop this thread's database connection, so the next query opens a new one."""
    try:
        connection.close()
    except Exception:  # closing a dead connection may itself fail; it is gone either way
        log.debug("closing a dead connection failed", exc_info=True)


def retrying(do: Callable[[], T], *, what: str, for_seconds: float) -> T:
    """`do()` until it gets through an outage, reconnecting in between, for at most `for_seconds`.

    Waits grow from half a second to five; the last outage error is raised when time runs out.
    Errors that are not outages (a bug, a constraint) are raised at once.
    """
    deadline = time.monotonic() + for_seconds
    wait = _FIRST_WAIT
    failures = 0
    while True:
        try:
            result = do()
        except OUTAGE_ERRORS as error:
            failures += 1
            reconnect()
            if time.monotonic() + wait > deadline:
                raise
            if failures == 1:
                log.warning("%s: the database or broker is unreachable (%s); trying again", what, error)
            time.sleep(wait)
            wait = min(wait * 2, _LONGEST_WAIT)
            continue
        if failures:
            log.info("%s: done after %s failed attempt(s)", what, failures)
        return result
