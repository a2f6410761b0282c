"""
Error answers: JSON under /api/, a friendly page everywhere else.

Never a stack trace, and the status code says what happened.
"""

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

logger = logging.getLogger(__name__)

MESSAGES = {
    400: "The request could not be understood.",
    401: "You need to log in.",
    403: "You are not allowed to do that.",
    404: "There is nothing here.",
    405: "That method is not allowed here.",
    429: "Too many attempts. Please wait a moment and try again.",
    500: "Something went wrong on our side. It has been logged.",
    503: "We are briefly unavailable. Please try again in a few seconds.",
}
# Seconds a client should wait while the database is unreachable.
DATABASE_RETRY_AFTER = 5


def json_error(status, code, detail=None, **extra):
    """An API error: {"error": code, "detail": ...} with the given status."""
    return JsonResponse(
        {"error": code, "detail": detail or MESSAGES.get(status, ""), **extra},
        status=status,
    )


def method_not_allowed(allowed):
    """An API 405 whose ``Allow`` header names the ``allowed`` methods."""
    response = json_error(405, "method_not_allowed")
    response["Allow"] = ", ".join(allowed)
    return response


def is_api(request):
    """
    Whether the request is an API call. The Patreon callback lives under
    /api/ (the registered redirect URI) but is a page a browser navigates to.
    """
    return request.path.startswith("/api/") and request.path != reverse(
        "patreon-api-callback"
    )


def _answer(request, status, code, detail=None, retry_after=None):
    if is_api(request):
        response = json_error(status, code, detail)
    else:
        response = render(
            request,
            "error.html",
            # No flash messages: they live in the session, which may be what
            # failed to load.
            {"status": status, "message": detail or MESSAGES[status], "messages": ()},
            status=status,
        )
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def bad_request(request, exception=None):
    return _answer(request, 400, "bad_request")


@csrf_exempt  # it changes nothing: a POST without a token gets the 404 too
def not_offered(request):
    """A page a library brings that we do not offer: 404 to every method."""
    return page_not_found(request)


def permission_denied(request, exception=None):
    return _answer(request, 403, "forbidden")


def page_not_found(request, exception=None):
    return _answer(request, 404, "not_found")


def server_error(request):
    """
    handler500, called while the exception is being handled: an unreachable
    database is not a bug but an outage, so it gets 503 and Retry-After.
    Django then logs the request once, with the status and the traceback
    ("Service Unavailable: /path", django.request). Apps that must record
    the failure too listen to ``got_request_exception``, sent just before.
    """
    error = sys.exc_info()[1]
    if isinstance(error, (OperationalError, InterfaceError)):
        return _answer(
            request, 503, "database_unavailable", retry_after=DATABASE_RETRY_AFTER
        )
    return _answer(request, 500, "server_error")


def too_many_requests(request, retry_after):
    return _answer(request, 429, "rate_limited", retry_after=retry_after)


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: a refused unsafe request, with Django's reason logged."""
    logger.warning(
        "CSRF check failed on %s %s: %s", request.method, request.path, reason
    )
    return _answer(
        request,
        403,
        "csrf_failed",
        "The request was refused: its CSRF token or origin is missing or wrong.",
    )
