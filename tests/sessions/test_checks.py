"""sessions.checks: the middleware the session subsystem relies on, in order."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from sessions import checks
from sessions.checks import ACTIVITY, AUTHENTICATION, SESSION, TRUSTED_PROXY


def test_the_projects_middleware_is_in_order(settings):
    assert checks.check_middleware_order() == []


def test_activity_middleware_after_session_middleware_is_an_error(settings):
    """Rows saved before it runs would record no client."""
    settings.MIDDLEWARE = [TRUSTED_PROXY, SESSION, ACTIVITY, AUTHENTICATION]
    assert checks.check_middleware_order() == [checks.E001]


def test_missing_activity_middleware_is_an_error(settings):
    """Without it, no timeout is enforced per request."""
    settings.MIDDLEWARE = [TRUSTED_PROXY, SESSION, AUTHENTICATION]
    assert checks.check_middleware_order() == [checks.E001]


def test_trusted_proxy_middleware_not_first_is_an_error(settings):
    settings.MIDDLEWARE = [ACTIVITY, TRUSTED_PROXY, SESSION, AUTHENTICATION]
    assert checks.check_middleware_order() == [checks.E002]


def test_authentication_before_sessions_is_an_error(settings):
    settings.MIDDLEWARE = [TRUSTED_PROXY, ACTIVITY, AUTHENTICATION, SESSION]
    assert checks.check_middleware_order() == [checks.E003]


def test_the_ids_are_unique():
    ids = [checks.E001.id, checks.E002.id, checks.E003.id]
    assert ids == ["sessions.E001", "sessions.E002", "sessions.E003"]


def test_the_check_is_registered(settings):
    settings.MIDDLEWARE = [TRUSTED_PROXY, SESSION, ACTIVITY, AUTHENTICATION]
    with pytest.raises(SystemCheckError, match=r"sessions\.E001"):
        call_command("check")
