"""
accounts.patreon.client: Patreon's answers to the creator's calls, as the
fake gives them, turned into outcomes a caller can act on.
"""

import pytest

from accounts.patreon import client
from accounts.patreon.errors import PatreonUnavailable, Refused

pytestmark = pytest.mark.django_db


def member(patreon_id="1001"):
    return f"members/{patreon_id}"


@pytest.mark.parametrize(
    ("mode", "options", "error"),
    [
        ("server_error", {"status": 502}, PatreonUnavailable),
        ("malformed", {}, PatreonUnavailable),
        ("unauthorized", {}, Refused),  # a fresh token does not cure it
    ],
)
def test_patreons_failures_become_outcomes(
    creator_token, fake_patreon, mode, options, error
):
    fake_patreon.set_fault("campaigns", mode, **options)
    with pytest.raises(error):
        client.get("campaigns", {}, endpoint="campaigns")


def test_a_missing_member_is_none(creator_token, fake_patreon):
    assert client.get("members/no-such-member", {}, endpoint="member") is None


def test_a_patrons_token_is_refused_the_creators_calls(fake_patreon):
    """A token without the creator's scopes: 403, never stored as one."""
    answer = fake_patreon.grants.issue("1001", ("identity",))
    with pytest.raises(Refused):
        client.creator_of_campaign(answer["access_token"])


def test_an_unreachable_patreon_is_unavailable(creator_token, settings):
    settings.PATREON_BASE_URL = "http://127.0.0.1:9"  # discard: nobody listens
    with pytest.raises(PatreonUnavailable):
        client.get("campaigns", {}, endpoint="campaigns")
