"""
The production policy (``ventures.policy``) as Django system checks.

Registered without ``deploy=True`` on purpose: ``runserver``, ``migrate`` and
every other command refuse a broken production configuration, not only
``check --deploy``. In development (``DEBUG=true``) the rules do not apply.
"""

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from ventures import policy

_LEVELS = {policy.ERROR: checks.Error, policy.WARNING: checks.Warning}


def policy_config():
    """The current Django settings, as the policy's input."""
    try:
        secret_key = settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to hand out an empty key.
        secret_key = ""
    return policy.Config(
        secret_key=secret_key,
        secret_key_fallbacks=tuple(settings.SECRET_KEY_FALLBACKS),
        allowed_hosts=tuple(settings.ALLOWED_HOSTS),
        frontend_origins=tuple(settings.FRONTEND_ORIGINS),
        session_cookie_secure=settings.SESSION_COOKIE_SECURE,
        session_cookie_httponly=settings.SESSION_COOKIE_HTTPONLY,
        csrf_cookie_secure=settings.CSRF_COOKIE_SECURE,
        session_cookie_samesite=settings.SESSION_COOKIE_SAMESITE,
        session_cookie_domain=settings.SESSION_COOKIE_DOMAIN,
        cors_allow_all_origins=getattr(settings, "CORS_ALLOW_ALL_ORIGINS", False),
        cors_allow_credentials=getattr(settings, "CORS_ALLOW_CREDENTIALS", False),
        patreon_base_url=settings.PATREON_BASE_URL,
        patreon_client_id=settings.PATREON_CLIENT_ID,
        patreon_client_secret=settings.PATREON_CLIENT_SECRET,
        patreon_campaign_id=settings.PATREON_CAMPAIGN_ID,
        debug_value=settings.DEBUG_VALUE,
        cache_backend=settings.CACHES["default"]["BACKEND"],
    )


def check_production_policy(app_configs, **kwargs):
    """ventures.E0NN/W0NN: the production security policy."""
    if settings.DEBUG:
        return []
    return [
        _LEVELS[f.level](f.msg, hint=f.hint, id=f.id)
        for f in policy.evaluate(policy_config())
    ]


def refuse_to_serve_unsafely():
    """
    Raise ImproperlyConfigured naming every serious system-check failure.

    gunicorn never runs system checks, so the WSGI entry point calls this:
    a worker that raises at import fails to boot and gunicorn exits.
    """
    serious = [
        message
        for message in checks.run_checks(include_deployment_checks=True)
        if message.is_serious() and not message.is_silenced()
    ]
    if serious:
        raise ImproperlyConfigured(
            "Refusing to start with an unsafe configuration:\n"
            + "\n".join(f"  {m}" for m in serious)
        )
