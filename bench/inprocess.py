"""
The parts measured inside this process, with Django set up exactly as the
gunicorn instances are (bench.settings, the same environment and database).

- SQL per request, counted with CaptureQueriesContext through Django's test
  client, plus the round trips below Django's query log, counted in libpq's
  trace of the connection: those of the connection health check
  (CONN_HEALTH_CHECKS), which gunicorn resets at every request start. With
  Django's own PostgreSQL backend each request that touches the database
  first sends a ``SELECT 1``; the app's (ventures.postgresql) sends nothing.
  The test client skips that reset; this does it by hand.
- The same, counted by PostgreSQL itself for the live gunicorn instance:
  committed transactions (every statement, autocommit) and rows written in
  the bench database, per request of a short wrk run.
"""

from __future__ import annotations

import os
import tempfile
import time

from devstack.hosts import API_HOST


def setup_django(env):
    """Configure Django in this process from the bench's app environment."""
    os.environ.update(env)
    import django

    django.setup()


def _round_trips(connection, send):
    """
    ``send()``, and how many round trips to PostgreSQL it made on the open
    ``connection``: in libpq's trace, each ends with the server's
    ReadyForQuery. None without an open PostgreSQL connection to trace.
    """
    from psycopg import pq

    raw = connection.connection
    if connection.vendor != "postgresql" or raw is None:
        return send(), None
    with tempfile.TemporaryFile("w+") as trace:
        raw.pgconn.trace(trace.fileno())
        raw.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            result = send()
        finally:
            if not raw.closed:
                raw.pgconn.untrace()
        if connection.connection is not raw:
            return result, None  # replaced midway: the new one was not traced
        trace.seek(0)
        return result, sum("\tReadyForQuery" in line for line in trace)


def count_queries(path, cookie=None, repeat=3):
    """
    Queries, health-check round trips and writes for one GET of ``path``
    (the last of ``repeat``, so lazy one-time work is out of the way).
    """
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST=API_HOST, HTTP_X_FORWARDED_PROTO="https")
    for _ in range(repeat):
        # An unknown cookie is deleted by the answer: send it every time.
        client.cookies.clear()
        if cookie:
            client.cookies[settings.SESSION_COOKIE_NAME] = cookie
        # What gunicorn's request_started signal does before each request.
        connection.close_if_unusable_or_obsolete()
        with CaptureQueriesContext(connection) as captured:
            response, trips = _round_trips(
                connection, lambda: client.get(path, secure=True)
            )
    writes = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    return {
        "path": path,
        "status": response.status_code,
        "queries": len(captured),
        "health_checks": 0 if trips is None else trips - len(captured),
        "round_trips": len(captured) if trips is None else trips,
        "writes": len(writes),
        "sql": [q["sql"] for q in captured.captured_queries],
    }


def _pg(database_url):
    """A monitoring connection to the server's ``postgres`` database, so that
    its own statements are not counted in the bench database's figures."""
    import psycopg

    server = database_url.rsplit("/", 1)[0]
    return psycopg.connect(f"{server}/postgres", autocommit=True)


def _snapshot(cursor, dbname):
    cursor.execute("SELECT pg_stat_clear_snapshot()")
    cursor.execute(
        "SELECT xact_commit + xact_rollback, tup_inserted, tup_updated, tup_deleted"
        " FROM pg_stat_database WHERE datname = %s",
        [dbname],
    )
    transactions, inserts, updates, deletes = cursor.fetchone()
    return {
        "transactions": transactions,
        "inserts": inserts,
        "updates": updates,
        "deletes": deletes,
    }


def _flush_backends(cursor, dbname):
    """
    End the app's connections to ``dbname``: a backend reports its pending
    statistics when it exits (otherwise up to 10 s later). gunicorn's
    connections fail their next health check and reconnect.
    """
    cursor.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
        [dbname],
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
            [dbname],
        )
        if cursor.fetchone()[0] == 0:
            break
        time.sleep(0.05)
    time.sleep(0.3)


def server_side_counts(database_url, dbname, run_load):
    """
    PostgreSQL's own count of statements and session-row writes per request
    while ``run_load()`` runs (it returns the number of requests served).
    The app's connections are ended before and after, so that every backend
    has reported its statistics; the reconnections this causes (one per
    gunicorn thread) add a few statements at most, out of thousands.
    """
    with _pg(database_url) as conn, conn.cursor() as cursor:
        _flush_backends(cursor, dbname)
        before = _snapshot(cursor, dbname)
        requests = run_load()
        _flush_backends(cursor, dbname)
        after = _snapshot(cursor, dbname)
    delta = {k: after[k] - before[k] for k in before}
    return {
        "requests": requests,
        "statements_per_request": delta["transactions"] / max(requests, 1),
        "rows_inserted": delta["inserts"],
        "rows_updated": delta["updates"],
        "rows_deleted": delta["deletes"],
    }
