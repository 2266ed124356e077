from django.http import HttpRequest

from portal.health import live_workers


def workers(request: HttpRequest) -> dict:
    """Pages of a logged-in user warn when no worker is alive to run deployments."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"no_workers": live_workers() == 0}


def account_links(request: HttpRequest) -> dict:
    """The Audit link shows to those who may read some of it: staff and app admins."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    from projects import access

    return {"may_read_audit": access.audit_apps(request.user) != []}
