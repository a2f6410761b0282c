"""
accounts.session_lookup: the compiled session query gives exactly what the
ORM's ``select_related`` query gives, in one statement, for every shape of row.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import session_lookup
from accounts.models import PatreonMembership, Session, User

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
def patron():
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
        checked_at=NOW,
    )
    return user


def orm(hashes, now):
    return (
        Session.objects.select_related("user__patreon")
        .filter(session_key__in=hashes, expire_date__gt=now)
        .order_by("pk")
        .first()
    )


def fields(instance):
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.fields}


def assert_same(found, expected):
    """Same session, owner and membership, with the same values and types."""
    assert (found is None) == (expected is None)
    if expected is None:
        return
    assert fields(found) == fields(expected)
    assert not found._state.adding
    assert found._state.db == expected._state.db
    if expected.user is None:
        assert found.user is None
        return
    assert fields(found.user) == fields(expected.user)
    membership = getattr(expected.user, "patreon", None)
    if membership is None:
        assert not hasattr(found.user, "patreon")
    else:
        assert fields(found.user.patreon) == fields(membership)
        assert found.user.patreon.user is found.user


def lookup(hashes, now=NOW):
    """The compiled lookup's answer, checked against the ORM's, in one query."""
    with CaptureQueriesContext(connection) as captured:
        found = session_lookup.fetch(hashes, now)
        if found is not None and found.user is not None:
            getattr(found.user, "patreon", None)  # cached: no second query
    assert len(captured) == 1
    assert_same(found, orm(hashes, now))
    return found


def test_a_patrons_session_comes_with_owner_and_membership(patron):
    session("a" * 64, patron, ip="2001:db8::1", user_agent="Firefox")
    found = lookup(["a" * 64])
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


def test_expired_and_unknown_sessions_are_not_found(patron):
    session("d" * 64, patron, expires=NOW)
    assert lookup(["d" * 64]) is None
    assert lookup(["e" * 64]) is None
    assert lookup(["d" * 64], now=NOW - timedelta(microseconds=1)) is not None


def test_with_several_hashes_the_lowest_live_one_wins(patron):
    session("f" * 64, patron)
    session("1" * 64, None)
    session("0" * 64, patron, expires=NOW - timedelta(seconds=1))
    assert lookup(["f" * 64, "1" * 64, "0" * 64]).session_key == "1" * 64
    assert lookup(["f" * 64, "0" * 64]).session_key == "f" * 64


def test_key_hashes_are_parameters_not_sql(patron):
    session("a" * 64, patron)
    assert lookup(["' OR 1=1 --", 'a" OR "1"="1']) is None
    assert Session.objects.count() == 1


def test_postgresql_parses_and_plans_the_query_once_per_connection(patron):
    """Prepared on PostgreSQL once it has run five times; plain elsewhere."""
    session("a" * 64, patron)
    for _ in range(6):
        assert lookup(["a" * 64]) is not None
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements"
            " WHERE statement LIKE %s AND NOT from_sql",
            ['%FROM "accounts_session" s LEFT OUTER JOIN%'],
        )
        assert cursor.fetchone() == (1,)
