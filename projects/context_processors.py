from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from projects import access
from projects.models import App, Role


def account_links(request: HttpRequest) -> dict:
    """The Audit link shows to those who may read some of it: staff and app admins. On a page of
    an app the user can see, `app_admins` names its admins for the pages that say "ask an admin"
    (the 403 page); lazy, so no other page pays for it."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "may_read_audit": access.audit_apps(request.user) != [],
        "app_admins": SimpleLazyObject(lambda: _admins_here(request)),
    }


def _admins_here(request: HttpRequest) -> list[str]:
    match = getattr(request, "resolver_match", None)
    app = App.objects.filter(slug=match.kwargs.get("app", "")).first() if match else None
    if app is None or not access.grant_for(request.user, app).at_least(Role.VIEWER):
        return []
    return access.admin_names(app)
