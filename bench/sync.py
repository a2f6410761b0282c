"""
The full sync (accounts.patreon.sync) against campaigns of growing size:
pages/s, rows/s and the sync's peak memory, which should stay flat.

    python -m bench.sync [--sizes 10000,50000,100000]

On a fresh database of the machine's PostgreSQL (dropped afterwards), for
each size N (``--sizes``): a fake Patreon process whose campaign holds N
members, N membership rows (everyone has logged in once, three days ago),
and one full sync, unpaced, of which it reports the time, the pages and rows
per second and the peak of Python's allocations (tracemalloc) during it.
Then, at the largest size, one sync at its production pace with the fake's
rate limiter on (Patreon's: 100 calls per 2 s per client, 100 a minute per
token), to show it stays within Patreon's limits: no 429.
Prints a Markdown table for docs/performance.md.
"""

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import requests

from bench import memberships
from bench.session_rows import setup_django
from devstack.patreon import FakePatreonProcess
from devstack.postgres import SharedDatabase


def seed(size):
    """``size`` users with a membership row each, as after their login."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE accounts_user CASCADE")
        cursor.execute("DELETE FROM accounts_syncrun")
        memberships.seed(cursor.execute, size, "3 days")


def one_sync(fake, size, pace, limiter):
    from accounts.patreon import creator, sync

    requests.post(f"{fake}/__fake/campaign", json={"size": size}, timeout=10)
    requests.post(f"{fake}/__fake/throttle", json={"limiter": limiter}, timeout=10)
    answer = requests.post(f"{fake}/__fake/creator/token", timeout=10).json()
    creator.store(creator.TokenAnswer.from_json(answer), patreon_id="1000")
    seed(size)
    tracemalloc.start()
    started = time.perf_counter()
    run = sync.full_sync(pace=pace)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "size": size,
        "pace": pace,
        "seconds": seconds,
        "pages": run.pages,
        "rows": run.updated,
        "peak_mib": peak / 2**20,
        # Every 429 the sync meets is written down for all callers to wait.
        "throttled": creator.status().throttled_until is not None,
        "outcome": run.outcome,
    }


def table(results):
    lines = [
        "| members | pace | time (s) | pages/s | rows/s | peak memory (MiB) | 429 |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        pace = "unpaced" if not r["pace"] else f"a page per {r['pace']:.1f} s"
        lines.append(
            f"| {r['size']:,} | {pace} | {r['seconds']:.1f} | "
            f"{r['pages'] / r['seconds']:.2f} | {r['rows'] / r['seconds']:,.0f} | "
            f"{r['peak_mib']:.1f} | {'yes' if r['throttled'] else 'no'} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,50000,100000")
    parser.add_argument("--no-paced", action="store_true", help="skip the paced run")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with SharedDatabase() as database:
        results = measure(database.url, sizes, paced=not args.no_paced)
    print(table(results))
    memberships.save("sync", table(results))
    if any(r["outcome"] != "complete" for r in results):
        sys.exit("a sync did not complete")


def measure(database_url, sizes, paced):
    """Each size's sync, then the paced one; the figures."""
    setup_django(database_url)
    from django.conf import settings
    from django.core.management import call_command

    from accounts.patreon import sync

    call_command("migrate", verbosity=0, skip_checks=True)
    with tempfile.TemporaryDirectory() as tmp:
        fake_process = FakePatreonProcess(Path(tmp)).start()
        try:
            fake = f"http://127.0.0.1:{fake_process.port}"
            settings.PATREON_BASE_URL = fake
            results = [one_sync(fake, size, 0, False) for size in sizes]
            if paced:
                results.append(one_sync(fake, sizes[-1], sync.PAGE_INTERVAL, True))
        finally:
            fake_process.stop()
    # Django's connection would keep the database from being dropped.
    from django.db import connections

    connections.close_all()
    return results


if __name__ == "__main__":
    main()
