"""Outgoing HTTP (the Heroku API, notification webhooks): urllib without redirects."""

import urllib.request


def no_redirect_opener() -> urllib.request.OpenerDirector:
    """urlopen's handlers without HTTPRedirectHandler, so any 3xx answer is an HTTPError.

    A followed redirect would carry a webhook's signature or an API key to whatever host it
    names, around the rule that plain http goes only to loopback.
    """
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.UnknownHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener
