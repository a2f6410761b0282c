"""
Database sessions with an owner, keyed hashes and server-side timeouts.

``SESSION_ENGINE = "sessions.store"``. Django's database store,
extended through its documented hooks, with three changes:

- The row's primary key is an HMAC of the cookie's session key (as Rails has
  done since CVE-2019-16782): whoever reads the table, a log or an admin URL
  still cannot present a live session. Keys signed with a SECRET_KEY_FALLBACKS
  entry are found too and re-keyed, so a key rotation logs nobody out.
- Each row records its owner, when it was created and last seen, and from
  which IP address and user agent. Django rewrites every column on each save,
  so these live on the store and are written back every time.
- Expiry is policy, not cookie age: the earlier of last activity plus the idle
  limit and creation plus the absolute limit (``Limits``); activity never
  extends a session past its absolute limit. A session nobody has logged in
  to only carries a login's OAuth state, so it gets the short anonymous limit
  until ``start_login`` switches it to its owner's. ``set_expiry()`` can
  shorten a session (and 0 still asks for a browser-session cookie), never
  lengthen it.

What differs from Django's own store contract, and why: docs/peer-contracts.md.
"""

from datetime import datetime, timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DBStore
from django.utils import timezone
from django.utils.crypto import salted_hmac

from sessions import context
from sessions.limits import Limits
from sessions.lookup import fetch
from sessions.models import USER_AGENT_MAX_LENGTH, Session

# Where SessionBase.set_expiry() keeps the expiry asked for, in the data.
EXPIRY_KEY = "_session_expiry"


def hash_key(session_key, secret=None):
    """The keyed hash that stands for ``session_key`` in the database."""
    # The salt names the store's first home; changing it would log everyone out.
    return salted_hmac(
        "accounts.session_store", session_key, secret=secret, algorithm="sha256"
    ).hexdigest()


def _hashes(session_key):
    """The key's hash under SECRET_KEY first, then under each fallback."""
    return [
        hash_key(session_key, secret)
        for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    ]


class SessionStore(DBStore):
    # The one query that finds a live row with its owner (bench/compiled_store.py
    # swaps in the hand-compiled lookup it replaced, to measure the difference).
    lookup = staticmethod(fetch)

    def __init__(self, session_key=None):
        super().__init__(session_key)
        self._forget_row()

    @classmethod
    def get_model_class(cls):
        return Session

    def _forget_row(self):
        self.limits = Limits.for_user(None)
        self.created_at = self.last_seen = self.ip = None
        self.user_agent = ""

    def _remember_row(self, row):
        if row.user_id is not None:
            context.current().user = row.user
            # A save outside a request (a shell, a command) must keep the
            # owner's limits, not shorten the row to the anonymous one.
            self.limits = Limits.for_user(row.user)
        self.created_at, self.last_seen = row.created_at, row.last_seen
        self.ip, self.user_agent = row.ip, row.user_agent

    def _get_session_from_db(self):
        hashes = _hashes(self.session_key)
        row = self.lookup(hashes, timezone.now())
        if row is None:
            self._session_key = None
            return None
        self._remember_row(row)
        if row.session_key != hashes[0]:
            # Found under a fallback secret: re-key it under the current one.
            self.model.objects.filter(pk=row.pk).update(session_key=hashes[0])
        return row

    async def _aget_session_from_db(self):
        return await sync_to_async(self._get_session_from_db)()

    def exists(self, session_key):
        return self.model.objects.filter(session_key=hash_key(session_key)).exists()

    async def aexists(self, session_key):
        return await self.model.objects.filter(
            session_key=hash_key(session_key)
        ).aexists()

    # cycle_key() keeps the row's history: Django also cycles keys of
    # logged-in sessions (after a SECRET_KEY rotation), which must not give a
    # stolen cookie a new life. A login restarts it explicitly (start_login).

    def flush(self):
        super().flush()
        self._forget_row()

    async def aflush(self):
        await super().aflush()
        self._forget_row()

    def start_login(self, user):
        """
        A (re-)authentication of ``user``: the absolute limit and the
        recent-login clock start now, under the limits for that user.
        """
        self.limits = Limits.for_user(user)
        self.touch()
        self.created_at = self.last_seen

    @property
    def row_key(self):
        """The primary key of this session's row, or None before it has one."""
        return hash_key(self.session_key) if self.session_key else None

    def is_recent_login(self, max_age):
        """Whether this session began (at login) at most ``max_age`` seconds ago."""
        return (
            self.created_at is not None
            and (timezone.now() - self.created_at).total_seconds() <= max_age
        )

    def touch(self):
        """Record activity from the current client; the idle limit restarts."""
        client = context.current().client
        self.last_seen = timezone.now()
        self.ip, self.user_agent = client.ip, client.user_agent[:USER_AGENT_MAX_LENGTH]
        self.modified = True

    def _expiry_date(self, asked, modification=None):
        """
        The earliest of the idle limit, the absolute limit and the expiry
        ``asked`` with set_expiry(): seconds of inactivity (0 asks only for a
        browser-session cookie) or a date. ``modification``, as in Django, is
        the last activity, by default the recorded one.
        """
        now = timezone.now()
        active = modification or self.last_seen or now
        ends = [
            active + self.limits.idle,
            (self.created_at or now) + self.limits.absolute,
        ]
        if isinstance(asked, str):
            ends.append(datetime.fromisoformat(asked))
        elif isinstance(asked, datetime):
            ends.append(asked)
        elif asked:
            ends.append(active + timedelta(seconds=asked))
        return min(ends)

    @staticmethod
    def _age(expiry_date, modification=None):
        since = modification or timezone.now()
        return max(0, int((expiry_date - since).total_seconds()))

    def get_expiry_date(self, **kwargs):
        """
        When this session ends: idle or absolute limit, or earlier if
        set_expiry() asked for it. Django's ``modification`` and ``expiry``
        keyword arguments are honoured.
        """
        asked = kwargs["expiry"] if "expiry" in kwargs else self.get(EXPIRY_KEY)
        return self._expiry_date(asked, kwargs.get("modification"))

    def get_expiry_age(self, **kwargs):
        """Seconds until ``get_expiry_date()`` (counted from ``modification``)."""
        return self._age(self.get_expiry_date(**kwargs), kwargs.get("modification"))

    async def aget_expiry_date(self, **kwargs):
        if "expiry" in kwargs:
            asked = kwargs["expiry"]
        else:
            asked = await self.aget(EXPIRY_KEY)
        return self._expiry_date(asked, kwargs.get("modification"))

    async def aget_expiry_age(self, **kwargs):
        expiry_date = await self.aget_expiry_date(**kwargs)
        return self._age(expiry_date, kwargs.get("modification"))

    def is_expired(self):
        """Whether the (already loaded) session is past one of its limits."""
        return self.created_at is not None and self.get_expiry_date() <= timezone.now()

    def create_model_instance(self, data):
        if self.created_at is None:
            self.touch()
            self.created_at = self.last_seen
        return self.model(
            session_key=hash_key(self._get_or_create_session_key()),
            session_data=self.encode(data),
            expire_date=self.get_expiry_date(),
            user_id=data.get(SESSION_KEY),
            created_at=self.created_at,
            last_seen=self.last_seen,
            ip=self.ip,
            user_agent=self.user_agent,
        )

    async def acreate_model_instance(self, data):
        await self._aget_or_create_session_key()
        return self.create_model_instance(data)

    def overwrite(self, data, expire_date):
        """
        ``Session.objects.save()`` (Django's manager method) for this store's
        key: its row gets ``data`` and expires at ``expire_date``, or earlier
        if the policy says so, never later; empty ``data`` ends the session.
        A live row keeps its owner and history. Return the row (or None).
        """
        key = self.session_key
        if key is None:
            raise ValueError("Not a session key: too short or empty.")
        if not data:
            self.delete(key)
            return None
        self.load()  # remembers a live row's owner and history
        self._session_key = key  # load() forgets a key without a live row
        row = self.create_model_instance(data)
        row.expire_date = min(row.expire_date, expire_date)
        row.save()
        return row

    def delete(self, session_key=None):
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        self.model.objects.filter(session_key__in=_hashes(session_key)).delete()

    async def adelete(self, session_key=None):
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        await self.model.objects.filter(session_key__in=_hashes(session_key)).adelete()

    @classmethod
    def clear_expired(cls, batch_size=1000, progress=None):
        """
        Delete expired sessions in batches of ``batch_size`` rows, each in its
        own short transaction, so a million expired rows never become one
        long lock. ``progress(deleted_so_far)`` is called after each batch.
        """
        model = cls.get_model_class()
        expired = model.objects.expired(timezone.now())
        deleted = 0
        while True:
            batch = list(expired.values_list("pk", flat=True)[:batch_size])
            if not batch:
                return deleted
            deleted += model.objects.filter(pk__in=batch).delete()[0]
            if progress is not None:
                progress(deleted)
