"""Database triggers that make the audit table append-only, for SQLite and PostgreSQL.

The ORM never updates or deletes an event; these triggers make that true for raw SQL as well
(a bug, a shell, a careless script). The one sanctioned way to empty the table is `flush`,
which empties every table of the installation: it drops the triggers, flushes and creates them
again inside one transaction (see deployments/management/commands/flush.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = "deployments_auditevent"
MESSAGE = "The audit log is append-only: events cannot be changed or deleted."

# `INSERT OR REPLACE` / `REPLACE INTO` deletes the old row without firing DELETE triggers (unless
# recursive_triggers is on), so an insert reusing an existing id is refused before it happens.
# IF NOT EXISTS: migration 0006 creates this trigger on a new database, 0009 on an older one.
SQLITE_CREATE_NO_REPLACE = f"""CREATE TRIGGER IF NOT EXISTS {TABLE}_no_replace BEFORE INSERT ON {TABLE}
    WHEN EXISTS (SELECT 1 FROM {TABLE} WHERE id = NEW.id)
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"""
SQLITE_DROP_NO_REPLACE = f"DROP TRIGGER IF EXISTS {TABLE}_no_replace"

_SQLITE_CREATE = [
    f"""CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    SQLITE_CREATE_NO_REPLACE,
]
_SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS {TABLE}_no_update",
    f"DROP TRIGGER IF EXISTS {TABLE}_no_delete",
    SQLITE_DROP_NO_REPLACE,
]

# TRUNCATE skips row triggers in PostgreSQL, so a statement trigger refuses it as well.
_POSTGRES_CREATE = [
    f"""CREATE OR REPLACE FUNCTION {TABLE}_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege'; END $$""",
    f"""CREATE TRIGGER {TABLE}_no_change BEFORE UPDATE OR DELETE ON {TABLE}
        FOR EACH ROW EXECUTE FUNCTION {TABLE}_refuse()""",
    f"""CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE}
        FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_refuse()""",
]
_POSTGRES_DROP = [
    f"DROP TRIGGER IF EXISTS {TABLE}_no_change ON {TABLE}",
    f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}",
    f"DROP FUNCTION IF EXISTS {TABLE}_refuse()",
]


def _statements(vendor: str, *, create: bool) -> list[str]:
    if vendor == "sqlite":
        return _SQLITE_CREATE if create else _SQLITE_DROP
    if vendor == "postgresql":
        return _POSTGRES_CREATE if create else _POSTGRES_DROP
    return []  # other databases: the ORM and the admin still never change an event


def create_no_replace(connection: BaseDatabaseWrapper) -> None:
    """The guard against REPLACE alone (PostgreSQL has no REPLACE; ON CONFLICT updates, refused)."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(SQLITE_CREATE_NO_REPLACE)


def drop_no_replace(connection: BaseDatabaseWrapper) -> None:
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(SQLITE_DROP_NO_REPLACE)


def create(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for sql in _statements(connection.vendor, create=True):
            cursor.execute(sql)


def drop(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for sql in _statements(connection.vendor, create=False):
            cursor.execute(sql)


@contextmanager
def suspended(connection: BaseDatabaseWrapper) -> Iterator[None]:
    """Lift the triggers for one transaction; they are back at its end whatever happens."""
    with transaction.atomic(using=connection.alias):
        drop(connection)
        yield
        create(connection)
