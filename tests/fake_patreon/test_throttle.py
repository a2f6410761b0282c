"""Patreon's 429s over real HTTP: armed for the next calls, or a real limiter."""

import pytest

from tests.fake_patreon.calls import (
    api,
    control,
    creator_token,
    identity,
    login,
    refresh,
)

MEMBERS = "/campaigns/9000001/members"


def arm(fake, **options):
    assert control(fake, "POST", "throttle", options).status_code == 204


def test_the_next_calls_are_throttled_with_header_and_body(fake, token):
    arm(fake, calls=2, retry_after=9)

    answers = [api(fake, MEMBERS, token) for _ in range(3)]

    assert [a.status_code for a in answers] == [429, 429, 200]
    throttled = answers[0]
    assert throttled.headers["Retry-After"] == "9"
    [error] = throttled.json()["errors"]
    assert error["code"] is None
    assert error["code_name"] == "RequestThrottled"
    assert error["retry_after_seconds"] == 9
    assert error["status"] == "429"


def test_body_without_the_header(fake, token):
    arm(fake, header=False, retry_after=3)

    response = api(fake, MEMBERS, token)

    assert response.status_code == 429
    assert "Retry-After" not in response.headers
    assert response.json()["errors"][0]["retry_after_seconds"] == 3


def test_header_without_the_body(fake, token):
    arm(fake, body=False)

    response = api(fake, MEMBERS, token)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "9"
    assert response.content == b""


def test_neither_header_nor_body(fake, token):
    arm(fake, header=False, body=False)

    response = api(fake, MEMBERS, token)

    assert response.status_code == 429
    assert "Retry-After" not in response.headers
    assert response.content == b""


def test_one_endpoint_only(fake, token):
    arm(fake, endpoint="member", calls=5)
    member_id = control(fake, "GET", "world/patrons/1001").json()["member_id"]

    assert api(fake, MEMBERS, token).status_code == 200
    assert api(fake, f"/members/{member_id}", token).status_code == 429
    assert identity(fake, login(fake)["access_token"]).status_code == 200


def test_the_token_endpoint_can_be_throttled(fake):
    arm(fake, endpoint="token")

    tokens = control(fake, "POST", "creator/token").json()
    refused = refresh(fake, tokens["refresh_token"])

    assert refused.status_code == 429
    # The throttled call never reached the token logic: the token still works.
    assert refresh(fake, tokens["refresh_token"]).status_code == 200


def test_disarm(fake, token):
    arm(fake, calls=100)

    assert control(fake, "DELETE", "throttle").status_code == 204

    assert api(fake, MEMBERS, token).status_code == 200


def test_the_limiter_per_client_then_per_token(fake, time_machine):
    time_machine.move_to("2031-03-04T09:00:00Z", tick=False)
    token = creator_token(fake)
    assert control(fake, "POST", "throttle", {"limiter": True}).status_code == 204

    assert {api(fake, "/campaigns", token).status_code for _ in range(100)} == {200}
    client_limited = api(fake, "/campaigns", token)
    time_machine.shift(2.5)
    token_limited = api(fake, "/campaigns", token)
    other_token = api(fake, "/campaigns", creator_token(fake))

    assert client_limited.status_code == 429
    assert client_limited.headers["Retry-After"] == "2"
    # 100 calls in 2 s is the client's limit; the token's is 100 a minute.
    assert token_limited.status_code == 429
    assert token_limited.json()["errors"][0]["retry_after_seconds"] == 58
    assert other_token.status_code == 200
    time_machine.shift(60)
    assert api(fake, "/campaigns", token).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"calls": -1},
        {"calls": "many"},
        {"endpoint": "webhooks"},
        {"header": "yes"},
        {"retry_after": 1.5},
        {"limiter": True, "calls": 3},
        {"limiter": "on"},
        {"burst": 3},
        [1],
    ],
)
def test_bad_throttles_are_refused(fake, body):
    response = control(fake, "POST", "throttle", body)

    assert response.status_code == 400
    assert response.json()["error"]
