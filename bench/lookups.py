"""
The session lookup alone, timed in this process: no HTTP, no load generator,
Django set up as the gunicorn instances are (bench.settings, the bench's
database).

Three lookups of the same row, interleaved in one run, each timed by this
process's CPU (``time.process_time()``: Django and psycopg, not the database
server), best of ``repeats`` x ``count`` lookups:

- *before*: the hand-compiled lookup the app ran until issue 14
  (bench/compiled_store.py, reaching into ORM internals);
- *ORM*: the plain ORM lookup the app ran until the raw() one: one
  ``select_related("user__patreon")`` queryset built once per process, the
  live filter and ``pk__in`` per lookup, the lowest hash picked with ``min()``;
- *now*: the app's lookup, ``sessions.lookup.fetch``.

The row is a session with its owner and the owner's Patreon membership; each
lookup gets two key hashes, as the store asks with one SECRET_KEY_FALLBACKS
entry: the row's (SECRET_KEY) and the fallback's, which matches nothing.
"""

from __future__ import annotations

import os
import secrets
import time
from contextlib import contextmanager
from datetime import timedelta
from functools import cache
from operator import attrgetter

# (key in the results, label in the report), in the report's order.
LOOKUPS = (
    ("before", "before: hand-compiled once per thread (`bench/compiled_store.py`)"),
    (
        "orm",
        'ORM: `select_related("user__patreon")` built once,'
        " `filter(live_at(now), pk__in=…)`, lowest hash with `min()`",
    ),
    (
        "now",
        "**the app now** (`sessions.lookup.fetch`): `SessionRow.objects.raw()`,"
        " `Model.from_db`",
    ),
)
# A retired SECRET_KEY, as SECRET_KEY_FALLBACKS would hold it.
FALLBACK_SECRET = "bench: a retired secret key"  # noqa: S105 (no secret)
# Enough lookups before timing for psycopg to prepare each statement
# (prepare_threshold=5) and for every lazy cache to fill.
WARM_UP = 20


@cache
def _with_owner():
    from sessions.models import Session

    # Built once: querysets are lazy and filter() returns a copy.
    return Session.objects.select_related("user__patreon")


def orm_fetch(hashes, now):
    """The live session for ``hashes`` (lowest hash first) through the ORM, or None."""
    from sessions.models import live_at

    rows = _with_owner().filter(live_at(now), pk__in=hashes)
    return min(rows, key=attrgetter("pk"), default=None)


def _fetchers():
    from bench import compiled_store
    from sessions import lookup

    return {"before": compiled_store.fetch, "orm": orm_fetch, "now": lookup.fetch}


@contextmanager
def _one_session(now):
    """A live session row with owner and membership; its two key hashes."""
    from accounts.models import PatreonMembership, User
    from sessions.models import Session
    from sessions.store import hash_key

    key = secrets.token_urlsafe(24)
    user = User.objects.create(username=f"bench-lookup-{key}", name="Bench")
    try:
        PatreonMembership.objects.create(
            user=user,
            patreon_id=f"bench-lookup-{key}",
            patron_status="active_patron",
            entitled_amount_cents=500,
            tiers=[{"id": "1", "title": "Supporter", "amount_cents": 500}],
            synced_at=now,
        )
        Session.objects.create(
            session_key=hash_key(key),
            session_data="",
            expire_date=now + timedelta(hours=1),
            user=user,
            created_at=now,
            last_seen=now,
        )
        yield [hash_key(key), hash_key(key, FALLBACK_SECRET)]
    finally:
        user.delete()  # its session and membership with it


def _check(name, found, hashes, user_id):
    """Each lookup must find the same row, owner and membership."""
    if (
        found is None
        or found.pk != hashes[0]
        or found.user.pk != user_id
        or found.user.patreon.pk != user_id
    ):
        raise AssertionError(f"the {name} lookup did not find the bench's session")


def measure(repeats=5, count=1000):
    """
    Milliseconds of this process's CPU per lookup for each of ``LOOKUPS``:
    the best of ``repeats`` runs of ``count`` lookups (the runs interleaved,
    their order rotating), with every run's figure and the conditions.
    """
    from django.db import connection
    from django.utils import timezone

    from sessions.models import SessionRow

    fetchers = _fetchers()
    samples = {name: [] for name in fetchers}
    now = timezone.now()
    with _one_session(now) as hashes:
        user_id = fetchers["now"](hashes, now).user.pk
        for name, fetch in fetchers.items():
            for _ in range(WARM_UP):
                _check(name, fetch(hashes, now), hashes, user_id)
        names = list(fetchers)
        for run in range(repeats):
            # Rotated, so that no lookup always runs first (or after another).
            for name in names[run % len(names) :] + names[: run % len(names)]:
                fetch = fetchers[name]
                start = time.process_time()
                for _ in range(count):
                    fetch(hashes, now)
                spent = time.process_time() - start
                samples[name].append(1000 * spent / count)
    return {
        "vendor": connection.vendor,
        "repeats": repeats,
        "count": count,
        "columns": len(SessionRow._meta.concrete_fields),
        "loadavg": [round(load, 2) for load in os.getloadavg()],
        "ms": {name: min(values) for name, values in samples.items()},
        "samples": samples,
    }
