"""The policy as Django system checks: registered, with stable unique ids."""

import re
from pathlib import Path

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from ventures import policy
from ventures.checks import check_production_policy


@pytest.fixture(autouse=True)
def _production_hosts(settings):
    # Django's test runner appends "testserver", which is cross-site to the
    # frontend; production lists only the API host.
    settings.ALLOWED_HOSTS = ["api.ventures.test"]


def test_checks_are_bound():
    with (
        override_settings(SESSION_COOKIE_DOMAIN=".app"),
        pytest.raises(SystemCheckError, match=r"ventures\.E031"),
    ):
        call_command("check")


def test_test_settings_satisfy_the_policy():
    """All but the shared cache, which tests/settings.py silences, and only it."""
    found = check_production_policy(None)
    assert [m.id for m in found] == ["ventures.E070"]
    assert all(m.is_silenced() for m in found)


def test_the_test_settings_silence_nothing_else(settings):
    assert settings.SILENCED_SYSTEM_CHECKS == ["ventures.E070"]


@override_settings(
    CACHES={"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache"}}
)
def test_redis_satisfies_the_shared_cache_rule():
    assert check_production_policy(None) == []


@override_settings(DEBUG_VALUE="yes")
def test_a_debug_value_that_is_not_development_is_policed():
    """DEBUG=yes is not development, so the policy runs and names it."""
    assert [m.id for m in unsilenced()] == ["ventures.E080"]


def unsilenced():
    return [m for m in check_production_policy(None) if not m.is_silenced()]


@override_settings(SESSION_COOKIE_SECURE=False)
def test_finding_becomes_an_error_with_its_hint():
    [message] = unsilenced()
    assert isinstance(message, checks.Error)
    assert message.id == "ventures.E010"
    assert message.hint


@override_settings(SESSION_COOKIE_SAMESITE="None")
def test_warning_stays_a_warning():
    [message] = unsilenced()
    assert type(message) is checks.Warning
    assert message.id == "ventures.W023"


@override_settings(DEBUG=True, SECRET_KEY="short", SESSION_COOKIE_SECURE=False)
def test_development_mode_is_not_policed():
    assert check_production_policy(None) == []


def test_check_ids_are_unique_and_documented():
    source = Path(policy.__file__).read_text()
    found = re.findall(r'"(ventures\.[EW]\d{3})"', source)
    assert len(found) == len(set(found))
    readme = (Path(policy.__file__).parent.parent / "README.md").read_text()
    assert [i for i in found if i not in readme] == []
