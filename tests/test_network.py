"""
Who is on the other end: X-Forwarded-For and X-Forwarded-Proto are believed
only from our own proxies, by one peer check.
"""

import pytest
from django.test import Client, RequestFactory

from sessions.models import Session
from tests.conftest import API_HOST
from ventures.network import client_ip, is_trusted_proxy

PROXY = "127.0.0.1"
CLIENT = "203.0.113.9"
SPOOFED = "6.6.6.6"


def request(remote_addr, forwarded_for=None):
    headers = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return RequestFactory().get("/", **headers)


@pytest.fixture
def behind_proxy(settings):
    settings.TRUSTED_PROXIES = [PROXY]


def test_without_trusted_proxies_the_peer_is_the_client(settings):
    settings.TRUSTED_PROXIES = []
    assert client_ip(request(CLIENT)) == CLIENT


def test_without_trusted_proxies_a_spoofed_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = []
    assert client_ip(request(CLIENT, SPOOFED)) == CLIENT


def test_without_trusted_proxies_even_loopback_cannot_forward(settings):
    settings.TRUSTED_PROXIES = []
    assert client_ip(request(PROXY, CLIENT)) == PROXY


def test_behind_a_trusted_proxy_the_forwarded_client_is_used(behind_proxy):
    assert client_ip(request(PROXY, CLIENT)) == CLIENT


def test_behind_a_trusted_proxy_a_client_supplied_left_part_is_ignored(
    behind_proxy,
):
    assert client_ip(request(PROXY, f"{SPOOFED}, {CLIENT}")) == CLIENT


def test_behind_a_trusted_proxy_our_own_proxies_on_the_right_are_skipped(
    behind_proxy,
):
    assert client_ip(request(PROXY, f"{SPOOFED}, {CLIENT}, {PROXY}")) == CLIENT


def test_behind_a_trusted_proxy_without_the_header_the_peer_is_the_client(
    behind_proxy,
):
    assert client_ip(request(PROXY)) == PROXY


@pytest.mark.parametrize(
    "forwarded_for",
    [
        "",
        " , ",
        "garbage",
        f"{CLIENT}, garbage",
        "unknown",
        f"{CLIENT}:4444",
        "999.1.1.1",
        "<script>",
    ],
)
def test_behind_a_trusted_proxy_a_garbage_hop_falls_back_to_the_peer(
    behind_proxy, forwarded_for
):
    assert client_ip(request(PROXY, forwarded_for)) == PROXY


def test_behind_a_trusted_proxy_an_ipv6_client_is_used(behind_proxy):
    assert client_ip(request(PROXY, "2001:db8::1")) == "2001:db8::1"


def test_an_ipv6_client_is_written_in_its_compressed_form(behind_proxy):
    assert client_ip(request(PROXY, "2001:DB8:0:0::1")) == "2001:db8::1"


def test_an_ipv6_proxy_can_be_trusted(settings):
    settings.TRUSTED_PROXIES = ["::1"]
    assert client_ip(request("::1", f"{SPOOFED}, 2001:db8::7")) == "2001:db8::7"


def test_an_untrusted_peer_sending_the_header_keeps_its_own_address(behind_proxy):
    assert client_ip(request("198.51.100.4", CLIENT)) == "198.51.100.4"


def test_a_trusted_proxy_network_in_cidr_is_trusted(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    forwarded_for = f"{SPOOFED}, {CLIENT}, 10.1.2.3"
    assert client_ip(request("10.0.0.5", forwarded_for)) == CLIENT


def test_an_address_outside_the_trusted_cidr_is_not_trusted(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip(request("11.0.0.5", CLIENT)) == "11.0.0.5"


def test_an_ipv6_cidr_of_proxies_is_trusted(settings):
    settings.TRUSTED_PROXIES = ["fd00::/8"]
    assert client_ip(request("fd00::5", f"{SPOOFED}, {CLIENT}, fd12::1")) == CLIENT


def test_no_peer_address_gives_none(settings):
    settings.TRUSTED_PROXIES = []
    assert client_ip(request("")) is None


# THE SCHEME: X-Forwarded-Proto by the same peer check
# ------------------------------------------------------------------------------

STRANGER = "198.51.100.4"


@pytest.fixture
def behind_nginx(settings):
    """Production behind the proxy: TRUSTED_PROXIES set, as settings.py does."""
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


@pytest.fixture
def logged_in(django_user_model):
    """A plain-HTTP client (no TLS of its own) with a live session."""
    user = django_user_model.objects.create(username="patreon-1001")
    client = Client(HTTP_HOST=API_HOST)
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_an_untrusted_peer_claiming_https_is_redirected_to_https(
    behind_nginx, logged_in
):
    response = logged_in.get(
        "/api/auth/me", REMOTE_ADDR=STRANGER, HTTP_X_FORWARDED_PROTO="https"
    )
    assert response.status_code == 301
    assert response["Location"] == f"https://{API_HOST}/api/auth/me"
    assert "Strict-Transport-Security" not in response
    assert not response.cookies
    assert b"patreon-1001" not in response.content


@pytest.mark.django_db
def test_an_untrusted_peer_claiming_https_cannot_use_the_session(
    behind_nginx, logged_in
):
    """Not even to log out: the session stays, nothing was accepted."""
    response = logged_in.post(
        "/api/auth/logout", REMOTE_ADDR=STRANGER, HTTP_X_FORWARDED_PROTO="https"
    )
    assert response.status_code == 301
    assert Session.objects.count() == 1


@pytest.mark.django_db
def test_a_trusted_proxy_saying_https_is_believed(behind_nginx, logged_in):
    response = logged_in.get(
        "/api/auth/me", REMOTE_ADDR="10.0.0.7", HTTP_X_FORWARDED_PROTO="https"
    )
    assert response.status_code == 200
    assert response.json()["user"]["username"] == "patreon-1001"
    assert response["Strict-Transport-Security"].startswith("max-age=63072000")


@pytest.mark.django_db
def test_a_trusted_proxy_saying_http_is_believed_too(behind_nginx, logged_in):
    response = logged_in.get(
        "/api/auth/me", REMOTE_ADDR="10.0.0.7", HTTP_X_FORWARDED_PROTO="http"
    )
    assert response.status_code == 301


@pytest.mark.django_db
def test_an_untrusted_peer_on_real_https_keeps_its_scheme(behind_nginx, logged_in):
    """The header is dropped, not turned around: TLS of our own still counts."""
    response = logged_in.get(
        "/api/auth/me",
        secure=True,
        REMOTE_ADDR=STRANGER,
        HTTP_X_FORWARDED_PROTO="http",
    )
    assert response.status_code == 200


@pytest.mark.django_db
def test_without_trusted_proxies_nobody_is_believed(settings, logged_in):
    settings.TRUSTED_PROXIES = []
    response = logged_in.get(
        "/api/auth/me", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_PROTO="https"
    )
    assert response.status_code == 301


def test_the_scheme_and_the_address_follow_one_peer_check(behind_nginx):
    """Whoever may forward a client's address may forward its scheme."""
    for peer in ("10.0.0.7", STRANGER, "10.0.1.1", "", "garbage"):
        believed_address = client_ip(request(peer, CLIENT)) == CLIENT
        assert believed_address == is_trusted_proxy(peer, ["10.0.0.0/24"]), peer
