"""
Per-client rate limits for starting and finishing a Patreon login.

allauth does not limit social login at all. Counters live in Django's
default cache: Redis when REDIS_URL is set, so every instance shares them.
When the cache is down, logins go on unlimited rather than failing, and the
log says so loudly.
"""

import functools
import logging
import time

from django.conf import settings
from django.core.cache import cache

from accounts import errors, events
from accounts.network import client_ip

logger = logging.getLogger(__name__)


def allow(bucket, key, limit, window):
    """
    Count one hit for ``key`` in ``bucket``; True while the fixed window of
    ``window`` seconds has seen at most ``limit`` hits.
    """
    slot = int(time.time() // window)
    cache_key = f"ratelimit:{bucket}:{key}:{slot}"
    try:
        if cache.add(cache_key, 1, timeout=window):
            return True
        return cache.incr(cache_key) <= limit
    except Exception:  # a cache outage must not lock people out
        logger.error(
            "rate limiter unavailable, allowing the request",
            exc_info=True,
            extra={"event": "ratelimit_unavailable", "bucket": bucket},
        )
        return True


def limit_per_ip(bucket):
    """Decorate a view: at most RATELIMITS[bucket] hits per client IP, else 429."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            limit, window = settings.RATELIMITS[bucket]
            ip = client_ip(request) or "unknown"
            if not allow(bucket, ip, limit, window):
                events.emit(
                    events.RATE_LIMITED,
                    request,
                    level=logging.WARNING,
                    bucket=bucket,
                    limit=limit,
                    window=window,
                )
                return errors.too_many_requests(request, retry_after=window)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
