"""sessions.models: which rows are live, and how sessions end on purpose."""

import logging
from datetime import UTC, datetime, timedelta

import pytest

from sessions.models import Session

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)


def row(key, user=None, expires=NOW + timedelta(hours=1)):
    return Session.objects.create(
        session_key=key * 64,
        session_data="",
        expire_date=expires,
        user=user,
        created_at=NOW - timedelta(hours=1),
        last_seen=NOW,
    )


@pytest.fixture
def ada(django_user_model):
    return django_user_model.objects.create(username="ada")


def test_a_session_is_live_until_its_expiry_date_and_not_at_it():
    row("a", expires=NOW + timedelta(microseconds=1))
    row("b", expires=NOW)
    assert [s.pk[0] for s in Session.objects.active(NOW)] == ["a"]
    assert [s.pk[0] for s in Session.objects.expired(NOW)] == ["b"]
    # A loaded row answers the same, without a query.
    assert [s.pk[0] for s in Session.objects.all() if s.is_live(NOW)] == ["a"]


def test_active_and_expired_split_every_row(ada):
    for key, hours in zip("abcd", (-2, -1, 1, 2), strict=True):
        row(key, ada, NOW + timedelta(hours=hours))
    active = set(Session.objects.active(NOW))
    expired = set(Session.objects.expired(NOW))
    assert not active & expired
    assert active | expired == set(Session.objects.all())


def test_the_users_sessions_answer_active_too(ada):
    row("a", ada)
    row("b", ada, expires=NOW - timedelta(seconds=1))
    assert [s.pk[0] for s in ada.sessions.active(NOW)] == ["a"]


def test_revoke_deletes_the_rows_and_logs_who_whose_and_how_many(ada, caplog):
    row("a", ada)
    row("b", ada)
    row("c")
    with caplog.at_level(logging.INFO, logger="ventures.auth"):
        count = Session.objects.filter(user=ada).revoke(by="manage.py", scope="users")
    assert count == 2
    assert list(Session.objects.values_list("user", flat=True)) == [None]
    [record] = caplog.records
    assert record.event == "sessions_revoked"
    assert (record.revoked_by, record.scope, record.count) == ("manage.py", "users", 2)
    assert record.owners == [ada.pk]


def test_revoking_everyone_is_a_warning_without_an_owner_list(ada, caplog):
    row("a", ada)
    with caplog.at_level(logging.INFO, logger="ventures.auth"):
        Session.objects.all().revoke(scope="everyone")
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.owners is None


def test_count_by_owner_counts_each_owner_apart(ada, django_user_model):
    hedy = django_user_model.objects.create(username="hedy")
    row("a", ada)
    row("b", ada)
    row("c", hedy)
    row("d")
    assert Session.objects.count_by_owner() == {ada.pk: 2, hedy.pk: 1}
