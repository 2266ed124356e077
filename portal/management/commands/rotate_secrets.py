"""Encrypt every stored secret again with ENCRYPTION_KEY, so ENCRYPTION_OLD_KEYS can be dropped."""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction

from portal import crypto
from portal.actor import Actor
from portal.audit import events

# Every column that holds a crypto.encrypt token is named `<what>_encrypted`; finding them by
# name through the app registry covers a new one without this command knowing the upper layers.
SUFFIX = "_encrypted"


def encrypted_fields() -> list[tuple[type[models.Model], str]]:
    return [
        (model, field.name)
        for model in apps.get_models()
        if not model._meta.proxy
        for field in model._meta.concrete_fields
        if field.name.endswith(SUFFIX)
    ]


class Command(BaseCommand):
    help = (
        "Encrypt every stored secret (API keys, repository credentials, webhook secrets) again with "
        "ENCRYPTION_KEY; afterwards ENCRYPTION_OLD_KEYS can be removed."
    )

    def handle(self, *args, **options) -> None:
        rotated = already = changed = 0
        unreadable: list[str] = []
        with transaction.atomic():
            for model, field in encrypted_fields():
                manager = model._default_manager
                for row in list(manager.exclude(**{field: ""})):
                    token = getattr(row, field)
                    if crypto.uses_current_key(token):
                        already += 1
                        continue
                    try:
                        fresh = crypto.rotate(token)
                    except ValueError:
                        unreadable.append(f"{model._meta.verbose_name} {row} ({field.removesuffix(SUFFIX)})")
                        continue
                    # Only while it still holds what was read: a secret set meanwhile stays as set.
                    if manager.filter(pk=row.pk, **{field: token}).update(**{field: fresh}):
                        rotated += 1
                    else:
                        changed += 1
            summary = f"Rotated {rotated} stored secret(s) to the current ENCRYPTION_KEY ({already} already used it"
            summary += f", {changed} changed meanwhile" if changed else ""
            summary += f", {len(unreadable)} unreadable)." if unreadable else ")."
            events.record(actor=Actor(user=None, source="cli"), action="secrets.rotated", detail=summary)
        self.stdout.write(summary)
        if changed:
            self.stdout.write("Run it again to check the secrets that changed while it ran.")
        if unreadable:
            raise CommandError(
                f"{len(unreadable)} stored secret(s) cannot be read with ENCRYPTION_KEY or any of "
                f"ENCRYPTION_OLD_KEYS and were left as they are: {', '.join(unreadable)}. Add the key they "
                "were stored with to ENCRYPTION_OLD_KEYS and run this again, or set them again."
            )
