"""
The fake's mutable world, over real HTTP: each action as the member
endpoint, the campaign's list and the identity endpoint all show it.
"""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from fake_patreon import FakePatreon
from tests.fake_patreon.calls import act, api, control, creator_token, identity_of

NOW = datetime(2031, 3, 4, 9, 30, tzinfo=UTC)
TODAY = "2031-03-04T09:30:00.000+00:00"
NEXT_CYCLE = "2031-04-01T08:00:00.000+00:00"
FIELDS = (
    "patron_status,last_charge_status,last_charge_date,next_charge_date,"
    "currently_entitled_amount_cents,will_pay_amount_cents"
)


@pytest.fixture
def frozen_at_now(time_machine):
    """The fake's clock frozen at NOW: action dates are predictable."""
    time_machine.move_to(NOW, tick=False)


def summary(member, included_tiers):
    """A member resource's attributes, and its entitled tier ids."""
    tiers = member["relationships"]["currently_entitled_tiers"]["data"]
    assert {("tier", t["id"]) for t in tiers} <= included_tiers
    return {**member["attributes"], "tiers": [t["id"] for t in tiers]}


def seen(fake, patron):
    """
    ``patron``'s membership as the member endpoint, the members list and the
    identity endpoint show it: asserted equal, and returned (None if gone).
    """
    token = creator_token(fake)
    state = control(fake, "GET", f"world/patrons/{patron}").json()
    params = {"include": "currently_entitled_tiers", "fields[member]": FIELDS}
    members = api(
        fake, "/campaigns/9000001/members", token, **params, **{"page[count]": 1000}
    ).json()
    tiers = {(r["type"], r["id"]) for r in members.get("included", [])}
    listed = [
        summary(m, tiers) for m in members["data"] if m["id"] == state["member_id"]
    ]
    document = identity_of(
        fake,
        patron,
        **{"include": "memberships.currently_entitled_tiers", "fields[member]": FIELDS},
    )
    ids = {(r["type"], r["id"]) for r in document["included"]}
    logged_in = [summary(r, ids) for r in document["included"] if r["type"] == "member"]
    if state["member_id"] is None:
        assert listed == logged_in == []
        return None
    response = api(fake, f"/members/{state['member_id']}", token, **params)
    assert response.status_code == 200
    one = response.json()
    [alone] = [summary(one["data"], {(r["type"], r["id"]) for r in one["included"]})]
    assert [alone] == listed == logged_in
    return alone


ACTIVE_1001 = {
    "patron_status": "active_patron",
    "last_charge_status": "Paid",
    "last_charge_date": "2024-05-01T08:00:00.000+00:00",
    "next_charge_date": "2024-06-01T08:00:00.000+00:00",
    "currently_entitled_amount_cents": 300,
    "will_pay_amount_cents": 300,
    "tiers": ["7001"],
}
PAID_NOW = {
    "patron_status": "active_patron",
    "last_charge_status": "Paid",
    "last_charge_date": TODAY,
    "next_charge_date": NEXT_CYCLE,
}


@pytest.mark.usefixtures("frozen_at_now")
@pytest.mark.parametrize(
    ("patron", "actions", "expected"),
    [
        ("1001", [], ACTIVE_1001),
        (
            "1005",
            [("pledge", {"tiers": ["7002"]})],
            {
                **PAID_NOW,
                "currently_entitled_amount_cents": 1000,
                "will_pay_amount_cents": 1000,
                "tiers": ["7002"],
            },
        ),
        (
            "1001",
            [("change_tiers", {"tiers": ["7003"]})],
            {
                **ACTIVE_1001,
                "currently_entitled_amount_cents": 2500,
                "will_pay_amount_cents": 2500,
                "tiers": ["7003"],
            },
        ),
        (
            "1001",
            [("decline", {})],
            {
                **ACTIVE_1001,
                "patron_status": "declined_patron",
                "last_charge_status": "Declined",
                "last_charge_date": TODAY,
                "next_charge_date": "2031-03-11T09:30:00.000+00:00",
                "currently_entitled_amount_cents": 0,
                "tiers": [],
            },
        ),
        ("1001", [("decline", {}), ("recover", {})], {**ACTIVE_1001, **PAID_NOW}),
        (
            "1004",
            [("recover", {})],
            {
                **PAID_NOW,
                "currently_entitled_amount_cents": 1000,
                "will_pay_amount_cents": 1000,
                "tiers": ["7002"],
            },
        ),
        (
            "1002",
            [("cancel", {})],
            {
                "patron_status": "former_patron",
                "last_charge_status": "Paid",
                "last_charge_date": "2024-05-01T08:00:00.000+00:00",
                "next_charge_date": None,
                "currently_entitled_amount_cents": 0,
                "will_pay_amount_cents": 0,
                "tiers": [],
            },
        ),
        ("1001", [("refund", {})], {**ACTIVE_1001, "last_charge_status": "Refunded"}),
        (
            "1001",
            [("refund", {"charge_status": "Fraud"})],
            {**ACTIVE_1001, "last_charge_status": "Fraud"},
        ),
        ("1001", [("delete", {})], None),
        (
            "1005",
            [("free_join", {})],
            {
                "patron_status": None,
                "last_charge_status": None,
                "last_charge_date": None,
                "next_charge_date": None,
                "currently_entitled_amount_cents": 0,
                "will_pay_amount_cents": 0,
                "tiers": ["7000"],
            },
        ),
        (
            "1001",
            [("blip", {})],
            {**ACTIVE_1001, "currently_entitled_amount_cents": 0, "tiers": []},
        ),
        ("1001", [("blip", {}), ("recover", {})], {**ACTIVE_1001, **PAID_NOW}),
        (
            "1003",
            [("pledge", {"tiers": ["7001", "7002"]})],
            {
                **PAID_NOW,
                "currently_entitled_amount_cents": 1000,
                "will_pay_amount_cents": 1000,
                "tiers": ["7001", "7002"],
            },
        ),
        ("2000003", [("cancel", {}), ("delete", {})], None),
    ],
)
def test_an_action_shows_everywhere(fake, patron, actions, expected):
    control(fake, "POST", "campaign", {"size": 5})
    for action, options in actions:
        act(fake, patron, action, **options)

    assert seen(fake, patron) == expected


def test_a_deleted_member_is_gone_from_the_member_endpoint(fake):
    member_id = act(fake, "1001", "cancel")["member_id"]

    act(fake, "1001", "delete")

    response = api(fake, f"/members/{member_id}", creator_token(fake))
    assert response.status_code == 404
    assert response.json()["errors"][0]["status"] == "404"


def test_a_deleted_member_may_pledge_again(fake):
    act(fake, "1001", "delete")

    state = act(fake, "1001", "pledge", tiers=["7001"])

    assert state["membership"]["patron_status"] == "active_patron"


@pytest.mark.parametrize(
    ("patron", "body", "message"),
    [
        ("1001", {"action": "explode"}, "action must be one of"),
        ("1001", {}, "action must be one of"),
        ("1005", {"action": "pledge"}, "tiers must be"),
        ("1005", {"action": "pledge", "tiers": ["7000"]}, "free_join"),
        ("1005", {"action": "pledge", "tiers": ["9999"]}, "Unknown paid tier"),
        ("1001", {"action": "pledge", "tiers": ["7002"]}, "Cannot pledge"),
        ("1003", {"action": "decline"}, "Cannot decline"),
        ("1005", {"action": "cancel"}, "no membership"),
        ("1005", {"action": "delete"}, "no membership"),
        ("1001", {"action": "decline", "tiers": ["7001"]}, "takes no option tiers"),
        ("1001", {"action": "refund", "charge_status": "Paid"}, "charge_status"),
        ("1001", {"action": "cancel", "webhook": "no"}, "webhook must be"),
        ("1001", {"action": "cancel", "signature": "bad"}, "signature must be"),
        ("1010", {"action": "recover"}, "Nothing to recover"),
    ],
)
def test_a_bad_action_is_refused_and_changes_nothing(fake, patron, body, message):
    before = control(fake, "GET", f"world/patrons/{patron}").json()

    response = control(fake, "POST", f"world/patrons/{patron}", body)

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert control(fake, "GET", f"world/patrons/{patron}").json() == before


@pytest.mark.parametrize("body", [b"not json", b"[]", b'"cancel"'])
def test_a_body_that_is_not_an_object_is_refused(fake, body):
    url = f"{fake.base_url}/__fake/world/patrons/1001"

    response = requests.post(url, data=body, timeout=5)

    assert response.status_code == 400
    assert response.json()["error"]


@pytest.mark.parametrize("patron", ["42", "0123456", "nobody"])
def test_an_unknown_patron_is_404(fake, patron):
    for method in ("GET", "POST"):
        response = control(
            fake, method, f"world/patrons/{patron}", {"action": "cancel"}
        )
        assert response.status_code == 404
        assert patron in response.json()["error"]


def test_reset_undoes_every_change(fake):
    control(fake, "POST", "campaign", {"size": 10})
    act(fake, "1001", "delete")
    act(fake, "1002", "cancel")
    before = control(fake, "GET", "campaign").json()

    assert control(fake, "DELETE", "world").status_code == 204

    assert control(fake, "GET", "campaign").json() == {
        "id": "9000001",
        "size": 0,
        "first_member_id": 2000000,
        "total": 10,
    }
    assert before["total"] == 19
    assert seen(fake, "1001") == ACTIVE_1001
    assert seen(fake, "1002")["patron_status"] == "active_patron"


@pytest.mark.parametrize("size", [-1, "10", 1.5, True, 10**8])
def test_a_bad_campaign_size_is_refused(fake, size):
    response = control(fake, "POST", "campaign", {"size": size})

    assert response.status_code == 400
    assert "size must be" in response.json()["error"]


def test_a_dynamic_patron_who_logs_in_joins_the_list(fake):
    token = creator_token(fake)
    identity_of(fake, "123456")

    members = api(fake, "/campaigns/9000001/members", token, include="user").json()

    users = [m["relationships"]["user"]["data"]["id"] for m in members["data"]]
    assert users[-1] == "123456"
    assert members["meta"]["pagination"]["total"] == 11


def test_concurrent_actions_on_distinct_patrons_all_land(fake):
    control(fake, "POST", "campaign", {"size": 200})
    patrons = [str(2000000 + n) for n in range(200)]

    with ThreadPoolExecutor(max_workers=20) as pool:
        states = list(
            pool.map(lambda p: act(fake, p, "cancel", webhook=False), patrons)
        )

    assert {s["membership"]["patron_status"] for s in states} == {"former_patron"}
    assert control(fake, "GET", "campaign").json()["total"] == 210


def test_campaign_size_on_the_command_line():
    process = subprocess.Popen(
        [sys.executable, "-m", "fake_patreon", "--port", "0", "--campaign-size", "7"],
        cwd=Path(__file__).parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = process.stdout.readline().split()[-1]
        campaign = requests.get(f"{base_url}/__fake/campaign", timeout=5).json()
        assert (campaign["size"], campaign["total"]) == (7, 17)
    finally:
        process.terminate()
        process.wait(timeout=5)
        process.stdout.close()


def test_campaign_size_in_process():
    with FakePatreon(campaign_size=3) as fake:
        assert fake.directory.size == 3
        assert seen(fake, "2000002")["patron_status"] == "active_patron"
