"""
The store's one query: the live session for a cookie's key hashes, with its
owner and the owner's Patreon membership.

Through public API only, and without the ORM's SQL compiler on every request
(which cost about 0.8 ms of a 1 ms lookup, docs/performance.md): the SELECT
is written once per database and number of hashes from the models' metadata,
run with ``SessionRow.objects.raw()``, which converts every column as the
ORM would (``SessionRow`` copies the three models' fields), and the three
instances are built from the converted values with ``Model.from_db``.
"""

from functools import cache
from operator import attrgetter

from django.db import connections, router

from sessions.models import ROW_PARTS, Session, SessionRow, live_sql


class _Part:
    """One model's columns in a SessionRow."""

    def __init__(self, prefix, model):
        self.model = model
        self.fields = model._meta.concrete_fields
        self.names = [field.attname for field in self.fields]
        self.aliases = [f"{prefix}_{name}" for name in self.names]
        self.values = attrgetter(*self.aliases)
        self.pk = attrgetter(f"{prefix}_{model._meta.pk.attname}")

    def select(self, quote):
        table = quote(self.model._meta.db_table)
        return [
            f"{table}.{quote(field.column)} AS {quote(alias)}"
            for field, alias in zip(self.fields, self.aliases, strict=True)
        ]

    def instance(self, row, alias):
        """This part of ``row`` as an instance, or None where a join found nothing."""
        if self.pk(row) is None:
            return None
        return self.model.from_db(alias, self.names, self.values(row))


_SESSION, _USER, _MEMBERSHIP = (_Part(p, model) for p, model in ROW_PARTS.items())
_OWNER = Session._meta.get_field("user")
_MEMBER = _MEMBERSHIP.model._meta.get_field("user")
# The owner's cache of its membership (select_related caches "none" too).
_PATREON = _MEMBER.remote_field


@cache
def _sql(alias, count):
    """The SELECT for ``count`` key hashes on database ``alias``."""
    quote = connections[alias].ops.quote_name

    def column(model, field):
        return f"{quote(model._meta.db_table)}.{quote(field.column)}"

    sessions, users, memberships = (
        quote(part.model._meta.db_table) for part in (_SESSION, _USER, _MEMBERSHIP)
    )
    columns = _SESSION.select(quote) + _USER.select(quote) + _MEMBERSHIP.select(quote)
    hashes = ", ".join(["%s"] * count)
    # Names come from the models' metadata; every value is a parameter.
    return (
        f"SELECT {', '.join(columns)} FROM {sessions}"  # noqa: S608
        f" LEFT OUTER JOIN {users} ON {column(Session, _OWNER)}"
        f" = {column(_USER.model, _OWNER.target_field)}"
        f" LEFT OUTER JOIN {memberships}"
        f" ON {column(_USER.model, _MEMBER.target_field)}"
        f" = {column(_MEMBERSHIP.model, _MEMBER)}"
        f" WHERE {live_sql(quote)}"
        f" AND {column(Session, Session._meta.pk)} IN ({hashes})"
    )


def fetch(hashes, now):
    """
    The live session whose key hash is one of ``hashes`` (lowest hash first),
    with its owner and the owner's Patreon membership, in one query; or None.
    """
    alias = router.db_for_read(Session)
    expiry = Session._meta.get_field("expire_date")
    params = [expiry.get_db_prep_value(now, connections[alias]), *hashes]

    rows = SessionRow.objects.raw(_sql(alias, len(hashes)), params, using=alias)
    # At most one row per hash (the primary key): choosing here costs less
    # than an ORDER BY and LIMIT the database would run on every request.
    row = min(rows, key=attrgetter("pk"), default=None)
    if row is None:
        return None
    session = _SESSION.instance(row, alias)
    session.user = owner = _USER.instance(row, alias)
    if owner is not None:
        membership = _MEMBERSHIP.instance(row, alias)
        if membership is None:
            _PATREON.set_cached_value(owner, None)  # no query for it later
        else:
            owner.patreon = membership
    return session
