"""The one access helper of the settings pages: the app, if the signed-in user administers it."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse

from portal.actor import Actor
from projects import access
from projects.models import Role

SettingsView = Callable[..., HttpResponse]


def for_app_admins(action: str) -> Callable[[SettingsView], SettingsView]:
    """Login, then the app for its admins and staff: 404 for an app the user cannot see, 403
    (audited; the 403 page names the app's admins to ask) for its viewers and deployers."""

    def decorate(view: SettingsView) -> SettingsView:
        @login_required
        @wraps(view)
        def checked(request: HttpRequest, app: str, **kwargs) -> HttpResponse:
            actor = Actor.from_request(request, "web")
            return view(request, actor, access.app_for(actor, app, Role.ADMIN, action=action), **kwargs)

        return checked

    return decorate
