"""
One retry of an idempotent read on a connection PostgreSQL dropped.

Persistent connections (CONN_MAX_AGE) outlive a PostgreSQL restart or a
PgBouncer that closed them. Django's CONN_HEALTH_CHECKS finds them with a
``SELECT 1`` before each request's first query: a round trip on every
request to spare the rare one after a restart. The app turns it off and
runs the query every authenticated request starts with, the session lookup,
through ``read_once_more_if_dropped`` instead: on a connection that was
already open and turns out dead, the read runs again on a new one.
"""

import logging

from django.db import InterfaceError, OperationalError, connections

logger = logging.getLogger(__name__)


def read_once_more_if_dropped(alias, read):
    """
    ``read()`` on database ``alias``; run it once more on a new connection
    if it failed because the reused connection it ran on was dead.

    Only for reads that change nothing (the database's and the process's
    state alike), so running one twice is harmless: a write may have been
    applied before its connection died. Not retried: a failure on a
    connection opened for this read (PostgreSQL is down: the caller answers
    503), inside a transaction (closing the connection would end it behind
    ``atomic``'s back), or one that left the connection usable (a timeout, a
    bad query: the same again would fail again).
    """
    connection = connections[alias]
    reused = connection.connection is not None
    try:
        return read()
    except (OperationalError, InterfaceError) as error:
        if not reused or connection.in_atomic_block or connection.is_usable():
            raise
        logger.warning("database connection was dropped, reconnecting: %s", error)
        connection.close()
        return read()
