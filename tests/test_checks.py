"""
The production policy, one class per check, as Django tests its own
(tests/check_framework/test_security.py): settings overridden per case, the
answer compared with the module's message, and the passing case beside the
failing one. The few real boots are in test_settings.py and test_wsgi.py.
"""

import re
from pathlib import Path

import pytest
from django.core.checks import Error, Warning, run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from ventures import checks

ROOT = Path(checks.__file__).resolve().parent.parent
STRONG_KEY = "x7Gq2Lr9VbT4mZp1Nc8Wd3Hs6Jk0Yf5Ea" * 2
SEED_KEY = "32e6ab70212f7e807449da70bf651de3f862b0191ab921de0f3b11cb933803d1"
API_HOST = "api.ventures.test"
CROSS_SITE = "https://ventures-frontend.example"
REDIS = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache"}}


@pytest.fixture(autouse=True)
def _production_hosts(settings):
    # Django's test runner appends "testserver", which is cross-site to the
    # frontend; production lists only the API host.
    settings.ALLOWED_HOSTS = [API_HOST]


def filled(message, *values, hint=None):
    """``message`` as a check reports it for ``values``."""
    return type(message)(message.msg % values, hint=hint or message.hint, id=message.id)


def policy_ids():
    """The ids of every ventures message the registered checks report now."""
    return sorted(m.id for m in run_checks() if (m.id or "").startswith("ventures."))


# The registered policy as a whole.


def test_checks_are_bound():
    with (
        override_settings(SESSION_COOKIE_DOMAIN=".app"),
        pytest.raises(SystemCheckError, match=r"ventures\.E031"),
    ):
        call_command("check")


def test_the_test_settings_break_only_the_shared_cache_rule_which_they_silence():
    """One process runs the suite: a cache private to it is fine there."""
    assert policy_ids() == ["ventures.E070"]
    assert [m.is_silenced() for m in run_checks() if m.id == "ventures.E070"] == [True]


def test_the_test_settings_silence_nothing_else(settings):
    assert settings.SILENCED_SYSTEM_CHECKS == ["ventures.E070"]


@override_settings(
    DEBUG=True,
    DEBUG_VALUE="true",
    SECRET_KEY="short",
    SESSION_COOKIE_SECURE=False,
    FRONTEND_ORIGINS=[],
)
def test_development_mode_is_not_policed():
    assert policy_ids() == []


@override_settings(SESSION_COOKIE_SAMESITE="None")
def test_a_warning_stops_a_strict_deploy_check_but_not_a_command():
    call_command("check")
    with pytest.raises(SystemCheckError, match=r"ventures\.W023"):
        call_command("check", deploy=True, fail_level="WARNING")


@override_settings(SECRET_KEY=SEED_KEY, SESSION_COOKIE_DOMAIN=".app")
def test_refusing_to_serve_names_every_broken_rule_at_once_with_its_hint():
    with pytest.raises(ImproperlyConfigured) as refused:
        checks.refuse_to_serve_unsafely()
    text = str(refused.value)
    assert text.startswith("Refusing to start with an unsafe configuration:")
    assert text.index("(ventures.E002)") < text.index("(ventures.E031)")
    assert text.count("HINT:") == 2


def test_a_silenced_rule_does_not_refuse_to_serve():
    checks.refuse_to_serve_unsafely()


def documented_ids(path, heading):
    """The ids in the first table after ``heading`` in a Markdown file."""
    text = path.read_text()
    table = text[text.index(heading) :].split("\n\n|", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^\| `(ventures\.[EW]\d{3})` \|", "|" + table, re.M)


def test_check_ids_are_unique_and_each_is_documented_once():
    messages = {
        name: value
        for name, value in vars(checks).items()
        if isinstance(value, Error | Warning)
    }
    # The constant's name is its id, so one id cannot name two messages.
    assert [n for n, m in messages.items() if m.id != f"ventures.{n}"] == []
    ids = sorted(m.id for m in messages.values())
    readme = documented_ids(ROOT / "README.md", "### The production policy")
    security = documented_ids(ROOT / "docs" / "security.md", "## 1. The production")
    assert sorted(readme) == ids
    assert sorted(security) == ids


# One class per check.


class TestDebugSpelling:
    @pytest.mark.parametrize("value", ["", "false"])
    def test_debug_unset_or_false_is_production(self, value):
        with override_settings(DEBUG_VALUE=value):
            assert checks.check_debug_spelling(None) == []

    @pytest.mark.parametrize(
        "value", ["1", "yes", "on", "True", "TRUE", "False", "0", "no", " true"]
    )
    def test_any_other_value_is_refused_naming_it(self, value):
        """DEBUG=yes is not development, so the policy runs and names it."""
        with override_settings(DEBUG_VALUE=value):
            assert checks.check_debug_spelling(None) == [filled(checks.E080, value)]


class TestSecretKey:
    @override_settings(SECRET_KEY=STRONG_KEY)
    def test_a_strong_key_passes(self):
        assert checks.check_secret_key(None) == []

    @override_settings(SECRET_KEY="")
    def test_a_missing_key_is_refused(self):
        assert checks.check_secret_key(None) == [checks.E001]

    @override_settings(SECRET_KEY=SEED_KEY)
    def test_the_published_seed_key_is_refused(self):
        assert checks.check_secret_key(None) == [
            filled(
                checks.E002,
                "it has been published and is on the denylist of known keys",
            )
        ]

    @pytest.mark.parametrize(
        ("key", "reason"),
        [
            ("django_tests_secret_key", "published"),
            ("django-insecure-" + STRONG_KEY, "django-insecure-"),
            (STRONG_KEY[:49], "shorter than 50"),
            ("ab" * 40, "fewer than 10 distinct"),
        ],
    )
    def test_a_weak_key_is_refused_with_its_reason(self, key, reason):
        with override_settings(SECRET_KEY=key):
            [error] = checks.check_secret_key(None)
        assert error.id == checks.E002.id
        assert reason in error.msg
        assert "secrets.token_urlsafe" in error.hint

    def test_the_env_example_placeholder_is_refused(self):
        example = (ROOT / ".env.example").read_text()
        placeholder = re.search(r"^SECRET_KEY=(.*)$", example, re.M).group(1)
        with override_settings(SECRET_KEY=placeholder):
            [error] = checks.check_secret_key(None)
        assert error.id == checks.E002.id


class TestSecretKeyFallbacks:
    @override_settings(SECRET_KEY_FALLBACKS=[])
    def test_no_fallback_passes(self):
        assert checks.check_secret_key_fallbacks(None) == []

    @override_settings(SECRET_KEY=STRONG_KEY, SECRET_KEY_FALLBACKS=[STRONG_KEY[::-1]])
    def test_a_strong_previous_key_is_a_valid_fallback(self):
        assert checks.check_secret_key_fallbacks(None) == []

    @override_settings(SECRET_KEY_FALLBACKS=[STRONG_KEY[::-1], SEED_KEY])
    def test_the_seed_key_is_refused_as_a_fallback_naming_its_place(self):
        assert checks.check_secret_key_fallbacks(None) == [
            filled(
                checks.E003,
                1,
                "it has been published and is on the denylist of known keys",
            )
        ]

    @override_settings(SECRET_KEY_FALLBACKS=[""])
    def test_an_empty_fallback_is_refused(self):
        assert checks.check_secret_key_fallbacks(None) == [
            filled(checks.E003, 0, "it is empty")
        ]

    @override_settings(SECRET_KEY=STRONG_KEY, SECRET_KEY_FALLBACKS=[STRONG_KEY])
    def test_a_fallback_equal_to_the_key_is_refused(self):
        assert checks.check_secret_key_fallbacks(None) == [
            filled(checks.E003, 0, "it equals SECRET_KEY")
        ]


@pytest.mark.parametrize(
    ("setting", "check", "message"),
    [
        ("SESSION_COOKIE_SECURE", checks.check_session_cookie_secure, checks.E010),
        ("CSRF_COOKIE_SECURE", checks.check_csrf_cookie_secure, checks.E011),
        ("SESSION_COOKIE_HTTPONLY", checks.check_session_cookie_httponly, checks.E012),
    ],
)
class TestCookieFlags:
    def test_flag_on_passes(self, setting, check, message):
        with override_settings(**{setting: True}):
            assert check(None) == []

    def test_flag_off_is_refused(self, setting, check, message):
        with override_settings(**{setting: False}):
            assert check(None) == [message]


class TestSameSiteValue:
    @pytest.mark.parametrize("value", ["Strict", "Lax", "None"])
    def test_a_value_django_emits_passes(self, value):
        with override_settings(SESSION_COOKIE_SAMESITE=value):
            assert checks.check_samesite_value(None) == []

    @pytest.mark.parametrize("value", ["none", "lax", "", "False", None, False])
    def test_any_other_value_is_refused(self, value):
        with override_settings(SESSION_COOKIE_SAMESITE=value):
            assert checks.check_samesite_value(None) == [filled(checks.E020, value)]


class TestSameSiteLetsTheFrontendIn:
    @override_settings(SESSION_COOKIE_SAMESITE="Lax")
    def test_lax_with_a_same_site_frontend_passes(self):
        assert checks.check_samesite_lets_the_frontend_in(None) == []

    @pytest.mark.parametrize("value", ["Lax", "Strict"])
    def test_lax_or_strict_with_a_cross_site_frontend_is_refused(self, value):
        with override_settings(
            SESSION_COOKIE_SAMESITE=value, FRONTEND_ORIGINS=[CROSS_SITE]
        ):
            assert checks.check_samesite_lets_the_frontend_in(None) == [
                filled(checks.E021, value, CROSS_SITE)
            ]

    @override_settings(SESSION_COOKIE_SAMESITE="None", FRONTEND_ORIGINS=[CROSS_SITE])
    def test_none_with_a_cross_site_frontend_passes(self):
        assert checks.check_samesite_lets_the_frontend_in(None) == []

    @override_settings(SESSION_COOKIE_SAMESITE="lax", FRONTEND_ORIGINS=[CROSS_SITE])
    def test_a_misspelt_value_is_left_to_its_own_check(self):
        assert checks.check_samesite_lets_the_frontend_in(None) == []

    def test_sibling_subdomains_are_same_site(self):
        with override_settings(
            ALLOWED_HOSTS=["api.ventures.isharehow.app"],
            FRONTEND_ORIGINS=["https://ventures.isharehow.app"],
        ):
            assert checks.check_samesite_lets_the_frontend_in(None) == []


class TestSameSiteNoneIsSecure:
    @override_settings(SESSION_COOKIE_SAMESITE="None", SESSION_COOKIE_SECURE=True)
    def test_none_with_secure_passes(self):
        assert checks.check_samesite_none_is_secure(None) == []

    @override_settings(SESSION_COOKIE_SAMESITE="None", SESSION_COOKIE_SECURE=False)
    def test_none_without_secure_is_refused(self):
        assert checks.check_samesite_none_is_secure(None) == [checks.E022]

    @override_settings(SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=False)
    def test_lax_without_secure_is_left_to_the_secure_check(self):
        assert checks.check_samesite_none_is_secure(None) == []


class TestSameSiteNoneIsNeeded:
    @override_settings(SESSION_COOKIE_SAMESITE="None")
    def test_none_when_every_frontend_is_same_site_is_a_warning(self):
        assert checks.check_samesite_none_is_needed(None) == [checks.W023]

    @override_settings(SESSION_COOKIE_SAMESITE="None", FRONTEND_ORIGINS=[CROSS_SITE])
    def test_none_for_a_cross_site_frontend_passes(self):
        assert checks.check_samesite_none_is_needed(None) == []

    @override_settings(SESSION_COOKIE_SAMESITE="Lax")
    def test_lax_passes(self):
        assert checks.check_samesite_none_is_needed(None) == []


class TestSessionCookieDomain:
    HOSTS = {
        "ALLOWED_HOSTS": ["api.ventures.isharehow.app"],
        "FRONTEND_ORIGINS": ["https://ventures.isharehow.app"],
    }

    @override_settings(SESSION_COOKIE_DOMAIN=None)
    def test_a_host_only_cookie_passes(self):
        assert checks.check_session_cookie_domain(None) == []

    @pytest.mark.parametrize("domain", [".ventures.isharehow.app", "isharehow.app"])
    def test_a_parent_of_every_host_passes(self, domain):
        with override_settings(SESSION_COOKIE_DOMAIN=domain, **self.HOSTS):
            assert checks.check_session_cookie_domain(None) == []

    @pytest.mark.parametrize(
        ("domain", "uncovered"),
        [
            (".api.ventures.isharehow.app", "ventures.isharehow.app"),
            ("example.com", "api.ventures.isharehow.app, ventures.isharehow.app"),
            (
                ".other.isharehow.app",
                "api.ventures.isharehow.app, ventures.isharehow.app",
            ),
        ],
    )
    def test_a_domain_that_misses_a_host_is_refused_naming_it(self, domain, uncovered):
        with override_settings(SESSION_COOKIE_DOMAIN=domain, **self.HOSTS):
            assert checks.check_session_cookie_domain(None) == [
                filled(checks.E030, domain, uncovered)
            ]

    @pytest.mark.parametrize(
        "domain", [".app", "app", "co.uk", ".github.io", "127.0.0.1"]
    )
    def test_a_public_suffix_is_refused(self, domain):
        with override_settings(SESSION_COOKIE_DOMAIN=domain, **self.HOSTS):
            assert checks.check_session_cookie_domain(None) == [
                filled(checks.E031, domain)
            ]


class TestFrontendOrigins:
    @override_settings(
        FRONTEND_ORIGINS=["https://ventures.test", "https://www.ventures.test:8443/"]
    )
    def test_exact_https_origins_pass(self):
        assert checks.check_frontend_origins(None) == []

    @override_settings(FRONTEND_ORIGINS=[])
    def test_no_origin_is_refused(self):
        assert checks.check_frontend_origins(None) == [checks.E040]

    @override_settings(FRONTEND_ORIGINS=["*"])
    def test_a_wildcard_is_refused(self):
        assert checks.check_frontend_origins(None) == [checks.E041]

    @pytest.mark.parametrize(
        "origin",
        ["http://ventures.isharehow.app", "ventures.isharehow.app", "https://"],
    )
    def test_an_origin_that_is_not_https_is_refused(self, origin):
        with override_settings(FRONTEND_ORIGINS=[origin]):
            assert checks.check_frontend_origins(None) == [filled(checks.E042, origin)]

    @pytest.mark.parametrize(
        "origin",
        ["https://ventures.isharehow.app/app", "https://ventures.isharehow.app?x"],
    )
    def test_an_origin_with_a_path_is_refused_with_the_origin_to_use(self, origin):
        with override_settings(FRONTEND_ORIGINS=[origin]):
            assert checks.check_frontend_origins(None) == [
                filled(checks.E043, origin, hint="Use https://ventures.isharehow.app.")
            ]


class TestCors:
    def test_listed_origins_with_credentials_pass(self):
        assert checks.check_cors_never_trusts_every_origin(None) == []

    @override_settings(CORS_ALLOW_ALL_ORIGINS=True, CORS_ALLOW_CREDENTIALS=False)
    def test_every_origin_without_credentials_passes(self):
        assert checks.check_cors_never_trusts_every_origin(None) == []

    @override_settings(CORS_ALLOW_ALL_ORIGINS=True, CORS_ALLOW_CREDENTIALS=True)
    def test_every_origin_with_credentials_is_refused(self):
        assert checks.check_cors_never_trusts_every_origin(None) == [checks.E044]


class TestAllowedHosts:
    def test_the_api_host_passes(self):
        assert checks.check_allowed_hosts(None) == []

    @pytest.mark.parametrize("hosts", [[], ["*"], [API_HOST, "*"]])
    def test_open_hosts_are_refused(self, hosts):
        with override_settings(ALLOWED_HOSTS=hosts):
            assert checks.check_allowed_hosts(None) == [checks.E050]


class TestPatreonOverHttps:
    @override_settings(PATREON_BASE_URL="https://www.patreon.com")
    def test_patreon_over_https_passes(self):
        assert checks.check_patreon_over_https(None) == []

    @override_settings(PATREON_BASE_URL="http://127.0.0.1:8765")
    def test_patreon_over_http_is_refused(self):
        assert checks.check_patreon_over_https(None) == [
            filled(checks.E060, "http://127.0.0.1:8765")
        ]


class TestPatreonClient:
    def test_a_configured_client_passes(self):
        assert checks.check_patreon_client(None) == []

    @pytest.mark.parametrize(
        ("changes", "missing"),
        [
            ({"PATREON_CLIENT_ID": ""}, "PATREON_CLIENT_ID"),
            ({"PATREON_CLIENT_SECRET": " "}, "PATREON_CLIENT_SECRET"),
            (
                {"PATREON_CLIENT_ID": "", "PATREON_CLIENT_SECRET": ""},
                "PATREON_CLIENT_ID and PATREON_CLIENT_SECRET",
            ),
        ],
    )
    def test_a_production_without_a_client_is_refused(self, changes, missing):
        with override_settings(**changes):
            assert checks.check_patreon_client(None) == [filled(checks.E061, missing)]


class TestPatreonCampaign:
    def test_a_named_campaign_passes(self):
        assert checks.check_patreon_campaign(None) == []

    @override_settings(PATREON_CAMPAIGN_ID="")
    def test_a_production_without_our_campaign_is_warned_about(self):
        assert checks.check_patreon_campaign(None) == [checks.W062]


class TestPatreonWebhook:
    """W063: without a secret, Patreon's webhooks are refused."""

    def test_a_configured_webhook_passes(self):
        assert checks.check_patreon_webhook(None) == []

    @override_settings(PATREON_WEBHOOK_SECRETS=[])
    def test_a_production_without_webhook_secrets_is_warned_about(self):
        assert checks.check_patreon_webhook(None) == [checks.W063]

    @override_settings(PATREON_WEBHOOK_SECRETS=[], DEBUG=True)
    def test_development_without_webhooks_is_fine(self):
        assert checks.check_patreon_webhook(None) == []


class TestSharedCache:
    @override_settings(CACHES=REDIS)
    def test_redis_passes(self):
        assert checks.check_shared_cache(None) == []

    @pytest.mark.parametrize(
        "backend",
        [
            "django.core.cache.backends.locmem.LocMemCache",
            "django.core.cache.backends.filebased.FileBasedCache",
            "django.core.cache.backends.db.DatabaseCache",
            "django.core.cache.backends.dummy.DummyCache",
        ],
    )
    def test_a_cache_private_to_each_process_is_refused(self, backend):
        """Four workers counting on their own would let four times the limit in."""
        with override_settings(CACHES={"default": {"BACKEND": backend}}):
            assert checks.check_shared_cache(None) == [filled(checks.E070, backend)]

    @override_settings(CACHES={})
    def test_no_cache_is_refused(self):
        assert checks.check_shared_cache(None) == [
            filled(checks.E070, "not configured")
        ]


class TestDatabasePooler:
    @pytest.mark.parametrize("pooler", ["", "transaction"])
    def test_no_pooler_or_a_transaction_mode_pooler_passes(self, pooler):
        with override_settings(DATABASE_POOLER=pooler):
            assert checks.check_database_pooler(None) == []

    @pytest.mark.parametrize("pooler", ["Transaction", "session", "pgbouncer", "1"])
    def test_any_other_value_is_refused(self, pooler):
        """A typo would run with prepared statements behind a transaction pooler."""
        with override_settings(DATABASE_POOLER=pooler):
            assert checks.check_database_pooler(None) == [filled(checks.E071, pooler)]

    @override_settings(DATABASE_POOLER="pgbouncer", DEBUG=True)
    def test_development_is_not_policed(self):
        assert checks.check_database_pooler(None) == []


class TestPatreonEntitlements:
    """E090-E092: PATREON_ENTITLEMENTS reads one way only, in development too."""

    def entitlements(self, value, debug=False):
        with override_settings(PATREON_ENTITLEMENTS_VALUE=value, DEBUG=debug):
            return checks.check_patreon_entitlements(None)

    @pytest.mark.parametrize(
        "value",
        [
            "",
            "supporter:7001",
            "supporter:7001|7002|7003,early-access:7002|7003",
            " pro : 78 | 79 , free_tier:5,",
        ],
    )
    def test_names_with_tier_ids_pass(self, value):
        assert self.entitlements(value) == []

    @pytest.mark.parametrize(
        "item",
        [
            "pro",  # no tier ids
            "pro:",
            "pro:78|",
            "pro:tier-78",
            "pro:78;79",
            "Pro:78",  # names are lowercase, so "Pro" and "pro" are one
            "pro plus:78",
            "-pro:78",
            "pro:78:79",
            "x" * 65 + ":78",
        ],
    )
    def test_a_malformed_item_is_refused_naming_it(self, item):
        assert self.entitlements(f"supporter:7001,{item}") == [
            filled(checks.E090, item)
        ]

    def test_an_item_without_a_name_is_refused(self):
        assert self.entitlements(":78|79") == [filled(checks.E091, ":78|79")]

    def test_a_name_given_twice_is_refused(self):
        """Which tiers would "pro" mean? Refused rather than guessed."""
        assert self.entitlements("pro:78,supporter:77,pro:79") == [
            filled(checks.E092, "pro:79")
        ]

    def test_development_is_refused_too(self):
        """A misread entitlement opens or closes content in any mode."""
        assert self.entitlements("pro", debug=True) == [filled(checks.E090, "pro")]

    def test_every_fault_is_named_at_once(self):
        assert [m.id for m in self.entitlements("a,:1,b:2,b:3")] == [
            "ventures.E090",
            "ventures.E091",
            "ventures.E092",
        ]

    def test_the_settings_keep_only_well_formed_items(self):
        """What the refused items would have meant never reaches a decision."""
        from ventures.entitlement_spec import parse

        assert parse("pro:78|79, Pro:1, :2, pro:3, free:5") == {
            "pro": frozenset({"78", "79"}),
            "free": frozenset({"5"}),
        }
