"""Login attempts are limited per client IP, in a cache every instance shares."""

import uuid

import pytest
from django.core.cache import cache

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


@pytest.fixture
def tight_limits(settings):
    settings.RATELIMITS = {"login": (3, 60), "callback": (3, 60)}


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


def test_login_goes_on_when_redis_is_down(client, fake_patreon, settings, caplog):
    settings.CACHES = DEAD_REDIS
    callback = path_of(consent(start_login(client)))
    assert client.get(callback).status_code == 302
    assert client.get("/api/auth/me").status_code == 200
    assert any(
        getattr(r, "event", "") == "ratelimit_unavailable" for r in caplog.records
    )
