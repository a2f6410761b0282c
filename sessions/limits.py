"""How long a session may live: the timeouts, per kind of owner."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings


@dataclass(frozen=True)
class Limits:
    """How long a session may live in all, and without activity."""

    absolute: timedelta
    idle: timedelta

    @classmethod
    def for_user(cls, user):
        """
        Staff sessions are short; people's follow the people limits; a session
        without a user (a login in progress) lives SESSION_ANONYMOUS_TIMEOUT.
        """
        if user is None:
            anonymous = timedelta(seconds=settings.SESSION_ANONYMOUS_TIMEOUT)
            return cls(anonymous, anonymous)
        if user.is_staff:
            return cls(
                timedelta(seconds=settings.STAFF_SESSION_ABSOLUTE_TIMEOUT),
                timedelta(seconds=settings.STAFF_SESSION_IDLE_TIMEOUT),
            )
        return cls(
            timedelta(seconds=settings.SESSION_ABSOLUTE_TIMEOUT),
            timedelta(seconds=settings.SESSION_IDLE_TIMEOUT),
        )
