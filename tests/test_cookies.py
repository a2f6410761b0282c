"""
The cookies the app sets: their names (ventures/cookies.py) and the attributes
ventures/settings.py gives them, as a browser receives them (WSTG-SESS-02), and
the sites a cookie reaches.
"""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.conftest import API_HOST
from tests.patreon import CSRF_INPUT, consent, path_of
from ventures.cookies import cookie_name, same_site

pytestmark = pytest.mark.django_db


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


# WSTG-SESS-02: COOKIE ATTRIBUTES
# ------------------------------------------------------------------------------


def every_cookie_of_a_login(client, fake_patreon):
    """Every cookie the app sets while someone logs in, looks around and leaves."""
    responses = [client.get("/login")]
    page = responses[0].content.decode()
    responses.append(
        client.post(
            "/accounts/patreon/login/",
            {"csrfmiddlewaretoken": CSRF_INPUT.search(page)[1]},
        )
    )
    callback = consent(responses[-1]["Location"], "1001")
    responses.append(client.get(path_of(callback)))
    responses.append(client.get("/api/auth/me"))
    responses.append(client.get("/api/auth/csrf"))
    responses.append(client.get("/api/auth/sessions"))
    responses.append(
        client.post(
            "/api/auth/logout", HTTP_X_CSRFTOKEN=responses[-2].json()["csrf_token"]
        )
    )
    return [morsel for r in responses for morsel in r.cookies.values()]


class TestCookieAttributes:
    @pytest.fixture
    def session_cookie(self, patron, settings):
        return patron.cookies[settings.SESSION_COOKIE_NAME]

    def test_wstg_sess_02_session_cookie_is_secure(self, session_cookie):
        assert session_cookie["secure"]

    def test_wstg_sess_02_session_cookie_is_httponly(self, session_cookie):
        assert session_cookie["httponly"]

    def test_wstg_sess_02_session_cookie_is_samesite_lax(self, session_cookie):
        assert session_cookie["samesite"] == "Lax"

    def test_wstg_sess_02_session_cookie_is_host_only_with_the_host_prefix(
        self, session_cookie
    ):
        assert session_cookie.key == "__Host-sessionid"
        assert session_cookie["path"] == "/"
        assert not session_cookie["domain"]

    def test_wstg_sess_02_session_cookie_lives_no_longer_than_the_idle_limit(
        self, session_cookie, settings
    ):
        assert 0 < int(session_cookie["max-age"]) <= settings.SESSION_IDLE_TIMEOUT

    def test_wstg_sess_02_a_staff_cookie_lives_no_longer_than_30_minutes(
        self, client, settings
    ):
        User.objects.create_superuser("root", "root@example.test", "s3cret!pw")
        page = client.get(reverse("admin:login"))
        response = client.post(
            reverse("admin:login"),
            {
                "username": "root",
                "password": "s3cret!pw",
                "csrfmiddlewaretoken": CSRF_INPUT.findall(page.content.decode())[-1],
            },
        )
        assert response.status_code == 302
        cookie = response.cookies[settings.SESSION_COOKIE_NAME]
        assert 0 < int(cookie["max-age"]) <= settings.STAFF_SESSION_IDLE_TIMEOUT

    def test_wstg_sess_02_every_cookie_the_app_sets_is_prefixed_secure_and_httponly(
        self, client, fake_patreon
    ):
        cookies = every_cookie_of_a_login(client, fake_patreon)
        assert {c.key for c in cookies} == {"__Host-sessionid", "__Host-csrftoken"}
        for cookie in cookies:
            assert cookie["secure"], cookie.key
            assert cookie["path"] == "/", cookie.key
            assert not cookie["domain"], cookie.key
            assert cookie["samesite"] == "Lax", cookie.key
            if str(cookie["max-age"]) != "0":  # a deletion may omit HttpOnly
                assert cookie["httponly"], cookie.key

    def test_wstg_sess_02_no_cookie_is_set_over_plain_http(self):
        plain = Client(HTTP_HOST=API_HOST)
        for path in ("/login", "/api/auth/csrf", "/admin/login/"):
            response = plain.get(path)
            assert response.status_code == 301
            assert response["Location"].startswith("https://")
            assert not response.cookies
