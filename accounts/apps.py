from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AdminConfig(admin_apps.AdminConfig):
    """Django's admin, with our site (its password login limited) as default."""

    default = False  # "accounts" in INSTALLED_APPS still means AccountsConfig
    default_site = "accounts.admin_site.AdminSite"


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self):
        from allauth.account.signals import user_logged_in
        from django.contrib.auth import signals as auth_signals
        from django.core import checks as django_checks
        from django.core.signals import got_request_exception

        from accounts import checks, health, login_failures, receivers
        from ventures.health import REPORTS

        user_logged_in.connect(receivers.record_login)
        auth_signals.user_logged_in.connect(receivers.record_login_succeeded)
        auth_signals.user_login_failed.connect(receivers.record_login_failed)
        user_logged_in.connect(receivers.record_email_verification)
        auth_signals.user_logged_in.connect(receivers.start_session_life)
        auth_signals.user_logged_out.connect(receivers.record_logout)
        got_request_exception.connect(login_failures.record_database_failure)
        django_checks.register(checks.check_token_keys, django_checks.Tags.security)
        django_checks.register(
            checks.check_token_key_format, django_checks.Tags.security
        )
        REPORTS["worker"] = health.worker
        REPORTS["patreon_credential"] = health.creator_credential
