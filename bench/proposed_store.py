"""
A prototype, for measurement only, of the change this benchmark suggests to
accounts/session_store.py: the same session lookup without the ORM's
per-request work. Never used by the app; ``python -m bench`` selects it for
one configuration (``BENCH_SESSION_ENGINE=bench.proposed_store``, read by
bench.settings) to measure what the change would gain.

The app's store runs, for every request,
``Session.objects.select_related("user__patreon").filter(session_key__in=...,
expire_date__gt=now).first()``: building that queryset, compiling it to SQL
(three tables, 28 columns) and materialising the models costs about half of
an authenticated request's CPU (see docs/performance.md, the py-spy table).
This store compiles the very same query once per process and number of key
hashes, then per request only executes it through Django's cursor (so query
counting, logging and execute wrappers still see it) and builds the three
model instances with ``Model.from_db``, applying the same database
converters the ORM would. Same rows, same filter, same order, same re-keying
under a fallback secret: only the repeated work goes.
"""

from __future__ import annotations

from django.db import connections, router
from django.utils import timezone

from accounts.models import PatreonMembership, Session, User
from accounts.session_store import SessionStore as AppSessionStore
from accounts.session_store import _hashes

_COMPILED = {}  # (database alias, number of hashes) -> _Compiled


class _Compiled:
    """One SQL text and how to turn its rows into a Session with user and membership."""

    def __init__(self, alias, count):
        connection = connections[alias]
        placeholders = ", ".join(["%s"] * count)
        self.models = []  # (model, field attnames, converters, first column)
        columns = []
        for model, table in (
            (Session, "s"),
            (User, "u"),
            (PatreonMembership, "m"),
        ):
            fields = model._meta.concrete_fields
            converters = []
            for field in fields:
                col = field.get_col(table)
                converters.append(
                    connection.ops.get_db_converters(col)
                    + field.get_db_converters(connection)
                )
            self.models.append(
                (model, [f.attname for f in fields], converters, len(columns))
            )
            columns += [f'{table}."{f.column}"' for f in fields]
        qn = connection.ops.quote_name
        # Names come from the models' metadata; values go as parameters.
        self.sql = (
            f"SELECT {', '.join(columns)} "  # noqa: S608
            f"FROM {qn(Session._meta.db_table)} s "
            f"LEFT OUTER JOIN {qn(User._meta.db_table)} u ON s.user_id = u.id "
            f"LEFT OUTER JOIN {qn(PatreonMembership._meta.db_table)} m "
            "ON u.id = m.user_id "
            f"WHERE s.expire_date > %s AND s.session_key IN ({placeholders}) "
            "ORDER BY s.session_key ASC LIMIT 1"
        )
        self.alias = alias

    def _instance(self, index, row, connection):
        model, names, converters, start = self.models[index]
        values = list(row[start : start + len(names)])
        for i, chain in enumerate(converters):
            for converter in chain:
                values[i] = converter(values[i], None, connection)
        return model.from_db(self.alias, names, values)

    def fetch(self, hashes, now):
        connection = connections[self.alias]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, [now, *hashes])
            row = cursor.fetchone()
        if row is None:
            return None
        session = self._instance(0, row, connection)
        user = None
        if row[self.models[1][3]] is not None:  # the user's id: LEFT JOIN matched
            user = self._instance(1, row, connection)
            membership = None
            if row[self.models[2][3]] is not None:
                membership = self._instance(2, row, connection)
                PatreonMembership.user.field.set_cached_value(membership, user)
            User.patreon.related.set_cached_value(user, membership)
        Session.user.field.set_cached_value(session, user)
        return session


def fetch_row(hashes, now):
    alias = router.db_for_read(Session)
    key = (alias, len(hashes))
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = _COMPILED[key] = _Compiled(alias, len(hashes))
    return compiled.fetch(hashes, now)


class SessionStore(AppSessionStore):
    def _get_session_from_db(self):
        hashes = _hashes(self.session_key)
        row = fetch_row(hashes, timezone.now())
        if row is None:
            self._session_key = None
            return None
        self._remember_row(row)
        if row.session_key != hashes[0]:
            self.model.objects.filter(pk=row.pk).update(session_key=hashes[0])
        return row
