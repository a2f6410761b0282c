"""
How a Patreon login fails: one ``login_failed`` event naming the reason, and
a friendly page (the callback is a page the browser lands on), never a 500.

The reasons are stable names for alerts and log searches; ``detail`` says
more where it is safe to (never a token, never Patreon's answer body).
"""

import logging
import sys

from allauth.socialaccount.providers.base.constants import AuthError
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.shortcuts import render
from django.urls import reverse
from requests import ConnectionError, Timeout

from accounts.patreon.identity import PatreonError
from ventures import errors, events

DENIED = "denied"  # the patron pressed Deny on Patreon's consent page
STATE_MISMATCH = "state_mismatch"  # no login of this browser awaits this answer
PATREON_ERROR = "patreon_error"  # Patreon answered with an error or nonsense
PATREON_TIMEOUT = "patreon_timeout"
PATREON_UNREACHABLE = "patreon_unreachable"
PERMISSION_DENIED = "permission_denied"
CONNECT_REFUSED = "connect_refused"  # linking another Patreon account
IDENTITY_CONFLICT = "identity_conflict"  # the patron's username is someone else's
USER_INACTIVE = "user_inactive"
DATABASE_BUSY = "database_busy"  # locked (SQLite) or a lock wait ran out
DATABASE_UNAVAILABLE = "database_unavailable"
DATABASE_ERROR = "database_error"

# What the page says, where the template's default (Patreon did not confirm
# who you are) would be wrong.
MESSAGES = {
    CONNECT_REFUSED: (
        "Your account here is your Patreon account: another Patreon account "
        "cannot be connected to it. Log in with the Patreon account you want "
        "to use."
    ),
    IDENTITY_CONFLICT: (
        "Your Patreon account's name here is held by another account. Nothing "
        "was changed; please contact us."
    ),
    DATABASE_BUSY: (
        "We are busy right now. Nothing was changed; please try again in a few seconds."
    ),
    DATABASE_UNAVAILABLE: errors.MESSAGES[503],
    DATABASE_ERROR: "Something went wrong on our side. Nothing was changed; it "
    "has been logged.",
}

# PostgreSQL's codes for lock_not_available, deadlock_detected and
# serialization_failure: another transaction was in the way.
_BUSY_SQLSTATES = {"55P03", "40P01", "40001"}


class LoginRefused(Exception):
    """A login we stop on purpose, with its reason and the status to answer."""

    def __init__(self, reason, status=400):
        super().__init__(reason)
        self.reason = reason
        self.status = status


def reason_for(error=None, exception=None, extra_context=None):
    """The reason and a safe detail for a failure allauth reports to us."""
    if isinstance(exception, Timeout):
        return PATREON_TIMEOUT, type(exception).__name__
    if isinstance(exception, ConnectionError):
        return PATREON_UNREACHABLE, type(exception).__name__
    if isinstance(exception, PatreonError):
        return PATREON_ERROR, str(exception)
    if isinstance(exception, OAuth2Error):
        # Its message quotes the token endpoint's body: named by type only.
        return PATREON_ERROR, "token request refused"
    if isinstance(exception, PermissionDenied):
        return PERMISSION_DENIED, None
    if exception is not None:
        return PATREON_ERROR, type(exception).__name__
    if error == AuthError.CANCELLED:
        return DENIED, None
    if extra_context is not None and "state_id" in extra_context:
        return STATE_MISMATCH, None
    return PATREON_ERROR, "Patreon sent back no code"


def database_reason(error):
    """The reason for a database error (or None) that stopped a login."""
    sqlstate = getattr(error.__cause__, "sqlstate", None)
    if isinstance(error, OperationalError) and (
        "locked" in str(error) or sqlstate in _BUSY_SQLSTATES
    ):
        return DATABASE_BUSY
    if isinstance(error, OperationalError | InterfaceError):
        return DATABASE_UNAVAILABLE
    return DATABASE_ERROR


def emit(request, reason, detail=None, **fields):
    """The ``login_failed`` event."""
    events.emit(
        events.LOGIN_FAILED,
        request,
        level=logging.WARNING,
        provider="patreon",
        reason=reason,
        detail=detail,
        **fields,
    )


def refuse(request, reason, status, detail=None, user=None):
    """Log the failed login (by ``user``, if known); answer with the friendly page."""
    emit(request, reason, detail, user=user)
    response = render(
        request,
        "socialaccount/authentication_error.html",
        # No flash messages: the session may be what failed.
        {"message": MESSAGES.get(reason), "messages": ()},
        status=status,
    )
    if status == 503:
        response["Retry-After"] = str(errors.DATABASE_RETRY_AFTER)
    return response


def _is_login(request):
    """Whether the request is a step of the Patreon login."""
    return request.path in {
        reverse(name)
        for name in ("patreon_login", "patreon_callback", "patreon-api-callback")
    }


def record_database_failure(sender, request=None, **kwargs):
    """
    ``got_request_exception`` receiver: a database error that escaped around
    the login views (loading the session, in a middleware) is still a failed
    login, so it gets its event; ``ventures.errors`` answers the request.
    """
    error = sys.exc_info()[1]
    if request is not None and isinstance(error, DatabaseError) and _is_login(request):
        emit(request, database_reason(error))
