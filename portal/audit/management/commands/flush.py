"""Django's flush, able to empty the append-only audit table along with every other table.

Flushing wipes the whole installation on purpose (and pytest-django's transactional tests
flush after each test), so the audit triggers are lifted for that one transaction only.
"""

from django.core.management.commands import flush
from django.db import connections

from portal.audit import append_only


class Command(flush.Command):
    def handle(self, **options) -> None:
        with append_only.suspended(connections[options["database"]]):
            super().handle(**options)
