"""
Forward auth (accounts/forward_auth.py): ``GET /api/auth/check`` as nginx's
``auth_request`` and a hostile client call it. The stack test
(test_stack.py::test_forward_auth_guards_an_upstream) runs it behind nginx.
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import PatreonMembership
from sessions.models import Session
from tests.patreon import log_in

pytestmark = pytest.mark.django_db

CHECK = "/api/auth/check"
KNOWN = ["supporter", "early-access"]
LOGIN_URL = "https://api.ventures.test/login"


def check(client, *entitlement, **extra):
    """One check, with ``entitlement`` given as often as it is listed."""
    query = "&".join(f"entitlement={name}" for name in entitlement)
    return client.get(f"{CHECK}?{query}" if query else CHECK, **extra)


def no_live_cookie(response, settings):
    """No session cookie with a value: at most Django's deletion of a dead one."""
    cookie = response.cookies.get(settings.SESSION_COOKIE_NAME)
    return cookie is None or cookie.value == ""


def test_an_entitled_patron_gets_204_with_who_they_are(patron, settings):
    user = get_user_model().objects.get(patreon__patreon_id="1001")
    response = check(patron, "supporter")
    assert response.status_code == 204
    assert response.content == b""
    assert response["X-Auth-User-Id"] == str(user.pk)
    assert response["X-Auth-Patreon-Id"] == "1001"
    assert response["X-Auth-Entitlements"] == "supporter"
    assert response["Cache-Control"] == "no-store, private"
    assert "Cookie" in response["Vary"]
    assert response.cookies == {}


def test_every_entitlement_is_listed_in_configured_order(client, fake_patreon):
    """Patron 1002 holds the Patron and Benefactor tiers."""
    log_in(client, "1002")
    response = check(client, "early-access")
    assert response.status_code == 204
    assert response["X-Auth-Entitlements"] == "supporter,early-access"


def test_without_an_entitlement_any_logged_in_person_passes(client, fake_patreon):
    """Patron 1005 has no membership at all: logged in is all this asks."""
    log_in(client, "1005")
    response = check(client)
    assert response.status_code == 204
    assert response["X-Auth-Patreon-Id"] == "1005"
    assert response["X-Auth-Entitlements"] == ""


def test_nobody_logged_in_gets_401_and_no_cookie(client, settings):
    response = check(client, "supporter")
    assert response.status_code == 401
    assert response.json() == {"authenticated": False, "login_url": LOGIN_URL}
    assert response["Cache-Control"] == "no-store, private"
    assert response.cookies == {}


def test_not_entitled_is_403_with_the_envelope(patron):
    response = check(patron, "early-access")
    assert response.status_code == 403
    body = response.json()
    assert body["error"] == "entitlement_required"
    assert body["entitlement"] == "early-access"
    assert body["reason"] == "not_entitled"
    assert body["login_url"] == LOGIN_URL
    assert "X-Auth-User-Id" not in response
    assert response["Cache-Control"] == "no-store, private"


def test_a_stale_membership_is_403_with_where_to_log_in_again(patron):
    PatreonMembership.objects.filter(patreon_id="1001").update(
        synced_at=timezone.now() - timedelta(days=3, seconds=1)
    )
    body = check(patron, "supporter").json()
    assert (body["reason"], body["login_url"]) == ("membership_stale", LOGIN_URL)


def test_a_declined_patron_past_the_grace_is_refused(client, fake_patreon):
    """Patron 1004's charge was declined long ago, and holds no tier."""
    log_in(client, "1004")
    assert check(client, "supporter").json()["reason"] == "not_entitled"
    PatreonMembership.objects.filter(patreon_id="1004").update(
        tiers=[{"id": "7001", "title": "Supporter", "amount_cents": 300}]
    )
    assert check(client, "supporter").json()["reason"] == "declined_past_grace"


def test_no_write_even_when_activity_is_due(patron, time_machine, settings):
    """
    /me records activity once per SESSION_ACTIVITY_INTERVAL (and sets the
    cookie again); the check, asked on every proxied request, never does.
    """
    time_machine.move_to(
        timezone.now() + timedelta(seconds=settings.SESSION_ACTIVITY_INTERVAL + 1)
    )
    with CaptureQueriesContext(connection) as captured:
        response = check(patron, "supporter")
    assert response.status_code == 204
    assert [q["sql"].split()[0].upper() for q in captured] == ["SELECT"]
    assert response.cookies == {}
    # The same moment on /me writes: the check above could have failed.
    with CaptureQueriesContext(connection) as captured:
        assert patron.get("/api/auth/me").status_code == 200
    assert any(q["sql"].lstrip().upper().startswith("UPDATE") for q in captured)


def test_no_cookie_costs_no_query(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert check(client, "supporter").status_code == 401


def test_head_answers_as_get(patron):
    response = patron.head(f"{CHECK}?entitlement=supporter")
    assert response.status_code == 204
    assert response["X-Auth-Patreon-Id"] == "1001"


# Bad input: the right status, never a 500, and a log line (django.request).


@pytest.mark.parametrize("logged_in", [False, True])
def test_an_unknown_name_is_400_listing_the_known_ones(client, patron, logged_in):
    response = check(patron if logged_in else client, "platinum")
    assert response.status_code == 400
    assert response.json() == {
        "error": "unknown_entitlement",
        "detail": "No such entitlement.",
        "known": KNOWN,
    }
    assert response["Cache-Control"] == "no-store, private"


def test_several_entitlements_are_400(patron):
    response = check(patron, "supporter", "early-access")
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert response.json()["known"] == KNOWN


@pytest.mark.parametrize(
    "value",
    [
        "",
        "x" * 10_000,
        "supporter%00",
        "Supporter",
        "supporter,early-access",
        "supporter%0d%0aX-Auth-User-Id:%201",
        "s%C3%BCpporter",
        "%ff%fe",
        "../supporter",
        "supporter ",
    ],
)
def test_odd_values_are_400_and_never_echoed(patron, value, caplog):
    response = patron.get(f"{CHECK}?entitlement={value}")
    assert response.status_code == 400
    assert response.json()["error"] == "unknown_entitlement"
    assert len(response.content) < 300
    assert "Bad Request: /api/auth/check" in caplog.text


def test_a_revoked_cookie_is_401_and_never_a_live_cookie(patron, settings):
    Session.objects.all().delete()
    response = check(patron, "supporter")
    assert response.status_code == 401
    assert no_live_cookie(response, settings)


def test_a_cookie_from_another_deployment_is_401(client, settings):
    """A key some other SECRET_KEY hashed finds no row here."""
    client.cookies[settings.SESSION_COOKIE_NAME] = "k" * 32
    response = check(client, "supporter")
    assert response.status_code == 401
    assert no_live_cookie(response, settings)


@pytest.mark.parametrize("host", ["evil.example", "api.ventures.test.evil.example"])
def test_a_cookie_sent_to_another_host_is_a_json_400(patron, host):
    response = check(patron, "supporter", HTTP_HOST=host)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert "X-Auth-User-Id" not in response


def test_a_deactivated_user_is_401_and_nothing_is_written(patron):
    """The next ordinary request ends the dead session; the check only refuses."""
    get_user_model().objects.filter(patreon__patreon_id="1001").update(is_active=False)
    with CaptureQueriesContext(connection) as captured:
        assert check(patron, "supporter").status_code == 401
    assert [q["sql"].split()[0] for q in captured] == ["SELECT"]
    assert patron.get("/api/auth/me").status_code == 401
    assert not Session.objects.exists()


def test_other_methods_are_405(patron):
    token = patron.csrf_token()
    response = patron.post(CHECK, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, OPTIONS"
