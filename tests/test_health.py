"""Health and readiness probes."""

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db


def test_healthz_needs_no_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.json() == {"status": "ok"}


def test_probes_answer_plain_http_without_redirect():
    from django.test import Client

    plain = Client(HTTP_HOST="api.ventures.test")
    assert plain.get("/healthz").status_code == 200
    assert plain.get("/readyz").status_code == 200


def test_readyz_checks_database_and_migrations(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "cache": "not configured"},
        # Reported, never a reason to be unready (tests/test_tasks.py has more).
        "reports": {
            "worker": "no worker" if settings.TASK_QUEUE else "not configured",
            "patreon_credential": "missing",
        },
    }


def test_readyz_reports_an_unreachable_redis(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"] == "unreachable"


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_refuse_other_methods_in_json(client, path, caplog):
    assert client.head(path).status_code == 200
    assert client.post(path).status_code == 403  # CSRF refuses it first
    response = client.options(path)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response.json()["error"] == "method_not_allowed"
    assert "Method Not Allowed" in caplog.text


def test_probes_are_silent_on_success(client, caplog):
    caplog.set_level("INFO")
    client.get("/healthz")
    client.get("/readyz")
    assert caplog.records == []
