"""accounts.checks: the policy for the creator's stored token."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from accounts import checks

FERNET_KEY = "hVdn5hb6oq9v8Vw4Ck1YkqkIqHLtEHxBSH9i1XLt2uk="


class TestTokenKeys:
    """W001: a key to seal the creator's token with, in production."""

    def test_configured_keys_pass(self):
        assert checks.check_token_keys(None) == []

    @override_settings(PATREON_TOKEN_KEYS=[])
    def test_a_production_without_keys_is_warned_about(self):
        assert checks.check_token_keys(None) == [checks.W001]

    @override_settings(PATREON_TOKEN_KEYS=[], DEBUG=True)
    def test_development_without_keys_is_fine(self):
        assert checks.check_token_keys(None) == []


class TestTokenKeyFormat:
    """E002: each key is a Fernet key, in every mode."""

    def test_configured_keys_pass(self):
        assert checks.check_token_key_format(None) == []

    @override_settings(PATREON_TOKEN_KEYS=[FERNET_KEY, "not-a-key", "c2hvcnQ="])
    def test_each_malformed_key_is_refused_by_its_position(self):
        found = checks.check_token_key_format(None)
        assert [(m.id, m.msg) for m in found] == [
            ("accounts.E002", checks.E002.msg % 2),
            ("accounts.E002", checks.E002.msg % 3),
        ]

    @override_settings(PATREON_TOKEN_KEYS=["not-a-key"], DEBUG=True)
    def test_the_checks_are_registered(self):
        with pytest.raises(SystemCheckError, match=r"accounts\.E002"):
            call_command("check")
