"""
Error answers: JSON under /api/, a friendly page everywhere else.

Never a stack trace, and the status code says what happened.
"""

import logging

from django.http import JsonResponse
from django.shortcuts import render

logger = logging.getLogger(__name__)

MESSAGES = {
    400: "The request could not be understood.",
    401: "You need to log in.",
    403: "You are not allowed to do that.",
    404: "There is nothing here.",
    405: "That method is not allowed here.",
    500: "Something went wrong on our side. It has been logged.",
}


def json_error(status, code, detail=None, **extra):
    """An API error: {"error": code, "detail": ...} with the given status."""
    return JsonResponse(
        {"error": code, "detail": detail or MESSAGES.get(status, ""), **extra},
        status=status,
    )


def is_api(request):
    return request.path.startswith("/api/")


def _answer(request, status, code, detail=None):
    if is_api(request):
        return json_error(status, code, detail)
    return render(
        request,
        "error.html",
        {"status": status, "message": detail or MESSAGES[status]},
        status=status,
    )


def bad_request(request, exception=None):
    return _answer(request, 400, "bad_request")


def permission_denied(request, exception=None):
    return _answer(request, 403, "forbidden")


def page_not_found(request, exception=None):
    return _answer(request, 404, "not_found")


def server_error(request):
    return _answer(request, 500, "server_error")


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
