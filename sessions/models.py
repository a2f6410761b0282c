"""
The session row, and the one place that says which rows are live.

``Session`` is Django's session table (``AbstractBaseSession``) plus who owns
the session and what staff need to recognise it. Its queryset holds the
rule "this session is live" (``active()``/``expired()``, both from
``live_at``; ``live_sql`` is the same rule for the store's raw SQL), so the
store's lookup, the cleanup, the admin's filter and the API never write it
again, and ``revoke()``, the one way sessions end on purpose. ``SessionRow``
is the shape of the lookup's row.
"""

import logging
from importlib import import_module

from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession, BaseSessionManager
from django.db import models
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import PatreonMembership, User
from ventures import events

USER_AGENT_MAX_LENGTH = 255
PUBLIC_ID_LENGTH = 20
OWNERS_LOGGED = 100


def live_at(now):
    """The rule: a session is live while its expiry date is still ahead."""
    return Q(expire_date__gt=now)


def live_sql(quote):
    """
    ``live_at``'s rule in SQL, for the store's raw() lookup (sessions.lookup),
    quoted with ``quote``: ``now`` is its one parameter.
    """
    column = Session._meta.get_field("expire_date").column
    return f"{quote(Session._meta.db_table)}.{quote(column)} > %s"


class SessionQuerySet(models.QuerySet):
    def active(self, now=None):
        """The sessions still live at ``now`` (default: this moment)."""
        return self.filter(live_at(now or timezone.now()))

    def expired(self, now=None):
        """The sessions no longer live at ``now``: what cleanup deletes."""
        return self.exclude(live_at(now or timezone.now()))

    def revoke(self, *, by=None, request=None, scope="selected"):
        """
        End these sessions (delete their rows: their cookies find nothing
        afterwards) and log one ``sessions_revoked`` event naming who did it
        (``by``: a user or a label such as "manage.py"), the ``scope`` and,
        unless everyone was logged out, a bounded list of whose sessions they
        were. Return how many ended.
        """
        owners = None
        if scope != "everyone":
            # Whose sessions they were, for the log (never keys).
            owners = sorted(
                self.filter(user__isnull=False)
                .order_by()
                .values_list("user_id", flat=True)
                .distinct()[:OWNERS_LOGGED]
            )
        count, _ = self.delete()
        events.emit(
            events.SESSIONS_REVOKED,
            request,
            level=logging.WARNING if scope == "everyone" else logging.INFO,
            revoked_by=getattr(by, "pk", by),
            scope=scope,
            count=count,
            owners=owners,
        )
        return count

    def count_by_owner(self):
        """``{user_id: number of these sessions}`` for the sessions with an owner."""
        return dict(
            self.filter(user__isnull=False)
            .order_by()
            .values_list("user_id")
            .annotate(count=Count("pk"))
        )


class SessionManager(BaseSessionManager.from_queryset(SessionQuerySet)):
    """Django's session manager (``encode``, ``save``) over ``SessionQuerySet``."""

    def save(self, session_key, session_dict, expire_date):
        """
        Store ``session_dict`` under the cookie key ``session_key`` (its row
        is keyed by the key's hash), expiring at ``expire_date`` at the
        latest; empty data deletes the row, as Django's manager does.
        """
        store = self.model.get_session_store_class()(session_key)
        return store.overwrite(session_dict, expire_date)


class Session(AbstractBaseSession):
    """
    A login session: Django's session row, plus who owns it and what staff
    need to recognise it.

    ``session_key`` holds a keyed hash of the cookie's key, never the key
    itself, so a database dump, a log line or an admin URL hands nobody a
    live session (see ``sessions.store``).
    """

    session_key = models.CharField("key hash", max_length=64, primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sessions",
    )
    created_at = models.DateTimeField(db_index=True)
    last_seen = models.DateTimeField()
    ip = models.GenericIPAddressField("IP address", null=True, blank=True)
    user_agent = models.CharField(max_length=USER_AGENT_MAX_LENGTH, blank=True)

    objects = SessionManager()

    class Meta(AbstractBaseSession.Meta):
        # The table keeps the name it had when accounts owned the model: the
        # move is a change of owner, not of data (migrations: accounts 0004).
        db_table = "accounts_session"
        indexes = [models.Index(fields=["user", "-created_at"])]

    @classmethod
    def get_session_store_class(cls):
        # Found through the setting, as Django's SessionMiddleware does: the
        # store imports this model, so an import back would be a cycle.
        return import_module(settings.SESSION_ENGINE).SessionStore

    def is_live(self, now=None):
        """``live_at``'s rule for a row already loaded (no query)."""
        return self.expire_date > (now or timezone.now())

    @property
    def public_id(self):
        """An opaque id to show the owner: a prefix of the (already useless) hash."""
        return self.session_key[:PUBLIC_ID_LENGTH]


# The models a SessionRow holds, each column named with its model's prefix.
ROW_PARTS = {"session": Session, "user": User, "membership": PatreonMembership}


# What a copied field leaves behind: keys, indexes, defaults, forms.
_NOT_A_COLUMNS_TYPE = (
    *("primary_key", "unique", "db_index", "db_column", "default", "db_default"),
    *("verbose_name", "help_text", "validators", "error_messages", "choices"),
    *("blank", "editable"),
)


def _plain_column(field, primary_key=False):
    """
    ``field`` as a plain column of its type (its converters depend on
    nothing else): a relation as its target's type (every auto key fits a big
    integer), and nullable, since the lookup's outer joins may find nothing.
    """
    if field.is_relation:
        field = field.target_field
    if isinstance(field, models.AutoField):
        return models.BigIntegerField(primary_key=primary_key, null=not primary_key)
    _, _, args, kwargs = field.deconstruct()
    for option in _NOT_A_COLUMNS_TYPE:
        kwargs.pop(option, None)
    kwargs["null"] = not primary_key
    return type(field)(*args, primary_key=primary_key, **kwargs)


class _RawOnlyManager(models.Manager):
    """A manager for a model without a table: raw() reads; querysets are empty."""

    def get_queryset(self):
        # dumpdata and the like query every registered model: none of them
        # must reach for a table that is not there.
        return super().get_queryset().none()


def _session_row():
    """
    One row of the store's lookup (``sessions.lookup``): a session joined
    with its owner and the owner's Patreon membership. Never a table
    (unmanaged): only ``raw()`` reads it, so that Django converts every
    column (JSON, dates, SQLite's booleans) as it does for the three models.
    Its fields are copies of theirs, taken from their metadata when this
    module loads; migrations record an unmanaged model once and never
    compare its fields again, so a change to the three models needs none.
    """
    fields = {
        f"{prefix}_{field.attname}": _plain_column(field, field is Session._meta.pk)
        for prefix, model in ROW_PARTS.items()
        for field in model._meta.concrete_fields
    }
    meta = type(
        "Meta",
        (),
        {"managed": False, "default_permissions": (), "base_manager_name": "objects"},
    )
    attrs = {
        "__module__": __name__,
        "__doc__": _session_row.__doc__,
        "Meta": meta,
        "objects": _RawOnlyManager(),
    }
    return type("SessionRow", (models.Model,), attrs | fields)


SessionRow = _session_row()
