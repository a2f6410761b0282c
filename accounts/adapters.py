"""allauth adapters: where our rules meet allauth's flows."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.db import IntegrityError, transaction

from accounts import login_failures, redirects
from accounts.models import User
from accounts.patreon import identity
from accounts.patreon.transport import ObservedAdapter


class AccountAdapter(DefaultAccountAdapter):
    def is_safe_url(self, url):
        """Only our own paths and the exact frontend origins (no open redirect)."""
        return redirects.is_allowed_next(url)

    def get_login_redirect_url(self, request):
        return redirects.default_next()

    def respond_user_inactive(self, request, user):
        """A deactivated user's Patreon login fails, and says so in the log."""
        login_failures.emit(request, login_failures.USER_INACTIVE, user=user)
        return super().respond_user_inactive(request, user)


# Who calls Patreon: without an informative User-Agent its API "may drop
# calls with a 403" (platform-documentation, _intro.md). The version is
# pyproject.toml's (tests/test_memberships.py keeps them equal).
USER_AGENT_PRODUCT = "ventures-auth/0.1.0"


def patreon_user_agent():
    """
    The User-Agent of every Patreon call: our product and version, and where
    the deployment's people are (its first frontend origin), so Patreon can
    tell whose calls these are.
    """
    origins = settings.FRONTEND_ORIGINS
    return f"{USER_AGENT_PRODUCT} (+{origins[0]})" if origins else USER_AGENT_PRODUCT


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """
    A user is one Patreon id, for good: found by that id, named by it
    (``patreon-<id>``), never linked to another one (docs/security.md,
    "Identity").
    """

    def get_requests_session(self):
        """
        allauth's session for every Patreon call (token, identity), named,
        and each call to Patreon timed and counted (ventures.metrics).
        """
        session = super().get_requests_session()
        session.headers["User-Agent"] = patreon_user_agent()
        session.mount(f"{settings.PATREON_BASE_URL}/", ObservedAdapter())
        return session

    def on_authentication_error(
        self, request, provider, error=None, exception=None, extra_context=None
    ):
        """Log why a login failed; allauth then shows its friendly error page."""
        reason, detail = login_failures.reason_for(error, exception, extra_context)
        login_failures.emit(request, reason, detail, error=error)

    def pre_social_login(self, request, sociallogin):
        """
        A patron whose social account row is gone (deleted in the admin, or
        unlinked on allauth's old connections page) comes back to the user
        that holds their Patreon id, never to a second user.
        """
        if sociallogin.is_existing:
            return
        user = User.objects.filter(patreon__patreon_id=sociallogin.account.uid).first()
        if user is None:
            return
        try:
            with transaction.atomic():
                sociallogin.user = sociallogin.account.user = user
                sociallogin.account.save()
        except IntegrityError:
            # The same patron's other login (two tabs, a double click) made
            # the account since allauth looked for it: log in to that one.
            _adopt_existing_account(sociallogin)

    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        user.name = data.get("name") or ""
        # allauth splits a missing first or last name off the full name,
        # which fits the name column, not theirs.
        for field in ("first_name", "last_name"):
            max_length = User._meta.get_field(field).max_length
            setattr(user, field, getattr(user, field)[:max_length])
        user.username = identity.username(sociallogin.account.uid)
        return user

    def save_user(self, request, sociallogin, form=None):
        # Again: allauth blanks a username that is taken and makes one up
        # from the person's names (populate_username), so a display name of
        # "patreon-1001" would become someone else's username.
        sociallogin.user.username = identity.username(sociallogin.account.uid)
        try:
            with transaction.atomic():
                return super().save_user(request, sociallogin, form)
        except IntegrityError:
            # The same patron finished another login a moment ago (two tabs,
            # a double click): that one created the account; log in to it.
            if not _adopt_existing_account(sociallogin):
                # The username is held by an account that is not this
                # patron's (made by hand): refuse rather than rename.
                raise login_failures.LoginRefused(
                    login_failures.IDENTITY_CONFLICT, status=409
                ) from None
            return sociallogin.user


def _adopt_existing_account(sociallogin):
    """
    Point ``sociallogin`` at the Patreon account another login of the same
    patron has just created, with this login's fresh data; False if none.
    """
    account = (
        SocialAccount.objects.select_related("user")
        .filter(provider=sociallogin.account.provider, uid=sociallogin.account.uid)
        .first()
    )
    if account is None:
        return False
    account.extra_data = sociallogin.account.extra_data
    sociallogin.account, sociallogin.user = account, account.user
    return True
