"""Reading Patreon's identity document, on hand-built JSON:API documents."""

import copy
from contextlib import suppress

import pytest

from accounts.patreon.identity import (
    PatreonError,
    membership,
    profile,
    user_data,
    username,
)

OURS = "9000001"
THEIRS = "9000002"
NOTHING = {
    "campaign_id": OURS,
    "member_id": "",
    "patron_status": "",
    "entitled_amount_cents": 0,
    "last_charge_status": "",
    "last_charge_date": None,
    "next_charge_date": None,
    "pledge_relationship_start": None,
    "will_pay_amount_cents": 0,
    "is_free_trial": False,
    "is_gifted": False,
}


def member(member_id, campaign_id, tier_ids=(), **attributes):
    """An included member resource of ``campaign_id``, entitled to ``tier_ids``."""
    return {
        "type": "member",
        "id": member_id,
        "attributes": attributes,
        "relationships": {
            "campaign": {"data": {"type": "campaign", "id": campaign_id}},
            "currently_entitled_tiers": {
                "data": [{"type": "tier", "id": tier_id} for tier_id in tier_ids]
            },
        },
    }


def tier(tier_id, title, amount_cents):
    return {
        "type": "tier",
        "id": tier_id,
        "attributes": {"title": title, "amount_cents": amount_cents},
    }


def document(*included, user_id="1001", member_ids=None):
    """A user whose memberships are the included members (or ``member_ids``)."""
    if member_ids is None:
        member_ids = [item["id"] for item in included if item["type"] == "member"]
    return {
        "data": {
            "type": "user",
            "id": user_id,
            "attributes": {"full_name": "Ada Lovelace"},
            "relationships": {
                "memberships": {
                    "data": [{"type": "member", "id": m} for m in member_ids]
                }
            },
        },
        "included": list(included),
    }


def test_our_membership_is_picked_when_another_campaign_is_listed_first():
    doc = document(
        member("m-theirs", THEIRS, ["8001"], patron_status="former_patron"),
        tier("8001", "Reader", 500),
        member("m-ours", OURS, ["7002"], patron_status="active_patron"),
        tier("7002", "Patron", 1000),
    )
    found = membership(doc, OURS)
    assert found["campaign_id"] == OURS
    assert found["patron_status"] == "active_patron"
    assert [t["id"] for t in found["tiers"]] == ["7002"]


def test_only_another_campaigns_membership_counts_as_none():
    doc = document(member("m-theirs", THEIRS, ["8001"], patron_status="active_patron"))
    assert membership(doc, OURS) == {**NOTHING, "tiers": []}


def test_tiers_are_read_from_included_with_id_title_and_amount():
    doc = document(
        member(
            "m",
            OURS,
            ["7002", "7003"],
            patron_status="active_patron",
            currently_entitled_amount_cents=2500,
        ),
        tier("7002", "Patron", 1000),
        tier("7003", "Benefactor", 2500),
    )
    found = membership(doc, OURS)
    assert found["tiers"] == [
        {"id": "7002", "title": "Patron", "amount_cents": 1000},
        {"id": "7003", "title": "Benefactor", "amount_cents": 2500},
    ]
    assert found["entitled_amount_cents"] == 2500


def test_no_membership_gives_empty_status_and_no_tiers():
    assert membership(document(), OURS) == {**NOTHING, "tiers": []}


def test_a_null_patron_status_reads_as_empty():
    doc = document(member("m", OURS, patron_status=None))
    found = membership(doc, OURS)
    assert found["patron_status"] == ""
    assert found["tiers"] == []


def test_a_tier_missing_from_included_keeps_its_id_with_blank_details():
    doc = document(member("m", OURS, ["7001"], patron_status="active_patron"))
    assert membership(doc, OURS)["tiers"] == [
        {"id": "7001", "title": "", "amount_cents": 0}
    ]


def test_a_membership_ref_missing_from_included_counts_as_none():
    doc = document(member_ids=["m-missing"])
    assert membership(doc, OURS) == {**NOTHING, "tiers": []}


def test_user_data_returns_the_user_resource():
    data = user_data(document())
    assert data["id"] == "1001"
    assert data["attributes"]["full_name"] == "Ada Lovelace"


def test_user_data_turns_a_numeric_id_into_a_string():
    assert user_data(document(user_id=1001))["id"] == "1001"


def test_user_data_without_attributes_gives_empty_attributes():
    doc = {"data": {"type": "user", "id": "1001", "attributes": ["x"]}}
    assert user_data(doc)["attributes"] == {}


def with_data(data):
    return {"data": data, "included": []}


MALFORMED = {
    "not a dict": ["data", "user"],
    "data missing": {"included": []},
    "data null": with_data(None),
    "data a list": with_data([{"type": "user", "id": "1001"}]),
    "data a string": with_data("1001"),
    "no id": with_data({"type": "user"}),
    "empty id": with_data({"type": "user", "id": ""}),
    "null id": with_data({"type": "user", "id": None}),
    "not a user": with_data({"type": "campaign", "id": "1001"}),
    "no type": with_data({"id": "1001"}),
}


@pytest.mark.parametrize("doc", MALFORMED.values(), ids=MALFORMED.keys())
def test_user_data_refuses_a_document_without_a_user(doc):
    with pytest.raises(PatreonError):
        user_data(doc)


@pytest.mark.parametrize(
    "user_id", [["1001"], {"id": "1001"}, True], ids=["a list", "an object", "true"]
)
def test_user_data_refuses_an_id_that_is_not_a_string_or_number(user_id):
    """Such an id would become a Patreon uid like "['1001']" or "True"."""
    with pytest.raises(PatreonError):
        user_data(document(user_id=user_id))


def ours_with(**changes):
    """A valid document with our membership, one part of it replaced."""
    doc = document(
        member("m", OURS, ["7001"], patron_status="active_patron"),
        tier("7001", "Supporter", 300),
    )
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = doc
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[int(last) if isinstance(target, list) else last] = value
    return doc


BROKEN = {
    "document a list": [1, 2],
    "document null": None,
    "data missing": {"included": []},
    "data a list": {"data": [{"type": "user", "id": "1001"}], "included": []},
    "relationships a list": ours_with(data__relationships=["memberships"]),
    "relationships a string": ours_with(data__relationships="memberships"),
    "memberships a dict": ours_with(data__relationships__memberships={"a": 1}),
    "membership data a dict": ours_with(
        data__relationships__memberships__data={"type": "member", "id": "m"}
    ),
    "membership refs not dicts": ours_with(
        data__relationships__memberships__data=["m", 1, None]
    ),
    "included null": ours_with(included=None),
    "included a dict": ours_with(included={"type": "member", "id": "m"}),
    "included a string": ours_with(included="member"),
    "included a number": ours_with(included=5),
    "included containing non-dicts": ours_with(included=[None, 1, "m", ["m"]]),
    "member relationships a list": ours_with(included__0__relationships=[]),
    "member campaign null": ours_with(included__0__relationships__campaign=None),
    "member attributes a list": ours_with(included__0__attributes=["x"]),
    "member attributes a string": ours_with(included__0__attributes="active"),
    "tiers a dict": ours_with(
        included__0__relationships__currently_entitled_tiers={"data": {"id": "7"}}
    ),
    "tier refs not dicts": ours_with(
        included__0__relationships__currently_entitled_tiers__data=[None, "7001"]
    ),
    "tier attributes a list": ours_with(included__1__attributes=["Supporter"]),
    "membership ref id a list": ours_with(
        data__relationships__memberships__data=[{"type": "member", "id": ["m"]}]
    ),
    "included id a dict": ours_with(included__1__id={"id": "7001"}),
    "tier ref id a list": ours_with(
        included__0__relationships__currently_entitled_tiers__data=[
            {"type": "tier", "id": ["7001"]}
        ]
    ),
}


@pytest.mark.parametrize("doc", BROKEN.values(), ids=BROKEN.keys())
def test_membership_never_raises_on_a_malformed_document(doc):
    found = membership(copy.deepcopy(doc), OURS)
    assert found["campaign_id"] == OURS
    assert isinstance(found["patron_status"], str)
    assert isinstance(found["tiers"], list)


@pytest.mark.parametrize("doc", BROKEN.values(), ids=BROKEN.keys())
def test_user_data_raises_only_patreon_error_on_a_malformed_document(doc):
    with suppress(PatreonError):
        user_data(copy.deepcopy(doc))


@pytest.mark.parametrize(
    "amount", ["lots", -100, [300], None], ids=["text", "negative", "a list", "null"]
)
def test_an_entitled_amount_that_is_not_whole_cents_reads_as_zero(amount):
    """It is stored in a PositiveIntegerField: anything else fails the login."""
    doc = ours_with(included__0__attributes__currently_entitled_amount_cents=amount)
    assert membership(doc, OURS)["entitled_amount_cents"] == 0


def test_user_data_keeps_only_the_user_s_id_and_cleaned_attributes():
    """What is kept is stored (extra_data): no relationships, no junk."""
    doc = document()
    doc["data"]["attributes"]["social_connections"] = {"x": "\x00"}
    assert user_data(doc) == {
        "type": "user",
        "id": "1001",
        "attributes": {"full_name": "Ada Lovelace"},
    }


@pytest.mark.parametrize(
    "user_id",
    ["-1", "1e3", "\uff11\uff10\uff10\uff11", "1" * 65, "10 01"],
    ids=str.__repr__,
)
def test_user_data_refuses_an_id_that_is_not_a_patreon_id(user_id):
    """It becomes a username and a 64-character column."""
    with pytest.raises(PatreonError):
        user_data(document(user_id=user_id))


@pytest.mark.parametrize("value", [5, 2.5, True, None, {"a": 1}, ["Ada"]], ids=repr)
@pytest.mark.parametrize(
    "field",
    ["full_name", "first_name", "last_name", "email", "thumb_url"],
)
def test_an_attribute_of_the_wrong_type_reads_as_absent(field, value):
    assert field not in profile({field: value})


def test_strings_are_cut_to_their_column_without_control_characters():
    cleaned = profile(
        {
            "full_name": "\x00Ada\u202e Lovelace" + "e" * 10_000,
            "first_name": "F" * 200,
            "last_name": "L\x07",
        }
    )
    assert cleaned["full_name"].startswith("Ada Lovelace")
    assert len(cleaned["full_name"]) == 255
    assert cleaned["first_name"] == "F" * 150
    assert cleaned["last_name"] == "L"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "a" * 250 + "@example.test"),
        ("email", "not an address"),
        ("email", "ada\x00@example.test"),
        ("thumb_url", "https://c8.patreon.com/" + "t" * 1000),
        ("thumb_url", "javascript:alert(1)"),
        ("image_url", "https://c8.patreon.com/\x00"),
    ],
)
def test_an_email_or_url_that_does_not_fit_is_left_out_not_cut(field, value):
    """A cut address or URL would name someone or something else."""
    assert field not in profile({field: value})


def test_only_a_boolean_says_whether_the_email_is_verified():
    assert profile({"is_email_verified": True}) == {"is_email_verified": True}
    assert profile({"is_email_verified": "true"}) == {}
    assert profile({"is_email_verified": 1}) == {}


def test_usernames_derive_from_the_patreon_id_alone():
    assert username("7777778") == "patreon-7777778"


def test_a_tier_title_is_cut_and_cleaned():
    doc = ours_with(included__1__attributes__title="\x00Gold" + "!" * 1000)
    [found] = membership(doc, OURS)["tiers"]
    assert found["title"] == ("Gold" + "!" * 1000)[:255]


def test_a_patron_status_longer_than_its_column_is_cut():
    doc = ours_with(included__0__attributes__patron_status="active_patron" * 10)
    assert len(membership(doc, OURS)["patron_status"]) == 32
