"""Every error under /api/ is JSON, Django's own 404 and 405 answers included; an unreachable
database (or broker) is a 503 with a sentence, never Django's bare "Server Error (500)"."""

import logging
import sys
from collections.abc import Callable
from html import escape

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from portal import outage

log = logging.getLogger("bartender.web")

_SENTENCES = {
    404: "No such API endpoint: see /api/openapi.json.",
    405: "This method is not allowed on this endpoint: see /api/openapi.json.",
    403: "Refused: a browser session must send its CSRF token, or use Authorization: Bearer TOKEN.",
    500: "Internal error: the request was not completed.",
}


class ApiErrorsAsJson:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            request.path.startswith("/api/")
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            sentence = _SENTENCES.get(response.status_code, "The request failed.")
            answer = JsonResponse({"detail": sentence}, status=response.status_code)
            if response.has_header("Allow"):
                answer["Allow"] = response["Allow"]
            return answer
        return response


OUTAGE_SENTENCE = (
    "Bartender cannot reach its database right now (it may be restarting); try again in a few seconds. "
    "Deployments already running go on, and nothing is lost."
)
BROKER_SENTENCE = (
    "Bartender cannot reach its cache and task broker (Redis) right now (it may be restarting); try again in a "
    "few seconds. Deployments already running go on, and nothing is lost."
)
_OUTAGE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Unavailable for a moment · Bartender</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; padding: 0 1rem">
<h1>Unavailable for a moment</h1><p>{sentence}</p><p><a href="">Try again</a></p></body></html>
"""
_RETRY_AFTER = "5"


def outage_response(request: HttpRequest, error: BaseException) -> HttpResponse:
    """503 with a sentence: JSON `{"detail"}` under /api/, a plain page (no database needed) elsewhere."""
    sentence = OUTAGE_SENTENCE if isinstance(error, DatabaseError) else BROKER_SENTENCE
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": sentence}, status=503)
    else:
        response = HttpResponse(_OUTAGE_PAGE.format(sentence=escape(sentence)), status=503)
    response["Retry-After"] = _RETRY_AFTER
    return response


class DatabaseOutageAs503:
    """A view (or a template it renders) that meets an unreachable database answers 503."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not outage.is_outage(exception):
            return None
        log.warning("%s %s: 503, the database or broker is unreachable (%s)", request.method, request.path, exception)
        return outage_response(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: errors outside views (a middleware saving the session, say) that are outages
    answer 503 too; anything else stays a 500."""
    error = sys.exc_info()[1]
    if error is not None and outage.is_outage(error):
        return outage_response(request, error)
    return defaults.server_error(request)  # ApiErrorsAsJson words it as JSON under /api/
