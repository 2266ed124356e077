from django.conf import settings
from django.core.management.base import BaseCommand

from projects import demo


class Command(BaseCommand):
    help = "Create the demo app, its local repository and remotes, and an admin login (once)."

    def handle(self, *args, **options) -> None:
        login = demo.create(settings.DATA_DIR)
        if login is None:
            self.stdout.write("Demo data already exists (the admin password was printed on the first run).")
            return
        username, password = login
        self.stdout.write(
            "\n".join(
                [
                    "Demo created: app 'Demo shop' with targets Staging and Production (protected).",
                    f"Log in at http://127.0.0.1:8000/ as:  {username} / {password}",
                    "(This password is shown once. Reset it with: python manage.py changepassword admin)",
                ]
            )
        )
