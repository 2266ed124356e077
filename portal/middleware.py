"""Every error under /api/ is JSON, Django's own 404 and 405 answers included."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

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
