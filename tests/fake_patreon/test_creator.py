"""
The creator's credential, as Patreon handles it: a login granting every
scope, refresh tokens rotated and single use, revocation, expiry, and a
new login evicting the old pair.
"""

import pytest

from fake_patreon.oauth import SCOPES
from tests.fake_patreon.calls import (
    api,
    assert_unauthorized,
    control,
    login,
    refresh,
)

CREATOR = "1000"


def creator_pair(fake):
    response = control(fake, "POST", "creator/token")
    assert response.status_code == 200
    return response.json()


def can_read_members(fake, access_token):
    response = api(fake, "/campaigns/9000001/members", access_token)
    if response.status_code == 401:
        assert_unauthorized(response)
        return False
    assert response.status_code == 200, response.text
    return True


def assert_invalid_grant(response):
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_grant"}


def test_the_creators_login_is_granted_every_scope(fake):
    tokens = login(fake, CREATOR, scope="identity")

    assert tokens["scope"].split() == list(SCOPES)
    assert can_read_members(fake, tokens["access_token"])


def test_the_fakes_creator_token_is_a_token_endpoint_answer(fake):
    tokens = creator_pair(fake)

    assert tokens.keys() >= {
        "access_token",
        "refresh_token",
        "expires_in",
        "scope",
        "token_type",
    }
    assert tokens["expires_in"] == 2678400
    assert tokens["token_type"] == "Bearer"
    assert can_read_members(fake, tokens["access_token"])


def test_refresh_rotates_the_pair_and_the_old_refresh_token_is_single_use(fake):
    first = creator_pair(fake)

    response = refresh(fake, first["refresh_token"])

    assert response.status_code == 200
    second = response.json()
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"] == first["scope"]
    assert can_read_members(fake, second["access_token"])
    assert not can_read_members(fake, first["access_token"])
    assert_invalid_grant(refresh(fake, first["refresh_token"]))
    # The reuse did not hurt the new pair.
    assert refresh(fake, second["refresh_token"]).status_code == 200


def test_expires_in_is_configurable(fake):
    response = control(fake, "POST", "creator", {"expires_in": 3600})
    assert response.status_code == 204

    assert creator_pair(fake)["expires_in"] == 3600
    assert (
        refresh(fake, creator_pair(fake)["refresh_token"]).json()["expires_in"] == 3600
    )
    assert control(fake, "GET", "creator").json() == {
        "expires_in": 3600,
        "relogin_evicts": True,
    }


def test_a_short_lifetime_really_expires(fake, time_machine):
    time_machine.move_to("2031-03-04T09:00:00Z", tick=False)
    control(fake, "POST", "creator", {"expires_in": 60})
    tokens = creator_pair(fake)
    time_machine.shift(61)

    assert not can_read_members(fake, tokens["access_token"])
    assert refresh(fake, tokens["refresh_token"]).status_code == 200


def test_revoked_grant(fake):
    tokens = creator_pair(fake)

    assert control(fake, "POST", "creator/revoke").status_code == 204

    assert not can_read_members(fake, tokens["access_token"])
    assert_invalid_grant(refresh(fake, tokens["refresh_token"]))


def test_expired_access_token_still_refreshes(fake):
    tokens = creator_pair(fake)

    assert control(fake, "POST", "creator/expire").status_code == 204

    assert not can_read_members(fake, tokens["access_token"])
    fresh = refresh(fake, tokens["refresh_token"]).json()
    assert can_read_members(fake, fresh["access_token"])


def test_a_new_creator_login_evicts_the_old_pair(fake):
    old = creator_pair(fake)

    new = login(fake, CREATOR)

    assert can_read_members(fake, new["access_token"])
    assert not can_read_members(fake, old["access_token"])
    assert_invalid_grant(refresh(fake, old["refresh_token"]))


def test_eviction_can_be_switched_off(fake):
    control(fake, "POST", "creator", {"relogin_evicts": False})
    old = creator_pair(fake)

    new = login(fake, CREATOR)

    assert can_read_members(fake, old["access_token"])
    assert can_read_members(fake, new["access_token"])


def test_a_patrons_login_evicts_nobody(fake):
    first = login(fake, "1001")
    creator = creator_pair(fake)

    login(fake, "1001")

    assert refresh(fake, first["refresh_token"]).status_code == 200
    assert can_read_members(fake, creator["access_token"])


def test_revoking_the_creator_leaves_patrons_alone(fake):
    patron = login(fake, "1001")

    control(fake, "POST", "creator/revoke")

    assert refresh(fake, patron["refresh_token"]).status_code == 200


def test_every_token_call_is_recorded_without_secrets(fake):
    tokens = creator_pair(fake)
    control(fake, "DELETE", "requests")

    refresh(fake, tokens["refresh_token"])
    refresh(fake, tokens["refresh_token"])

    recorded = control(fake, "GET", "requests").json()
    assert [r["path"] for r in recorded] == ["/api/oauth2/token"] * 2
    assert {r["form"]["refresh_token"] for r in recorded} == {"<redacted>"}
    assert {r["form"]["grant_type"] for r in recorded} == {"refresh_token"}


@pytest.mark.parametrize(
    "body",
    [
        {"expires_in": 0},
        {"expires_in": "long"},
        {"relogin_evicts": "yes"},
        {"lifetime": 60},
    ],
)
def test_bad_creator_settings_are_refused(fake, body):
    response = control(fake, "POST", "creator", body)

    assert response.status_code == 400
    assert response.json()["error"]


def test_reset_restores_the_creator_settings(fake):
    control(fake, "POST", "creator", {"expires_in": 60, "relogin_evicts": False})

    control(fake, "DELETE", "world")

    assert control(fake, "GET", "creator").json() == {
        "expires_in": 2678400,
        "relogin_evicts": True,
    }
