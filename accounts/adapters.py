"""allauth adapters: where our rules meet allauth's flows."""

import logging

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialAccount
from django.db import IntegrityError, transaction

from accounts import events, redirects
from accounts.patreon.identity import PatreonError


class AccountAdapter(DefaultAccountAdapter):
    def is_safe_url(self, url):
        """Only our own paths and the exact frontend origins (no open redirect)."""
        return redirects.is_allowed_next(url)

    def get_login_redirect_url(self, request):
        return redirects.default_next()


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def on_authentication_error(
        self, request, provider, error=None, exception=None, extra_context=None
    ):
        """Log why a login failed; allauth then shows its friendly error page."""
        # Our own errors say what Patreon answered; others (allauth's token
        # error quotes the token endpoint's body) are named by type only, so
        # nothing secret reaches the log.
        if isinstance(exception, PatreonError):
            reason = str(exception)
        elif exception is not None:
            reason = type(exception).__name__
        else:
            reason = str(error or "unknown")
        events.emit(
            events.LOGIN_FAILED,
            request,
            level=logging.WARNING,
            provider=getattr(provider, "id", None),
            error=error,
            reason=reason,
        )

    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        user.name = data.get("name") or ""
        # Unique by construction: no race between two signups choosing a
        # username from the same display name.
        user.username = f"patreon-{sociallogin.account.uid}"
        return user

    def save_user(self, request, sociallogin, form=None):
        try:
            with transaction.atomic():
                return super().save_user(request, sociallogin, form)
        except IntegrityError:
            # The same patron finished another login a moment ago (two tabs,
            # a double click): that one created the account; log in to it.
            account = SocialAccount.objects.select_related("user").get(
                provider=sociallogin.account.provider, uid=sociallogin.account.uid
            )
            account.extra_data = sociallogin.account.extra_data
            sociallogin.account, sociallogin.user = account, account.user
            return account.user
