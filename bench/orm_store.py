"""
The app's session lookup before it was compiled once: kept only as the
benchmark's baseline, never used by the app. ``python -m bench`` selects it
for one configuration, "pg-orm" (``BENCH_SESSION_ENGINE=bench.orm_store``,
read by bench.settings), to measure the app side by side with what it
replaced.

accounts/session_store.py now loads the session through
``accounts.session_lookup.fetch``: the query below, built and compiled once
per thread, then executed through Django's cursor. This store runs it
through the ORM instead, as the app did until then: for every request it
builds the ``select_related("user__patreon")`` queryset, compiles it to SQL
(three tables, 28 columns) and materialises the three model instances. Same
key hashes, same filter and order, same re-keying under a fallback secret,
same bookkeeping: only the lookup (``SessionStore.lookup``) differs.
"""

from __future__ import annotations

from accounts.models import Session
from accounts.session_store import SessionStore as AppSessionStore


def fetch(hashes, now):
    """accounts.session_lookup.fetch's answer, through the ORM on every call."""
    return (
        Session.objects.select_related("user__patreon")
        .filter(session_key__in=hashes, expire_date__gt=now)
        .first()
    )


class SessionStore(AppSessionStore):
    lookup = staticmethod(fetch)
