"""
The entitlement decision (accounts/entitlements.py), row by row of the
README's table ("Entitlements"): each row there is one case here, by name,
and ``test_every_row_of_the_readme_table_is_a_case`` keeps the two equal.

The decision reads only the snapshot and the clock it is given, so the
memberships are unsaved instances and ``NOW`` is a fixed moment.
"""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from accounts import entitlements
from accounts.models import PatreonMembership, User

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent

# tests/settings.py: supporter:7001|7002|7003, early-access:7002|7003.
SUPPORTER = frozenset({"7001", "7002", "7003"})
EARLY_ACCESS = frozenset({"7002", "7003"})
FREE = frozenset({"5"})
SUPPORTER_TIER = {"id": "7001", "title": "Supporter", "amount_cents": 300}
FREE_TIER = {"id": "5", "title": "Free", "amount_cents": 0}
GRACE = timedelta(days=7)  # PATREON_DECLINE_GRACE's default
MAX_AGE = timedelta(hours=72)  # PATREON_ENTITLEMENT_MAX_AGE's default


def member(**changes):
    """A paid-up Supporter of our campaign, read a minute ago, with ``changes``."""
    fields = {
        "patreon_id": "1001",
        "campaign_id": "9000001",
        "member_id": "m-1",
        "patron_status": "active_patron",
        "entitled_amount_cents": 300,
        "tiers": [SUPPORTER_TIER],
        "last_charge_status": "Paid",
        "last_charge_date": NOW - timedelta(days=3),
        "synced_at": NOW - timedelta(minutes=1),
        **changes,
    }
    return PatreonMembership(**fields)


DECLINED = {"patron_status": "declined_patron", "last_charge_status": "Declined"}

# name: (membership or None, the entitlement's tier ids, allowed, reason)
ROWS = {
    "no membership row": (None, SUPPORTER, False, "not_member"),
    "member of another campaign": (
        member(campaign_id="9000002"),
        SUPPORTER,
        False,
        "not_member",
    ),
    "no campaign read": (member(campaign_id=""), SUPPORTER, False, "not_member"),
    "read longer ago than the maximum age": (
        member(synced_at=NOW - MAX_AGE - timedelta(seconds=1)),
        SUPPORTER,
        False,
        "membership_stale",
    ),
    "stale and refunded": (
        member(synced_at=NOW - MAX_AGE * 2, last_charge_status="Refunded"),
        SUPPORTER,
        False,
        "membership_stale",
    ),
    "read exactly the maximum age ago": (
        member(synced_at=NOW - MAX_AGE),
        SUPPORTER,
        True,
        "entitled",
    ),
    "another tier": (member(), EARLY_ACCESS, False, "not_entitled"),
    "former patron, paid period over": (
        member(patron_status="former_patron", tiers=[], entitled_amount_cents=0),
        SUPPORTER,
        False,
        "not_entitled",
    ),
    "never pledged (a follower)": (
        member(patron_status="", tiers=[], last_charge_status=""),
        SUPPORTER,
        False,
        "not_entitled",
    ),
    "Free tier, not configured": (
        member(patron_status="", tiers=[FREE_TIER], last_charge_status=""),
        SUPPORTER,
        False,
        "not_entitled",
    ),
    "Free tier, configured": (
        member(patron_status="", tiers=[FREE_TIER], last_charge_status=""),
        FREE,
        True,
        "entitled",
    ),
    "refunded": (
        member(last_charge_status="Refunded"),
        SUPPORTER,
        False,
        "refunded",
    ),
    "refunded by Patreon": (
        member(last_charge_status="Refunded by Patreon"),
        SUPPORTER,
        False,
        "refunded",
    ),
    "fraud": (member(last_charge_status="Fraud"), SUPPORTER, False, "fraud"),
    "partially refunded": (
        member(last_charge_status="Partially Refunded"),
        SUPPORTER,
        True,
        "entitled",
    ),
    "declined within the grace": (
        member(**DECLINED, last_charge_date=NOW - GRACE + timedelta(hours=1)),
        SUPPORTER,
        True,
        "declined_in_grace",
    ),
    "declined exactly the grace ago": (
        member(**DECLINED, last_charge_date=NOW - GRACE),
        SUPPORTER,
        True,
        "declined_in_grace",
    ),
    "declined past the grace": (
        member(**DECLINED, last_charge_date=NOW - GRACE - timedelta(seconds=1)),
        SUPPORTER,
        False,
        "declined_past_grace",
    ),
    "declined, no charge date": (
        member(**DECLINED, last_charge_date=None),
        SUPPORTER,
        False,
        "declined_past_grace",
    ),
    "declined, tiers no longer listed, within the grace": (
        member(
            **DECLINED,
            tiers=[],
            paid_tiers=[SUPPORTER_TIER],
            last_charge_date=NOW - timedelta(days=2),
        ),
        SUPPORTER,
        True,
        "declined_in_grace",
    ),
    "declined, tiers no longer listed, past the grace": (
        member(
            **DECLINED,
            tiers=[],
            paid_tiers=[SUPPORTER_TIER],
            last_charge_date=NOW - timedelta(days=8),
        ),
        SUPPORTER,
        False,
        "declined_past_grace",
    ),
    "former patron, tiers paid for last are no grace": (
        member(
            patron_status="former_patron",
            tiers=[],
            paid_tiers=[SUPPORTER_TIER],
        ),
        SUPPORTER,
        False,
        "not_entitled",
    ),
    "charge declined, status not yet": (
        member(last_charge_status="Declined", last_charge_date=NOW - GRACE * 2),
        SUPPORTER,
        False,
        "declined_past_grace",
    ),
    "active and paid": (member(), SUPPORTER, True, "entitled"),
    "charge pending": (
        member(last_charge_status="Pending"),
        SUPPORTER,
        True,
        "entitled",
    ),
    "former patron, paid period running": (
        member(patron_status="former_patron"),
        SUPPORTER,
        True,
        "entitled",
    ),
    "free trial": (
        member(last_charge_status="Free Trial", is_free_trial=True),
        SUPPORTER,
        True,
        "entitled",
    ),
    "gift, never charged": (
        member(last_charge_status="", last_charge_date=None, is_gifted=True),
        SUPPORTER,
        True,
        "entitled",
    ),
}


@pytest.mark.parametrize("row", ROWS)
def test_the_decision_table(row):
    membership, tier_ids, allowed, reason = ROWS[row]
    assert entitlements.decide(membership, tier_ids, NOW) == entitlements.Decision(
        allowed, reason
    )


def readme_rows():
    """The case names in the first column of the README's decision table."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("### The decision") :].split("\n\n|", 1)[1]
    table = table.split("\n\n", 1)[0]
    return re.findall(r"^\| (?!Case|---)([^|]+?) \|", "|" + table, re.M)


def test_every_row_of_the_readme_table_is_a_case():
    assert readme_rows() == list(ROWS)


def test_the_grace_and_the_maximum_age_are_the_settings(settings):
    settings.PATREON_DECLINE_GRACE = 3600
    settings.PATREON_ENTITLEMENT_MAX_AGE = 600
    declined = member(**DECLINED, last_charge_date=NOW - timedelta(hours=2))
    assert not entitlements.decide(declined, SUPPORTER, NOW).allowed
    read = member(synced_at=NOW - timedelta(minutes=11))
    assert entitlements.decide(read, SUPPORTER, NOW).reason == "membership_stale"


def test_our_campaign_is_the_configured_one(settings):
    settings.PATREON_CAMPAIGN_ID = "9000002"
    assert entitlements.decide(member(), SUPPORTER, NOW).reason == "not_member"


def test_granted_lists_names_in_configured_order():
    user = User(username="p")
    user.patreon = member(tiers=[{"id": "7003", "title": "B", "amount_cents": 2500}])
    assert entitlements.granted(user, NOW) == ["supporter", "early-access"]


def test_a_user_without_a_membership_is_granted_nothing():
    assert entitlements.granted(User(username="root"), NOW) == []


def test_unknown_tier_ids_are_those_the_campaign_lacks(settings):
    """What the full sync warns about: an entitlement no tier can grant."""
    assert entitlements.unknown_tier_ids(["7001", "7002", "7003", "7004"]) == []
    assert entitlements.unknown_tier_ids([7001, 7002]) == ["7003"]
    settings.PATREON_ENTITLEMENTS = {}
    assert entitlements.unknown_tier_ids([]) == []
