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
        " Redis, the fake behind TLS) and the worker as `ventures-worker.service`"
        " runs it (concurrency 4), on the same two cores; 1,000 known members, one"
        " signed `members:update` each, spread over 10 s, sent straight to the"
        " instance; then the time until no row is left marked changed."
    ),
}


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
