"""
Named authentication events, one log line each, for operators and alerts.

Every event carries who (user id, Patreon id), from where (client IP) and
the outcome, and never a token or a session key. Each is counted too, for
Prometheus (``ventures.metrics``), as it is logged.
"""

import logging

from django.utils.crypto import salted_hmac

from ventures import metrics
from ventures.network import client_ip

logger = logging.getLogger("ventures.auth")

LOGIN_SUCCEEDED = "login_succeeded"
LOGIN_FAILED = "login_failed"
LOGGED_OUT = "logged_out"
SESSION_EXPIRED = "session_expired"
SESSIONS_REVOKED = "sessions_revoked"
RATE_LIMITED = "rate_limited"
PATREON_WEBHOOK = "patreon_webhook"
PATREON_MEMBER_REFRESHED = "patreon_member_refreshed"
PATREON_SYNC_FINISHED = "patreon_sync_finished"
PATREON_SYNC_FAILED = "patreon_sync_failed"
PATREON_THROTTLED = "patreon_throttled"
PATREON_TOKEN_REFRESHED = "patreon_token_refreshed"  # noqa: S105 (an event name)
PATREON_TOKEN_INVALID = "patreon_token_invalid"  # noqa: S105 (an event name)


def emit(
    event, request=None, *, user=None, patreon_id=None, level=logging.INFO, **fields
):
    """Log ``event`` with its context as structured fields, and count it."""
    if user is not None and patreon_id is None:
        membership = getattr(user, "patreon", None) if user.pk else None
        patreon_id = getattr(membership, "patreon_id", None)
    context = {
        "event": event,
        "user_id": getattr(user, "pk", None),
        "patreon_id": patreon_id,
        "ip": client_ip(request) if request is not None else None,
        **fields,
    }
    logger.log(
        level,
        "%s %s",
        event,
        " ".join(
            f"{k}={v}" for k, v in context.items() if k != "event" and v is not None
        ),
        extra=context,
    )
    metrics.record_event(event, fields)


def username_digest(username):
    """
    A short keyed digest of a username someone typed, for logs and counters.

    People type their password into the username field; the digest lets
    alerts group the attempts on one account without writing down what was
    typed. Case-insensitive, as logging in is.
    """
    return salted_hmac("ventures.username", username.casefold()).hexdigest()[:16]
