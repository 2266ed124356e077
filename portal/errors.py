"""Errors a service raises for its caller to answer: the message is the sentence to show."""


class ServiceError(Exception):
    status = 400


class BadRequest(ServiceError):
    status = 400


class Conflict(ServiceError):
    status = 409


class Unavailable(ServiceError):
    status = 503


class Unauthorized(ServiceError):
    """The credential itself no longer counts (answered 401, like a missing token)."""

    status = 401
