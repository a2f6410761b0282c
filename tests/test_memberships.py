"""
The membership snapshot (accounts/patreon/memberships.py): a row is written
only by a read that started after the one that wrote it, webhooks only mark
it changed, and /api/auth/me says how fresh it is.
"""

import tomllib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connections
from django.utils import timezone

from accounts.adapters import USER_AGENT_PRODUCT
from accounts.models import PatreonMembership, User
from accounts.patreon.memberships import apply, mark_changed
from tests.patreon import log_in

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ACTIVE = {
    "campaign_id": "9000001",
    "member_id": "m-1",
    "patron_status": "active_patron",
    "entitled_amount_cents": 300,
    "tiers": [{"id": "7001", "title": "Supporter", "amount_cents": 300}],
    "last_charge_status": "Paid",
    "last_charge_date": T0 - timedelta(days=1),
    "next_charge_date": T0 + timedelta(days=30),
}
CANCELLED = {
    **ACTIVE,
    "patron_status": "former_patron",
    "entitled_amount_cents": 0,
    "tiers": [],
    "last_charge_status": "Refunded",
}


@pytest.fixture
def row():
    """Patron 1001's snapshot, written by a login whose read started at T0."""
    user = User.objects.create(username="patreon-1001")
    apply("1001", ACTIVE, read_started_at=T0, source="login", user=user)
    return PatreonMembership.objects.get(patreon_id="1001")


# Monotonic writes.


def test_a_newer_read_overwrites_the_row(row):
    written = apply("1001", CANCELLED, read_started_at=T0 + timedelta(1), source="sync")
    row.refresh_from_db()
    assert written == 1
    assert (row.patron_status, row.tiers, row.source) == ("former_patron", [], "sync")
    assert row.synced_at == T0 + timedelta(1)


def test_an_older_read_landing_after_a_newer_one_changes_nothing(row):
    later, earlier = T0 + timedelta(minutes=2), T0 + timedelta(minutes=1)
    apply("1001", CANCELLED, read_started_at=later, source="webhook")
    # The slow read started earlier, when the patron was still active.
    written = apply("1001", ACTIVE, read_started_at=earlier, source="sync")
    row.refresh_from_db()
    assert written == 0
    assert (row.patron_status, row.source, row.synced_at) == (
        "former_patron",
        "webhook",
        later,
    )


def test_a_read_that_started_with_the_rows_own_changes_nothing(row):
    assert apply("1001", CANCELLED, read_started_at=T0, source="sync") == 0
    row.refresh_from_db()
    assert row.patron_status == "active_patron"


def test_an_older_login_does_not_insert_over_a_newer_row(row):
    other = User.objects.create(username="someone")
    earlier = T0 - timedelta(minutes=1)
    written = apply(
        "1001", CANCELLED, read_started_at=earlier, source="login", user=other
    )
    assert written == 0
    assert not PatreonMembership.objects.filter(user=other).exists()
    row.refresh_from_db()
    assert row.patron_status == "active_patron"


def test_a_read_of_a_patron_who_is_nobody_of_ours_writes_nothing():
    assert apply("424242", ACTIVE, read_started_at=T0, source="sync") == 0
    assert not PatreonMembership.objects.exists()


# Webhooks mark, reads clear.


def test_mark_changed_marks_a_known_patron_and_counts_it(row):
    announced = T0 + timedelta(minutes=5)
    assert mark_changed("1001", announced) == 1
    assert mark_changed("424242", announced) == 0
    row.refresh_from_db()
    assert row.changed_at == announced


def test_a_read_started_after_the_announcement_clears_it(row):
    mark_changed("1001", T0 + timedelta(minutes=5))
    apply("1001", CANCELLED, read_started_at=T0 + timedelta(minutes=6), source="sync")
    row.refresh_from_db()
    assert (row.patron_status, row.changed_at) == ("former_patron", None)


def test_a_read_started_before_the_announcement_keeps_the_row_marked(row):
    """The read was under way when Patreon announced a newer change."""
    announced = T0 + timedelta(minutes=5)
    mark_changed("1001", announced)
    apply("1001", CANCELLED, read_started_at=T0 + timedelta(minutes=4), source="sync")
    row.refresh_from_db()
    assert row.patron_status == "former_patron"
    assert row.changed_at == announced


def test_the_latest_announcement_is_kept(row):
    first, second = T0 + timedelta(minutes=5), T0 + timedelta(minutes=7)
    mark_changed("1001", second)
    assert mark_changed("1001", first) == 0  # a late delivery of an older event
    row.refresh_from_db()
    assert row.changed_at == second


def test_an_announcement_a_newer_read_has_seen_marks_nothing(row):
    apply("1001", CANCELLED, read_started_at=T0 + timedelta(minutes=9), source="sync")
    assert mark_changed("1001", T0 + timedelta(minutes=8)) == 0
    row.refresh_from_db()
    assert row.changed_at is None


# At login.


def test_a_login_stores_the_member_fields(client, fake_patreon):
    before = timezone.now()
    log_in(client, "1004")  # declined
    row = PatreonMembership.objects.get(patreon_id="1004")
    assert row.last_charge_status == "Declined"
    assert row.last_charge_date == datetime(2024, 5, 1, 8, tzinfo=UTC)
    assert row.next_charge_date == datetime(2024, 5, 8, 8, tzinfo=UTC)
    assert row.pledge_relationship_start == datetime(2023, 9, 1, 10, tzinfo=UTC)
    assert row.will_pay_amount_cents == 1000
    assert len(row.member_id) == 36  # Patreon's member ids are UUIDs
    assert (row.source, row.changed_at) == ("login", None)
    # The identity call started during the login, before it was written.
    assert before <= row.synced_at <= timezone.now()


def test_a_login_whose_read_is_older_than_the_row_keeps_the_row(client, fake_patreon):
    """A sync that started after this login's identity call landed first."""
    log_in(client, "1001")
    newer = timezone.now() + timedelta(minutes=1)
    PatreonMembership.objects.filter(patreon_id="1001").update(
        patron_status="former_patron", tiers=[], synced_at=newer, source="sync"
    )
    log_in(client, "1001")
    body = client.me().json()["patreon"]
    assert (body["patron_status"], body["tiers"], body["source"]) == (
        "former_patron",
        [],
        "sync",
    )


def test_a_later_login_clears_an_announced_change(client, fake_patreon):
    log_in(client, "1001")
    mark_changed("1001", timezone.now())
    log_in(client, "1001")
    assert PatreonMembership.objects.get(patreon_id="1001").changed_at is None


@pytest.mark.parametrize(
    ("patron", "expected"),
    [
        (
            "1001",
            {
                "last_charge_status": "Paid",
                "last_charge_date": "2024-05-01T08:00:00+00:00",
                "next_charge_date": "2024-06-01T08:00:00+00:00",
                "is_free_trial": False,
                "is_gifted": False,
            },
        ),
        (
            "1009",
            {
                "last_charge_status": "Free Trial",
                "last_charge_date": "2024-05-10T08:00:00+00:00",
                "next_charge_date": "2024-05-17T08:00:00+00:00",
                "is_free_trial": True,
                "is_gifted": False,
            },
        ),
        (
            "1010",
            {
                "last_charge_status": None,
                "last_charge_date": None,
                "next_charge_date": None,
                "is_free_trial": False,
                "is_gifted": True,
            },
        ),
        (
            "1011",
            {
                "last_charge_status": "Refunded",
                "last_charge_date": "2024-05-01T08:00:00+00:00",
                "next_charge_date": None,
                "is_free_trial": False,
                "is_gifted": False,
            },
        ),
        (
            "1005",  # no membership at all
            {
                "last_charge_status": None,
                "last_charge_date": None,
                "next_charge_date": None,
                "is_free_trial": False,
                "is_gifted": False,
            },
        ),
    ],
)
def test_me_shows_the_member_fields(client, fake_patreon, patron, expected):
    log_in(client, patron)
    body = client.me().json()["patreon"]
    assert {name: body[name] for name in expected} == expected
    assert (body["source"], body["stale"]) == ("login", False)


# Staleness.


def test_me_is_stale_once_older_than_patreon_stale_after(
    client, fake_patreon, settings
):
    settings.PATREON_STALE_AFTER = 3600
    log_in(client, "1001")
    rows = PatreonMembership.objects.filter(patreon_id="1001")
    rows.update(synced_at=timezone.now() - timedelta(minutes=59))
    assert client.me().json()["patreon"]["stale"] is False
    rows.update(synced_at=timezone.now() - timedelta(minutes=61))
    body = client.me().json()["patreon"]
    assert body["stale"] is True
    assert body["patron_status"] == "active_patron"  # still served


def test_me_is_stale_when_a_change_is_not_reread_within_ten_minutes(
    client, fake_patreon
):
    log_in(client, "1001")
    rows = PatreonMembership.objects.filter(patreon_id="1001")
    rows.update(changed_at=timezone.now() - timedelta(minutes=9))
    assert client.me().json()["patreon"]["stale"] is False
    rows.update(changed_at=timezone.now() - timedelta(minutes=11))
    assert client.me().json()["patreon"]["stale"] is True


# Every Patreon call names us.


def test_every_patreon_call_of_a_login_sends_our_user_agent(client, fake_patreon):
    log_in(client, "1001")
    calls = [r for r in fake_patreon.requests if r["path"].startswith("/api/")]
    assert {r["path"] for r in calls} == {
        "/api/oauth2/token",
        "/api/oauth2/v2/identity",
    }
    # FRONTEND_ORIGINS[0] in tests/settings.py: where the deployment's people are.
    assert {r["user_agent"] for r in calls} == {
        f"{USER_AGENT_PRODUCT} (+https://ventures.test)"
    }


def test_the_user_agent_carries_the_projects_version():
    pyproject = Path(__file__).parents[1] / "pyproject.toml"
    version = tomllib.loads(pyproject.read_text())["project"]["version"]
    assert f"ventures-auth/{version}" == USER_AGENT_PRODUCT


def test_the_deprecated_vanity_is_not_requested(client, fake_patreon):
    log_in(client, "1001")
    [call] = [r for r in fake_patreon.requests if r["path"].endswith("/identity")]
    assert "vanity" not in call["query"]["fields[user]"].split(",")
    assert {
        "last_charge_status",
        "next_charge_date",
        "is_free_trial",
        "is_gifted",
    } <= set(call["query"]["fields[member]"].split(","))


@pytest.mark.django_db(transaction=True)
def test_concurrent_reads_leave_the_newest(row):
    """Reads landing at once, in any order: the one that started last stays."""
    starts = [T0 + timedelta(seconds=s) for s in (7, 3, 9, 1, 5, 8, 2, 6, 4)]

    def land(started):
        try:
            snapshot = {**ACTIVE, "member_id": started.isoformat()}
            apply("1001", snapshot, read_started_at=started, source="sync")
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(starts)) as pool:
        list(pool.map(land, starts))
    row.refresh_from_db()
    assert (row.synced_at, row.member_id) == (max(starts), max(starts).isoformat())
