"""
How session administration scales with the number of session rows.

    python -m bench.session_rows [--rows 10000,100000,1000000]

(``python -m bench`` runs this too, on its own database, after the load.)

Fills the sessions table with N rows (10 per user, half of them expired)
and measures, in this process, with the app's own code paths:

- revoking every session of one user (Session.objects...revoke(), as the admin
  action, the API and the command do);
- the admin session list page (unfiltered, as staff open it; and filtered
  to active sessions, which must count exactly), split into SQL time and
  the rest (rendering);
- one user's own session list (/api/auth/sessions);
- cleaning up the expired half in batches (SessionStore.clear_expired, as
  ``manage.py clear_expired_sessions`` runs it). Each batch's DELETE is its
  own transaction: the longest one, from the DELETE's start to its commit,
  is the longest any row lock is held. Meanwhile a second connection keeps
  trying to lock the rows of a user whose expired rows are being deleted
  (what a concurrent revocation does) and watches pg_locks for waiters:
  the longest such wait is what cleanup costs anyone else.

Several runs of each, medians. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time

from devstack.hosts import API_HOST
from devstack.postgres import SharedDatabase
from devstack.processes import ROOT

# Row labels of the table, in order; the report and the plot use them.
REVOKE = "revoke one user's sessions (ms)"
ADMIN = "admin session list (ms)"
ADMIN_SQL = "  of which SQL (ms)"
ADMIN_QUERIES = "  queries"
ADMIN_ACTIVE = "admin list, filter active (ms)"
OWN = "user's own session list (ms)"
CLEANUP = "clean up expired half (s)"
BATCHES = "  batches of 1000"
MEDIAN_BATCH = "  median batch (ms)"
LONGEST_BATCH = "  longest batch (ms)"
SELECT_FIRST = "  selecting a batch's keys, first 10% of batches (ms)"
SELECT_LAST = "  selecting a batch's keys, last 10% of batches (ms)"
LONGEST_LOCK = "longest DELETE transaction = longest lock held (ms)"
LONGEST_WAIT = "longest wait of a concurrent revocation (ms)"
LOCK_WAITERS = "most lock waiters seen (pg_locks)"
SEED = "seed (s)"


def setup_django(database_url):
    """Standalone use: production-like test settings on ``database_url``."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url,
            # Each revocation logs an event; a thousand lines say nothing here.
            "LOG_LEVEL": "WARNING",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def timed(function, runs=5):
    """Median milliseconds of ``runs`` calls."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def seed(rows):
    """N session rows, 10 per user, every user with a Patreon membership."""
    from django.db import connection

    users = max(rows // 10, 1)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE accounts_user CASCADE")
        cursor.execute(
            """
            INSERT INTO accounts_user (id, password, is_superuser, username,
                first_name, last_name, email, is_staff, is_active, date_joined,
                name, avatar_url)
            SELECT i, '!', false, 'patreon-' || i, '', '', 'p' || i || '@example.test',
                false, true, now(), 'Patron ' || i, ''
            FROM generate_series(1, %s) AS i
            """,
            [users],
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('accounts_user', 'id'), %s)", [users]
        )
        cursor.execute(
            """
            INSERT INTO accounts_patreonmembership (user_id, patreon_id, campaign_id,
                patron_status, entitled_amount_cents, tiers, paid_tiers, synced_at)
            SELECT i, (100000 + i)::text, '9000001', 'active_patron', 500, '[]',
                '[]', now()
            FROM generate_series(1, %s) AS i
            """,
            [users],
        )
        # Loading a million rows through the table's indexes and constraints
        # (two indexes on random 64-character keys, a deferred foreign-key
        # check per row) takes minutes; loading them into the bare table and
        # then building the very same indexes and constraints takes seconds.
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'accounts_session'::regclass AND contype IN ('p', 'f')"
            " ORDER BY contype DESC"
        )
        constraints = cursor.fetchall()  # the primary key first, then foreign keys
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s"
            " AND indexname NOT IN (SELECT conname FROM pg_constraint)",
            ["accounts_session"],
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        for name, _ in reversed(constraints):
            cursor.execute(f'ALTER TABLE accounts_session DROP CONSTRAINT "{name}"')
        # Half the rows expired (odd i) at various times in the last week,
        # half alive for up to another day; created over the last two weeks.
        cursor.execute(
            """
            INSERT INTO accounts_session (session_key, session_data, expire_date,
                user_id, created_at, last_seen, ip, user_agent)
            SELECT encode(sha256(i::text::bytea), 'hex') AS key, 'e30:bench',
                CASE WHEN i %% 2 = 1
                     THEN now() - interval '1 minute' - (i %% 604800) * interval '1 s'
                     ELSE now() + interval '1 hour' + (i %% 86400) * interval '1 s'
                END,
                (i %% %s) + 1,
                now() - (i %% 1209600) * interval '1 second',
                now() - (i %% 3600) * interval '1 second',
                ('10.' || (i %% 250) || '.' || (i / 250 %% 250) || '.1')::inet,
                'Mozilla/5.0 (bench)'
            FROM generate_series(1, %s) AS i
            """,
            [users, rows],
        )
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for name, definition in constraints:
            cursor.execute(
                f'ALTER TABLE accounts_session ADD CONSTRAINT "{name}" {definition}'
            )
        for _, definition in indexes:
            cursor.execute(definition)
        cursor.execute("RESET maintenance_work_mem")
        cursor.execute("ANALYZE accounts_user")
        cursor.execute("ANALYZE accounts_patreonmembership")
        cursor.execute("ANALYZE accounts_session")


def page(client, path, **params):
    """GET ``path``; returns (total ms, SQL ms, number of queries)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    start = time.perf_counter()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, params, secure=True)
    total = (time.perf_counter() - start) * 1000
    assert response.status_code == 200, (path, response.status_code)
    sql = sum(float(q["time"]) for q in captured.captured_queries) * 1000
    return total, sql, len(captured)


def median_page(client, path, runs=5, **params):
    samples = [page(client, path, **params) for _ in range(runs)]
    return tuple(statistics.median(s[i] for s in samples) for i in range(3))


class LockProbe:
    """
    A second connection that, while cleanup runs, keeps locking the rows of
    a user whose expired rows are at the head of cleanup's queue (where the
    current batch is), as a revocation of that user would, and counts the
    lock waiters in pg_locks. Records the longest wait.
    """

    def __init__(self, database_url, now):
        self.database_url = database_url
        self.now = now
        self.longest_wait_ms = 0.0
        self.most_waiters = 0
        self.attempts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cursor = conn.cursor()
            cursor.execute("SELECT current_database()")
            (dbname,) = cursor.fetchone()
            while not self._stop.is_set():
                cursor.execute(
                    "SELECT user_id FROM accounts_session WHERE expire_date < %s "
                    "LIMIT 1 OFFSET 100",
                    [self.now],
                )
                row = cursor.fetchone()
                if row is not None:
                    start = time.perf_counter()
                    with conn.transaction(force_rollback=True):
                        cursor.execute(
                            "SELECT 1 FROM accounts_session WHERE user_id = %s "
                            "FOR UPDATE",
                            [row[0]],
                        )
                    wait = (time.perf_counter() - start) * 1000
                    self.longest_wait_ms = max(self.longest_wait_ms, wait)
                    self.attempts += 1
                cursor.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_database d "
                    "ON d.oid = l.database WHERE NOT l.granted AND d.datname = %s",
                    [dbname],
                )
                self.most_waiters = max(self.most_waiters, cursor.fetchone()[0])
                time.sleep(0.005)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join(timeout=30)


def database_url():
    from django.db import connection

    s = connection.settings_dict
    return (
        f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}"
        f"/{s['NAME']}"
    )


def measure_cleanup(batch_size=1000):
    """
    Run the cleanup with its statements timed and the lock probe watching.
    Each batch is a SELECT of up to ``batch_size`` expired keys (no lock on
    rows), then a DELETE of those keys in a transaction of its own: from the
    DELETE's start to the progress callback after its commit is the time
    its row locks are held.
    """
    from django.db import connection
    from django.utils import timezone

    from sessions.models import Session
    from sessions.store import SessionStore

    now = timezone.now()
    expired = Session.objects.filter(expire_date__lt=now).count()
    marks = []  # ("delete", t) when a DELETE starts, ("done", t) after a batch

    def timing(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("DELETE"):
            marks.append(("delete", time.perf_counter()))
        elif sql.lstrip().upper().startswith("SELECT"):
            marks.append(("select", time.perf_counter()))
        return execute(sql, params, many, context)

    def progress(deleted):
        marks.append(("done", time.perf_counter()))

    with LockProbe(database_url(), now) as probe, connection.execute_wrapper(timing):
        start = time.perf_counter()
        deleted = SessionStore.clear_expired(batch_size=batch_size, progress=progress)
        total = time.perf_counter() - start
    assert deleted >= expired, (deleted, expired)
    locks, batches, selects = [], [], []
    batch_start = select_start = delete_start = start
    for kind, t in marks:
        if kind == "select":
            select_start = t
        elif kind == "delete":
            delete_start = t
            selects.append(t - select_start)
        elif kind == "done":
            locks.append(t - delete_start)
            batches.append(t - batch_start)
            batch_start = t
    tenth = max(len(selects) // 10, 1)
    return {
        CLEANUP: total,
        BATCHES: len(batches),
        MEDIAN_BATCH: statistics.median(batches) * 1000,
        LONGEST_BATCH: max(batches) * 1000,
        SELECT_FIRST: statistics.median(selects[:tenth]) * 1000,
        SELECT_LAST: statistics.median(selects[-tenth:]) * 1000,
        LONGEST_LOCK: max(locks) * 1000,
        LONGEST_WAIT: probe.longest_wait_ms,
        LOCK_WAITERS: probe.most_waiters,
    }


def measure(rows, runs=5):
    """Every figure for a table of ``rows`` sessions; returns {label: value}."""
    from django.db import connection
    from django.test import Client

    from accounts.models import User

    began = time.perf_counter()
    seed(rows)
    seeded = time.perf_counter() - began
    staff = User.objects.create(
        username="bench-staff", is_staff=True, is_superuser=True
    )
    admin = Client(HTTP_HOST=API_HOST)
    admin.force_login(staff)
    target = User.objects.get(pk=max(rows // 20, 1))

    def restore_user_sessions():
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO accounts_session (session_key, session_data, expire_date, "
                "user_id, created_at, last_seen, ip, user_agent) "
                "SELECT md5(random()::text) || "
                "md5(random()::text), 'e30:bench', now() + interval '1 day', %s, "
                "now(), now(), '10.0.0.1', 'bench' FROM generate_series(1, 10)",
                [target.pk],
            )

    revoke_samples = []
    for _ in range(runs):
        restore_user_sessions()
        start = time.perf_counter()
        target.sessions.all().revoke(scope="users")
        revoke_samples.append((time.perf_counter() - start) * 1000)

    changelist = "/admin/sessions/session/"
    median_page(admin, changelist, runs=1)  # warm the templates
    admin_ms, admin_sql, admin_queries = median_page(admin, changelist, runs)
    active_ms = median_page(admin, changelist, runs=3, state="active")[0]

    owner = Client(HTTP_HOST=API_HOST)
    owner.force_login(target)
    restore_user_sessions()
    own_ms = median_page(owner, "/api/auth/sessions", runs)[0]

    results = {
        SEED: seeded,
        REVOKE: statistics.median(revoke_samples),
        ADMIN: admin_ms,
        ADMIN_SQL: admin_sql,
        ADMIN_QUERIES: admin_queries,
        ADMIN_ACTIVE: active_ms,
        OWN: own_ms,
    }
    results.update(measure_cleanup())
    return results


def markdown(table):
    """{rows: {label: value}} as a markdown table, one column per size."""
    sizes = list(table)
    lines = [
        "| metric | " + " | ".join(f"{r:,} rows" for r in sizes) + " |",
        "| --- |" + " ---: |" * len(sizes),
    ]
    for metric in next(iter(table.values())):
        cells = []
        for r in sizes:
            value = table[r][metric]
            cells.append(f"{value:,}" if isinstance(value, int) else f"{value:,.1f}")
        name = metric.replace("  ", "&nbsp;&nbsp;")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_all(sizes, runs=5, log=print):
    table = {}
    for rows in sizes:
        table[rows] = measure(rows, runs=runs)
        log(
            f"{rows:>9,} rows: "
            + ", ".join(f"{k.strip()}={v:.1f}" for k, v in table[rows].items())
        )
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="10000,100000,1000000")
    args = parser.parse_args()
    # A database of its own on the machine's PostgreSQL, dropped at the end.
    with SharedDatabase() as db:
        setup_django(db.url)
        from django.core.management import call_command
        from django.db import connections

        try:
            call_command("migrate", verbosity=0)
            sizes = [int(r) for r in args.rows.split(",")]
            table = run_all(sizes, log=lambda line: print(line, file=sys.stderr))
            print(markdown(table))
        finally:
            connections.close_all()


if __name__ == "__main__":
    main()
