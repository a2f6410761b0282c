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
    assert check_production_policy(None) == []


@override_settings(SESSION_COOKIE_SECURE=False)
def test_finding_becomes_an_error_with_its_hint():
    [message] = check_production_policy(None)
    assert isinstance(message, checks.Error)
    assert message.id == "ventures.E010"
    assert message.hint


@override_settings(SESSION_COOKIE_SAMESITE="None")
def test_warning_stays_a_warning():
    [message] = check_production_policy(None)
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
