"""
The production security policy, as pure functions: values in, findings out.

Two callers: ``ventures.checks`` turns findings into Django system checks
(``manage.py check --deploy``), and ``ventures.wsgi`` refuses to serve while
any error stands. Every rule exists because the Flask app this project
replaces broke it (see ``docs/security.md``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList

# Django's own thresholds (django.core.checks.security.base), except variety:
# five distinct characters lets "ababab..." through; any real random key of
# 50 characters has far more than ten.
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE_CHARACTERS = 10
SECRET_KEY_INSECURE_PREFIX = "django-insecure-"  # noqa: S105 (a prefix to refuse)

# Keys that have been published and so sign nothing. Compared exactly.
KNOWN_PUBLIC_SECRET_KEYS = frozenset(
    {
        # The Flask app's key, printed in the incident write-up (shared/seed/).
        "32e6ab70212f7e807449da70bf651de3f862b0191ab921de0f3b11cb933803d1",
        # Django's own test settings; every generated "django-insecure-" key
        # from the docs and startproject is caught by the prefix rule instead.
        "django_tests_secret_key",
        # The placeholder in this repository's .env.example.
        "replace-me-with-the-output-of-python-c-import-secrets-print-secrets-token-urlsafe-64",
    }
)

# The strings Django writes into the Set-Cookie header, spelled exactly.
SAMESITE_VALUES = ("Strict", "Lax", "None")

# DEBUG as production may spell it: unset/empty or "false". Development is
# exactly "true" and never reaches the policy.
PRODUCTION_DEBUG_VALUES = ("", "false")

# Caches every worker process and instance shares, with an atomic increment:
# the rate limiter's counters must live in one of them. REDIS_URL is the
# only way the settings configure one.
SHARED_CACHE_BACKENDS = frozenset({"django.core.cache.backends.redis.RedisCache"})

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One violated rule: a stable id, what is wrong and how to fix it."""

    id: str
    level: str
    msg: str
    hint: str

    def __str__(self):
        return f"{self.id}: {self.msg} HINT: {self.hint}"


@dataclass(frozen=True)
class Config:
    """The settings the policy judges, decoupled from django.conf for testing."""

    secret_key: str = ""
    secret_key_fallbacks: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    frontend_origins: tuple[str, ...] = ()
    session_cookie_secure: bool = True
    session_cookie_httponly: bool = True
    csrf_cookie_secure: bool = True
    session_cookie_samesite: object = "Lax"
    session_cookie_domain: str | None = None
    cors_allow_all_origins: bool = False
    cors_allow_credentials: bool = True
    patreon_base_url: str = "https://www.patreon.com"
    patreon_client_id: str = ""
    patreon_client_secret: str = ""
    patreon_campaign_id: str = ""
    debug_value: str = ""
    cache_backend: str = ""


@cache
def _psl():
    return PublicSuffixList()


def _is_ip(host):
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def registrable_domain(host):
    """
    The site a host belongs to: its registrable domain ("eTLD+1") by the Public
    Suffix List, or the host itself for IP addresses and bare suffixes.
    """
    host = host.lower().rstrip(".")
    if _is_ip(host):
        return host
    return _psl().privatesuffix(host) or host


def is_public_suffix(domain):
    """True for domains under which anyone can register: ``app``, ``co.uk``."""
    domain = domain.lower().strip(".")
    return _psl().is_public(domain) or _psl().privatesuffix(domain) is None


def same_site(host_a, host_b):
    """Whether two hosts are the same site in the SameSite-cookie sense."""
    return registrable_domain(host_a) == registrable_domain(host_b)


def domain_covers(domain, host):
    """Whether a cookie set with ``Domain=domain`` is sent to ``host``."""
    domain = domain.lower().strip(".")
    host = host.lower().rstrip(".")
    return host == domain or host.endswith("." + domain)


def api_hosts(allowed_hosts):
    """The concrete hosts the API answers on (patterns like ``*`` dropped)."""
    return [h.lstrip(".") for h in allowed_hosts if h and h != "*"]


def cookie_name(base, *, secure, domain):
    """
    Name a cookie with the strongest prefix its attributes allow.

    ``__Host-`` (Secure, no Domain, Path=/) cannot be overwritten from a sibling
    subdomain; ``__Secure-`` at least proves it was set over HTTPS. Browsers
    reject prefixed cookies without Secure, so development over plain HTTP
    gets the bare name.
    """
    if not secure:
        return base
    return f"__Secure-{base}" if domain else f"__Host-{base}"


def secret_key_faults(key):
    """The reasons a secret key is unfit to sign sessions, or an empty list."""
    if not key:
        return ["it is empty"]
    faults = []
    if key in KNOWN_PUBLIC_SECRET_KEYS:
        faults.append("it has been published and is on the denylist of known keys")
    if key.startswith(SECRET_KEY_INSECURE_PREFIX):
        faults.append(f"it starts with '{SECRET_KEY_INSECURE_PREFIX}'")
    if len(key) < SECRET_KEY_MIN_LENGTH:
        faults.append(f"it is shorter than {SECRET_KEY_MIN_LENGTH} characters")
    if len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        faults.append(
            f"it has fewer than {SECRET_KEY_MIN_UNIQUE_CHARACTERS} distinct characters"
        )
    return faults


_NEW_KEY_HINT = (
    "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(64))' "
    "and set SECRET_KEY (or SECRET_KEY_FILE)."
)


def check_secret_keys(config):
    """E001-E003: the signing key and its fallbacks are strong and unpublished."""
    findings = []
    if not config.secret_key:
        findings.append(
            Finding("ventures.E001", ERROR, "SECRET_KEY is not set.", _NEW_KEY_HINT)
        )
    else:
        faults = secret_key_faults(config.secret_key)
        if faults:
            findings.append(
                Finding(
                    "ventures.E002",
                    ERROR,
                    f"SECRET_KEY is unsafe: {'; '.join(faults)}.",
                    _NEW_KEY_HINT,
                )
            )
    for i, fallback in enumerate(config.secret_key_fallbacks):
        faults = secret_key_faults(fallback)
        if config.secret_key and fallback == config.secret_key:
            faults.append("it equals SECRET_KEY")
        if faults:
            findings.append(
                Finding(
                    "ventures.E003",
                    ERROR,
                    f"SECRET_KEY_FALLBACKS[{i}] is unsafe: {'; '.join(faults)}.",
                    "A fallback still verifies signatures: remove it, or keep only "
                    "the previous strong key while sessions migrate.",
                )
            )
    return findings


def check_cookie_flags(config):
    """E010-E012: cookies only over HTTPS, the session out of JavaScript's reach."""
    findings = []
    if not config.session_cookie_secure:
        findings.append(
            Finding(
                "ventures.E010",
                ERROR,
                "SESSION_COOKIE_SECURE is off: the session cookie would travel over "
                "plain HTTP.",
                "Remove SESSION_COOKIE_SECURE=false from the environment.",
            )
        )
    if not config.csrf_cookie_secure:
        findings.append(
            Finding(
                "ventures.E011",
                ERROR,
                "CSRF_COOKIE_SECURE is off: the CSRF cookie would travel over "
                "plain HTTP.",
                "Remove CSRF_COOKIE_SECURE=false from the environment.",
            )
        )
    if not config.session_cookie_httponly:
        findings.append(
            Finding(
                "ventures.E012",
                ERROR,
                "SESSION_COOKIE_HTTPONLY is off: any script on the page could read "
                "the session cookie.",
                "Remove SESSION_COOKIE_HTTPONLY=false from the environment.",
            )
        )
    return findings


def _origin_hosts(config):
    return [
        urlsplit(o).hostname
        for o in config.frontend_origins
        if o != "*" and urlsplit(o).hostname
    ]


def check_samesite(config):
    """E020-E022, W023: SameSite lets the frontend send the cookie, and no more."""
    samesite = config.session_cookie_samesite
    if samesite not in SAMESITE_VALUES:
        return [
            Finding(
                "ventures.E020",
                ERROR,
                f"SESSION_COOKIE_SAMESITE is {samesite!r}, which Django does not "
                "emit as a SameSite attribute.",
                f"Use exactly one of {', '.join(SAMESITE_VALUES)} (case matters).",
            )
        ]
    hosts = api_hosts(config.allowed_hosts)
    cross_site = [
        o
        for o, host in zip(config.frontend_origins, _origin_hosts(config), strict=False)
        if any(not same_site(host, api) for api in hosts)
    ]
    findings = []
    if samesite != "None" and cross_site:
        findings.append(
            Finding(
                "ventures.E021",
                ERROR,
                f"SESSION_COOKIE_SAMESITE is {samesite!r} but {', '.join(cross_site)} "
                "is cross-site to the API: the browser would never send it the "
                "session cookie.",
                "Set SESSION_COOKIE_SAMESITE=None, or serve the frontend from the "
                "API's registrable domain.",
            )
        )
    if samesite == "None" and not config.session_cookie_secure:
        findings.append(
            Finding(
                "ventures.E022",
                ERROR,
                "SESSION_COOKIE_SAMESITE is 'None' without Secure: browsers reject "
                "such a cookie.",
                "Keep SESSION_COOKIE_SECURE on.",
            )
        )
    if samesite == "None" and not cross_site:
        findings.append(
            Finding(
                "ventures.W023",
                WARNING,
                "SESSION_COOKIE_SAMESITE is 'None' although every frontend origin is "
                "same-site to the API: it exposes the cookie to cross-site requests "
                "for nothing.",
                "Set SESSION_COOKIE_SAMESITE=Lax; sibling subdomains already get the "
                "cookie.",
            )
        )
    return findings


def check_cookie_domain(config):
    """E030-E031: a shared cookie domain covers our hosts and is not a public suffix."""
    domain = config.session_cookie_domain
    if not domain:
        return []
    if _is_ip(domain.strip(".")) or is_public_suffix(domain):
        return [
            Finding(
                "ventures.E031",
                ERROR,
                f"SESSION_COOKIE_DOMAIN {domain!r} is a public suffix: every site "
                "under it would receive the session cookie.",
                "Use the API's own registrable domain or a subdomain of it, or "
                "leave SESSION_COOKIE_DOMAIN unset for a host-only cookie.",
            )
        ]
    uncovered = [
        h
        for h in api_hosts(config.allowed_hosts) + _origin_hosts(config)
        if not domain_covers(domain, h)
    ]
    if uncovered:
        return [
            Finding(
                "ventures.E030",
                ERROR,
                f"SESSION_COOKIE_DOMAIN {domain!r} is not a parent of "
                f"{', '.join(uncovered)}.",
                "Set it to a domain that the API host and every FRONTEND_ORIGINS "
                "host end with, e.g. .example.com for api.example.com and "
                "app.example.com.",
            )
        ]
    return []


def check_origins(config):
    """E040-E044: frontend origins are exact HTTPS origins; CORS never trusts all."""
    findings = []
    if not config.frontend_origins:
        findings.append(
            Finding(
                "ventures.E040",
                ERROR,
                "FRONTEND_ORIGINS is empty: there is nowhere to send people after "
                "login and no origin may call the API.",
                "Set FRONTEND_ORIGINS=https://app.example.com (comma-separated).",
            )
        )
    for origin in config.frontend_origins:
        if origin == "*":
            findings.append(
                Finding(
                    "ventures.E041",
                    ERROR,
                    "FRONTEND_ORIGINS contains '*'.",
                    "List each frontend origin exactly; credentials are never shared "
                    "with every origin.",
                )
            )
            continue
        parts = urlsplit(origin)
        if parts.scheme != "https" or not parts.hostname:
            findings.append(
                Finding(
                    "ventures.E042",
                    ERROR,
                    f"FRONTEND_ORIGINS entry {origin!r} is not an https:// origin.",
                    "Write it as https://host[:port].",
                )
            )
        elif parts.path not in ("", "/") or parts.query or parts.fragment:
            findings.append(
                Finding(
                    "ventures.E043",
                    ERROR,
                    f"FRONTEND_ORIGINS entry {origin!r} has a path; an origin is "
                    "scheme, host and port only.",
                    f"Use {parts.scheme}://{parts.netloc}.",
                )
            )
    if config.cors_allow_all_origins and config.cors_allow_credentials:
        findings.append(
            Finding(
                "ventures.E044",
                ERROR,
                "CORS allows every origin together with credentials: any site could "
                "read a logged-in user's data.",
                "Leave CORS_ALLOW_ALL_ORIGINS off; list origins in FRONTEND_ORIGINS.",
            )
        )
    return findings


def check_hosts(config):
    """E050: the API answers only on the hosts it is deployed on."""
    if not api_hosts(config.allowed_hosts) or "*" in config.allowed_hosts:
        return [
            Finding(
                "ventures.E050",
                ERROR,
                "ALLOWED_HOSTS is empty or contains '*': forged Host headers would be "
                "answered.",
                "Set ALLOWED_HOSTS to the API's host names, e.g. api.example.com.",
            )
        ]
    return []


def check_patreon(config):
    """
    E060-E061, W062: OAuth tokens and codes only ever travel to Patreon over
    HTTPS, and the Patreon client is configured, so people can log in at all.
    """
    findings = []
    if urlsplit(config.patreon_base_url).scheme != "https":
        findings.append(
            Finding(
                "ventures.E060",
                ERROR,
                f"PATREON_BASE_URL {config.patreon_base_url!r} is not https: OAuth "
                "codes and tokens would travel in clear, or to a fake Patreon.",
                "Leave PATREON_BASE_URL unset (https://www.patreon.com) in production.",
            )
        )
    missing = [
        name
        for name, value in (
            ("PATREON_CLIENT_ID", config.patreon_client_id),
            ("PATREON_CLIENT_SECRET", config.patreon_client_secret),
        )
        if not value.strip()
    ]
    if missing:
        findings.append(
            Finding(
                "ventures.E061",
                ERROR,
                f"{' and '.join(missing)} not set: nobody could log in with Patreon.",
                "Set both from the client registered at "
                "https://www.patreon.com/portal/registration/register-clients.",
            )
        )
    if not config.patreon_campaign_id.strip():
        findings.append(
            Finding(
                "ventures.W062",
                WARNING,
                "PATREON_CAMPAIGN_ID is not set: every patron would show no tiers "
                "and no patron status.",
                "Set it to our campaign's id (the campaign's page on Patreon, or "
                "the API's /api/oauth2/v2/campaigns as the creator).",
            )
        )
    return findings


def check_shared_cache(config):
    """E070: rate limits count in a cache every worker and instance shares."""
    if config.cache_backend in SHARED_CACHE_BACKENDS:
        return []
    return [
        Finding(
            "ventures.E070",
            ERROR,
            f"The cache is {config.cache_backend or 'not configured'}, private to "
            "each process: every worker and instance would count login attempts "
            "on its own, multiplying each rate limit by their number.",
            "Set REDIS_URL=redis://host:6379/0, the Redis every instance shares.",
        )
    ]


def check_debug(config):
    """E080: DEBUG is spelled so that nobody can misread the mode."""
    if config.debug_value in PRODUCTION_DEBUG_VALUES:
        return []
    return [
        Finding(
            "ventures.E080",
            ERROR,
            f"DEBUG is {config.debug_value!r}, which is neither 'true' "
            "(development) nor 'false' (production).",
            "In production leave DEBUG unset or set DEBUG=false; DEBUG=true, "
            "lowercase, is for a developer's machine only.",
        )
    ]


RULES = (
    check_debug,
    check_secret_keys,
    check_cookie_flags,
    check_samesite,
    check_cookie_domain,
    check_origins,
    check_hosts,
    check_patreon,
    check_shared_cache,
)


def evaluate(config):
    """Every finding of every rule for a production configuration."""
    return [finding for rule in RULES for finding in rule(config)]
