"""
Rate limits for every way in: the Patreon login's start and callback per
client IP, and the admin's password login per client IP and per username.

allauth does not limit social login at all, and Django's admin login does
not limit anything. Counters live in Django's default cache, which
production must share between every worker and instance (Redis,
ventures.E070): a per-process cache would multiply each limit by the
number of processes. When the cache is down, logins go on unlimited rather
than failing, and the log says so loudly.

The window slides: each hit is counted in the current fixed window, and the
previous window's count weighs in for the part of it still inside the last
``window`` seconds. A burst at a window's edge is held to the limit, where
a fixed window would let twice the limit through.
"""

import functools
import logging
import time

from django.conf import settings
from django.core.cache import cache

from ventures import errors, events
from ventures.network import client_ip

logger = logging.getLogger(__name__)


def _counter(bucket, key, slot):
    return f"ratelimit:{bucket}:{key}:{slot}"


def allow(bucket, key, limit, window):
    """
    Count one hit for ``key`` in ``bucket``; True while the hits of the last
    ``window`` seconds, this one included, are at most ``limit``.

    Refused hits count too: a client that keeps hammering stays refused.
    """
    slot, elapsed = divmod(time.time(), window)
    current = _counter(bucket, key, int(slot))
    try:
        # Each counter lives two windows: in the next one it is the previous.
        cache.add(current, 0, timeout=2 * window)
        hits = cache.incr(current)
        before = cache.get(_counter(bucket, key, int(slot) - 1), 0)
    except Exception:  # a cache outage must not lock people out
        logger.error(
            "rate limiter unavailable, allowing the request",
            exc_info=True,
            extra={"event": "ratelimit_unavailable", "bucket": bucket},
        )
        return True
    return hits + before * (1 - elapsed / window) <= limit


def _refuse(request, bucket, limit, window, **fields):
    events.emit(
        events.RATE_LIMITED,
        request,
        level=logging.WARNING,
        bucket=bucket,
        limit=limit,
        window=window,
        **fields,
    )


def limit_per_ip(bucket):
    """Decorate a view: at most RATELIMITS[bucket] hits per client IP, else 429."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            limit, window = settings.RATELIMITS[bucket]
            ip = client_ip(request) or "unknown"
            if not allow(bucket, ip, limit, window):
                _refuse(request, bucket, limit, window)
                return errors.too_many_requests(request, retry_after=window)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def password_login_wait(request, username):
    """
    Count one password login attempt; the seconds to wait before trying
    again when it is over a limit, else None.

    Per client IP, the Patreon login's limit (the same counter, so both ways
    in share it); per username, RATELIMITS["login_username"], whether or not
    such a user exists, so the answer never tells. The username is counted
    by its digest: the cache never holds what someone typed.
    """
    limit, window = settings.RATELIMITS["login"]
    if not allow("login", client_ip(request) or "unknown", limit, window):
        _refuse(request, "login", limit, window)
        return window
    if not username:
        return None
    digest = events.username_digest(username)
    limit, window = settings.RATELIMITS["login_username"]
    if not allow("login_username", digest, limit, window):
        _refuse(request, "login_username", limit, window, username_digest=digest)
        return window
    return None
