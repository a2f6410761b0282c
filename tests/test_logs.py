"""Structured logs: JSON lines with the request id, and the startup policy line."""

import io
import json
import logging
import sys

import pytest
from django.urls import include, path
from django.utils.log import configure_logging

from tests.admin import run_action
from ventures.logs import (
    JsonFormatter,
    RequestIdFilter,
    log_effective_policy,
    secret_fingerprint,
)

pytestmark = pytest.mark.django_db


def test_request_id_from_the_proxy_is_echoed(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="0123456789abcdef")
    assert response["X-Request-ID"] == "0123456789abcdef"


@pytest.mark.parametrize(
    "incoming", ["", "short", "has spaces in it", "x" * 200, "a\nb" * 5]
)
def test_missing_or_odd_request_id_is_replaced(client, incoming):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=incoming)
    assert response["X-Request-ID"] != incoming
    assert len(response["X-Request-ID"]) == 32


def test_log_lines_are_json_with_the_request_id(client, caplog):
    caplog.handler.addFilter(RequestIdFilter())
    client.post("/api/auth/logout", HTTP_X_REQUEST_ID="req-123456789")
    [record] = [r for r in caplog.records if r.name == "ventures.errors"]
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-123456789"
    assert line["level"] == "WARNING"
    assert "CSRF" in line["message"]


def test_auth_events_carry_their_fields(client, fake_patreon, caplog):
    from tests.patreon import log_in

    log_in(client, "1001")
    [record] = [
        r for r in caplog.records if getattr(r, "event", "") == "login_succeeded"
    ]
    line = json.loads(JsonFormatter().format(record))
    assert line["patreon_id"] == "1001"
    assert line["ip"] == "127.0.0.1"
    assert line["user_id"]


def test_startup_line_states_the_policy_and_never_the_key(settings, caplog):
    caplog.set_level(logging.INFO)
    log_effective_policy()
    [record] = [r for r in caplog.records if r.name == "ventures.policy"]
    line = JsonFormatter().format(record)
    fields = json.loads(line)
    assert fields["session_cookie_name"] == "__Host-sessionid"
    assert fields["session_cookie_samesite"] == "Lax"
    assert fields["session_cookie_secure"] is True
    assert fields["allowed_origins"] == ["https://ventures.test"]
    assert fields["mode"] == "production"
    assert fields["secret_key_fingerprint"] == secret_fingerprint(settings.SECRET_KEY)
    assert settings.SECRET_KEY not in line


def test_logout_and_revocation_are_logged_with_who_and_whose(
    client_factory, fake_patreon, superuser, caplog
):
    from django.urls import reverse

    from sessions.models import Session
    from tests.patreon import log_in

    alice, bob = client_factory(), client_factory()
    log_in(alice, "1001")
    log_in(bob, "1002")
    bob_id = Session.objects.get(user__patreon__patreon_id="1002").user_id
    alice.post("/api/auth/logout", HTTP_X_CSRFTOKEN=alice.csrf_token())
    run_action(
        superuser,
        reverse("admin:sessions_session_changelist"),
        "revoke_selected",
        Session.objects.filter(user_id=bob_id).values_list("pk", flat=True),
    )
    events = {
        r.event: json.loads(JsonFormatter().format(r))
        for r in caplog.records
        if hasattr(r, "event")
    }
    assert events["logged_out"]["patreon_id"] == "1001"
    revoked = events["sessions_revoked"]
    assert revoked["owners"] == [bob_id]
    assert revoked["revoked_by"] == superuser.user.pk
    assert revoked["count"] == 1


# Each request is logged once (issue 13): in development Django's own console
# handler printed "Unauthorized: /api/auth/me" beside our line for it.


def boom(request):
    raise RuntimeError("a bug")


urlpatterns = [path("boom", boom), path("", include("ventures.urls"))]
handler500 = "ventures.errors.server_error"


@pytest.fixture(params=[False, True], ids=["production", "development"])
def log_output(request, settings, monkeypatch):
    """Everything logging writes, under our LOGGING, in either mode."""
    settings.DEBUG = request.param
    output = io.StringIO()
    monkeypatch.setattr(sys, "stdout", output)
    monkeypatch.setattr(sys, "stderr", output)
    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
    yield output
    monkeypatch.undo()
    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)


def lines(output):
    return [line for line in output.getvalue().splitlines() if line.strip()]


def test_a_401_is_logged_once(client, log_output):
    assert client.get("/api/auth/me").status_code == 401
    [line] = lines(log_output)
    entry = json.loads(line)
    assert (entry["logger"], entry["status_code"]) == ("django.request", 401)
    assert entry["request_id"]


def test_a_500_is_logged_once_with_its_traceback(client, settings, log_output):
    settings.ROOT_URLCONF = __name__
    client.raise_request_exception = False
    response = client.get("/boom")
    assert response.status_code == 500
    [line] = lines(log_output)
    entry = json.loads(line)
    assert (entry["logger"], entry["status_code"]) == ("django.request", 500)
    assert "RuntimeError: a bug" in entry["exception"]
    assert entry["request_id"]
