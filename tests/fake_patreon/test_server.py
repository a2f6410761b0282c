"""
The fake Patreon, spoken to over real HTTP as the app will speak to it.

No Django here: the fake stands on its own, and so do its tests.
"""

import json
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from unittest.mock import ANY
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import time_machine

from fake_patreon import FakePatreon
from tests.fake_patreon.calls import (
    CLIENT,
    EMAIL_SCOPES,
    OUR_CAMPAIGN,
    REDIRECT_URI,
    assert_unauthorized,
    authorize,
    code_for,
    exchange,
    identity,
    identity_of,
    login,
    redirect_query,
    refresh,
    token,
)

# Authorization.


def test_allow_redirects_with_a_code_and_the_state(fake):
    answer = redirect_query(authorize(fake))

    assert answer.keys() == {"code", "state"}
    assert answer["state"] == "xyz"


def test_deny_redirects_with_access_denied(fake):
    answer = redirect_query(authorize(fake, fake_decision="deny"))

    assert answer == {"error": "access_denied", "state": "xyz"}


def test_redirect_uri_query_is_kept(fake):
    response = authorize(fake, redirect_uri=f"{REDIRECT_URI}?next=/home")

    location = urlsplit(response.headers["Location"])
    assert dict(parse_qsl(location.query)).keys() == {"next", "code", "state"}


@pytest.mark.parametrize(
    "params",
    [
        {"client_id": "someone-else"},
        {"response_type": "token"},
        {"redirect_uri": "/relative/callback/"},
        {"scope": "identity identity.membership"},
        {"fake_patron": "42"},
        {"fake_decision": "maybe"},
    ],
)
def test_bad_authorization_request_is_an_error_page(fake, params):
    response = authorize(fake, **params)

    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")


def test_consent_page(fake):
    response = authorize(fake, patron=None, scope="identity identity[email]")

    assert response.status_code == 200
    page = response.text
    assert "Ventures wants to access your Patreon account" in page
    assert "See your email address" in page
    assert '<select id="patron" name="patron">' in page
    assert '<option value="1001">Ada Lovelace' in page
    assert '<button type="submit" name="decision" value="allow">' in page
    assert '<button type="submit" name="decision" value="deny">' in page
    assert '<input type="hidden" name="state" value="xyz">' in page


def submit_consent(fake, patron, decision):
    """Fill in the consent page as a browser would and submit it."""
    page = authorize(fake, patron=None).text
    form = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page))
    return requests.post(
        f"{fake.base_url}/oauth2/authorize",
        data={**form, "patron": patron, "decision": decision},
        allow_redirects=False,
        timeout=5,
    )


def test_consent_allow_logs_in_the_chosen_patron(fake):
    answer = redirect_query(submit_consent(fake, "1002", "allow"))

    assert answer["state"] == "xyz"
    tokens = exchange(fake, answer["code"]).json()
    assert identity(fake, tokens["access_token"]).json()["data"]["id"] == "1002"


def test_consent_deny(fake):
    answer = redirect_query(submit_consent(fake, "1002", "deny"))

    assert answer == {"error": "access_denied", "state": "xyz"}


# Token endpoint.


def test_token_answer(fake):
    response = exchange(fake, code_for(fake, scope="identity identity[email]"))

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    answer = response.json()
    assert answer.keys() == {
        "access_token",
        "refresh_token",
        "expires_in",
        "scope",
        "token_type",
        "version",
    }
    assert answer["expires_in"] == 2678400
    assert answer["scope"] == "identity identity[email]"
    assert answer["token_type"] == "Bearer"
    assert answer["version"] == "0.0.1"


def test_code_is_single_use(fake):
    code = code_for(fake)
    assert exchange(fake, code).status_code == 200

    response = exchange(fake, code)

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant"}


def test_code_is_bound_to_its_redirect_uri(fake):
    code = code_for(fake)

    response = exchange(fake, code, redirect_uri="https://evil.test/callback/")

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant"}
    # The failed attempt used the code up.
    assert exchange(fake, code).json() == {"error": "invalid_grant"}


def test_code_expires_after_ten_minutes(fake):
    with time_machine.travel(time.time(), tick=False) as traveller:
        fresh, stale = code_for(fake), code_for(fake)
        traveller.shift(9 * 60)
        assert exchange(fake, fresh).status_code == 200
        traveller.shift(2 * 60)

        response = exchange(fake, stale)

    assert response.json() == {"error": "invalid_grant"}


def test_unknown_code(fake):
    assert exchange(fake, "made-up").json() == {"error": "invalid_grant"}


@pytest.mark.parametrize(
    "credentials",
    [
        {"client_secret": "wrong"},
        {"client_id": "someone-else"},
        {"client_secret": ""},
    ],
)
def test_wrong_client_credentials(fake, credentials):
    code = code_for(fake)

    response = exchange(fake, code, **credentials)

    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}


def test_unsupported_grant_type(fake):
    response = token(fake, grant_type="password", username="ada", **CLIENT)

    assert response.status_code == 400
    assert response.json() == {"error": "unsupported_grant_type"}


def test_refresh_rotates_both_tokens(fake):
    first = login(fake)

    response = token(
        fake, grant_type="refresh_token", refresh_token=first["refresh_token"], **CLIENT
    )

    assert response.status_code == 200
    second = response.json()
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"] == first["scope"]
    assert identity(fake, second["access_token"]).status_code == 200
    assert_unauthorized(identity(fake, first["access_token"]))
    again = token(
        fake, grant_type="refresh_token", refresh_token=first["refresh_token"], **CLIENT
    )
    # Patreon answers a used refresh token with a 401, not OAuth2's 400.
    assert again.status_code == 401
    assert again.json() == {"error": "invalid_grant"}


def test_refresh_needs_client_credentials(fake):
    refresh_token = login(fake)["refresh_token"]

    response = token(
        fake,
        grant_type="refresh_token",
        refresh_token=refresh_token,
        client_id="fake-client-id",
        client_secret="wrong",
    )

    assert response.json() == {"error": "invalid_client"}


# Identity endpoint.


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer made-up"}])
def test_identity_needs_a_valid_token(fake, headers):
    url = f"{fake.base_url}/api/oauth2/v2/identity"

    assert_unauthorized(requests.get(url, headers=headers, timeout=5))


def test_identity_needs_the_identity_scope(fake):
    tokens = login(fake, scope="identity.memberships")

    assert_unauthorized(identity(fake, tokens["access_token"]))


def test_access_token_expires(fake):
    with time_machine.travel(time.time(), tick=False) as traveller:
        tokens = login(fake)
        traveller.shift(2678400 + 1)

        assert_unauthorized(identity(fake, tokens["access_token"]))


def test_identity_without_fields_has_no_attributes(fake):
    document = identity_of(fake)

    assert document == {
        "data": {"attributes": {}, "id": "1001", "type": "user"},
        "links": {"self": f"{fake.base_url}/api/oauth2/v2/user/1001"},
    }


def test_identity_attributes_only_as_requested(fake):
    document = identity_of(fake, **{"fields[user]": "full_name,is_email_verified"})

    assert document["data"]["attributes"] == {
        "full_name": "Ada Lovelace",
        "is_email_verified": True,
    }


def test_every_user_attribute(fake):
    fields = "full_name,first_name,last_name,email,is_email_verified,image_url,"
    fields += "thumb_url,url,vanity,created"

    attributes = identity_of(fake, **{"fields[user]": fields})["data"]["attributes"]

    assert attributes.keys() == set(fields.split(","))
    assert attributes["first_name"] == "Ada"
    assert attributes["last_name"] == "Lovelace"
    assert attributes["email"] == "ada@example.test"


@pytest.mark.parametrize(
    ("scope", "email"),
    [("identity", {}), (EMAIL_SCOPES, {"email": "ada@example.test"})],
)
def test_email_only_with_the_email_scope(fake, scope, email):
    params = {
        "fields[user]": "full_name,email",
        "fields[member]": "email",
        "include": "memberships",
    }

    document = identity_of(fake, scope=scope, **params)

    assert document["data"]["attributes"] == {"full_name": "Ada Lovelace", **email}
    [member] = document["included"]
    assert member["attributes"] == email


@pytest.mark.parametrize(
    "params",
    [
        {"fields[user]": "full_name,emial"},
        {"fields[pledge]": "amount_cents"},
        {"include": "memberships.user"},
        {"include": "campaign"},
    ],
)
def test_unknown_fields_and_includes_are_refused(fake, params):
    response = identity(fake, login(fake)["access_token"], **params)

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["status"] == "400"
    assert error["source"]["parameter"] in params


def test_memberships_relationship_only_when_included(fake):
    assert "relationships" not in identity_of(fake)["data"]

    document = identity_of(fake, include="memberships")

    [member] = document["included"]
    assert member["type"] == "member"
    assert "relationships" not in member
    assert document["data"]["relationships"] == {
        "memberships": {"data": [{"id": member["id"], "type": "member"}]}
    }


def member_summaries(document):
    """(campaign id, patron_status, tier ids) of each included member."""
    return [
        (
            resource["relationships"]["campaign"]["data"]["id"],
            resource["attributes"]["patron_status"],
            [
                t["id"]
                for t in resource["relationships"]["currently_entitled_tiers"]["data"]
            ],
        )
        for resource in document["included"]
        if resource["type"] == "member"
    ]


FULL_INCLUDE = {
    "include": "memberships.currently_entitled_tiers,memberships.campaign",
    "fields[member]": "patron_status",
}


def test_only_our_membership_without_identity_memberships(fake):
    document = identity_of(fake, "1007", "identity", **FULL_INCLUDE)

    assert member_summaries(document) == [(OUR_CAMPAIGN, "active_patron", ["7002"])]
    assert len(document["data"]["relationships"]["memberships"]["data"]) == 1


def test_every_membership_with_identity_memberships(fake):
    document = identity_of(
        fake, "1007", "identity identity.memberships", **FULL_INCLUDE
    )

    assert member_summaries(document) == [
        ("9000002", "active_patron", ["8001"]),
        (OUR_CAMPAIGN, "active_patron", ["7002"]),
    ]


@pytest.mark.parametrize(
    ("patron", "expected"),
    [
        ("1001", [(OUR_CAMPAIGN, "active_patron", ["7001"])]),
        ("1002", [(OUR_CAMPAIGN, "active_patron", ["7002", "7003"])]),
        ("1003", [(OUR_CAMPAIGN, "former_patron", [])]),
        ("1004", [(OUR_CAMPAIGN, "declined_patron", [])]),
        ("1005", []),
        ("1006", [(OUR_CAMPAIGN, "active_patron", ["7001"])]),
        ("1008", [(OUR_CAMPAIGN, None, [])]),
    ],
)
def test_seeded_patrons(fake, patron, expected):
    document = identity_of(fake, patron, **FULL_INCLUDE)

    assert member_summaries(document) == expected


def test_unverified_email(fake):
    document = identity_of(fake, "1006", **{"fields[user]": "is_email_verified"})

    assert document["data"]["attributes"] == {"is_email_verified": False}


def test_included_tiers_and_campaign(fake):
    document = identity_of(
        fake,
        "1002",
        **{
            "include": "memberships.currently_entitled_tiers,memberships.campaign",
            "fields[member]": "currently_entitled_amount_cents,last_charge_status",
            "fields[tier]": "title,amount_cents",
            "fields[campaign]": "creation_name,vanity",
        },
    )

    member, *others = document["included"]
    assert member["attributes"] == {
        "currently_entitled_amount_cents": 2500,
        "last_charge_status": "Paid",
    }
    assert {(r["type"], r["id"]): r["attributes"] for r in others} == {
        ("tier", "7002"): {"title": "Patron", "amount_cents": 1000},
        ("tier", "7003"): {"title": "Benefactor", "amount_cents": 2500},
        ("campaign", OUR_CAMPAIGN): {"creation_name": "Ventures", "vanity": "ventures"},
    }


def test_nested_include_includes_the_memberships(fake):
    document = identity_of(fake, include="memberships.campaign")

    assert "memberships" in document["data"]["relationships"]
    assert [r["type"] for r in document["included"]] == ["member", "campaign"]


def test_configured_campaign_is_ours():
    with FakePatreon(campaign_id="123") as fake:
        document = identity_of(fake, "1001", **FULL_INCLUDE)

    assert member_summaries(document) == [("123", "active_patron", ["7001"])]


# Dynamic patrons.


def test_dynamic_patron(fake):
    params = {"fields[user]": "full_name,email,is_email_verified", **FULL_INCLUDE}

    document = identity_of(fake, "123456", **params)

    assert document["data"]["id"] == "123456"
    assert document["data"]["attributes"] == {
        "full_name": "Patron 123456",
        "email": "patron123456@example.test",
        "is_email_verified": True,
    }
    [(campaign, status, tiers)] = member_summaries(document)
    assert (campaign, status) == (OUR_CAMPAIGN, "active_patron")
    assert tiers in (["7001"], ["7002"], ["7003"])
    assert member_summaries(identity_of(fake, "123456", **params))[0][2] == tiers


@pytest.mark.parametrize("patron", ["99999", "0123456", "12345a"])
def test_not_a_dynamic_patron(fake, patron):
    assert authorize(fake, patron).status_code == 400


def test_many_concurrent_logins(fake):
    patrons = [str(200000 + n) for n in range(100)]

    with ThreadPoolExecutor(max_workers=50) as pool:
        documents = list(pool.map(partial(identity_of, fake), patrons))

    assert [document["data"]["id"] for document in documents] == patrons
    assert len(fake.requests) == 3 * len(patrons)


# Faults.


@pytest.fixture(params=["token", "identity"])
def call(request, fake):
    """A request to the endpoint under test, ready to send, and its name."""
    if request.param == "token":
        send = partial(exchange, fake, code_for(fake))
    else:
        send = partial(identity, fake, login(fake)["access_token"])
    return request.param, send


def test_unauthorized_fault(fake, call):
    endpoint, send = call
    fake.set_fault(endpoint, "unauthorized")

    assert_unauthorized(send())


@pytest.mark.parametrize(("options", "status"), [({}, 503), ({"status": 500}, 500)])
def test_server_error_fault(fake, call, options, status):
    endpoint, send = call
    fake.set_fault(endpoint, "server_error", **options)

    response = send()

    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("text/html")


def test_malformed_fault(fake, call):
    endpoint, send = call
    fake.set_fault(endpoint, "malformed")

    response = send()

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_nodata_fault(fake, call):
    endpoint, send = call
    fake.set_fault(endpoint, "nodata")

    response = send()

    assert response.status_code == 200
    assert response.json() == {"links": {}}


def test_rate_limited_fault(fake, call):
    endpoint, send = call
    fake.set_fault(endpoint, "rate_limited")

    response = send()

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "30"
    [error] = response.json()["errors"]
    assert error["status"] == "429"


def test_slow_fault(fake, call):
    endpoint, send = call
    fake.set_fault(endpoint, "slow", seconds=0.2)
    start = time.monotonic()

    response = send()

    assert time.monotonic() - start >= 0.2
    assert response.status_code == 200


def test_faults_persist_until_cleared(fake, call):
    endpoint, send = call
    fake.set_fault(endpoint, "rate_limited")
    assert send().status_code == 429
    assert send().status_code == 429

    fake.clear_faults()

    # A faulted request never reached the token logic: the code still works.
    assert send().status_code == 200


@pytest.mark.parametrize(
    ("options", "status", "error"),
    [
        ({}, 401, "invalid_grant"),
        ({"status": 400}, 400, "invalid_grant"),
        ({"status": 400, "error": "access_denied"}, 400, "access_denied"),
    ],
)
def test_refused_fault(fake, options, status, error):
    refresh_token = login(fake)["refresh_token"]
    fake.set_fault("token", "refused", **options)

    response = refresh(fake, refresh_token)

    assert response.status_code == status
    assert response.json() == {"error": error}
    fake.clear_faults()
    # A refused request never reached the token logic: the grant still works.
    assert refresh(fake, refresh_token).status_code == 200


def test_a_fault_affects_its_endpoint_only(fake):
    access_token = login(fake)["access_token"]

    fake.set_fault("token", "server_error")

    assert exchange(fake, code_for(fake)).status_code == 503
    assert identity(fake, access_token).status_code == 200


@pytest.mark.parametrize(
    ("args", "options", "message"),
    [
        (("userinfo", "slow"), {}, "endpoint must be"),
        (("token", "explode"), {}, "mode must be"),
        (("token", "slow"), {"seconds": -1}, "seconds must be"),
        (("token", "slow"), {"seconds": "soon"}, "seconds must be"),
        (("token", "nodata"), {"seconds": 1}, "takes no option seconds"),
        (("token", "server_error"), {"status": 404}, "status must be"),
        (("token", "refused"), {"status": 403}, "status must be 400 or 401"),
        (("token", "refused"), {"error": ""}, "error must be"),
        (("identity", "refused"), {}, "Only the token endpoint"),
    ],
)
def test_bad_fault_is_refused(fake, args, options, message):
    with pytest.raises(ValueError, match=message):
        fake.set_fault(*args, **options)


def test_faults_over_http(fake):
    faults = f"{fake.base_url}/__fake/faults"
    access_token = login(fake)["access_token"]

    response = requests.post(
        faults, json={"endpoint": "identity", "mode": "slow", "seconds": 0.1}, timeout=5
    )
    assert response.status_code == 204
    response = requests.post(
        faults, json={"endpoint": "identity", "mode": "rate_limited"}, timeout=5
    )
    assert response.status_code == 204
    assert identity(fake, access_token).status_code == 429

    assert requests.delete(faults, timeout=5).status_code == 204
    assert identity(fake, access_token).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"mode": "slow"}',
        b'{"endpoint": "token", "mode": "explode"}',
        b'{"endpoint": "token", "mode": "slow", "seconds": "soon"}',
    ],
)
def test_bad_fault_over_http(fake, body):
    response = requests.post(f"{fake.base_url}/__fake/faults", data=body, timeout=5)

    assert response.status_code == 400
    assert response.json()["error"]


# Request log.


def test_requests_are_recorded_without_secrets(fake):
    login(fake, scope="identity")
    identity(fake, "made-up", include="memberships", **{"fields[user]": "email"})

    recorded = requests.get(f"{fake.base_url}/__fake/requests", timeout=5).json()

    assert recorded == fake.requests
    authorization, exchange_, identity_ = recorded
    assert authorization["method"] == "GET"
    assert authorization["path"] == "/oauth2/authorize"
    assert authorization["query"]["scope"] == "identity"
    assert exchange_ == {
        "method": "POST",
        "path": "/api/oauth2/token",
        "query": {},
        "form": {
            "grant_type": "authorization_code",
            "code": "<redacted>",
            "redirect_uri": REDIRECT_URI,
            "client_id": "fake-client-id",
            "client_secret": "<redacted>",
        },
        "user_agent": ANY,
    }
    assert identity_ == {
        "method": "GET",
        "path": "/api/oauth2/v2/identity",
        "query": {"include": "memberships", "fields[user]": "email"},
        "user_agent": ANY,
    }


def test_requests_can_be_cleared(fake):
    login(fake)
    fake.clear_requests()
    assert fake.requests == []

    login(fake)
    assert requests.delete(f"{fake.base_url}/__fake/requests", timeout=5).ok

    assert fake.requests == []


# The server itself.


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "localhost", ""])
def test_refuses_to_bind_beyond_loopback(host):
    with pytest.raises(ValueError, match="loopback"):
        FakePatreon(host=host)


def test_stop_closes_the_socket():
    with FakePatreon() as fake:
        base_url = fake.base_url

    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base_url}/oauth2/authorize", timeout=1)


def test_stop_without_start():
    FakePatreon().stop()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_command_line(signum):
    process = subprocess.Popen(
        [sys.executable, "-m", "fake_patreon", "--port", "0", "--campaign-id", "42"],
        cwd=Path(__file__).parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = re.search(r"http://\S+", process.stdout.readline())[0]
        response = requests.get(
            f"{base_url}/oauth2/authorize",
            params={
                "response_type": "code",
                "client_id": "fake-client-id",
                "redirect_uri": REDIRECT_URI,
            },
            timeout=5,
        )
        assert response.status_code == 200
        assert "Ventures wants to access your Patreon account" in response.text

        process.send_signal(signum)

        assert process.wait(timeout=5) == 0
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


def test_command_line_refuses_beyond_loopback():
    result = subprocess.run(
        [sys.executable, "-m", "fake_patreon", "--host", "0.0.0.0"],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=10,
    )

    assert result.returncode == 2
    assert "loopback" in result.stderr


def test_attributes_fault_serves_odd_identities(fake):
    odd = {"full_name": ["Ada"], "email": 5, "thumb_url": "x" * 2000, "vanity": None}
    fake.set_fault("identity", "attributes", attributes=odd)

    response = identity(fake, login(fake)["access_token"], **{"fields[user]": "email"})

    # Only the attributes asked for are replaced; the others stay out.
    assert response.json()["data"]["attributes"] == {"email": 5}
    fake.set_fault("identity", "attributes", attributes=odd)
    fields = {"fields[user]": "full_name,email,thumb_url,vanity"}
    attributes = identity(fake, login(fake)["access_token"], **fields).json()
    assert attributes["data"]["attributes"] == odd


@pytest.mark.parametrize(
    ("args", "options"),
    [(("identity", "attributes"), {"attributes": "x"}), (("token", "attributes"), {})],
)
def test_bad_attributes_fault_is_refused(fake, args, options):
    with pytest.raises(ValueError, match="attributes"):
        fake.set_fault(*args, **options)
