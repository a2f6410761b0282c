"""
sessions.middleware: who a session was used from, and how rarely that costs
a database write.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sessions.models import Session
from sessions.store import SessionStore, hash_key
from tests.patreon import consent, log_in, path_of, start_login
from tests.sessions.conftest import T0

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) Safari/604.1"


def row(client, settings):
    return Session.objects.get(
        pk=hash_key(client.cookies[settings.SESSION_COOKIE_NAME].value)
    )


def log_in_from(client, user_agent, **meta):
    """Log in as patron 1001, the callback coming from ``user_agent`` and ``meta``."""
    callback = consent(start_login(client), "1001")
    client.defaults.update(HTTP_USER_AGENT=user_agent, **meta)
    response = client.get(path_of(callback))
    assert response.status_code == 302
    return client


def session_writes(queries):
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        and "accounts_session" in q["sql"]
    ]


@pytest.fixture
def firefox_patron(client, fake_patreon, clock):
    """The client, logged in at T0 from Firefox as patron 1001."""
    return log_in_from(client, FIREFOX)


# WHERE FROM
# ------------------------------------------------------------------------------


def test_the_login_requests_ip_address_is_recorded(client, fake_patreon, settings):
    log_in_from(client, FIREFOX)
    assert row(client, settings).ip == "127.0.0.1"


def test_a_forwarded_for_from_an_untrusted_peer_is_not_recorded(client, fake_patreon):
    client.defaults["HTTP_X_FORWARDED_FOR"] = "203.0.113.9"
    log_in(client, "1001")
    [row] = Session.objects.all()
    assert row.ip == "127.0.0.1"


def test_the_login_requests_user_agent_is_recorded(client, fake_patreon, settings):
    client.defaults["HTTP_USER_AGENT"] = SAFARI  # the browser that starts the flow
    log_in_from(client, FIREFOX)
    assert row(client, settings).user_agent == FIREFOX


def test_a_trusted_proxys_forwarded_client_address_is_recorded(
    client, fake_patreon, settings
):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    log_in_from(client, FIREFOX, HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert row(client, settings).ip == "203.0.113.7"


def test_a_forwarded_address_from_an_untrusted_peer_is_ignored(
    client, fake_patreon, settings
):
    log_in_from(client, FIREFOX, HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert row(client, settings).ip == "127.0.0.1"


def test_a_spoofed_leftmost_forwarded_address_is_ignored_behind_a_trusted_proxy(
    client, fake_patreon, settings
):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    log_in_from(client, FIREFOX, HTTP_X_FORWARDED_FOR="198.51.100.66, 203.0.113.7")
    assert row(client, settings).ip == "203.0.113.7"


def test_a_very_long_user_agent_is_truncated_to_255_characters_at_login(
    client, fake_patreon, settings
):
    long_agent = FIREFOX + "x" * 1000
    log_in_from(client, long_agent)
    assert row(client, settings).user_agent == long_agent[:255]


def test_a_very_long_user_agent_is_truncated_when_activity_is_recorded(
    firefox_patron, clock, settings
):
    long_agent = SAFARI + "x" * 1000
    firefox_patron.defaults["HTTP_USER_AGENT"] = long_agent
    clock(seconds=settings.SESSION_ACTIVITY_INTERVAL + 1)
    assert firefox_patron.me().status_code == 200
    assert row(firefox_patron, settings).user_agent == long_agent[:255]


def test_a_requests_client_does_not_leak_into_sessions_saved_after_it(firefox_patron):
    assert firefox_patron.me().status_code == 200
    store = SessionStore()
    store["name"] = "shell"
    store.save()
    saved = Session.objects.get(pk=hash_key(store.session_key))
    assert saved.ip is None
    assert saved.user_agent == ""


# LAST SEEN, THROTTLED
# ------------------------------------------------------------------------------


def test_requests_within_the_activity_interval_write_nothing(
    firefox_patron, clock, settings
):
    interval = settings.SESSION_ACTIVITY_INTERVAL
    with CaptureQueriesContext(connection) as queries:
        for second in range(0, interval, 10):
            clock(seconds=second)
            assert firefox_patron.me().status_code == 200
    assert session_writes(queries) == []


def test_the_first_request_after_the_interval_writes_once(
    firefox_patron, clock, settings
):
    clock(seconds=settings.SESSION_ACTIVITY_INTERVAL + 1)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(10):
            assert firefox_patron.me().status_code == 200
    [update] = session_writes(queries)
    assert update.lstrip().upper().startswith("UPDATE")


def test_the_write_after_the_interval_records_the_new_activity(
    firefox_patron, clock, settings
):
    later = settings.SESSION_ACTIVITY_INTERVAL + 1
    clock(seconds=later)
    firefox_patron.defaults.update(HTTP_USER_AGENT=SAFARI, REMOTE_ADDR="198.51.100.9")
    assert firefox_patron.me().status_code == 200
    seen = row(firefox_patron, settings)
    assert seen.last_seen == T0 + timedelta(seconds=later)
    assert seen.ip == "198.51.100.9"
    assert seen.user_agent == SAFARI
    assert seen.created_at == T0


def test_activity_within_the_interval_is_not_recorded(firefox_patron, clock, settings):
    clock(seconds=settings.SESSION_ACTIVITY_INTERVAL - 1)
    firefox_patron.defaults.update(HTTP_USER_AGENT=SAFARI, REMOTE_ADDR="198.51.100.9")
    assert firefox_patron.me().status_code == 200
    seen = row(firefox_patron, settings)
    assert seen.last_seen == T0
    assert (seen.ip, seen.user_agent) == ("127.0.0.1", FIREFOX)


@pytest.mark.parametrize(
    ("interval", "elapsed", "writes"),
    [(60, 59, 0), (60, 61, 1), (3600, 3599, 0), (3600, 3601, 1)],
)
def test_the_activity_interval_follows_its_setting(
    firefox_patron, clock, settings, interval, elapsed, writes
):
    settings.SESSION_ACTIVITY_INTERVAL = interval
    clock(seconds=elapsed)
    with CaptureQueriesContext(connection) as queries:
        assert firefox_patron.me().status_code == 200
        assert firefox_patron.me().status_code == 200
    assert len(session_writes(queries)) == writes


def test_a_session_found_expired_is_deleted_not_just_refused(
    firefox_patron, clock, settings
):
    settings.SESSION_IDLE_TIMEOUT = 600  # lowered after the login: caught in view
    clock(seconds=601)
    assert firefox_patron.me().status_code == 401
    assert not Session.objects.exists()


# ANONYMOUS
# ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/auth/me", "/api/auth/csrf", "/healthz"])
def test_an_anonymous_request_without_a_cookie_costs_no_session_query(client, path):
    with CaptureQueriesContext(connection) as queries:
        client.get(path)
    assert [q for q in queries.captured_queries if "accounts_session" in q["sql"]] == []


@pytest.mark.parametrize("path", ["/api/auth/me", "/api/auth/csrf", "/healthz"])
def test_an_anonymous_request_without_a_cookie_gets_no_session(client, settings, path):
    response = client.get(path)
    assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert not Session.objects.exists()
