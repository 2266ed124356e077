from django.http import HttpRequest

from projects import access


def account_links(request: HttpRequest) -> dict:
    """The Audit link shows to those who may read some of it: staff and app admins."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"may_read_audit": access.audit_apps(request.user) != []}
