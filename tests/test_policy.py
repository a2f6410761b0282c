"""The policy's rules, one behaviour each, as pure functions."""

import pytest

from ventures import policy

STRONG_KEY = "x7Gq2Lr9VbT4mZp1Nc8Wd3Hs6Jk0Yf5Ea" * 2
SEED_KEY = "32e6ab70212f7e807449da70bf651de3f862b0191ab921de0f3b11cb933803d1"

GOOD = policy.Config(
    secret_key=STRONG_KEY,
    allowed_hosts=("api.ventures.isharehow.app",),
    frontend_origins=("https://ventures.isharehow.app",),
    patreon_client_id="our-client-id",
    patreon_client_secret="our-client-secret",
    patreon_campaign_id="1234567",
    cache_backend="django.core.cache.backends.redis.RedisCache",
)


def ids(config):
    return [f.id for f in policy.evaluate(config)]


def with_(**changes):
    return policy.Config(**{**GOOD.__dict__, **changes})


def test_correct_production_config_has_no_findings():
    assert ids(GOOD) == []


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (SEED_KEY, "published"),
        ("django_tests_secret_key", "published"),
        ("django-insecure-" + STRONG_KEY, "django-insecure-"),
        (STRONG_KEY[:49], "shorter than 50"),
        ("ab" * 40, "fewer than 10 distinct"),
    ],
)
def test_weak_secret_key_is_refused_with_its_reason(key, reason):
    [finding] = policy.evaluate(with_(secret_key=key))
    assert finding.id == "ventures.E002"
    assert reason in finding.msg
    assert "secrets.token_urlsafe" in finding.hint


def test_missing_secret_key_is_refused():
    assert ids(with_(secret_key="")) == ["ventures.E001"]


def test_seed_key_is_refused_as_a_fallback_too():
    [finding] = policy.evaluate(with_(secret_key_fallbacks=(SEED_KEY,)))
    assert finding.id == "ventures.E003"
    assert "SECRET_KEY_FALLBACKS[0]" in finding.msg


def test_fallback_equal_to_the_key_is_refused():
    [finding] = policy.evaluate(with_(secret_key_fallbacks=(STRONG_KEY,)))
    assert finding.id == "ventures.E003"
    assert "equals SECRET_KEY" in finding.msg


def test_strong_previous_key_is_a_valid_fallback():
    assert ids(with_(secret_key_fallbacks=(STRONG_KEY[::-1],))) == []


@pytest.mark.parametrize(
    ("field", "rule"),
    [
        ("session_cookie_secure", "ventures.E010"),
        ("csrf_cookie_secure", "ventures.E011"),
        ("session_cookie_httponly", "ventures.E012"),
    ],
)
def test_cookie_flag_off_is_refused(field, rule):
    assert rule in ids(with_(**{field: False}))


@pytest.mark.parametrize("value", ["none", "lax", "", "False", None, False])
def test_samesite_must_be_a_string_django_emits(value):
    assert ids(with_(session_cookie_samesite=value)) == ["ventures.E020"]


def test_lax_with_a_cross_site_frontend_is_refused():
    config = with_(frontend_origins=("https://ventures-frontend.example",))
    [finding] = policy.evaluate(config)
    assert finding.id == "ventures.E021"
    assert "https://ventures-frontend.example" in finding.msg


def test_none_with_a_cross_site_frontend_is_accepted():
    config = with_(
        frontend_origins=("https://ventures-frontend.example",),
        session_cookie_samesite="None",
    )
    assert ids(config) == []


def test_none_without_secure_is_refused():
    config = with_(
        frontend_origins=("https://ventures-frontend.example",),
        session_cookie_samesite="None",
        session_cookie_secure=False,
    )
    assert "ventures.E022" in ids(config)


def test_none_when_every_frontend_is_same_site_is_a_warning():
    [finding] = policy.evaluate(with_(session_cookie_samesite="None"))
    assert (finding.id, finding.level) == ("ventures.W023", policy.WARNING)


def test_sibling_subdomains_are_same_site():
    assert policy.same_site("api.ventures.isharehow.app", "ventures.isharehow.app")
    # github.io is a public suffix: two pages under it are different sites.
    assert not policy.same_site("alice.github.io", "bob.github.io")


@pytest.mark.parametrize("domain", [".ventures.isharehow.app", "isharehow.app"])
def test_cookie_domain_that_is_a_parent_of_every_host_is_accepted(domain):
    assert ids(with_(session_cookie_domain=domain)) == []


@pytest.mark.parametrize(
    "domain", [".api.ventures.isharehow.app", "example.com", ".other.isharehow.app"]
)
def test_cookie_domain_that_misses_a_host_is_refused(domain):
    assert ids(with_(session_cookie_domain=domain)) == ["ventures.E030"]


@pytest.mark.parametrize("domain", [".app", "app", "co.uk", ".github.io", "127.0.0.1"])
def test_cookie_domain_that_is_a_public_suffix_is_refused(domain):
    assert ids(with_(session_cookie_domain=domain)) == ["ventures.E031"]


def test_no_frontend_origin_is_refused():
    assert ids(with_(frontend_origins=())) == ["ventures.E040"]


def test_wildcard_origin_is_refused():
    assert "ventures.E041" in ids(with_(frontend_origins=("*",)))


@pytest.mark.parametrize(
    "origin", ["http://ventures.isharehow.app", "ventures.isharehow.app", "https://"]
)
def test_origin_that_is_not_https_is_refused(origin):
    assert "ventures.E042" in ids(with_(frontend_origins=(origin,)))


@pytest.mark.parametrize(
    "origin", ["https://ventures.isharehow.app/app", "https://ventures.isharehow.app?x"]
)
def test_origin_with_a_path_is_refused(origin):
    assert ids(with_(frontend_origins=(origin,))) == ["ventures.E043"]


def test_cors_allow_all_with_credentials_is_refused():
    assert ids(with_(cors_allow_all_origins=True)) == ["ventures.E044"]


@pytest.mark.parametrize("hosts", [(), ("*",), ("api.ventures.isharehow.app", "*")])
def test_open_allowed_hosts_are_refused(hosts):
    assert "ventures.E050" in ids(with_(allowed_hosts=hosts))


def test_patreon_over_http_is_refused():
    config = with_(patreon_base_url="http://127.0.0.1:8765")
    assert ids(config) == ["ventures.E060"]


@pytest.mark.parametrize(
    "changes",
    [
        {"patreon_client_id": ""},
        {"patreon_client_secret": " "},
        {"patreon_client_id": "", "patreon_client_secret": ""},
    ],
)
def test_a_production_without_a_patreon_client_is_refused(changes):
    [finding] = policy.evaluate(with_(**changes))
    assert finding.id == "ventures.E061"
    assert finding.level == policy.ERROR


def test_a_production_without_our_campaign_is_warned_about():
    [finding] = policy.evaluate(with_(patreon_campaign_id=""))
    assert finding.id == "ventures.W062"
    assert "no tiers" in finding.msg


@pytest.mark.parametrize(
    ("secure", "domain", "name"),
    [
        (True, None, "__Host-sessionid"),
        (True, ".ventures.isharehow.app", "__Secure-sessionid"),
        (False, None, "sessionid"),
    ],
)
def test_cookie_name_takes_the_strongest_prefix_allowed(secure, domain, name):
    assert policy.cookie_name("sessionid", secure=secure, domain=domain) == name


@pytest.mark.parametrize(
    "backend",
    [
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.filebased.FileBasedCache",
        "django.core.cache.backends.db.DatabaseCache",
        "django.core.cache.backends.dummy.DummyCache",
        "",
    ],
)
def test_a_cache_private_to_each_process_is_refused(backend):
    """Four workers counting on their own would let four times the limit in."""
    [finding] = policy.evaluate(with_(cache_backend=backend))
    assert finding.id == "ventures.E070"
    assert "REDIS_URL" in finding.hint


@pytest.mark.parametrize("value", ["", "false"])
def test_debug_unset_or_false_is_production(value):
    assert ids(with_(debug_value=value)) == []


@pytest.mark.parametrize(
    "value", ["1", "yes", "on", "True", "TRUE", "False", "0", "no", " true", "debug"]
)
def test_any_other_debug_value_is_refused_naming_the_variable(value):
    [finding] = policy.evaluate(with_(debug_value=value))
    assert finding.id == "ventures.E080"
    assert finding.msg.startswith(f"DEBUG is {value!r}")
