from django.http import HttpRequest

from portal.health import live_workers


def workers(request: HttpRequest) -> dict:
    """Pages of a logged-in user warn when no worker is alive to run deployments."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"no_workers": live_workers() == 0}
