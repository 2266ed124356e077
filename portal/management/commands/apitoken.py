from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from portal.accounts import services as accounts
from portal.actor import Actor
from portal.errors import ServiceError


class Command(BaseCommand):
    help = "Print a new API token for USERNAME (its last line is the token; only its hash is stored)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="cli", help="A name to recognise the token by.")
        parser.add_argument("--expires-days", type=int, default=None, help="Expire after this many days.")

    def handle(self, *args, username: str, name: str, expires_days: int | None, **options) -> None:
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named '{username}'.")
        if expires_days is not None and expires_days < 1:
            raise CommandError("--expires-days must be at least 1.")
        expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
        try:
            _, raw = accounts.token_create(
                actor=Actor(user=user, source="cli"), user=user, name=name, expires_at=expires_at
            )
        except ServiceError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(raw)
