"""The audit trail is append-only in fact: the database itself refuses to change or delete an event."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from portal.audit.models import AuditEvent

REPLACE = (
    "{verb} INTO {table} (id, at, actor, action, source, app, target, detail) "
    "VALUES (%s, '2020-01-01 00:00:00', 'someone-else', 'denied', 'web', '', '', 'Rewritten.')"
)


def add_event() -> AuditEvent:
    return AuditEvent.objects.create(actor="deployer", action="deployment.requested", source="api", detail="Kept.")


def refused(sql: str, *params) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError as error:
        assert "append-only" in str(error)
        return True
    return False


def assert_the_database_refuses_changes() -> None:
    event = add_event()
    table = AuditEvent._meta.db_table

    assert refused(f"UPDATE {table} SET detail = 'Rewritten.' WHERE id = %s", event.pk)
    assert refused(f"DELETE FROM {table} WHERE id = %s", event.pk)
    if connection.vendor == "sqlite":  # REPLACE deletes the old row without firing DELETE triggers
        assert refused(REPLACE.format(verb="INSERT OR REPLACE", table=table), event.pk)
        assert refused(REPLACE.format(verb="REPLACE", table=table), event.pk)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(actor="someone-else")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()

    assert AuditEvent.objects.filter(pk=event.pk, actor="deployer", detail="Kept.").exists()


@pytest.mark.django_db
def test_sqlite_refuses_a_raw_update_or_delete_of_an_event():
    assert connection.vendor == "sqlite"
    assert_the_database_refuses_changes()


@pytest.mark.django_db
def test_new_events_are_still_added():
    add_event()
    add_event()
    assert AuditEvent.objects.count() == 2


@pytest.mark.django_db
def test_sqlite_refuses_to_replace_an_event_and_still_takes_raw_inserts_of_new_ones():
    assert connection.vendor == "sqlite"
    event = add_event()
    table = AuditEvent._meta.db_table

    assert refused(REPLACE.format(verb="INSERT OR REPLACE", table=table), event.pk)
    assert refused(REPLACE.format(verb="REPLACE", table=table), event.pk)

    with connection.cursor() as cursor:
        cursor.execute(REPLACE.format(verb="INSERT", table=table).replace("%s", "NULL"))
        cursor.execute(REPLACE.format(verb="INSERT OR REPLACE", table=table), [event.pk + 100])
    assert AuditEvent.objects.filter(pk=event.pk, actor="deployer", detail="Kept.").exists()
    assert AuditEvent.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_flushing_the_whole_database_empties_the_audit_and_keeps_the_triggers():
    add_event()

    call_command("flush", interactive=False, verbosity=0)

    assert AuditEvent.objects.count() == 0
    assert_the_database_refuses_changes()  # its event is left for the test teardown's own flush


@pytest.mark.scaleout
@pytest.mark.django_db(transaction=True)
def test_postgresql_refuses_update_delete_and_truncate_of_events():
    assert connection.vendor == "postgresql", "run through `make test`, which sets DATABASE_URL"
    assert_the_database_refuses_changes()
    assert refused(f"TRUNCATE {AuditEvent._meta.db_table}")
