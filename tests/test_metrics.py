"""
/metrics: who may read it, and that what it says follows what happened.

The suite runs in one process, so these scrape the in-memory registry;
tests/test_stack.py scrapes gunicorn's workers (multiprocess mode). Counters
only grow, so each test compares a scrape after with one before.
"""

import secrets

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from sessions.models import Session
from tests.patreon import consent, log_in, path_of, start_login

pytestmark = pytest.mark.django_db

PROMETHEUS = "10.0.0.5"  # the scraper's address in these tests
PUBLIC = "203.0.113.9"  # anybody else


def at(client_factory, address, **headers):
    """A browser whose requests come from ``address``, with these headers."""
    browser = client_factory()
    browser.defaults.update(REMOTE_ADDR=address, **headers)
    return browser


@pytest.fixture
def scraper(settings, client_factory):
    """A client at PROMETHEUS's address, which METRICS_ALLOWED_IPS lists."""
    settings.METRICS_ALLOWED_IPS = [f"{PROMETHEUS}/32"]
    return at(client_factory, PROMETHEUS)


def samples(scraper):
    """``{(name, labels as a sorted tuple): value}`` of one scrape."""
    response = scraper.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(scrape, name, **labels):
    return scrape.get((name, tuple(sorted(labels.items()))), 0)


def grew(before, after, name, **labels):
    return value(after, name, **labels) - value(before, name, **labels)


# WHO MAY READ IT


def test_metrics_are_a_404_while_no_address_is_allowed(client_factory):
    """The default: /metrics looks like any page that does not exist."""
    response = at(client_factory, "127.0.0.1").get("/metrics")
    assert response.status_code == 404
    assert b"ventures_" not in response.content


def test_an_allowed_address_reads_the_metrics_with_no_session_and_no_cache(scraper):
    response = scraper.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain;")
    assert "no-store" in response["Cache-Control"]
    assert "Cookie" not in response.get("Vary", "")
    assert not response.cookies
    assert b"ventures_http_requests_total" in response.content


def test_a_logged_in_patron_scraping_from_an_allowed_address_gets_no_cookie(
    scraper, fake_patreon
):
    log_in(scraper, "1001")
    response = scraper.get("/metrics")
    assert response.status_code == 200
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")


def test_another_address_gets_a_404(scraper, client_factory):
    assert at(client_factory, PUBLIC).get("/metrics").status_code == 404


def test_a_forged_forwarded_for_from_an_untrusted_peer_changes_nothing(
    scraper, client_factory, settings
):
    """The peer is no trusted proxy: its X-Forwarded-For is not believed."""
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    attacker = at(client_factory, PUBLIC, HTTP_X_FORWARDED_FOR=PROMETHEUS)
    assert attacker.get("/metrics").status_code == 404


def test_a_forged_forwarded_for_through_the_proxy_changes_nothing(
    scraper, client_factory, settings
):
    """
    Through a proxy that appends (nginx's $proxy_add_x_forwarded_for), the
    client's own part is on the left; the address the proxy saw is read.
    """
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    attacker = at(
        client_factory, "127.0.0.1", HTTP_X_FORWARDED_FOR=f"{PROMETHEUS}, {PUBLIC}"
    )
    assert attacker.get("/metrics").status_code == 404


def test_other_methods_get_a_404_from_others_and_a_405_from_the_scraper(
    scraper, client_factory
):
    assert at(client_factory, PUBLIC).post("/metrics").status_code == 404
    refused = scraper.post("/metrics")
    assert refused.status_code == 405
    assert refused["Allow"] == "GET, HEAD"


def test_metrics_answer_over_plain_http_as_the_probes_do(scraper):
    """Prometheus scrapes each instance on the private side, without TLS."""
    assert scraper.get("/metrics", secure=False).status_code == 200


# WHAT IT SAYS


def test_a_login_counts_once(scraper, client_factory, fake_patreon):
    before = samples(scraper)
    log_in(client_factory(), "1001")
    after = samples(scraper)
    logins = grew(
        before, after, "ventures_logins_total", outcome="succeeded", reason=""
    )
    assert logins == 1


def test_a_failed_login_counts_by_its_reason(scraper, client, fake_patreon):
    before = samples(scraper)
    callback = consent(start_login(client), decision="deny")
    client.get(path_of(callback))
    after = samples(scraper)
    assert (
        grew(before, after, "ventures_logins_total", outcome="failed", reason="denied")
        == 1
    )
    assert (
        grew(before, after, "ventures_logins_total", outcome="succeeded", reason="")
        == 0
    )


def test_a_patreon_outage_counts_failed_calls_by_endpoint(
    scraper, client, fake_patreon
):
    before = samples(scraper)
    callback = consent(start_login(client))
    fake_patreon.set_fault("identity", "server_error")
    client.get(path_of(callback))
    after = samples(scraper)
    calls = "ventures_patreon_calls_total"
    assert grew(before, after, calls, endpoint="token", result="2xx") == 1
    assert grew(before, after, calls, endpoint="identity", result="5xx") == 1
    duration = "ventures_patreon_call_duration_seconds_count"
    assert grew(before, after, duration, endpoint="identity") == 1


def test_a_patreon_timeout_counts_as_a_timeout(scraper, client, fake_patreon, settings):
    settings.SOCIALACCOUNT_REQUESTS_TIMEOUT = 0.2
    before = samples(scraper)
    callback = consent(start_login(client))
    fake_patreon.set_fault("identity", "slow", seconds=1)
    client.get(path_of(callback))
    after = samples(scraper)
    calls = "ventures_patreon_calls_total"
    assert grew(before, after, calls, endpoint="identity", result="timeout") == 1
    assert (
        grew(
            before,
            after,
            "ventures_logins_total",
            outcome="failed",
            reason="patreon_timeout",
        )
        == 1
    )


def test_a_rate_limited_request_counts_by_bucket(scraper, client, settings):
    settings.RATELIMITS = {**settings.RATELIMITS, "login": (1, 60)}
    before = samples(scraper)
    start_login(client)
    with pytest.raises(AssertionError):
        start_login(client)  # refused: 429
    after = samples(scraper)
    rate_limited = "ventures_rate_limited_requests_total"
    assert grew(before, after, rate_limited, bucket="login") == 1


def test_a_revocation_counts_each_session_it_ends(scraper, patron, second_browser):
    before = samples(scraper)
    Session.objects.filter(user__isnull=False).revoke(by="test", scope="everyone")
    after = samples(scraper)
    assert grew(before, after, "ventures_sessions_revoked_total", scope="everyone") == 2


def test_a_logout_counts_as_a_session_ended(scraper, patron):
    before = samples(scraper)
    patron.post("/api/auth/logout", HTTP_X_CSRFTOKEN=patron.csrf_token())
    after = samples(scraper)
    assert grew(before, after, "ventures_sessions_ended_total", event="logged_out") == 1


def test_active_sessions_count_logged_in_people_once_a_minute(
    scraper, client_factory, fake_patreon, time_machine
):
    time_machine.move_to(timezone.now(), tick=False)
    log_in(client_factory(), "1001")
    start_login(client_factory())  # a login in progress: no owner, not counted
    assert value(samples(scraper), "ventures_active_sessions") == 1
    log_in(client_factory(), "1002")
    # The count is up to a minute old: the new login shows after that.
    assert value(samples(scraper), "ventures_active_sessions") == 1
    time_machine.shift(61)
    assert value(samples(scraper), "ventures_active_sessions") == 2


def test_requests_are_labelled_by_route_never_by_path(scraper, patron):
    before = samples(scraper)
    patron.get("/api/auth/me")
    after = samples(scraper)
    assert (
        grew(
            before,
            after,
            "ventures_http_requests_total",
            route="api-me",
            method="GET",
            status="200",
        )
        == 1
    )
    assert (
        grew(
            before,
            after,
            "ventures_http_request_duration_seconds_count",
            route="api-me",
        )
        == 1
    )


def test_a_flood_of_random_paths_and_methods_adds_no_series(scraper, client):
    """Labels come from URL patterns and known methods, so the label set stays put."""
    client.generic("BREW", f"/{secrets.token_hex(8)}")  # the unmatched series exist
    client.get(f"/{secrets.token_hex(8)}")
    samples(scraper)  # and the scrape's own
    before = samples(scraper)
    for _ in range(200):
        client.get(f"/{secrets.token_hex(8)}/{secrets.token_hex(4)}")
        client.generic(secrets.token_hex(3).upper(), f"/api/{secrets.token_hex(8)}")
    after = samples(scraper)
    assert set(after) == set(before)
    unmatched = value(
        after,
        "ventures_http_requests_total",
        route="unmatched",
        method="GET",
        status="404",
    ) - value(
        before,
        "ventures_http_requests_total",
        route="unmatched",
        method="GET",
        status="404",
    )
    assert unmatched == 200


def test_a_failed_statement_counts_as_a_database_error(scraper):
    before = samples(scraper)
    with (
        pytest.raises(DatabaseError),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT * FROM no_such_table")
    after = samples(scraper)
    errors = {
        labels: after[(name, labels)] - before.get((name, labels), 0)
        for name, labels in after
        if name == "ventures_database_errors_total"
    }
    assert sum(errors.values()) == 1
