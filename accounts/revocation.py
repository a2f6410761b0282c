"""
Ending sessions: the one path the admin, the API and the commands share.

Revoking goes through the session store, so whatever the store keeps beside
the rows goes too, and every revocation is logged as a named event.
"""

import logging

from django.utils import timezone

from accounts import events
from accounts.models import Session
from accounts.session_store import SessionStore

OWNERS_LOGGED = 100


def revoke_sessions(sessions, *, by=None, request=None, scope="selected"):
    """End the sessions in the queryset ``sessions``; return how many ended."""
    owners = None
    if scope != "everyone":
        # Whose sessions they were, for the log (a bounded list, never keys).
        owners = sorted(
            sessions.filter(user__isnull=False)
            .order_by()
            .values_list("user_id", flat=True)
            .distinct()[:OWNERS_LOGGED]
        )
    count = SessionStore.revoke(sessions)
    events.emit(
        events.SESSIONS_REVOKED,
        request,
        level=logging.WARNING if scope == "everyone" else logging.INFO,
        revoked_by=getattr(by, "pk", by),
        scope=scope,
        count=count,
        owners=owners,
    )
    return count


def revoke_user_sessions(users, *, by=None, request=None, keep=None):
    """End every session of ``users`` (a queryset or list) but the row ``keep``."""
    sessions = Session.objects.filter(user__in=users)
    if keep is not None:
        sessions = sessions.exclude(pk=keep)
    return revoke_sessions(sessions, by=by, request=request, scope="users")


def revoke_every_session(*, by=None, request=None):
    """Log everyone out: the emergency remedy that replaces rotating the key."""
    return revoke_sessions(
        Session.objects.all(), by=by, request=request, scope="everyone"
    )


def active(sessions):
    """Only the sessions that have not expired yet."""
    return sessions.filter(expire_date__gt=timezone.now())
