"""
The creator's endpoints over real HTTP: campaigns, a campaign's members page
by page (and Patreon's pagination bugs), one member.
"""

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from devstack.patreon import FakePatreonProcess
from fake_patreon.patrons import member_id as member_id_of
from tests.fake_patreon.calls import (
    act,
    api,
    assert_unauthorized,
    control,
    creator_token,
    identity_of,
    login,
)

MEMBERS = "/campaigns/9000001/members"
SEEDED_MEMBERS = 10


def members(fake, token, **params):
    response = api(fake, MEMBERS, token, **params)
    assert response.status_code == 200, response.text
    return response.json()


def test_campaigns_lists_ours_with_the_fields_asked(fake, token):
    response = api(
        fake, "/campaigns", token, **{"fields[campaign]": "creation_name,vanity"}
    )

    assert response.status_code == 200
    assert response.json() == {
        "data": [
            {
                "attributes": {"creation_name": "Ventures", "vanity": "ventures"},
                "id": "9000001",
                "type": "campaign",
            }
        ],
        "meta": {"pagination": {"cursors": {"next": None}, "total": 1}},
    }


def test_campaign_tiers_include_the_free_tier(fake, token):
    document = api(
        fake,
        "/campaigns",
        token,
        include="tiers",
        **{"fields[tier]": "title,amount_cents"},
    ).json()

    tiers = {r["id"]: r["attributes"] for r in document["included"]}
    assert tiers["7000"] == {"title": "Free", "amount_cents": 0}
    assert set(tiers) == {"7000", "7001", "7002", "7003"}


def test_members_page_default_size_and_sparse_fields(fake, token):
    control(fake, "POST", "campaign", {"size": 100})

    document = members(fake, token, **{"fields[member]": "patron_status"})

    assert len(document["data"]) == 20
    assert {m["type"] for m in document["data"]} == {"member"}
    assert {tuple(m["attributes"]) for m in document["data"]} == {("patron_status",)}
    assert "relationships" not in document["data"][0]
    assert "included" not in document
    pagination = document["meta"]["pagination"]
    assert pagination["total"] == 100 + SEEDED_MEMBERS
    assert pagination["cursors"]["next"]
    assert pagination["cursors"]["next"] in document["links"]["next"]


def test_members_without_fields_have_no_attributes(fake, token):
    [first, *_] = members(fake, token)["data"]

    assert first["attributes"] == {}


def test_members_with_their_users_and_tiers(fake, token):
    document = members(
        fake,
        token,
        include="currently_entitled_tiers,user",
        **{"fields[tier]": "title", "fields[member]": "full_name,email"},
    )

    grace = next(
        m for m in document["data"] if m["attributes"]["full_name"] == "Grace Hopper"
    )
    assert grace["attributes"]["email"] == "grace@example.test"
    assert grace["relationships"]["user"]["data"] == {"id": "1002", "type": "user"}
    tier_ids = [
        t["id"] for t in grace["relationships"]["currently_entitled_tiers"]["data"]
    ]
    assert tier_ids == ["7002", "7003"]
    included = {(r["type"], r["id"]): r["attributes"] for r in document["included"]}
    # Users carry their id only, unless fields[user] asks for more.
    assert included["user", "1002"] == {}
    assert included["tier", "7003"] == {"title": "Benefactor"}
    # Each resource is included once, however many members share it.
    assert len(document["included"]) == len(set(included))


def test_bracketed_parameters_encoded_or_not(fake, token):
    url = f"{fake.base_url}/api/oauth2/v2{MEMBERS}"
    headers = {"Authorization": f"Bearer {token}"}

    raw = requests.get(
        f"{url}?fields[member]=patron_status&page[count]=2", headers=headers, timeout=5
    ).json()
    encoded = requests.get(
        f"{url}?fields%5Bmember%5D=patron_status&page%5Bcount%5D=2",
        headers=headers,
        timeout=5,
    ).json()

    assert raw == encoded
    assert len(raw["data"]) == 2


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"fields[member]": "patron_status,vanity"}, "fields[member]"),
        ({"fields[pledge]": "amount_cents"}, "fields[pledge]"),
        ({"include": "memberships"}, "include"),
        ({"page[count]": "0"}, "page[count]"),
        ({"page[count]": "lots"}, "page[count]"),
        ({"page[cursor]": "not-a-cursor"}, "page[cursor]"),
    ],
)
def test_bad_parameters_are_400(fake, token, params, parameter):
    response = api(fake, MEMBERS, token, **params)

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["source"]["parameter"] == parameter
    if parameter.startswith(("fields", "include")):
        assert error["code_name"] == "ParameterInvalidOnType"


def test_unknown_campaign_is_404(fake, token):
    response = api(fake, "/campaigns/9000002/members", token)

    assert response.status_code == 404
    assert response.json()["errors"][0]["code_name"] == "ResourceMissing"


def test_page_size_is_capped_at_1000(fake, token):
    control(fake, "POST", "campaign", {"size": 1500})

    document = members(fake, token, **{"page[count]": "5000"})

    assert len(document["data"]) == 1000


def walk(fake, token, count, pages_at_most):
    """Every page's member ids, following next cursors."""
    pages, cursor = [], None
    while len(pages) < pages_at_most:
        params = {"page[count]": str(count)}
        if cursor:
            params["page[cursor]"] = cursor
        document = members(fake, token, **params)
        pages.append([m["id"] for m in document["data"]])
        cursor = document["meta"]["pagination"]["cursors"]["next"]
        if cursor is None:
            break
    return pages


def test_the_last_page_has_no_next_cursor(fake, token):
    control(fake, "POST", "campaign", {"size": 30})

    pages = walk(fake, token, 20, 10)

    assert [len(page) for page in pages] == [20, 20]
    assert len({i for page in pages for i in page}) == 40


def test_changes_during_a_walk_neither_skip_nor_repeat_the_others(fake, token):
    control(fake, "POST", "campaign", {"size": 60})
    first = walk(fake, token, 25, 1)[0]
    act(fake, "2000000", "delete")  # on a page already read
    act(fake, "2000050", "cancel")  # on a page to come

    document = members(fake, token, **{"page[count]": "100"})

    assert len(document["data"]) == 69
    assert first[0] in [m["id"] for m in document["data"]]


def resident_kib(pid):
    """The resident memory of process ``pid`` now, and its peak, in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return tuple(
        int(re.search(rf"{name}:\s+(\d+) kB", status)[1]) for name in ("VmRSS", "VmHWM")
    )


@pytest.mark.slow
def test_a_walk_of_100000_members_in_pages_of_1000_keeps_memory_flat(tmp_path):
    """In a fake of its own process: its memory is all that is measured."""
    process = FakePatreonProcess(tmp_path, campaign_size=100_000).start()
    try:
        fake = SimpleNamespace(base_url=f"http://127.0.0.1:{process.port}")
        token = creator_token(fake)
        act(fake, "2050000", "cancel", webhook=False)
        started = resident_kib(process.pid)
        walked, cursor, memory = 0, None, []
        while True:
            params = {"page[count]": "1000", "fields[member]": "patron_status"}
            if cursor:
                params["page[cursor]"] = cursor
            document = members(fake, token, **params)
            walked += len(document["data"])
            cursor = document["meta"]["pagination"]["cursors"]["next"]
            memory.append(resident_kib(process.pid))
            if cursor is None:
                break
    finally:
        process.stop()

    assert walked == 100_000 + SEEDED_MEMBERS
    assert document["meta"]["pagination"]["total"] == 100_000 + SEEDED_MEMBERS
    print(
        f"fake RSS: {started[0]} KiB before, {memory[9][0]} after 10 pages, "
        f"{memory[-1][0]} after {len(memory)}; peak {memory[-1][1]} KiB"
    )
    # Whatever one page costs, the hundredth costs no more than the tenth.
    assert memory[-1][1] - memory[9][1] < 4 * 1024


def test_repeat_cursor_bug(fake, token):
    control(fake, "POST", "campaign", {"size": 100})
    assert control(fake, "POST", "bugs", {"repeat_cursor": True}).status_code == 204
    first = members(fake, token)
    cursor = first["meta"]["pagination"]["cursors"]["next"]

    second = members(fake, token, **{"page[cursor]": cursor})
    third = members(fake, token, **{"page[cursor]": cursor})

    assert second["meta"]["pagination"]["cursors"]["next"] == cursor
    assert second["data"] == third["data"]
    assert control(fake, "GET", "bugs").json() == {
        "repeat_cursor": True,
        "ignore_page_size": False,
        "lose_place": False,
    }


def test_lose_place_bug(fake, token):
    """The second cursor is lost: page 1 again, and the listing ends there."""
    control(fake, "POST", "campaign", {"size": 100})
    control(fake, "POST", "bugs", {"lose_place": True})
    first = members(fake, token, **{"page[count]": "30"})
    cursor = first["meta"]["pagination"]["cursors"]["next"]
    second = members(fake, token, **{"page[count]": "30", "page[cursor]": cursor})
    lost = second["meta"]["pagination"]["cursors"]["next"]
    third = members(fake, token, **{"page[count]": "30", "page[cursor]": lost})
    assert second["data"] != first["data"]
    assert third["data"] == first["data"]
    assert third["meta"]["pagination"]["cursors"]["next"] is None


def test_ignore_page_size_bug(fake, token):
    control(fake, "POST", "campaign", {"size": 100})
    control(fake, "POST", "bugs", {"ignore_page_size": True})

    document = members(fake, token, **{"page[count]": "1000"})

    assert len(document["data"]) == 20
    control(fake, "POST", "bugs", {"ignore_page_size": False})
    assert len(members(fake, token, **{"page[count]": "1000"})["data"]) == 110


@pytest.mark.parametrize(
    "body", [{"loop": True}, {"repeat_cursor": "yes"}, ["repeat_cursor"]]
)
def test_bad_bugs_are_refused(fake, body):
    response = control(fake, "POST", "bugs", body)

    assert response.status_code == 400
    assert response.json()["error"]


def test_member_endpoint(fake, token):
    member_id = control(fake, "GET", "world/patrons/1002").json()["member_id"]

    response = api(
        fake,
        f"/members/{member_id}",
        token,
        include="currently_entitled_tiers,user,campaign",
        **{"fields[member]": "patron_status", "fields[user]": "full_name"},
    )

    assert response.status_code == 200
    document = response.json()
    assert document["data"]["id"] == member_id
    assert document["data"]["attributes"] == {"patron_status": "active_patron"}
    assert document["links"]["self"].endswith(f"/api/oauth2/v2/members/{member_id}")
    included = {(r["type"], r["id"]): r["attributes"] for r in document["included"]}
    assert included.keys() == {
        ("campaign", "9000001"),
        ("tier", "7002"),
        ("tier", "7003"),
        ("user", "1002"),
    }
    assert included["user", "1002"] == {"full_name": "Grace Hopper"}


def test_member_id_is_the_one_login_shows(fake, token):
    document = identity_of(fake, "1001", include="memberships")
    [member] = document["included"]

    assert api(fake, f"/members/{member['id']}", token).status_code == 200


@pytest.mark.parametrize(
    "member_id",
    [
        "5f3c1a2e-8d4b-4c6a-9e7f-0123456789ab",
        "not-a-uuid",
        # Patron 1007's membership of another campaign: not the creator's.
        "other-campaign",
        # A dynamic patron nobody has met: no member of ours.
        "stranger",
    ],
)
def test_unknown_members_are_404(fake, token, member_id):
    if member_id == "other-campaign":
        document = identity_of(
            fake,
            "1007",
            "identity identity.memberships",
            include="memberships.campaign",
        )
        [member_id] = [
            r["id"]
            for r in document["included"]
            if r["type"] == "member"
            and r["relationships"]["campaign"]["data"]["id"] == "9000002"
        ]
    elif member_id == "stranger":
        member_id = member_id_of("555555", "9000001")

    response = api(fake, f"/members/{member_id}", token)

    assert response.status_code == 404
    assert response.json()["errors"][0]["status"] == "404"


@pytest.mark.parametrize("path", ["/campaigns", MEMBERS, "/members/x"])
def test_api_without_a_valid_token_is_401(fake, path):
    assert_unauthorized(api(fake, path, "made-up"))
    url = f"{fake.base_url}/api/oauth2/v2{path}"
    assert_unauthorized(requests.get(url, timeout=5))


@pytest.mark.parametrize("path", ["/campaigns", MEMBERS])
def test_a_patrons_token_is_403(fake, path):
    patron_token = login(fake, "1001", "identity campaigns campaigns.members")

    response = api(fake, path, patron_token["access_token"])

    assert response.status_code == 403
    [error] = response.json()["errors"]
    assert (error["status"], error["code_name"]) == ("403", "Forbidden")


@pytest.mark.parametrize("endpoint", ["campaigns", "members", "member"])
def test_server_error_faults_on_the_creators_endpoints(fake, token, endpoint):
    control(fake, "POST", "faults", {"endpoint": endpoint, "mode": "server_error"})
    member_id = control(fake, "GET", "world/patrons/1001").json()["member_id"]
    paths = {
        "campaigns": "/campaigns",
        "members": MEMBERS,
        "member": f"/members/{member_id}",
    }

    assert api(fake, paths[endpoint], token).status_code == 503
    others = set(paths) - {endpoint}
    assert {api(fake, paths[o], token).status_code for o in others} == {200}
