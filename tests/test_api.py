"""The JSON auth API, as the frontend and a hostile origin see it."""

from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from tests.conftest import FRONTEND_ORIGIN
from tests.patreon import log_in

pytestmark = pytest.mark.django_db

EVIL_ORIGIN = "https://evil.example"


def test_me_logged_out_is_401_json_with_a_login_url(client):
    response = client.get("/api/auth/me")
    assert response.status_code == 401
    assert response.json() == {
        "authenticated": False,
        "login_url": "https://api.ventures.test/login",
    }


def test_me_logged_in_has_the_documented_shape(patron):
    body = patron.get("/api/auth/me").json()
    assert set(body) == {
        "authenticated",
        "user",
        "patreon",
        "entitlements",
        "entitlement_reasons",
        "session",
    }
    assert set(body["user"]) == {
        "id",
        "username",
        "email",
        "email_verified",
        "name",
        "avatar_url",
    }
    assert set(body["patreon"]) == {
        "id",
        "patron_status",
        "tiers",
        "entitled_amount_cents",
        "campaign_id",
        "last_charge_status",
        "last_charge_date",
        "next_charge_date",
        "is_free_trial",
        "is_gifted",
        "synced_at",
        "source",
        "stale",
    }
    assert set(body["patreon"]["tiers"][0]) == {"id", "title", "amount_cents"}
    assert set(body["session"]) == {"created_at", "expires_at"}
    assert body["user"]["name"] == "Ada Lovelace"
    assert body["entitlements"] == ["supporter"]
    assert body["entitlement_reasons"] == {
        "supporter": "entitled",
        "early-access": "not_entitled",
    }


def test_me_says_patreon_verified_the_email(patron):
    assert patron.get("/api/auth/me").json()["user"]["email_verified"] is True


def test_me_says_when_patreon_did_not_verify_the_email(client, fake_patreon):
    """Patron 1006's Patreon email is unverified."""
    log_in(client, "1006")
    user = client.get("/api/auth/me").json()["user"]
    assert user["email"] == "hedy@example.test"
    assert user["email_verified"] is False


def test_each_login_takes_patreons_latest_word_on_the_email(
    client, client_factory, fake_patreon
):
    """A row marked verified by hand is corrected by the next login's answer."""
    log_in(client, "1006")
    EmailAddress.objects.filter(email="hedy@example.test").update(verified=True)
    User.objects.filter(email="hedy@example.test").update(email_verified=True)
    again = client_factory()
    log_in(again, "1006")
    assert again.get("/api/auth/me").json()["user"]["email_verified"] is False
    assert not EmailAddress.objects.filter(verified=True).exists()


def test_the_emergency_superusers_email_is_not_verified(client, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.test")
    client.force_login(root)
    assert client.get("/api/auth/me").json()["user"]["email_verified"] is False


@pytest.mark.parametrize("logged_in", [False, True])
def test_me_is_never_cached_and_varies_by_cookie(client, fake_patreon, logged_in):
    if logged_in:
        log_in(client, "1001")
    response = client.get("/api/auth/me")
    cache_control = {v.strip() for v in response["Cache-Control"].split(",")}
    assert {"no-store", "private"} <= cache_control
    assert "Cookie" in response["Vary"]


def test_me_costs_one_query(patron, django_assert_num_queries):
    """The session row and its owner (with the membership) in a single query."""
    with django_assert_num_queries(1):
        assert patron.get("/api/auth/me").status_code == 200


def test_logout_needs_a_csrf_token(patron):
    response = patron.post("/api/auth/logout")
    assert response.status_code == 403
    assert response.json()["error"] == "csrf_failed"
    assert patron.get("/api/auth/me").status_code == 200


def test_logout_with_the_token_ends_the_session(patron):
    response = patron.post("/api/auth/logout", HTTP_X_CSRFTOKEN=patron.csrf_token())
    assert response.status_code == 200
    assert patron.get("/api/auth/me").status_code == 401


def test_frontend_logout_from_its_origin_works(patron):
    response = patron.post(
        "/api/auth/logout",
        HTTP_X_CSRFTOKEN=patron.csrf_token(),
        HTTP_ORIGIN=FRONTEND_ORIGIN,
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == FRONTEND_ORIGIN


def test_logout_from_a_foreign_origin_fails_csrf_even_with_the_token(patron):
    response = patron.post(
        "/api/auth/logout",
        HTTP_X_CSRFTOKEN=patron.csrf_token(),
        HTTP_ORIGIN=EVIL_ORIGIN,
    )
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response
    assert patron.get("/api/auth/me").status_code == 200


def test_listed_origin_gets_cors_with_credentials(patron):
    response = patron.get("/api/auth/me", HTTP_ORIGIN=FRONTEND_ORIGIN)
    assert response["Access-Control-Allow-Origin"] == FRONTEND_ORIGIN
    assert response["Access-Control-Allow-Credentials"] == "true"
    assert "origin" in response["Vary"].lower()


@pytest.mark.parametrize(
    "origin",
    [
        EVIL_ORIGIN,
        "null",
        "http://ventures.test",
        "https://ventures.test.evil.example",
        "https://evil.ventures.test",
    ],
)
def test_other_origins_get_no_cors_headers(patron, origin):
    response = patron.get("/api/auth/me", HTTP_ORIGIN=origin)
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Credentials" not in response


def test_preflight_from_the_frontend_allows_the_csrf_header(client):
    response = client.options(
        "/api/auth/logout",
        HTTP_ORIGIN=FRONTEND_ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="x-csrftoken",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == FRONTEND_ORIGIN
    assert "x-csrftoken" in response["Access-Control-Allow-Headers"]


def test_cors_stays_off_outside_the_api(client):
    response = client.get("/login", HTTP_ORIGIN=FRONTEND_ORIGIN)
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/auth/me"),
        ("delete", "/api/auth/me"),
        ("get", "/api/auth/logout"),
        ("put", "/api/auth/csrf"),
    ],
)
def test_wrong_method_is_405_json(client, method, path):
    token = client.csrf_token()
    response = getattr(client, method)(path, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "method_not_allowed"
    assert response["Allow"]


def test_unknown_api_path_is_404_json(client):
    response = client.get("/api/auth/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_unknown_page_is_a_friendly_404_page(client):
    response = client.get("/nothing-here")
    assert response.status_code == 404
    assert b"There is nothing here" in response.content


def test_csrf_endpoint_gives_the_token_and_sets_the_csrf_cookie(client, settings):
    """The cookie's attributes: tests/test_cookies.py::TestCookieAttributes."""
    response = client.get("/api/auth/csrf")
    assert settings.CSRF_COOKIE_NAME in response.cookies
    assert response.json()["csrf_token"]


def test_healthz_answers_without_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.json() == {"status": "ok"}


def test_session_list_shows_own_sessions_with_the_current_one_marked(
    patron, second_browser, client_factory
):
    log_in(client_factory(), "1002")  # someone else's session is not listed
    body = patron.get("/api/auth/sessions").json()
    assert len(body["sessions"]) == 2
    assert [s["current"] for s in body["sessions"]].count(True) == 1
    assert set(body["sessions"][0]) == {
        "id",
        "current",
        "created_at",
        "last_seen",
        "expires_at",
        "ip",
        "user_agent",
    }


def test_session_list_exposes_no_key(patron, settings):
    from sessions.models import Session

    cookie = patron.cookies[settings.SESSION_COOKIE_NAME].value
    text = patron.get("/api/auth/sessions").content.decode()
    [row] = Session.objects.all()
    assert cookie not in text
    assert row.session_key not in text  # only a prefix of the hash, as an id


def test_session_list_needs_a_login(client):
    response = client.get("/api/auth/sessions")
    assert response.status_code == 401
    assert response.json()["authenticated"] is False


def other_session_id(browser):
    sessions = browser.get("/api/auth/sessions").json()["sessions"]
    return next(s["id"] for s in sessions if not s["current"])


def test_ending_another_own_session_right_after_login(patron, second_browser):
    response = patron.delete(
        f"/api/auth/sessions/{other_session_id(patron)}",
        HTTP_X_CSRFTOKEN=patron.csrf_token(),
    )
    assert response.status_code == 200
    assert response.json()["revoked"] == 1
    assert second_browser.get("/api/auth/me").status_code == 401
    assert patron.get("/api/auth/me").status_code == 200


def test_ending_the_current_session_logs_out(patron):
    [current] = patron.get("/api/auth/sessions").json()["sessions"]
    response = patron.delete(
        f"/api/auth/sessions/{current['id']}", HTTP_X_CSRFTOKEN=patron.csrf_token()
    )
    assert response.json() == {"revoked": 1, "authenticated": False}
    assert patron.get("/api/auth/me").status_code == 401


def test_ending_sessions_needs_csrf(patron, second_browser):
    response = patron.delete(f"/api/auth/sessions/{other_session_id(patron)}")
    assert response.status_code == 403
    assert second_browser.get("/api/auth/me").status_code == 200


def test_ending_other_sessions_needs_a_recent_login(
    patron, second_browser, time_machine
):
    token = patron.csrf_token()
    target = other_session_id(patron)
    # Six minutes on: both logins are older than SESSION_RECENT_LOGIN.
    time_machine.move_to(timezone.now() + timedelta(minutes=6), tick=False)
    for response in (
        patron.delete(f"/api/auth/sessions/{target}", HTTP_X_CSRFTOKEN=token),
        patron.post("/api/auth/sessions/revoke-others", HTTP_X_CSRFTOKEN=token),
    ):
        assert response.status_code == 403
        body = response.json()
        assert body["error"] == "recent_login_required"
        assert body["login_url"] == "https://api.ventures.test/login"
    assert second_browser.get("/api/auth/me").status_code == 200


def test_a_user_can_never_end_someone_elses_session(patron, client_factory):
    mallory = client_factory()
    log_in(mallory, "1002")
    victim_id = patron.get("/api/auth/sessions").json()["sessions"][0]["id"]
    response = mallory.delete(
        f"/api/auth/sessions/{victim_id}", HTTP_X_CSRFTOKEN=mallory.csrf_token()
    )
    assert response.status_code == 404
    assert patron.get("/api/auth/me").status_code == 200


def test_revoke_others_keeps_only_the_current_session(
    patron, second_browser, client_factory
):
    bystander = client_factory()
    log_in(bystander, "1002")
    response = patron.post(
        "/api/auth/sessions/revoke-others", HTTP_X_CSRFTOKEN=patron.csrf_token()
    )
    assert response.json() == {"revoked": 1, "authenticated": True}
    assert patron.get("/api/auth/me").status_code == 200
    assert second_browser.get("/api/auth/me").status_code == 401
    assert bystander.get("/api/auth/me").status_code == 200


def test_unknown_session_id_is_404_json(patron):
    response = patron.delete(
        "/api/auth/sessions/nope", HTTP_X_CSRFTOKEN=patron.csrf_token()
    )
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.parametrize("shape", ["prefix", "percent", "underscore", "longer"])
def test_only_the_exact_public_id_ends_a_session(patron, second_browser, shape):
    """The id is a prefix of the hash: a shorter one, a LIKE pattern or more
    characters name no session (the lookup is a prefix match in SQL)."""
    other = other_session_id(patron)
    public_id = {
        "prefix": other[:-1],
        "percent": other[:-1] + "%",
        "underscore": other[:-1] + "_",
        "longer": other + "0",
    }[shape]
    response = patron.delete(
        f"/api/auth/sessions/{public_id}", HTTP_X_CSRFTOKEN=patron.csrf_token()
    )
    assert response.status_code == 404
    assert second_browser.get("/api/auth/me").status_code == 200


def test_ending_a_session_queries_only_the_callers_live_rows(patron, second_browser):
    """Found in SQL, not by loading every session of the user into Python."""
    other = other_session_id(patron)
    token = patron.csrf_token()
    with CaptureQueriesContext(connection) as queries:
        patron.delete(f"/api/auth/sessions/{other}", HTTP_X_CSRFTOKEN=token)
    [find] = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and "LIKE" in q["sql"]
    ]
    assert "expire_date" in find
    assert "user_id" in find


def test_logout_leaves_no_row(patron):
    from sessions.models import Session

    patron.post("/api/auth/logout", HTTP_X_CSRFTOKEN=patron.csrf_token())
    assert not Session.objects.exists()


def test_logging_in_again_makes_the_login_recent(
    patron, second_browser, time_machine, fake_patreon
):
    time_machine.move_to(timezone.now() + timedelta(minutes=6), tick=False)
    log_in(patron, "1001")  # already logged in: same user, same session
    response = patron.post(
        "/api/auth/sessions/revoke-others", HTTP_X_CSRFTOKEN=patron.csrf_token()
    )
    assert response.status_code == 200
    assert second_browser.get("/api/auth/me").status_code == 401
