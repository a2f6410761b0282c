"""
Django's PostgreSQL backend, with a connection health check that costs no
round trip.

Persistent connections (CONN_MAX_AGE) outlive a PostgreSQL or PgBouncer
restart. Django's CONN_HEALTH_CHECKS tests a reused connection before each
request's first query with ``is_usable()``, which for PostgreSQL sends a
``SELECT 1``: a round trip on every request to spare the rare one after a
restart (docs/performance.md measured /me 0.40x the bare view with it,
0.45x without). This ``is_usable()`` asks the operating system instead.
Between requests the server sends an idle connection nothing, except its
goodbye when it ends the connection (a FATAL error, then the end of the
stream), so a socket with something to read belongs to a dead connection.
A connection that died without a word (a host gone from the network) looks
usable, as it does to Django's ``SELECT 1`` until TCP gives up: its query
fails and Django drops it.

``ENGINE = "ventures.postgresql"``; ventures/settings.py sets it for every
PostgreSQL URL.
"""

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self):
        """
        Whether the open connection is still usable, from its own state and
        its socket: idle, not closed, and nothing the server sent unread.
        """
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != TransactionStatus.IDLE:
            return False  # a transaction left open or failed: start afresh
        poll = select.poll()
        poll.register(connection.fileno(), select.POLLIN | select.POLLPRI)
        return not poll.poll(0)
