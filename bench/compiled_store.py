"""
The benchmark's baseline, never used by the app: the session lookup as the
app ran it until issue 14 (then ``accounts/session_lookup.py``), kept to
measure the app's public-API lookup (``sessions.lookup.fetch``) against it in
the same run. ``python -m bench`` selects it for one configuration,
"pg-compiled" (``BENCH_SESSION_ENGINE=bench.compiled_store``, read by
bench.settings). Same key hashes, filter, order, re-keying and bookkeeping:
only ``SessionStore.lookup`` differs.

It is ``Session.objects.select_related("user__patreon").filter(
session_key__in=hashes, expire_date__gt=now).order_by("pk").first()``, but
built and compiled once per thread and number of key hashes instead of on
every request, reaching into ORM internals (``Field.get_col``, converters
called by hand) to do so. A request only
executes the SQL through Django's cursor (so query counting, logging and
execute wrappers still see it) and builds the instances with
``Model.from_db``, applying the converters the ORM would apply. On
PostgreSQL the statement text never changes, so psycopg prepares it on each
connection (settings: ``server_side_binding``) and the server does not parse
and plan a three-table join on every request either.
"""

import threading

from django.db import connections, router

from accounts.models import PatreonMembership, User
from sessions.models import Session
from sessions.store import SessionStore as AppSessionStore

# Converters are bound to a connection, and connections to a thread.
_local = threading.local()


def fetch(hashes, now):
    """
    The unexpired session whose key hash is one of ``hashes`` (lowest hash
    first, as ``first()`` orders by primary key), with ``user`` and
    ``user.patreon`` loaded (either may be None); or None.
    """
    alias = router.db_for_read(Session)
    compiled = getattr(_local, "compiled", None)
    if compiled is None:
        compiled = _local.compiled = {}
    query = compiled.get((alias, len(hashes)))
    if query is None:
        query = compiled[alias, len(hashes)] = _SessionQuery(alias, len(hashes))
    return query.fetch(hashes, now)


class _Columns:
    """One model's columns in the SELECT and how to turn them into an instance."""

    def __init__(self, model, table, connection, start):
        fields = model._meta.concrete_fields
        self.model = model
        self.names = [field.attname for field in fields]
        self.converters = [
            connection.ops.get_db_converters(field.get_col(table))
            + field.get_db_converters(connection)
            for field in fields
        ]
        self.start, self.stop = start, start + len(fields)
        self.pk = start + fields.index(model._meta.pk)
        self.sql = [f"{table}.{connection.ops.quote_name(f.column)}" for f in fields]

    def instance(self, row, alias, connection):
        """The instance in ``row``, or None where an outer join found nothing."""
        if row[self.pk] is None:
            return None
        values = list(row[self.start : self.stop])
        for i, chain in enumerate(self.converters):
            for converter in chain:
                values[i] = converter(values[i], None, connection)
        return self.model.from_db(alias, self.names, values)


class _SessionQuery:
    def __init__(self, alias, count):
        connection = connections[alias]
        self.alias = alias
        self.session = _Columns(Session, "s", connection, 0)
        self.user = _Columns(User, "u", connection, self.session.stop)
        self.membership = _Columns(PatreonMembership, "m", connection, self.user.stop)
        table = connection.ops.quote_name
        placeholders = ", ".join(["%s"] * count)
        columns = self.session.sql + self.user.sql + self.membership.sql
        # Names come from the models' metadata; every value is a parameter.
        self.sql = (
            f"SELECT {', '.join(columns)} "  # noqa: S608
            f"FROM {table(Session._meta.db_table)} s "
            f"LEFT OUTER JOIN {table(User._meta.db_table)} u ON s.user_id = u.id "
            f"LEFT OUTER JOIN {table(PatreonMembership._meta.db_table)} m"
            " ON u.id = m.user_id "
            f"WHERE s.expire_date > %s AND s.session_key IN ({placeholders})"
            " ORDER BY s.session_key ASC LIMIT 1"
        )

    def fetch(self, hashes, now):
        connection = connections[self.alias]
        with connection.cursor() as cursor:
            cursor.execute(
                self.sql, [connection.ops.adapt_datetimefield_value(now), *hashes]
            )
            row = cursor.fetchone()
        if row is None:
            return None
        session = self.session.instance(row, self.alias, connection)
        user = self.user.instance(row, self.alias, connection)
        if user is not None:
            membership = self.membership.instance(row, self.alias, connection)
            if membership is not None:
                PatreonMembership.user.field.set_cached_value(membership, user)
            # Cached even when None, as select_related does: no query later.
            User.patreon.related.set_cached_value(user, membership)
        Session.user.field.set_cached_value(session, user)
        return session


class SessionStore(AppSessionStore):
    lookup = staticmethod(fetch)
