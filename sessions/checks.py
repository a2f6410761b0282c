"""
System checks: the middleware the session subsystem relies on, in its order,
and SESSION_COOKIE_AGE kept to the policy.

``TrustedProxyMiddleware`` must run first (the client address a session
records must not come from a header an untrusted peer set);
``SessionActivityMiddleware`` must come before Django's ``SessionMiddleware``
(it names the client before a row can be saved, and its ``process_view``
enforces the timeouts); ``AuthenticationMiddleware`` after it.
"""

from django.conf import settings
from django.core.checks import Error

TRUSTED_PROXY = "ventures.network.TrustedProxyMiddleware"
ACTIVITY = "sessions.middleware.SessionActivityMiddleware"
SESSION = "django.contrib.sessions.middleware.SessionMiddleware"
AUTHENTICATION = "django.contrib.auth.middleware.AuthenticationMiddleware"

E001 = Error(
    f"{ACTIVITY} must come before {SESSION} in MIDDLEWARE.",
    hint=(
        "Put it right before SessionMiddleware: it names the client before any "
        "session row is saved and enforces the timeouts before every view."
    ),
    id="sessions.E001",
)
E002 = Error(
    f"{TRUSTED_PROXY} must be the first entry of MIDDLEWARE.",
    hint=(
        "Nothing may read the client address or scheme before an untrusted "
        "peer's X-Forwarded-* headers are dropped."
    ),
    id="sessions.E002",
)
E003 = Error(
    f"{AUTHENTICATION} must come after {SESSION} in MIDDLEWARE.",
    hint="The user is read from the session: list SessionMiddleware first.",
    id="sessions.E003",
)

E004 = Error(
    "SESSION_COOKIE_AGE differs from SESSION_ABSOLUTE_TIMEOUT.",
    hint=(
        "Sessions end by policy (idle, absolute, staff and anonymous limits), "
        "not by cookie age: set SESSION_ABSOLUTE_TIMEOUT, the longest any "
        "session lives, and keep SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT."
    ),
    id="sessions.E004",
)


def _position(middleware, name):
    return middleware.index(name) if name in middleware else None


def check_middleware_order(app_configs=None, **kwargs):
    """The session middleware present and in the order it relies on."""
    middleware = list(settings.MIDDLEWARE)
    activity = _position(middleware, ACTIVITY)
    session = _position(middleware, SESSION)
    authentication = _position(middleware, AUTHENTICATION)
    errors = []
    if middleware[:1] != [TRUSTED_PROXY]:
        errors.append(E002)
    if activity is None or session is None or activity > session:
        errors.append(E001)
    if authentication is None or session is None or authentication < session:
        errors.append(E003)
    return errors


def check_cookie_age(app_configs=None, **kwargs):
    """
    SESSION_COOKIE_AGE is the people's absolute limit, not a second setting:
    a different value would have no effect, so it is refused.
    """
    if settings.SESSION_COOKIE_AGE != settings.SESSION_ABSOLUTE_TIMEOUT:
        return [E004]
    return []
