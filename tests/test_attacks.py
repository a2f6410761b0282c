"""
The attacker's checklist: one test per thing an attacker would try.

Grouped as a tester works through OWASP's Web Security Testing Guide (WSTG
v4.2, 4.6 "Session Management Testing"); the WSTG id is in the test's name
where one applies, and ``docs/security.md`` maps each threat to its test.
Each test passes when the attack fails.
"""

import io
import json
import logging
import re
import secrets
import sys
from datetime import timedelta
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from django.conf import settings as django_settings
from django.contrib.admin.sites import AdminSite
from django.core.management import call_command
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts import api
from accounts.models import User
from sessions.models import Session
from sessions.store import SessionStore, hash_key
from tests.conftest import API_HOST, FRONTEND_ORIGIN
from tests.patreon import CSRF_INPUT, consent, log_in, path_of, start_login
from ventures.logs import JsonFormatter

pytestmark = pytest.mark.django_db

EVIL_ORIGIN = "https://evil.example"
DOCUMENT = json.loads(api.OPENAPI_DOCUMENT.read_text())
# The unsafe operations a browser's cookies could authorise: those the
# contract guards with the CSRF header (the webhook is signed instead).
UNSAFE_OPERATIONS = [
    (method, path)
    for path, item in DOCUMENT["paths"].items()
    for method in ("post", "put", "patch", "delete")
    if method in item
    and any("csrfHeader" in option for option in item[method].get("security", []))
]


def session_key(client):
    return client.cookies[django_settings.SESSION_COOKIE_NAME].value


def with_cookie(key):
    """A fresh browser presenting ``key`` as its session cookie."""
    browser = Client(HTTP_HOST=API_HOST)
    browser.cookies[django_settings.SESSION_COOKIE_NAME] = key
    return browser


def as_stranger(key):
    return with_cookie(key).get("/api/auth/me", secure=True).status_code


def other_session_id(browser):
    sessions = browser.get("/api/auth/sessions").json()["sessions"]
    return next(s["id"] for s in sessions if not s["current"])


def concrete(path, browser):
    """A documented path with its parameter filled: another of the caller's sessions."""
    return path.replace("{id}", other_session_id(browser))


@pytest.fixture
def attacker(client_factory, fake_patreon):
    """Mallory: patron 1002, logged in in her own browser."""
    browser = client_factory()
    log_in(browser, "1002")
    return browser


# WSTG-SESS-03: SESSION FIXATION
# ------------------------------------------------------------------------------


class TestSessionFixation:
    def test_wstg_sess_03_a_planted_pre_login_session_is_replaced_at_login(
        self, client_factory, fake_patreon, settings
    ):
        mallory = client_factory()
        start_login(mallory)  # a real, valid anonymous session
        planted = session_key(mallory)
        victim = client_factory()
        victim.cookies[settings.SESSION_COOKIE_NAME] = planted
        log_in(victim, "1001")
        assert session_key(victim) != planted
        assert victim.me().status_code == 200
        assert mallory.me().status_code == 401
        assert as_stranger(planted) == 401

    def test_wstg_sess_03_a_key_the_attacker_made_up_is_never_adopted(
        self, client_factory, fake_patreon, settings
    ):
        chosen = "mallorychoosesthiskey0123456789x"
        victim = client_factory()
        victim.cookies[settings.SESSION_COOKIE_NAME] = chosen
        log_in(victim, "1001")
        assert session_key(victim) != chosen
        assert as_stranger(chosen) == 401
        assert not Session.objects.filter(pk=hash_key(chosen)).exists()

    def test_wstg_sess_03_logging_in_as_someone_else_gets_a_new_key(
        self, patron, fake_patreon
    ):
        before = session_key(patron)
        log_in(patron, "1002")
        assert session_key(patron) != before
        assert as_stranger(before) == 401
        assert patron.get("/api/auth/me").json()["patreon"]["id"] == "1002"

    def test_wstg_sess_03_the_csrf_token_from_before_login_stops_working(
        self, client, fake_patreon
    ):
        before = client.csrf_token()
        log_in(client, "1001")
        response = client.post("/api/auth/logout", HTTP_X_CSRFTOKEN=before)
        assert response.status_code == 403
        assert client.me().status_code == 200


# WSTG-SESS-04: EXPOSED SESSION VARIABLES
# ------------------------------------------------------------------------------


class TestExposedSessionVariables:
    @pytest.fixture
    def flow(self, client, fake_patreon, caplog):
        """A whole login with everything it left behind: URLs, bodies, logs."""
        caplog.set_level(logging.DEBUG)
        authorize = start_login(client)
        callback = consent(authorize, "1001")
        landing = client.get(path_of(callback))
        key = session_key(client)
        bodies = [
            client.get(path).content.decode()
            for path in (
                "/api/auth/me",
                "/api/auth/sessions",
                "/api/auth/csrf",
                "/login",
            )
        ]
        urls = [authorize, callback, landing["Location"]]
        sent_to_patreon = [json.dumps(r, default=str) for r in fake_patreon.requests]
        return {
            "key": key,
            "urls": urls,
            "sent_to_patreon": sent_to_patreon,
            "bodies": bodies,
            "caplog": caplog,
        }

    def test_wstg_sess_04_the_session_key_is_never_in_a_url(self, flow):
        for url in flow["urls"]:
            assert flow["key"] not in url

    def test_wstg_sess_04_the_session_key_never_travels_to_patreon(self, flow):
        assert flow["sent_to_patreon"]
        for request in flow["sent_to_patreon"]:
            assert flow["key"] not in request

    def test_wstg_sess_04_the_session_key_is_never_in_a_response_body(self, flow):
        for body in flow["bodies"]:
            assert flow["key"] not in body

    def test_wstg_sess_04_the_session_key_is_never_in_a_log_line(self, flow):
        caplog = flow["caplog"]
        records = caplog.get_records("setup") + caplog.get_records("call")
        assert records
        formatter = JsonFormatter()
        for record in records:
            assert flow["key"] not in record.getMessage()
            assert flow["key"] not in formatter.format(record)

    def test_wstg_sess_04_a_database_dump_holds_no_live_session_key(self, flow):
        dump = io.StringIO()
        call_command("dumpdata", stdout=dump)
        assert hash_key(flow["key"]) in dump.getvalue()  # the row is in the dump
        assert flow["key"] not in dump.getvalue()

    def test_wstg_sess_04_a_session_key_in_the_url_is_ignored(self, patron, settings):
        key = session_key(patron)
        stranger = Client(HTTP_HOST=API_HOST)
        query = urlencode({settings.SESSION_COOKIE_NAME: key, "sessionid": key})
        assert stranger.get(f"/api/auth/me?{query}", secure=True).status_code == 401

    def test_wstg_sess_04_the_session_id_shown_to_its_owner_is_not_a_key(self, patron):
        [shown] = patron.get("/api/auth/sessions").json()["sessions"]
        [row] = Session.objects.all()
        assert as_stranger(shown["id"]) == 401
        assert as_stranger(row.pk) == 401

    def test_wstg_sess_04_answers_about_the_caller_are_never_cached(self, patron):
        for path in ("/api/auth/me", "/api/auth/sessions", "/api/auth/csrf"):
            response = patron.get(path)
            directives = {d.strip() for d in response["Cache-Control"].split(",")}
            assert {"no-store", "private"} <= directives, path
            assert "Cookie" in response["Vary"], path


# WSTG-SESS-05: CROSS-SITE REQUEST FORGERY
# ------------------------------------------------------------------------------


def assert_nothing_happened(patron, second_browser):
    assert patron.me().status_code == 200
    assert second_browser.me().status_code == 200


class TestCsrf:
    def test_wstg_sess_05_the_contract_lists_the_unsafe_endpoints(self):
        assert len(UNSAFE_OPERATIONS) == 3

    @pytest.mark.parametrize(("method", "path"), UNSAFE_OPERATIONS)
    def test_wstg_sess_05_unsafe_endpoints_refuse_a_request_without_a_token(
        self, patron, second_browser, method, path
    ):
        response = getattr(patron, method)(concrete(path, patron))
        assert response.status_code == 403
        assert response.json()["error"] == "csrf_failed"
        assert_nothing_happened(patron, second_browser)

    @pytest.mark.parametrize(("method", "path"), UNSAFE_OPERATIONS)
    def test_wstg_sess_05_unsafe_endpoints_refuse_a_forged_token(
        self, patron, second_browser, method, path
    ):
        forged = secrets.token_hex(32)
        response = getattr(patron, method)(
            concrete(path, patron), HTTP_X_CSRFTOKEN=forged
        )
        assert response.status_code == 403
        assert_nothing_happened(patron, second_browser)

    @pytest.mark.parametrize(("method", "path"), UNSAFE_OPERATIONS)
    def test_wstg_sess_05_unsafe_endpoints_refuse_another_browsers_token(
        self, patron, second_browser, attacker, method, path
    ):
        response = getattr(patron, method)(
            concrete(path, patron), HTTP_X_CSRFTOKEN=attacker.csrf_token()
        )
        assert response.status_code == 403
        assert_nothing_happened(patron, second_browser)

    @pytest.mark.parametrize(
        "origin",
        [
            EVIL_ORIGIN,
            "null",
            "https://ventures.test.evil.com",
            "http://ventures.test",
            "https://evil.ventures.test",
            "http://api.ventures.test",
        ],
    )
    @pytest.mark.parametrize(("method", "path"), UNSAFE_OPERATIONS)
    def test_wstg_sess_05_unsafe_endpoints_refuse_a_foreign_origin_and_token(
        self, patron, second_browser, method, path, origin
    ):
        response = getattr(patron, method)(
            concrete(path, patron),
            HTTP_X_CSRFTOKEN=patron.csrf_token(),
            HTTP_ORIGIN=origin,
        )
        assert response.status_code == 403
        assert "Access-Control-Allow-Origin" not in response
        assert_nothing_happened(patron, second_browser)

    @pytest.mark.parametrize(("method", "path"), UNSAFE_OPERATIONS)
    def test_wstg_sess_05_unsafe_endpoints_refuse_no_origin_and_no_referer(
        self, patron, second_browser, method, path
    ):
        bare = Client(enforce_csrf_checks=True, HTTP_HOST=API_HOST)
        bare.cookies = patron.cookies
        response = getattr(bare, method)(
            concrete(path, patron), HTTP_X_CSRFTOKEN=patron.csrf_token(), secure=True
        )
        assert response.status_code == 403
        assert_nothing_happened(patron, second_browser)

    @pytest.mark.parametrize(("method", "path"), UNSAFE_OPERATIONS)
    def test_wstg_sess_05_unsafe_endpoints_refuse_a_foreign_referer_and_token(
        self, patron, second_browser, method, path
    ):
        bare = Client(enforce_csrf_checks=True, HTTP_HOST=API_HOST)
        bare.cookies = patron.cookies
        response = getattr(bare, method)(
            concrete(path, patron),
            HTTP_X_CSRFTOKEN=patron.csrf_token(),
            HTTP_REFERER=f"{EVIL_ORIGIN}/page",
            secure=True,
        )
        assert response.status_code == 403
        assert_nothing_happened(patron, second_browser)

    def test_wstg_sess_05_the_frontend_origin_with_the_token_is_allowed(self, patron):
        response = patron.post(
            "/api/auth/logout",
            HTTP_X_CSRFTOKEN=patron.csrf_token(),
            HTTP_ORIGIN=FRONTEND_ORIGIN,
        )
        assert response.status_code == 200

    def test_wstg_sess_05_another_site_cannot_start_a_login_for_the_victim(
        self, client, fake_patreon
    ):
        """Login CSRF: starting the OAuth flow needs the login page's token."""
        assert client.get("/accounts/patreon/login/").status_code != 302
        forged = client.post("/accounts/patreon/login/", HTTP_ORIGIN=EVIL_ORIGIN)
        assert forged.status_code == 403
        assert not Session.objects.exists()

    def test_wstg_sess_05_get_requests_change_nothing(self, patron, second_browser):
        for path in ("/api/auth/logout", "/api/auth/sessions/revoke-others"):
            assert patron.get(path).status_code == 405
        assert_nothing_happened(patron, second_browser)


# WSTG-SESS-06: LOGOUT
# ------------------------------------------------------------------------------


class TestLogout:
    def test_wstg_sess_06_logout_deletes_the_session_on_the_server(self, patron):
        key = session_key(patron)
        patron.post("/api/auth/logout", HTTP_X_CSRFTOKEN=patron.csrf_token())
        assert not Session.objects.filter(pk=hash_key(key)).exists()

    def test_wstg_sess_06_logout_tells_the_browser_to_drop_the_cookie(
        self, patron, settings
    ):
        response = patron.post("/api/auth/logout", HTTP_X_CSRFTOKEN=patron.csrf_token())
        cookie = response.cookies[settings.SESSION_COOKIE_NAME]
        assert cookie.value == ""
        assert str(cookie["max-age"]) == "0"

    def test_wstg_sess_06_the_cookie_replayed_after_logout_is_refused(self, patron):
        key = session_key(patron)
        patron.post("/api/auth/logout", HTTP_X_CSRFTOKEN=patron.csrf_token())
        assert as_stranger(key) == 401

    def test_wstg_sess_06_allauths_logout_ends_the_server_session_too(self, patron):
        key = session_key(patron)
        response = patron.post(
            "/accounts/logout/", {"csrfmiddlewaretoken": patron.csrf_token()}
        )
        assert response.status_code == 302
        assert as_stranger(key) == 401

    def test_wstg_sess_06_logout_ends_only_this_browsers_session(
        self, patron, second_browser
    ):
        patron.post("/api/auth/logout", HTTP_X_CSRFTOKEN=patron.csrf_token())
        assert patron.me().status_code == 401
        assert second_browser.me().status_code == 200


# A CLOCK FOR THE SCENARIOS THAT WAIT
# ------------------------------------------------------------------------------


@pytest.fixture
def later(time_machine):
    """``later(**delta)``: jump the clock to now + delta, frozen."""
    start = timezone.now()

    def jump(**delta):
        time_machine.move_to(start + timedelta(**delta), tick=False)

    return jump


# WSTG-SESS-08: SESSION PUZZLING
# ------------------------------------------------------------------------------


class TestSessionPuzzling:
    def test_wstg_sess_08_a_half_finished_login_is_not_a_login(
        self, client, fake_patreon
    ):
        start_login(client)  # the session now holds OAuth state
        assert client.me().status_code == 401
        assert client.get("/api/auth/sessions").status_code == 401
        assert client.get("/admin/").status_code == 302

    def test_wstg_sess_08_a_user_id_in_session_data_without_its_auth_hash_is_ignored(
        self, patron
    ):
        """Session data set by some flow can never stand in for a login."""
        user = User.objects.get(patreon__patreon_id="1001")
        store = SessionStore()
        store["_auth_user_id"] = str(user.pk)
        store["_auth_user_backend"] = "accounts.backends.AuthenticationBackend"
        store.create()
        assert as_stranger(store.session_key) == 401

    def test_wstg_sess_08_a_user_id_with_a_forged_auth_hash_is_ignored(self, patron):
        user = User.objects.get(patreon__patreon_id="1001")
        store = SessionStore()
        store["_auth_user_id"] = str(user.pk)
        store["_auth_user_backend"] = "accounts.backends.AuthenticationBackend"
        store["_auth_user_hash"] = secrets.token_hex(32)
        store.create()
        assert as_stranger(store.session_key) == 401

    def test_wstg_sess_08_the_password_login_of_allauth_is_closed(
        self, client, django_user_model
    ):
        django_user_model.objects.create_user("plain", "p@example.test", "s3cret!pw")
        token = CSRF_INPUT.search(client.get("/login").content.decode())[1]
        response = client.post(
            "/accounts/login/",
            {"login": "plain", "password": "s3cret!pw", "csrfmiddlewaretoken": token},
        )
        assert response.status_code == 403
        assert client.me().status_code == 401


# SESSION HIJACKING AND REPLAY
# ------------------------------------------------------------------------------


class TestHijackingAndReplay:
    def test_a_stolen_cookie_dies_when_its_owner_ends_their_other_sessions(
        self, patron, second_browser
    ):
        stolen = session_key(second_browser)
        patron.post(
            "/api/auth/sessions/revoke-others", HTTP_X_CSRFTOKEN=patron.csrf_token()
        )
        assert as_stranger(stolen) == 401

    def test_a_stolen_cookie_dies_when_staff_revoke_it(self, patron):
        stolen = session_key(patron)
        Session.objects.filter(pk=hash_key(stolen)).revoke()
        assert as_stranger(stolen) == 401

    def test_a_stolen_cookie_dies_when_its_owner_is_deactivated(self, patron):
        stolen = session_key(patron)
        User.objects.filter(patreon__patreon_id="1001").update(is_active=False)
        assert as_stranger(stolen) == 401

    def test_a_stolen_cookie_dies_when_staff_access_is_removed(
        self, client, fake_patreon
    ):
        log_in(client, "1002")
        call_command("staff", "grant", "--patreon-id", "1002", stdout=io.StringIO())
        stolen = session_key(client)
        call_command("staff", "remove", "--patreon-id", "1002", stdout=io.StringIO())
        assert as_stranger(stolen) == 401

    def test_revoking_every_session_kills_every_stolen_cookie(self, patron, attacker):
        stolen = [session_key(patron), session_key(attacker)]
        call_command("revoke_sessions", "--all", stdout=io.StringIO())
        assert [as_stranger(key) for key in stolen] == [401, 401]

    def test_the_database_row_key_is_not_a_usable_cookie(self, patron):
        [row] = Session.objects.all()
        assert as_stranger(row.session_key) == 401


class TestSecretKeyRotation:
    def test_rotating_the_key_with_the_old_one_as_fallback_keeps_people_logged_in(
        self, patron, settings
    ):
        settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
        settings.SECRET_KEY = secrets.token_urlsafe(64)
        assert [patron.me().status_code for _ in range(3)] == [200, 200, 200]

    def test_dropping_the_old_key_from_the_fallbacks_logs_everyone_out(
        self, patron, settings
    ):
        key = session_key(patron)
        settings.SECRET_KEY = secrets.token_urlsafe(64)
        settings.SECRET_KEY_FALLBACKS = []
        assert as_stranger(key) == 401


# CROSS-ORIGIN RESOURCE SHARING
# ------------------------------------------------------------------------------

LOOK_ALIKE_ORIGINS = [
    EVIL_ORIGIN,
    "null",
    "https://ventures.test.evil.com",  # the frontend's name as a subdomain of evil
    "http://ventures.test",  # the frontend over plain http
    "https://evil.ventures.test",  # a sibling subdomain that is not listed
    "https://api.ventures.test",  # the API itself is not a CORS origin
    "https://ventures.test:8443",  # another port
    "https://xventures.test",
    "https://ventures.testevil.com",
    "https://VENTURES.TEST",
    "https://ventures.test.",
    "https://ventures.test@evil.example",
]


class TestCors:
    def test_the_frontend_gets_credentialed_cors_for_its_exact_origin(self, patron):
        response = patron.get("/api/auth/me", HTTP_ORIGIN=FRONTEND_ORIGIN)
        assert response["Access-Control-Allow-Origin"] == FRONTEND_ORIGIN
        assert response["Access-Control-Allow-Credentials"] == "true"

    @pytest.mark.parametrize("origin", LOOK_ALIKE_ORIGINS)
    def test_a_foreign_null_or_look_alike_origin_cannot_read_the_api(
        self, patron, origin
    ):
        response = patron.get("/api/auth/me", HTTP_ORIGIN=origin)
        assert "Access-Control-Allow-Origin" not in response
        assert "Access-Control-Allow-Credentials" not in response

    @pytest.mark.parametrize("origin", LOOK_ALIKE_ORIGINS)
    def test_a_foreign_null_or_look_alike_origin_gets_no_preflight_permission(
        self, client, origin
    ):
        response = client.options(
            "/api/auth/logout",
            HTTP_ORIGIN=origin,
            HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
            HTTP_ACCESS_CONTROL_REQUEST_HEADERS="x-csrftoken",
        )
        assert "Access-Control-Allow-Origin" not in response

    def test_cors_never_answers_every_origin(self, patron):
        for origin in [FRONTEND_ORIGIN, *LOOK_ALIKE_ORIGINS]:
            response = patron.get("/api/auth/me", HTTP_ORIGIN=origin)
            assert response.get("Access-Control-Allow-Origin") != "*"

    def test_pages_outside_the_api_get_no_cors_at_all(self, client):
        for path in ("/login", "/admin/login/", "/healthz"):
            response = client.get(path, HTTP_ORIGIN=FRONTEND_ORIGIN)
            assert "Access-Control-Allow-Origin" not in response, path


# OPEN REDIRECT THROUGH ?next=
# ------------------------------------------------------------------------------

HOSTILE_NEXT = [
    "https://evil.example/",
    "//evil.example/",
    "///evil.example/",
    "/\\evil.example/",
    "\\\\evil.example",
    "https:evil.example",
    "https:/evil.example",
    "https://ventures.test.evil.example/",
    "https://ventures.test@evil.example/",
    "https://evil.example#https://ventures.test",
    "https://evil.example?https://ventures.test",
    "http://ventures.test/",
    "https://evil.ventures.test/",
    "https://ventures.test:8443/",
    "javascript:alert(document.domain)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/\t/evil.example",
    "/\n/evil.example",
    " https://evil.example",
    "https://[",
    "https://ventures.test]/",
    "https://ventures.test\uff0fevil.example",
    "https://evil.example\u3002com",
]


class TestOpenRedirect:
    @pytest.mark.parametrize("next_url", HOSTILE_NEXT)
    def test_the_login_page_drops_a_hostile_next(self, client, next_url):
        response = client.get("/login", {"next": next_url})
        assert response.status_code == 200
        assert 'name="next"' not in response.content.decode()

    @pytest.mark.parametrize("next_url", HOSTILE_NEXT)
    def test_a_hostile_next_never_leaves_the_login_flow(
        self, client, fake_patreon, next_url
    ):
        response = log_in(client, "1001", next_url=next_url)
        assert response["Location"] == FRONTEND_ORIGIN

    @pytest.mark.parametrize("next_url", HOSTILE_NEXT)
    def test_a_login_started_with_a_hostile_next_still_goes_to_patreon(
        self, client, fake_patreon, next_url
    ):
        page = client.get("/login")
        response = client.post(
            "/accounts/patreon/login/",
            {
                "csrfmiddlewaretoken": CSRF_INPUT.search(page.content.decode())[1],
                "next": next_url,
            },
        )
        assert response.status_code == 302
        assert response["Location"].startswith(fake_patreon.base_url)

    def test_a_frontend_page_as_next_is_honoured(self, client, fake_patreon):
        response = log_in(client, "1001", next_url=f"{FRONTEND_ORIGIN}/account")
        assert response["Location"] == f"{FRONTEND_ORIGIN}/account"

    def test_the_admin_login_does_not_redirect_off_site(self, client):
        User.objects.create_superuser("root", "root@example.test", "s3cret!pw")
        page = client.get(reverse("admin:login"))
        response = client.post(
            reverse("admin:login") + "?next=https://evil.example/",
            {
                "username": "root",
                "password": "s3cret!pw",
                "csrfmiddlewaretoken": CSRF_INPUT.findall(page.content.decode())[-1],
                "next": "https://evil.example/",
            },
        )
        assert response.status_code == 302
        assert urlsplit(response["Location"]).netloc in ("", "ventures.test")


# OAUTH: STATE, CODE AND ERROR TAMPERING
# ------------------------------------------------------------------------------


def callback_query(callback):
    return {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}


def callback_with(client, **params):
    return client.get(f"/api/auth/patreon/callback?{urlencode(params)}")


def assert_nobody_logged_in(client, response):
    """A friendly page (or a redirect to one on this site), and no session."""
    assert response.status_code in (200, 302, 401)
    if response.status_code == 302:
        assert not urlsplit(response["Location"]).netloc
    assert b"Traceback" not in response.content
    assert client.me().status_code == 401


class TestOAuthTampering:
    def test_oauth_a_tampered_state_is_refused(self, client, fake_patreon):
        query = callback_query(consent(start_login(client)))
        response = callback_with(client, code=query["code"], state=query["state"] + "x")
        assert_nobody_logged_in(client, response)
        assert not User.objects.exists()

    def test_oauth_a_missing_state_is_refused(self, client, fake_patreon):
        query = callback_query(consent(start_login(client)))
        assert_nobody_logged_in(client, callback_with(client, code=query["code"]))

    def test_oauth_a_callback_from_another_browser_is_refused(
        self, client, client_factory, fake_patreon
    ):
        """Login CSRF: Mallory's callback URL, opened by the victim, logs no one in."""
        mallory = client_factory()
        callback = consent(start_login(mallory), "1002")
        victim_response = client.get(path_of(callback))
        assert_nobody_logged_in(client, victim_response)

    def test_oauth_a_replayed_callback_is_refused(
        self, client, client_factory, fake_patreon
    ):
        callback = consent(start_login(client))
        assert client.get(path_of(callback)).status_code == 302
        other = client_factory()
        assert_nobody_logged_in(other, other.get(path_of(callback)))

    def test_oauth_a_bogus_code_with_a_valid_state_is_refused(
        self, client, fake_patreon
    ):
        query = callback_query(consent(start_login(client)))
        response = callback_with(
            client, code="bogus" + query["code"], state=query["state"]
        )
        assert_nobody_logged_in(client, response)
        assert not User.objects.exists()

    def test_oauth_a_code_already_used_is_worthless(self, client, fake_patreon):
        used = callback_query(consent(start_login(client)))
        callback_with(client, **used)
        assert client.me().status_code == 200
        fresh = callback_query(consent(start_login(client)))
        response = callback_with(client, code=used["code"], state=fresh["state"])
        assert b"We could not log you in" in response.content

    @pytest.mark.parametrize(
        "error", ["access_denied", "server_error", "invalid_scope", "<script>", ""]
    )
    def test_oauth_an_error_from_patreon_logs_nobody_in(
        self, client, fake_patreon, error
    ):
        query = callback_query(consent(start_login(client)))
        response = callback_with(
            client, error=error, error_description="<b>x</b>", state=query["state"]
        )
        assert_nobody_logged_in(client, response)
        assert b"<script>" not in response.content
        assert b"<b>x</b>" not in response.content

    def test_oauth_an_error_beside_a_valid_code_still_logs_nobody_in(
        self, client, fake_patreon
    ):
        query = callback_query(consent(start_login(client)))
        response = callback_with(client, error="access_denied", **query)
        assert_nobody_logged_in(client, response)

    def test_oauth_the_state_is_long_enough_not_to_be_guessed(
        self, client, fake_patreon
    ):
        states = {
            parse_qs(urlsplit(start_login(client)).query)["state"][0] for _ in range(20)
        }
        assert len(states) == 20
        for state in states:
            assert len(state) >= 16
            assert re.fullmatch(r"[A-Za-z0-9]+", state)

    def test_oauth_the_redirect_uri_is_the_registered_one(self, client, fake_patreon):
        authorize = start_login(client)
        [redirect_uri] = parse_qs(urlsplit(authorize).query)["redirect_uri"]
        assert redirect_uri == f"https://{API_HOST}/api/auth/patreon/callback"


# HOST HEADER INJECTION
# ------------------------------------------------------------------------------

HOSTILE_HOSTS = [
    "evil.example",
    "api.ventures.test.evil.example",
    "evil.example:443",
    "api.ventures.test@evil.example",
    "localhost",
    "127.0.0.1",
    "ventures.test",
    "api.ventures.test:evil",
    "api.ventures.test/evil",
    "a" * 300,
]


class TestHostHeaderInjection:
    @pytest.mark.parametrize("host", HOSTILE_HOSTS)
    def test_an_unknown_host_is_refused_with_a_json_400_on_the_api(self, client, host):
        response = client.get("/api/auth/me", HTTP_HOST=host)
        assert response.status_code == 400
        assert response.json()["error"] == "bad_request"

    @pytest.mark.parametrize("host", HOSTILE_HOSTS)
    def test_an_unknown_host_is_refused_with_400_on_pages(self, client, host):
        for path in ("/login", "/api/auth/patreon/callback", "/admin/login/"):
            assert client.get(path, HTTP_HOST=host).status_code == 400, path

    def test_an_unknown_host_cannot_start_a_login(self, client, fake_patreon):
        page = client.get("/login")
        token = CSRF_INPUT.search(page.content.decode())[1]
        response = client.post(
            "/accounts/patreon/login/",
            {"csrfmiddlewaretoken": token},
            HTTP_HOST="evil.example",
        )
        assert response.status_code == 400

    def test_forwarded_host_headers_never_reach_the_login_url(self, client):
        response = client.get(
            "/api/auth/me",
            HTTP_X_FORWARDED_HOST="evil.example",
            HTTP_FORWARDED="host=evil.example",
            HTTP_X_ORIGINAL_HOST="evil.example",
        )
        assert response.json()["login_url"] == f"https://{API_HOST}/login"

    def test_forwarded_host_headers_never_reach_the_oauth_redirect_uri(
        self, client, fake_patreon
    ):
        page = client.get("/login")
        response = client.post(
            "/accounts/patreon/login/",
            {"csrfmiddlewaretoken": CSRF_INPUT.search(page.content.decode())[1]},
            HTTP_X_FORWARDED_HOST="evil.example",
        )
        [redirect_uri] = parse_qs(urlsplit(response["Location"]).query)["redirect_uri"]
        assert urlsplit(redirect_uri).hostname == API_HOST

    def test_forwarded_host_headers_never_reach_the_recent_login_url(
        self, patron, second_browser, later
    ):
        token, target = patron.csrf_token(), other_session_id(patron)
        later(minutes=6)
        response = patron.delete(
            f"/api/auth/sessions/{target}",
            HTTP_X_CSRFTOKEN=token,
            HTTP_X_FORWARDED_HOST="evil.example",
        )
        assert response.status_code == 403
        assert response.json()["login_url"] == f"https://{API_HOST}/login"


# THE ADMIN
# ------------------------------------------------------------------------------


def admin_prefixes(patterns=None, prefix=""):
    """Every URL prefix under which the URLconf includes an admin site."""
    if patterns is None:
        patterns = get_resolver().url_patterns
    for entry in patterns:
        if isinstance(entry, URLResolver):
            route = prefix + str(entry.pattern)
            if entry.app_name == "admin":
                yield route
            else:
                yield from admin_prefixes(entry.url_patterns, route)


class TestAdmin:
    def test_the_admin_is_mounted_once_at_admin_url(self, settings):
        assert list(admin_prefixes()) == [settings.ADMIN_URL] == ["admin/"]

    def test_the_admin_site_is_djangos_default_site(self):
        from django.contrib import admin

        assert isinstance(admin.site, AdminSite)
        assert reverse("admin:index") == "/admin/"

    @pytest.mark.parametrize(
        "path",
        [
            "/django-admin/",
            "/administrator/",
            "/api/admin/",
            "/accounts/admin/",
            "/wp-admin/",
        ],
    )
    def test_common_admin_paths_lead_nowhere(self, superuser, path):
        assert superuser.get(path).status_code == 404

    def test_a_stranger_is_sent_to_the_admin_login(self, client):
        response = client.get(reverse("admin:index"))
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")

    def test_a_patron_who_is_not_staff_is_sent_to_the_admin_login(self, patron):
        for url in (
            reverse("admin:index"),
            reverse("admin:sessions_session_changelist"),
            reverse("admin:accounts_user_changelist"),
        ):
            response = patron.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith("/admin/login/"), url

    def test_a_patron_who_is_not_staff_cannot_revoke_every_session(
        self, patron, second_browser
    ):
        url = reverse("admin:sessions_session_revoke_everything")
        response = patron.post(url, {"csrfmiddlewaretoken": patron.csrf_token()})
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
        assert_nothing_happened(patron, second_browser)

    def test_a_password_user_who_is_not_staff_cannot_log_in_to_the_admin(
        self, client, django_user_model
    ):
        django_user_model.objects.create_user("plain", "p@example.test", "s3cret!pw")
        page = client.get(reverse("admin:login"))
        response = client.post(
            reverse("admin:login"),
            {
                "username": "plain",
                "password": "s3cret!pw",
                "csrfmiddlewaretoken": CSRF_INPUT.findall(page.content.decode())[-1],
            },
        )
        assert response.status_code == 200  # the form again, with an error
        assert client.get(reverse("admin:index")).status_code == 302

    def test_staff_reach_the_admin(self, superuser):
        assert superuser.get(reverse("admin:index")).status_code == 200

    def test_the_admin_login_link_is_relative(self, client):
        location = client.get(reverse("admin:index"))["Location"]
        assert not urlsplit(location).netloc
        assert quote("/admin/") in location


# THE CHECKLIST IS DOCUMENTED
# ------------------------------------------------------------------------------


def security_document_references():
    """
    Each test docs/security.md names, with what it resolves to (None if
    nothing): ``test_x.py::name[::name]``; ``TestX[::name]``, a class of this
    catalogue; ``::name``, beside the reference before it in the same table
    row, or else beside one named earlier in the section.
    """
    import importlib
    from pathlib import Path

    document = Path(__file__).parent.parent / "docs" / "security.md"
    full = re.compile(r"(?:tests/)?((?:\w+/)?test_\w+)\.py(?:::(\w+))?(?:::(\w+))?")
    bare = re.compile(r"(Test\w+)(?:::(\w+))?")
    section = []
    for line in document.read_text().splitlines():
        if line.startswith("#"):
            section = []
        row = []
        for span in re.findall(r"`([^`\n]+)`", line):
            if span.startswith("::"):
                owners = [*row[-1:], *reversed(section)]
                found = (getattr(o, span[2:], None) for o in owners)
                yield span, next(filter(None, found), None)
                continue
            if m := full.fullmatch(span):
                found = importlib.import_module("tests." + m[1].replace("/", "."))
                names = (m[2], m[3])
            elif m := bare.fullmatch(span):
                found = sys.modules[__name__]
                names = (m[1], m[2])
            else:
                continue
            owner = found
            for name in filter(None, names):
                found = getattr(found, name, None)
                yield span, found
                if isinstance(found, type):
                    owner = found
            row.append(owner)
            section.append(owner)


def test_every_test_the_security_document_names_exists():
    """docs/security.md maps threats to tests: each named test must be real."""
    references = list(security_document_references())
    assert len(references) >= 200
    assert [span for span, found in references if found is None] == []
