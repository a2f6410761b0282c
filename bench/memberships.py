"""
The membership sync's figures (issue 15) in docs/performance.md: measured by
their own commands, ``python -m bench.sync`` and ``python -m bench.rereads``
(minutes each, and independent of the HTTP load), kept in
``bench/memberships.json`` so that every report renders the latest of each.
"""

from __future__ import annotations

import datetime
import json

from devstack.processes import ROOT

SAVED = ROOT / "bench" / "memberships.json"

INTRO = {
    "sync": (
        "### The full sync\n\n"
        "`DATABASE_URL=postgres://… python -m bench.sync`: a fake Patreon process"
        " whose campaign holds N members, N membership rows (everyone logged in"
        " once), one full sync per size, unpaced, in one process; peak memory is"
        " the peak of Python's allocations during the sync (tracemalloc). The last"
        " row is the largest size at the sync's production pace (a page per 1.2 s)"
        " with the fake's rate limiter on (Patreon's: 100 calls per 2 s per client,"
        " 100 a minute per token): no 429 means it stays within Patreon's limits."
    ),
    "rereads": (
        "### A burst of webhooks and the worker\n\n"
        "`python -m bench.rereads`: the stack (one gunicorn instance, PostgreSQL,"
        " Redis, the fake behind TLS, its rate limiter on: Patreon's 100 calls a"
        " minute per token) after one full sync, and the worker as"
        " `ventures-worker.service` runs it (concurrency 4), on the same two"
        " cores; 1,000 known members, one signed `members:update` each, spread"
        " over 10 s, sent straight to the instance; then the time until no row"
        " is left marked changed. Issue 15's targets for such a burst:"
        " acknowledged with p99 < 100 ms, every change re-read within a minute."
        " One read per change would take 10 minutes under Patreon's limit; the"
        " worker walks the campaign instead when that costs fewer calls (more"
        " changes wait than the last walk had pages), which re-reads a burst in"
        " a minute for campaigns of up to about 50,000 members (a page of 1,000"
        " per 1.2 s). `python -m bench.webhooks` measures the acknowledgements"
        " alone, without the worker (tests/test_webhooks.py prints them on every"
        " test run)."
    ),
}


FIRST_MEMBER_ID = 2_000_000  # fake_patreon.world's dynamic range


def seed(execute, count, synced_ago):
    """
    ``count`` members of the fake's campaign (its dynamic range), each a user
    with a membership row read ``synced_ago`` (an SQL interval) ago, as after
    a login: ``execute(sql, params)`` runs on the bench's database.
    """
    execute(
        """
        INSERT INTO accounts_user (id, password, is_superuser, username,
            first_name, last_name, email, is_staff, is_active, date_joined,
            name, avatar_url)
        SELECT n, '!', false, 'patreon-' || (%s + n), '', '', '', false,
            true, now(), '', ''
        FROM generate_series(1, %s) AS n
        """,
        [FIRST_MEMBER_ID - 1, count],
    )
    execute(
        """
        INSERT INTO accounts_patreonmembership (user_id, patreon_id,
            campaign_id, patron_status, entitled_amount_cents, tiers,
            paid_tiers, synced_at)
        SELECT n, (%s + n)::text, '9000001', 'active_patron', 300, '[]',
            '[]', now() - %s::interval
        FROM generate_series(1, %s) AS n
        """,
        [FIRST_MEMBER_ID - 1, synced_ago, count],
    )


def save(key, text):
    """Keep ``text`` (Markdown) as the latest ``key`` figures."""
    saved = json.loads(SAVED.read_text()) if SAVED.exists() else {}
    saved[key] = {"text": text, "measured": datetime.date.today().isoformat()}
    SAVED.write_text(json.dumps(saved, indent=2) + "\n")


def section():
    """The report's section for the saved figures ("" if none)."""
    if not SAVED.exists():
        return ""
    saved = json.loads(SAVED.read_text())
    parts = ["## Memberships: the full sync and webhook re-reads\n"]
    for key, intro in INTRO.items():
        if key in saved:
            parts.append(f"{intro} Measured {saved[key]['measured']}:\n")
            parts.append(saved[key]["text"] + "\n")
    return "\n".join(parts)
