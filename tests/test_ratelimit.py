"""
Login attempts are limited per client IP, in a cache every instance shares,
over a sliding window: a burst at a window's edge gets the limit, not twice.
"""

import logging
import uuid

import pytest
from django.core.cache import cache

from accounts.ratelimit import allow
from tests.patreon import consent, path_of, start_login

pytestmark = pytest.mark.django_db

REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/15",
        "KEY_PREFIX": uuid.uuid4().hex,  # parallel test runs never share counters
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}
DEAD_REDIS = {
    "default": {
        **REDIS["default"],
        "LOCATION": "redis://127.0.0.1:1/0",
    }
}


# A multiple of 60: the start of a fixed window of a minute.
EDGE = 1_800_000_000


@pytest.fixture
def tight_limits(settings):
    settings.RATELIMITS = {
        "login": (3, 60),
        "callback": (3, 60),
        "login_username": (3, 900),
    }


@pytest.fixture
def clock_before_edge(time_machine):
    """A stopped clock, one second before a window's edge; move it by hand."""
    time_machine.move_to(EDGE - 1, tick=False)
    return time_machine


def hits(n, limit=10, key="203.0.113.7"):
    return [allow("test", key, limit, 60) for _ in range(n)]


def test_a_burst_at_the_window_edge_gets_the_limit_not_twice(clock_before_edge):
    """The fixed window let 10 in before the edge and 10 more a second later."""
    before = hits(10)
    clock_before_edge.move_to(EDGE + 1, tick=False)
    after = hits(10)
    assert before == [True] * 10
    assert after == [False] * 10


def test_a_burst_over_the_limit_gets_exactly_the_limit(clock_before_edge):
    assert hits(25) == [True] * 10 + [False] * 15


def test_the_previous_window_weighs_in_for_what_is_left_of_it(clock_before_edge):
    hits(10)
    # Half a window after the edge, half of the previous window's hits are
    # still inside the last minute: five more fit.
    clock_before_edge.move_to(EDGE + 30, tick=False)
    assert hits(6) == [True] * 5 + [False]


def test_the_limit_comes_back_once_the_window_has_passed(clock_before_edge):
    hits(10)
    clock_before_edge.move_to(EDGE + 1, tick=False)
    assert hits(1) == [False]
    clock_before_edge.move_to(EDGE + 60, tick=False)
    assert hits(10) == [True] * 9 + [False]  # the refused hit counted too
    clock_before_edge.move_to(EDGE + 180, tick=False)
    assert hits(10) == [True] * 10


def test_a_steady_client_under_the_limit_is_never_refused(clock_before_edge):
    """One hit every 7 seconds, about 8.6 a minute, for ten minutes."""
    results = []
    for i in range(86):
        clock_before_edge.move_to(EDGE + 7 * i, tick=False)
        results += hits(1)
    assert all(results)


def test_counters_are_per_key(clock_before_edge):
    hits(10, key="203.0.113.7")
    assert hits(1, key="203.0.113.8") == [True]


def test_the_login_start_holds_the_edge_burst_to_the_limit(
    client, tight_limits, clock_before_edge
):
    before = [press_login(client).status_code for _ in range(3)]
    clock_before_edge.move_to(EDGE + 1, tick=False)
    assert before == [302, 302, 302]
    assert press_login(client).status_code == 429


def press_login(client):
    page = client.get("/login")
    token = page.content.decode().split('name="csrfmiddlewaretoken" value="')[1]
    return client.post(
        "/accounts/patreon/login/", {"csrfmiddlewaretoken": token.split('"')[0]}
    )


def test_login_start_is_limited_with_a_friendly_429(client, tight_limits, caplog):
    statuses = [press_login(client).status_code for _ in range(4)]
    assert statuses == [302, 302, 302, 429]
    response = press_login(client)
    assert response["Retry-After"] == "60"
    assert b"Too many attempts" in response.content
    assert any(getattr(r, "event", "") == "rate_limited" for r in caplog.records)


def test_callback_is_limited_as_json_free_page(client, fake_patreon, tight_limits):
    callback = path_of(consent(start_login(client)))
    responses = [client.get(callback) for _ in range(4)]
    assert responses[-1].status_code == 429
    assert b"<html" in responses[-1].content  # a browser page, not JSON


def test_limits_are_per_client_ip(client_factory, tight_limits, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    first, second = client_factory(), client_factory()
    for _ in range(3):
        press_login(first)
    assert press_login(first).status_code == 429
    second.defaults["HTTP_X_FORWARDED_FOR"] = "203.0.113.7"
    assert press_login(second).status_code == 302


def test_limits_hold_in_redis(client, tight_limits, settings):
    settings.CACHES = REDIS
    try:
        statuses = [press_login(client).status_code for _ in range(4)]
    finally:
        cache.clear()
    assert statuses[-1] == 429


def test_the_sliding_window_holds_in_redis(settings, clock_before_edge):
    settings.CACHES = REDIS
    try:
        before = hits(10)
        clock_before_edge.move_to(EDGE + 1, tick=False)
        after = hits(10)
    finally:
        cache.clear()
    assert (before, after) == ([True] * 10, [False] * 10)


def test_login_goes_on_when_redis_is_down(client, fake_patreon, settings, caplog):
    settings.CACHES = DEAD_REDIS
    callback = path_of(consent(start_login(client)))
    assert client.get(callback).status_code == 302
    assert client.get("/api/auth/me").status_code == 200
    assert any(
        getattr(r, "event", "") == "ratelimit_unavailable" for r in caplog.records
    )


def test_while_redis_is_down_every_hit_passes_and_logs_an_error(settings, caplog):
    settings.CACHES = DEAD_REDIS
    assert hits(20) == [True] * 20
    [first, *_] = [
        r for r in caplog.records if getattr(r, "event", "") == "ratelimit_unavailable"
    ]
    assert first.levelno == logging.ERROR
    assert first.bucket == "test"
