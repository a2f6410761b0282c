"""
The security headers, value for value, on each kind of response the app gives.

Django's SecurityMiddleware sets HSTS, nosniff, Referrer-Policy and COOP from
ventures/settings.py; XFrameOptionsMiddleware sets X-Frame-Options;
ventures/headers.py sets Content-Security-Policy (one for JSON, one with a
nonce for pages) and Cross-Origin-Resource-Policy. What nginx adds in front is
tests/test_stack.py::test_security_headers_come_once_on_real_responses.
"""

import re

import pytest
from django.test import Client

from tests.conftest import API_HOST

pytestmark = pytest.mark.django_db

HSTS = "max-age=63072000; includeSubDomains; preload"

# Every response over HTTPS, whatever it is.
EVERY_RESPONSE = {
    "Strict-Transport-Security": HSTS,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}

JSON_POLICY = (
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
PAGE_POLICY = (
    "default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self';"
    " img-src 'self' data: https:; font-src 'self'; connect-src 'self';"
    " form-action 'self' https://www.patreon.com; frame-ancestors 'none';"
    " base-uri 'none'; object-src 'none'"
)
NONCE = re.compile(r"'nonce-([A-Za-z0-9_-]{22})'")


@pytest.fixture(autouse=True)
def production_patreon(settings):
    """Pages name Patreon in form-action: the real, https one."""
    settings.PATREON_BASE_URL = "https://www.patreon.com"


def security_headers(response):
    return {name: response.get(name) for name in EVERY_RESPONSE}


def page_policy_of(response):
    """The page policy this response must carry, with its own nonce."""
    nonce = NONCE.search(response["Content-Security-Policy"])[1]
    return PAGE_POLICY.format(nonce=nonce)


# JSON: the API, answering, refusing and not finding
# ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [("/api/auth/me", 401), ("/api/auth/nope", 404), ("/api/auth/csrf", 200)],
)
def test_api_answers_carry_every_header_and_the_json_policy(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert security_headers(response) == EVERY_RESPONSE
    assert response["Content-Security-Policy"] == JSON_POLICY


def test_a_logged_in_me_carries_every_header_and_the_json_policy(patron):
    response = patron.get("/api/auth/me")
    assert response.status_code == 200
    assert security_headers(response) == EVERY_RESPONSE
    assert response["Content-Security-Policy"] == JSON_POLICY


# PAGES: the login page, the admin, error pages, redirects
# ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/login", 200),
        ("/admin/login/", 200),
        ("/no-such-page", 404),
        ("/api/auth/patreon/callback", 401),  # a login that failed
        ("/admin/", 302),  # to the admin's login
        ("/", 302),  # to the frontend
    ],
)
def test_pages_carry_every_header_and_the_page_policy(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert security_headers(response) == EVERY_RESPONSE
    assert response["Content-Security-Policy"] == page_policy_of(response)


def test_the_admin_logged_in_carries_every_header_and_the_page_policy(superuser):
    response = superuser.get("/admin/")
    assert response.status_code == 200
    assert security_headers(response) == EVERY_RESPONSE
    assert response["Content-Security-Policy"] == page_policy_of(response)


def test_each_page_gets_a_nonce_of_its_own(client):
    first, second = (client.get("/login") for _ in range(2))
    nonces = [NONCE.search(r["Content-Security-Policy"])[1] for r in (first, second)]
    assert nonces[0] != nonces[1]


def test_the_form_action_names_the_configured_patreon(client, settings):
    """Whatever Patreon is configured: an http one is refused at start (E060)."""
    settings.PATREON_BASE_URL = "http://127.0.0.1:8765"
    policy = client.get("/login")["Content-Security-Policy"]
    assert "; form-action 'self' http://127.0.0.1:8765;" in policy


def test_plain_http_is_redirected_to_https_without_hsts():
    """HSTS means nothing over http (RFC 6797 7.2); the redirect carries none."""
    response = Client(HTTP_HOST=API_HOST).get("/api/auth/me?x=1")
    assert response.status_code == 301
    assert response["Location"] == f"https://{API_HOST}/api/auth/me?x=1"
    assert "Strict-Transport-Security" not in response
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
