"""Each call to Patreon is counted under a name from a fixed list, never its URL."""

import pytest

from accounts.patreon.transport import OTHER, endpoint

BASE = "https://www.patreon.com"
MEMBER = "0d3d5c4e-1f2a-4b3c-9d8e-7f6a5b4c3d2e"


@pytest.mark.parametrize(
    ("url", "name"),
    [
        (f"{BASE}/api/oauth2/token", "token"),
        (f"{BASE}/api/oauth2/v2/identity?include=memberships", "identity"),
        (
            f"{BASE}/api/oauth2/v2/campaigns/9000001/members?page%5Bcursor%5D=x",
            "campaign_members",
        ),
        (f"{BASE}/api/oauth2/v2/members/{MEMBER}", "member"),
        (f"{BASE}/api/oauth2/v2/campaigns/9000001/", "campaign"),
    ],
)
def test_ids_and_queries_do_not_make_new_names(url, name):
    assert endpoint(url) == name


def test_an_unknown_path_is_other_whatever_it_holds():
    assert endpoint(f"{BASE}/api/oauth2/v2/{'x' * 40}/{MEMBER}") == OTHER
    assert {endpoint(f"{BASE}/{n}") for n in range(100)} == {OTHER}
