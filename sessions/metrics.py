"""
How many people are logged in, for Prometheus: read when it scrapes.

Counting the live rows of a large session table on every scrape, of every
instance, would be the most expensive query the application runs. The count
is kept in the shared cache for ``COUNT_TTL`` seconds instead, so the whole
fleet counts about once a minute; in between, scrapes read the cache.
"""

import logging

from django.core.cache import cache
from django.db import DatabaseError
from prometheus_client.core import GaugeMetricFamily

from sessions.models import Session
from ventures.metrics import record_database_error

logger = logging.getLogger(__name__)

COUNT_TTL = 60
CACHE_KEY = "metrics:active_sessions"
NAME = "ventures_active_sessions"
DOCUMENTATION = (
    f"Live sessions with an owner (logged-in people's sessions), counted at "
    f"most every {COUNT_TTL} s."
)


def active_sessions():
    """The number of live, logged-in sessions, at most ``COUNT_TTL`` seconds old."""
    try:
        count = cache.get(CACHE_KEY)
    except Exception:  # Redis down: count anyway, the scrape is not the outage
        logger.warning("active sessions: cache unavailable", exc_info=True)
        count = None
    if count is None:
        count = Session.objects.active().filter(user__isnull=False).count()
        try:
            cache.set(CACHE_KEY, count, COUNT_TTL)
        except Exception:
            logger.warning("active sessions: cache unavailable", exc_info=True)
    return count


class ActiveSessionsCollector:
    """``ventures_active_sessions``; no sample while the database is unreachable."""

    def describe(self):
        return [GaugeMetricFamily(NAME, DOCUMENTATION)]

    def collect(self):
        try:
            count = active_sessions()
        except DatabaseError as error:
            # The other metrics still go out; this one says nothing rather
            # than something wrong.
            record_database_error(error)
            return
        yield GaugeMetricFamily(NAME, DOCUMENTATION, value=count)
