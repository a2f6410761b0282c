"""
sessions.lookup.fetch, the store's lookup: the live row for a cookie's key
hashes, its owner and the owner's membership, in one statement, for every
shape of row.
"""

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import PatreonMembership, User
from sessions.lookup import fetch
from sessions.models import Session, SessionRow

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 3, 4, 9, 0, 0, 123456, tzinfo=UTC)
TIERS = [{"id": "11", "title": "Gold ✨ «ünïcode»", "amount_cents": 500}]


def session(key, user=None, expires=NOW + timedelta(hours=1), **extra):
    return Session.objects.create(
        session_key=key,
        session_data="data-" + key,
        expire_date=expires,
        user=user,
        created_at=NOW - timedelta(days=1),
        last_seen=NOW - timedelta(minutes=3),
        **extra,
    )


@pytest.fixture
def patron_user():
    user = User.objects.create(
        username="patreon-1001", email="ada@example.com", name="Ada", is_staff=True
    )
    PatreonMembership.objects.create(
        user=user,
        patreon_id="1001",
        campaign_id="9000001",
        patron_status="active_patron",
        entitled_amount_cents=500,
        tiers=TIERS,
        synced_at=NOW,
    )
    return user


def fields(instance):
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.fields}


def lookup(hashes, now=NOW):
    """The store's lookup, with owner and membership, in one query."""
    with CaptureQueriesContext(connection) as captured:
        found = fetch(hashes, now)
        if found is not None and found.user is not None:
            getattr(found.user, "patreon", None)  # cached: no second query
    assert len(captured) == 1
    return found


def test_a_patrons_session_comes_with_owner_and_membership(patron_user):
    session("a" * 64, patron_user, ip="2001:db8::1", user_agent="Firefox")
    found = lookup(["a" * 64])
    assert fields(found) == fields(Session.objects.get(pk="a" * 64))
    assert fields(found.user) == fields(patron_user)
    assert fields(found.user.patreon) == fields(PatreonMembership.objects.get())
    assert found.user.patreon.user is found.user
    assert not found._state.adding
    assert found.user.patreon.tiers == TIERS
    assert found.ip == "2001:db8::1"
    assert found.expire_date.tzinfo is not None


def test_an_owner_without_membership_has_none_cached(django_user_model):
    user = django_user_model.objects.create(username="plain")
    session("b" * 64, user)
    found = lookup(["b" * 64])
    assert not hasattr(found.user, "patreon")


def test_an_anonymous_session_has_no_owner():
    session("c" * 64)
    assert lookup(["c" * 64]).user is None


def test_expired_and_unknown_sessions_are_not_found(patron_user):
    session("d" * 64, patron_user, expires=NOW)
    assert lookup(["d" * 64]) is None
    assert lookup(["e" * 64]) is None
    assert lookup(["d" * 64], now=NOW - timedelta(microseconds=1)) is not None


def test_with_several_hashes_the_lowest_live_one_wins(patron_user):
    session("f" * 64, patron_user)
    session("1" * 64, None)
    session("0" * 64, patron_user, expires=NOW - timedelta(seconds=1))
    assert lookup(["f" * 64, "1" * 64, "0" * 64]).session_key == "1" * 64
    assert lookup(["f" * 64, "0" * 64]).session_key == "f" * 64


def test_key_hashes_are_parameters_not_sql(patron_user):
    session("a" * 64, patron_user)
    assert lookup(["' OR 1=1 --", 'a" OR "1"="1']) is None
    assert Session.objects.count() == 1


def test_postgresql_parses_and_plans_the_query_once_per_connection(patron_user):
    """Prepared on PostgreSQL once it has run five times; plain elsewhere."""
    session("a" * 64, patron_user)
    for _ in range(6):
        assert lookup(["a" * 64]) is not None
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements"
            " WHERE statement LIKE %s AND NOT from_sql",
            ['%FROM "accounts_session" LEFT OUTER JOIN%'],
        )
        assert cursor.fetchone() == (1,)


def test_the_row_model_has_no_table_and_reads_nothing_by_itself(patron_user):
    """Only fetch's raw() reads SessionRow: dumpdata and querysets find none."""
    session("a" * 64, patron_user)
    assert list(SessionRow.objects.all()) == []
    assert SessionRow._base_manager.count() == 0
    assert "sessions_sessionrow" not in connection.introspection.table_names()
    out = StringIO()
    call_command("dumpdata", "sessions", stdout=out)
    assert [row["model"] for row in json.loads(out.getvalue())] == ["sessions.session"]
