import os
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from accounts.patreon import creator
from devstack.chromium import ARTIFACTS, SCREENSHOTS
from fake_patreon.server import FakePatreon
from tests.patreon import log_in

API_HOST = "api.ventures.test"
FRONTEND_ORIGIN = "https://ventures.test"
SUPERUSER_PASSWORD = "emergency-only-7f3a"


def pytest_sessionfinish(session, exitstatus):
    """
    On PostgreSQL, CI's database, nothing may be skipped: the suite's few
    skips are for what only PostgreSQL has (the task queue, row locks), so a
    skip there is a test that silently stopped running.
    """
    if connection.vendor != "postgresql" or exitstatus != pytest.ExitCode.OK:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(
            f"{len(skipped)} test(s) skipped on PostgreSQL, where none may be:",
            red=True,
        )
        for report in skipped:
            reporter.write_line(f"  {report.nodeid}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _empty_cache():
    """Rate-limit counters and other cache entries do not leak between tests."""
    cache.clear()


class Browser(Client):
    """A browser talking HTTPS to the API host, as in production, CSRF enforced."""

    def __init__(self, **defaults):
        super().__init__(enforce_csrf_checks=True, HTTP_HOST=API_HOST, **defaults)

    def generic(self, method, *args, **kwargs):
        kwargs["secure"] = True
        if method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
            # Browsers name the origin of every unsafe request; tests of
            # cross-origin requests pass their own.
            kwargs.setdefault("HTTP_ORIGIN", f"https://{API_HOST}")
        return super().generic(method, *args, **kwargs)

    def me(self):
        """``GET /api/auth/me``: who this browser is logged in as."""
        return self.get("/api/auth/me")

    def csrf_token(self):
        """A CSRF token for this browser's unsafe API calls."""
        return self.get("/api/auth/csrf").json()["csrf_token"]


def browser():
    return Browser()


@pytest.fixture
def client():
    return browser()


@pytest.fixture
def client_factory():
    """Make more browsers, each with its own cookies."""
    return browser


@pytest.fixture(scope="session")
def fake_patreon_server():
    with FakePatreon(campaign_id="9000001") as fake:
        yield fake


@pytest.fixture
def fake_patreon(fake_patreon_server, settings):
    """The fake Patreon, with our settings pointing at it, reset after the test."""
    settings.PATREON_BASE_URL = fake_patreon_server.base_url
    yield fake_patreon_server
    # The world, faults, requests, throttle, bugs, webhook target: as started.
    fake_patreon_server.reset()


@pytest.fixture
def creator_token(fake_patreon):
    """
    The campaign creator's token (patron 1000 of the fake), stored as
    `manage.py patreon creator-token set` stores it; the token endpoint's
    answer it came from.
    """
    answer = fake_patreon.creator_token()
    creator.store(creator.TokenAnswer.from_json(answer), patreon_id="1000")
    return answer


@pytest.fixture
def staff_member(client_factory, fake_patreon):
    """
    A browser logged in with Patreon as patron 200001, made staff by
    `manage.py staff grant`: the real Staff group, not a superuser.
    """
    browser = client_factory()
    log_in(browser, "200001")
    call_command("staff", "grant", "--patreon-id", "200001", stdout=StringIO())
    browser.user = get_user_model().objects.get(patreon__patreon_id="200001")
    return browser


@pytest.fixture
def superuser(django_user_model, client_factory):
    """
    A browser logged in to the admin as the emergency superuser (a password
    account, ``root``). For the staff role (the Staff group, no superuser) use
    ``staff_member``.
    """
    user = django_user_model.objects.create_superuser(
        "root", "root@example.test", SUPERUSER_PASSWORD
    )
    browser = client_factory()
    browser.force_login(user)
    browser.user = user
    return browser


@pytest.fixture
def patron(client, fake_patreon):
    """The ``client`` browser, logged in with Patreon as patron 1001."""
    response = log_in(client, "1001")
    assert response.status_code == 302
    return client


@pytest.fixture
def second_browser(client_factory, fake_patreon):
    """Patron 1001 logged in a second time, in another browser: a second session."""
    other = client_factory()
    log_in(other, "1001")
    return other


@pytest.fixture
def alice(client_factory, fake_patreon):
    """A browser logged in with Patreon as patron 100001."""
    browser = client_factory()
    log_in(browser, "100001")
    return browser


@pytest.fixture
def bob(client_factory, fake_patreon):
    """A browser logged in with Patreon as patron 100002."""
    browser = client_factory()
    log_in(browser, "100002")
    return browser


@pytest.fixture
def latest_migrations_afterwards():
    """
    For tests that migrate backwards: the next test finds every migration
    applied, as always. Use with ``pytest.mark.usefixtures``.
    """
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.fixture
def two_patrons(client_factory, fake_patreon):
    """Browsers logged in as Patreon users 100001 and 100002, by Patreon id."""
    browsers = {}
    for patreon_id in ("100001", "100002"):
        browsers[patreon_id] = client_factory()
        log_in(browsers[patreon_id], patreon_id)
    return browsers


@pytest.fixture
def screenshots():
    """
    Where to save the docs' screenshots: with UPDATE_SCREENSHOTS=1 over
    docs/screenshots/, otherwise (so a test run leaves the checkout clean) in
    test-artifacts/screenshots/.
    """
    update = os.environ.get("UPDATE_SCREENSHOTS")
    folder = SCREENSHOTS if update else ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
