"""/healthz: whether the database answers and how many worker clusters are alive."""

from django.http import HttpRequest, JsonResponse

from portal.health import database_ok, live_workers


def healthz(request: HttpRequest) -> JsonResponse:
    if not database_ok():
        return JsonResponse({"database": "unreachable", "workers": 0}, status=503)
    return JsonResponse({"database": "ok", "workers": live_workers()})
