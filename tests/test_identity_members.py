"""
Reading the member resource at login (accounts/patreon/identity.py): every
value of the wrong type or shape reads as absent, dates become aware
datetimes, and charge statuses Patreon adds later are kept, bounded.
"""

from datetime import UTC, datetime

import pytest

from accounts.models import PatreonMembership
from accounts.patreon.identity import membership

OURS = "9000001"


def document(**attributes):
    """A user whose one membership, of our campaign, has ``attributes``."""
    return {
        "data": {
            "type": "user",
            "id": "1001",
            "relationships": {
                "memberships": {"data": [{"type": "member", "id": "m-1"}]}
            },
        },
        "included": [
            {
                "type": "member",
                "id": "m-1",
                "attributes": attributes,
                "relationships": {
                    "campaign": {"data": {"type": "campaign", "id": OURS}}
                },
            }
        ],
    }


def read(**attributes):
    return membership(document(**attributes), OURS)


def test_the_member_fields_are_read():
    found = read(
        last_charge_status="Paid",
        last_charge_date="2024-05-01T08:00:00.000+00:00",
        next_charge_date="2024-06-01T08:00:00.000+00:00",
        pledge_relationship_start="2023-01-15T10:00:00.000+00:00",
        will_pay_amount_cents=1000,
        is_free_trial=False,
        is_gifted=True,
    )
    assert found["member_id"] == "m-1"
    assert found["last_charge_status"] == "Paid"
    assert found["last_charge_date"] == datetime(2024, 5, 1, 8, tzinfo=UTC)
    assert found["next_charge_date"] == datetime(2024, 6, 1, 8, tzinfo=UTC)
    assert found["pledge_relationship_start"] == datetime(2023, 1, 15, 10, tzinfo=UTC)
    assert found["will_pay_amount_cents"] == 1000
    assert (found["is_free_trial"], found["is_gifted"]) == (False, True)


def test_a_date_with_an_offset_keeps_its_moment():
    found = read(last_charge_date="2024-05-01T10:00:00+02:00")
    assert found["last_charge_date"] == datetime(2024, 5, 1, 8, tzinfo=UTC)


def test_a_date_without_an_offset_is_utc_as_patreon_documents():
    found = read(next_charge_date="2024-06-01T08:00:00")
    assert found["next_charge_date"] == datetime(2024, 6, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        None,
        20240501,
        True,
        ["2024-05-01T08:00:00Z"],
        "yesterday",
        "2024-02-30T08:00:00Z",  # well formed, no such day
        "2024-05-01T25:00:00Z",
        "2024-05-01T08:00:00" + "0" * 100 + "Z",
    ],
)
def test_a_date_that_is_no_date_reads_as_absent(value):
    found = read(
        last_charge_date=value, next_charge_date=value, pledge_relationship_start=value
    )
    assert found["last_charge_date"] is None
    assert found["next_charge_date"] is None
    assert found["pledge_relationship_start"] is None


def test_a_charge_status_patreon_adds_later_is_kept_and_bounded():
    assert read(last_charge_status="Chargeback")["last_charge_status"] == "Chargeback"
    long = read(last_charge_status="Refunded by Patreon\x00" + "x" * 100)
    column = PatreonMembership._meta.get_field("last_charge_status").max_length
    assert long["last_charge_status"] == ("Refunded by Patreon" + "x" * 100)[:column]


@pytest.mark.parametrize("value", [None, 3, True, {"status": "Paid"}])
def test_a_charge_status_that_is_no_string_reads_as_never_charged(value):
    assert read(last_charge_status=value)["last_charge_status"] == ""


@pytest.mark.parametrize("value", ["1000", -1, 10.5, True, 2**31, None])
def test_an_amount_that_is_no_whole_cents_in_range_reads_as_zero(value):
    assert read(will_pay_amount_cents=value)["will_pay_amount_cents"] == 0


@pytest.mark.parametrize("value", ["true", 1, None, [True]])
def test_a_flag_that_is_no_boolean_reads_as_false(value):
    found = read(is_free_trial=value, is_gifted=value)
    assert (found["is_free_trial"], found["is_gifted"]) == (False, False)
