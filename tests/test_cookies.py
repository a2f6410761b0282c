"""Cookie names and the sites a cookie reaches (ventures/cookies.py)."""

import pytest

from ventures.cookies import cookie_name, same_site


@pytest.mark.parametrize(
    ("secure", "domain", "name"),
    [
        (True, None, "__Host-sessionid"),
        (True, ".ventures.isharehow.app", "__Secure-sessionid"),
        (False, None, "sessionid"),
    ],
)
def test_cookie_name_takes_the_strongest_prefix_allowed(secure, domain, name):
    assert cookie_name("sessionid", secure=secure, domain=domain) == name


def test_sibling_subdomains_are_same_site():
    assert same_site("api.ventures.isharehow.app", "ventures.isharehow.app")


def test_two_sites_under_a_public_suffix_are_not_same_site():
    # github.io is a public suffix: two pages under it are different sites.
    assert not same_site("alice.github.io", "bob.github.io")


def test_an_ip_address_is_a_site_of_its_own():
    assert same_site("127.0.0.1", "127.0.0.1")
    assert not same_site("127.0.0.1", "127.0.0.2")
