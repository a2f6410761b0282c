"""
How session administration scales with the number of session rows.

    python -m bench.session_rows [--rows 10000,100000,1000000]

Creates a throwaway PostgreSQL database (on DATABASE_URL's server), fills
it with N session rows (10 per user, half of them expired) and measures,
with the app's own code paths: revoking every session of one user, the
admin session list page, one user's own session list (/api/auth/sessions),
and cleaning up the expired half in batches (the longest batch is the
longest lock held). Prints a markdown table; several runs, medians.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def setup_django(database_url):
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url,
        }
    )
    sys.path.insert(0, ROOT)
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
    from django.db import connection

    users = rows // 10
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
                patron_status, entitled_amount_cents, tiers, checked_at)
            SELECT i, (100000 + i)::text, '9000001', 'active_patron', 500, '[]', now()
            FROM generate_series(1, %s) AS i
            """,
            [users],
        )
        # Half the rows expired (odd i), spread over the last two weeks.
        cursor.execute(
            """
            INSERT INTO accounts_session (session_key, session_data, expire_date,
                user_id, created_at, last_seen, ip, user_agent)
            SELECT encode(sha256(i::text::bytea), 'hex'), 'e30:bench',
                CASE WHEN i %% 2 = 1 THEN now() - interval '1 hour'
                     ELSE now() + interval '1 day' END,
                (i %% %s) + 1,
                now() - (i %% 1209600) * interval '1 second',
                now() - (i %% 3600) * interval '1 second',
                ('10.' || (i %% 250) || '.' || (i / 250 %% 250) || '.1')::inet,
                'Mozilla/5.0 (bench)'
            FROM generate_series(1, %s) AS i
            """,
            [users, rows],
        )
        cursor.execute("ANALYZE accounts_session")


def measure(rows):
    from django.db import connection
    from django.test import Client

    from accounts import revocation
    from accounts.models import Session, User
    from accounts.session_store import SessionStore

    seed(rows)
    staff = User.objects.create(
        username="bench-staff", is_staff=True, is_superuser=True
    )
    admin = Client(HTTP_HOST="api.ventures.test")
    admin.force_login(staff)
    target = User.objects.get(pk=rows // 20)

    def revoke_one_user():
        revocation.revoke_user_sessions([target])

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
    for _ in range(5):
        restore_user_sessions()
        revoke_samples.append(timed(revoke_one_user, runs=1))

    def admin_list():
        response = admin.get("/admin/accounts/session/", secure=True)
        assert response.status_code == 200, response.status_code

    owner = Client(HTTP_HOST="api.ventures.test")
    owner.force_login(target)
    restore_user_sessions()

    def own_list():
        response = owner.get("/api/auth/sessions", secure=True)
        assert response.status_code == 200, response.status_code

    results = {
        "revoke one user's sessions (ms)": statistics.median(revoke_samples),
        "admin session list (ms)": timed(admin_list),
        "user's own session list (ms)": timed(own_list),
    }
    batches = []

    def progress(deleted):
        batches.append(time.perf_counter())

    expired = Session.objects.filter(expire_date__lt=time_now()).count()
    start = time.perf_counter()
    deleted = SessionStore.clear_expired(batch_size=1000, progress=progress)
    total = time.perf_counter() - start
    steps = [b - a for a, b in zip([start, *batches], batches, strict=False)]
    results["clean up expired half (s)"] = total
    results["longest cleanup batch = longest lock (ms)"] = max(steps) * 1000
    assert deleted == expired, (deleted, expired)
    return results


def time_now():
    from django.utils import timezone

    return timezone.now()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="10000,100000,1000000")
    parser.add_argument(
        "--server", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL"
    )
    args = parser.parse_args()
    name = f"ventures_bench_{uuid.uuid4().hex[:8]}"
    server = args.server.rstrip("/")
    subprocess.run(
        ["psql", f"{server}/postgres", "-qc", f"CREATE DATABASE {name}"],
        check=True,
        capture_output=True,
    )
    try:
        setup_django(f"{server}/{name}")
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        table = {}
        for rows in [int(r) for r in args.rows.split(",")]:
            table[rows] = measure(rows)
            print(f"{rows:>9,} rows: {table[rows]}", file=sys.stderr)
        metrics = list(next(iter(table.values())))
        print("| metric | " + " | ".join(f"{r:,} rows" for r in table) + " |")
        print("| --- |" + " --- |" * len(table))
        for metric in metrics:
            cells = " | ".join(f"{table[r][metric]:.1f}" for r in table)
            print(f"| {metric} | {cells} |")
    finally:
        from django.db import connections

        connections.close_all()
        subprocess.run(
            ["psql", f"{server}/postgres", "-qc", f"DROP DATABASE IF EXISTS {name}"],
            check=False,
        )


if __name__ == "__main__":
    main()
