"""
The production security policy, as Django system checks.

Written as ``django.core.checks.security.base`` is: one constant per message,
one small function per rule reading ``settings``. Registered without
``deploy=True`` on purpose: ``runserver``, ``migrate`` and every other command
refuse a broken production configuration, not only ``check --deploy``; and
``ventures.wsgi`` refuses to serve while an error stands. In development
(``DEBUG=true``) the rules do not apply. Every rule exists because the Flask
app this project replaces broke it (see ``docs/security.md``); the ids are
listed in the README's policy table.
"""

import functools
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register, run_checks
from django.core.exceptions import ImproperlyConfigured

from ventures import entitlement_spec, secret_keys
from ventures.cookies import domain_covers, is_ip_address, is_public_suffix, same_site

# The strings Django writes into the Set-Cookie header, spelled exactly.
SAMESITE_VALUES = ("Strict", "Lax", "None")

# DEBUG as production may spell it: unset/empty or "false". Development is
# exactly "true" and never reaches the policy.
PRODUCTION_DEBUG_VALUES = ("", "false")

DATABASE_POOLERS = ("", "transaction")  # E071: none, or a transaction-mode pooler

# Caches every worker process and instance shares, with an atomic increment:
# the rate limiter's counters must live in one of them. REDIS_URL is the
# only way the settings configure one.
SHARED_CACHE_BACKENDS = frozenset({"django.core.cache.backends.redis.RedisCache"})

_NEW_KEY_HINT = (
    "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(64))' "
    "and set SECRET_KEY (or SECRET_KEY_FILE)."
)

# Messages whose text depends on the value carry %s placeholders, filled by
# _formatted() with what was found (as Django's security.W025 is).

E001 = Error("SECRET_KEY is not set.", hint=_NEW_KEY_HINT, id="ventures.E001")
E002 = Error("SECRET_KEY is unsafe: %s.", hint=_NEW_KEY_HINT, id="ventures.E002")
E003 = Error(
    "SECRET_KEY_FALLBACKS[%s] is unsafe: %s.",
    hint="A fallback still verifies signatures: remove it, or keep only the "
    "previous strong key while sessions migrate.",
    id="ventures.E003",
)

E010 = Error(
    "SESSION_COOKIE_SECURE is off: the session cookie would travel over plain HTTP.",
    hint="Remove SESSION_COOKIE_SECURE=false from the environment.",
    id="ventures.E010",
)
E011 = Error(
    "CSRF_COOKIE_SECURE is off: the CSRF cookie would travel over plain HTTP.",
    hint="Remove CSRF_COOKIE_SECURE=false from the environment.",
    id="ventures.E011",
)
E012 = Error(
    "SESSION_COOKIE_HTTPONLY is off: any script on the page could read the "
    "session cookie.",
    hint="Remove SESSION_COOKIE_HTTPONLY=false from the environment.",
    id="ventures.E012",
)

E020 = Error(
    "SESSION_COOKIE_SAMESITE is %r, which Django does not emit as a SameSite "
    "attribute.",
    hint=f"Use exactly one of {', '.join(SAMESITE_VALUES)} (case matters).",
    id="ventures.E020",
)
E021 = Error(
    "SESSION_COOKIE_SAMESITE is %r but %s is cross-site to the API: the browser "
    "would never send it the session cookie.",
    hint="Set SESSION_COOKIE_SAMESITE=None, or serve the frontend from the API's "
    "registrable domain.",
    id="ventures.E021",
)
E022 = Error(
    "SESSION_COOKIE_SAMESITE is 'None' without Secure: browsers reject such a cookie.",
    hint="Keep SESSION_COOKIE_SECURE on.",
    id="ventures.E022",
)
W023 = Warning(
    "SESSION_COOKIE_SAMESITE is 'None' although every frontend origin is "
    "same-site to the API: it exposes the cookie to cross-site requests for "
    "nothing.",
    hint="Set SESSION_COOKIE_SAMESITE=Lax; sibling subdomains already get the cookie.",
    id="ventures.W023",
)

E030 = Error(
    "SESSION_COOKIE_DOMAIN %r is not a parent of %s.",
    hint="Set it to a domain that the API host and every FRONTEND_ORIGINS host "
    "end with, e.g. .example.com for api.example.com and app.example.com.",
    id="ventures.E030",
)
E031 = Error(
    "SESSION_COOKIE_DOMAIN %r is a public suffix: every site under it would "
    "receive the session cookie.",
    hint="Use the API's own registrable domain or a subdomain of it, or leave "
    "SESSION_COOKIE_DOMAIN unset for a host-only cookie.",
    id="ventures.E031",
)

E040 = Error(
    "FRONTEND_ORIGINS is empty: there is nowhere to send people after login and "
    "no origin may call the API.",
    hint="Set FRONTEND_ORIGINS=https://app.example.com (comma-separated).",
    id="ventures.E040",
)
E041 = Error(
    "FRONTEND_ORIGINS contains '*'.",
    hint="List each frontend origin exactly; credentials are never shared with "
    "every origin.",
    id="ventures.E041",
)
E042 = Error(
    "FRONTEND_ORIGINS entry %r is not an https:// origin.",
    hint="Write it as https://host[:port].",
    id="ventures.E042",
)
E043 = Error(
    "FRONTEND_ORIGINS entry %r has a path; an origin is scheme, host and port only.",
    hint="Use %s.",
    id="ventures.E043",
)
E044 = Error(
    "CORS allows every origin together with credentials: any site could read a "
    "logged-in user's data.",
    hint="Leave CORS_ALLOW_ALL_ORIGINS off; list origins in FRONTEND_ORIGINS.",
    id="ventures.E044",
)

E050 = Error(
    "ALLOWED_HOSTS is empty or contains '*': forged Host headers would be answered.",
    hint="Set ALLOWED_HOSTS to the API's host names, e.g. api.example.com.",
    id="ventures.E050",
)

E060 = Error(
    "PATREON_BASE_URL %r is not https: OAuth codes and tokens would travel in "
    "clear, or to a fake Patreon.",
    hint="Leave PATREON_BASE_URL unset (https://www.patreon.com) in production.",
    id="ventures.E060",
)
E061 = Error(
    "%s not set: nobody could log in with Patreon.",
    hint="Set both from the client registered at "
    "https://www.patreon.com/portal/registration/register-clients.",
    id="ventures.E061",
)
W062 = Warning(
    "PATREON_CAMPAIGN_ID is not set: every patron would show no tiers and no "
    "patron status.",
    hint="Set it to our campaign's id (the campaign's page on Patreon, or the "
    "API's /api/oauth2/v2/campaigns as the creator).",
    id="ventures.W062",
)
W063 = Warning(
    "PATREON_WEBHOOK_SECRETS is not set: Patreon's webhooks are refused (503), "
    "so a patron who cancels or is declined keeps their tiers until they log "
    "in again.",
    hint="Register the webhook in Patreon's portal (README, \"Patreon's "
    'webhook") and set PATREON_WEBHOOK_SECRETS to its secret.',
    id="ventures.W063",
)

E070 = Error(
    "The cache is %s, private to each process: every worker and instance would "
    "count login attempts on its own, multiplying each rate limit by their number.",
    hint="Set REDIS_URL=redis://host:6379/0, the Redis every instance shares.",
    id="ventures.E070",
)

E071 = Error(
    "DATABASE_POOLER is %r, which names no pooler the app knows how to run behind.",
    hint="Leave DATABASE_POOLER empty to connect to PostgreSQL itself, or set it "
    "to 'transaction' behind PgBouncer in transaction mode (deploy/pgbouncer.ini).",
    id="ventures.E071",
)

_ENTITLEMENTS_HINT = (
    "Write PATREON_ENTITLEMENTS as name:tier_id, comma-separated, several tier "
    "ids joined by |, e.g. supporter:77,pro:78|79; names are lowercase letters, "
    "digits, - and _."
)
E090 = Error(
    "PATREON_ENTITLEMENTS item %r is not name:tier_id[|tier_id...].",
    hint=_ENTITLEMENTS_HINT,
    id="ventures.E090",
)
E091 = Error(
    "PATREON_ENTITLEMENTS item %r has no name.",
    hint=_ENTITLEMENTS_HINT,
    id="ventures.E091",
)
E092 = Error(
    "PATREON_ENTITLEMENTS names %r twice: which tiers it means would depend on order.",
    hint="Give each entitlement one item, listing all its tier ids: pro:78|79.",
    id="ventures.E092",
)
_ENTITLEMENT_FAULTS = {
    entitlement_spec.BAD_FORMAT: E090,
    entitlement_spec.EMPTY_NAME: E091,
    entitlement_spec.DUPLICATE_NAME: E092,
}

E080 = Error(
    "DEBUG is %r, which is neither 'true' (development) nor 'false' (production).",
    hint="In production leave DEBUG unset or set DEBUG=false; DEBUG=true, "
    "lowercase, is for a developer's machine only.",
    id="ventures.E080",
)


def _formatted(message, *args, hint_args=()):
    """``message`` with its placeholders filled: same level, same id."""
    hint = message.hint % hint_args if hint_args else message.hint
    return type(message)(message.msg % args, hint=hint, id=message.id)


def _production_only(check):
    """``check``, passing in development: the policy is for production."""

    @functools.wraps(check)
    def in_production(app_configs, **kwargs):
        return [] if settings.DEBUG else check(app_configs, **kwargs)

    return in_production


def _secret_key():
    try:
        return settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to hand out an empty key.
        return ""


def _api_hosts():
    """The concrete hosts the API answers on (patterns like ``*`` dropped)."""
    return [h.lstrip(".") for h in settings.ALLOWED_HOSTS if h and h != "*"]


def _frontend_hosts():
    """Each frontend origin that names a host, with that host."""
    return {
        origin: urlsplit(origin).hostname
        for origin in settings.FRONTEND_ORIGINS
        if origin != "*" and urlsplit(origin).hostname
    }


def _cross_site_origins():
    """The frontend origins some API host is cross-site to."""
    hosts = _api_hosts()
    return [
        origin
        for origin, host in _frontend_hosts().items()
        if any(not same_site(host, api) for api in hosts)
    ]


@register(Tags.security)
@_production_only
def check_debug_spelling(app_configs, **kwargs):
    """E080: DEBUG is spelled so that nobody can misread the mode."""
    if settings.DEBUG_VALUE in PRODUCTION_DEBUG_VALUES:
        return []
    return [_formatted(E080, settings.DEBUG_VALUE)]


@register(Tags.security)
@_production_only
def check_secret_key(app_configs, **kwargs):
    """E001-E002: the signing key is set, strong and unpublished."""
    key = _secret_key()
    if not key:
        return [E001]
    faults = secret_keys.faults(key)
    return [_formatted(E002, "; ".join(faults))] if faults else []


@register(Tags.security)
@_production_only
def check_secret_key_fallbacks(app_configs, **kwargs):
    """E003, once per fallback: a fallback still verifies signatures."""
    key = _secret_key()
    errors = []
    for i, fallback in enumerate(settings.SECRET_KEY_FALLBACKS):
        faults = secret_keys.faults(fallback)
        if key and fallback == key:
            faults.append("it equals SECRET_KEY")
        if faults:
            errors.append(_formatted(E003, i, "; ".join(faults)))
    return errors


@register(Tags.security)
@_production_only
def check_session_cookie_secure(app_configs, **kwargs):
    """E010: the session cookie only over HTTPS."""
    return [] if settings.SESSION_COOKIE_SECURE else [E010]


@register(Tags.security)
@_production_only
def check_csrf_cookie_secure(app_configs, **kwargs):
    """E011: the CSRF cookie only over HTTPS."""
    return [] if settings.CSRF_COOKIE_SECURE else [E011]


@register(Tags.security)
@_production_only
def check_session_cookie_httponly(app_configs, **kwargs):
    """E012: the session cookie out of JavaScript's reach."""
    return [] if settings.SESSION_COOKIE_HTTPONLY else [E012]


@register(Tags.security)
@_production_only
def check_samesite_value(app_configs, **kwargs):
    """E020: SameSite is a value Django writes into the header."""
    samesite = settings.SESSION_COOKIE_SAMESITE
    return [] if samesite in SAMESITE_VALUES else [_formatted(E020, samesite)]


@register(Tags.security)
@_production_only
def check_samesite_lets_the_frontend_in(app_configs, **kwargs):
    """E021: Lax or Strict only where every frontend is same-site to the API."""
    samesite = settings.SESSION_COOKIE_SAMESITE
    cross_site = _cross_site_origins()
    if samesite not in ("Strict", "Lax") or not cross_site:
        return []
    return [_formatted(E021, samesite, ", ".join(cross_site))]


@register(Tags.security)
@_production_only
def check_samesite_none_is_secure(app_configs, **kwargs):
    """E022: browsers reject SameSite=None without Secure."""
    none = settings.SESSION_COOKIE_SAMESITE == "None"
    return [E022] if none and not settings.SESSION_COOKIE_SECURE else []


@register(Tags.security)
@_production_only
def check_samesite_none_is_needed(app_configs, **kwargs):
    """W023: SameSite=None only for a cross-site frontend."""
    if settings.SESSION_COOKIE_SAMESITE == "None" and not _cross_site_origins():
        return [W023]
    return []


@register(Tags.security)
@_production_only
def check_session_cookie_domain(app_configs, **kwargs):
    """E030-E031: a shared cookie domain covers our hosts and is not a public suffix."""
    domain = settings.SESSION_COOKIE_DOMAIN
    if not domain:
        return []
    if is_ip_address(domain.strip(".")) or is_public_suffix(domain):
        return [_formatted(E031, domain)]
    hosts = _api_hosts() + list(_frontend_hosts().values())
    uncovered = [h for h in hosts if not domain_covers(domain, h)]
    return [_formatted(E030, domain, ", ".join(uncovered))] if uncovered else []


@register(Tags.security)
@_production_only
def check_frontend_origins(app_configs, **kwargs):
    """E040-E043: frontend origins are listed, exact, and HTTPS."""
    if not settings.FRONTEND_ORIGINS:
        return [E040]
    errors = []
    for origin in settings.FRONTEND_ORIGINS:
        parts = urlsplit(origin)
        if origin == "*":
            errors.append(E041)
        elif parts.scheme != "https" or not parts.hostname:
            errors.append(_formatted(E042, origin))
        elif parts.path not in ("", "/") or parts.query or parts.fragment:
            fix = f"{parts.scheme}://{parts.netloc}"
            errors.append(_formatted(E043, origin, hint_args=(fix,)))
    return errors


@register(Tags.security)
@_production_only
def check_cors_never_trusts_every_origin(app_configs, **kwargs):
    """E044: credentials are never shared with every origin."""
    allow_all = getattr(settings, "CORS_ALLOW_ALL_ORIGINS", False)
    if allow_all and getattr(settings, "CORS_ALLOW_CREDENTIALS", False):
        return [E044]
    return []


@register(Tags.security)
@_production_only
def check_allowed_hosts(app_configs, **kwargs):
    """E050: the API answers only on the hosts it is deployed on."""
    if not _api_hosts() or "*" in settings.ALLOWED_HOSTS:
        return [E050]
    return []


@register(Tags.security)
@_production_only
def check_patreon_over_https(app_configs, **kwargs):
    """E060: OAuth tokens and codes only ever travel to Patreon over HTTPS."""
    if urlsplit(settings.PATREON_BASE_URL).scheme == "https":
        return []
    return [_formatted(E060, settings.PATREON_BASE_URL)]


@register(Tags.security)
@_production_only
def check_patreon_client(app_configs, **kwargs):
    """E061: the Patreon client is configured, so people can log in at all."""
    missing = [
        name
        for name in ("PATREON_CLIENT_ID", "PATREON_CLIENT_SECRET")
        if not getattr(settings, name).strip()
    ]
    return [_formatted(E061, " and ".join(missing))] if missing else []


@register(Tags.security)
@_production_only
def check_patreon_campaign(app_configs, **kwargs):
    """W062: our campaign is named, so patrons show their tiers."""
    return [] if settings.PATREON_CAMPAIGN_ID.strip() else [W062]


@register(Tags.security)
@_production_only
def check_patreon_webhook(app_configs, **kwargs):
    """W063: Patreon can tell us when a membership changes."""
    return [] if settings.PATREON_WEBHOOK_SECRETS else [W063]


@register(Tags.security)
@_production_only
def check_shared_cache(app_configs, **kwargs):
    """E070: rate limits count in a cache every worker and instance shares."""
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if backend in SHARED_CACHE_BACKENDS:
        return []
    return [_formatted(E070, backend or "not configured")]


@register(Tags.security)
@_production_only
def check_database_pooler(app_configs, **kwargs):
    """E071: the app knows what sits between it and PostgreSQL."""
    if settings.DATABASE_POOLER in DATABASE_POOLERS:
        return []
    return [_formatted(E071, settings.DATABASE_POOLER)]


@register(Tags.security)
def check_patreon_entitlements(app_configs, **kwargs):
    """
    E090-E092, in development too: an entitlement misread would open or
    close content to the wrong people.
    """
    spec = settings.PATREON_ENTITLEMENTS_VALUE
    return [
        _formatted(_ENTITLEMENT_FAULTS[kind], item)
        for kind, item in entitlement_spec.faults(spec)
    ]


def refuse_to_serve_unsafely():
    """
    Raise ImproperlyConfigured naming every serious system-check failure.

    gunicorn never runs system checks, so the WSGI entry point calls this:
    a worker that raises at import fails to boot and gunicorn exits.
    """
    serious = [
        message
        for message in run_checks(include_deployment_checks=True)
        if message.is_serious() and not message.is_silenced()
    ]
    if serious:
        # Django keeps the checks in a set: sort, so the list reads the same
        # on every start.
        serious.sort(key=lambda m: m.id or "")
        raise ImproperlyConfigured(
            "Refusing to start with an unsafe configuration:\n"
            + "\n".join(f"  {m}" for m in serious)
        )
