"""
allauth's own Patreon provider tests (tests/apps/socialaccount/providers/
patreon in allauth's source archive), run against our provider,
accounts.patreon.provider.PatreonProvider (SOCIALACCOUNT_PROVIDERS'
provider_class). allauth's harness fakes Patreon by mocking requests'
sessions (its tests/mocking.py); nothing of ours is mocked.

The tests that expect what this project refuses on purpose are overridden
with our behaviour, each pointing to its entry in docs/peer-contracts.md;
they still walk allauth's own login helper, PKCE checks included.
"""

from contextlib import contextmanager

from allauth.socialaccount import app_settings
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from tests.peers.sources import import_peer

mocking = import_peer("allauth_tests.mocking")
base = import_peer(
    "allauth_tests.apps.socialaccount.base", stand_ins={"tests.mocking": mocking}
)
allauth_patreon_tests = import_peer(
    "allauth_tests.apps.socialaccount.providers.patreon.tests",
    stand_ins={"tests.mocking": mocking, "tests.apps.socialaccount.base": base},
)


class DeployedClient(Client):
    """
    Django's test client (CSRF not enforced, as allauth's tests expect),
    speaking to the site as deployed: HTTPS, to the API host.
    """

    def __init__(self, **defaults):
        super().__init__(HTTP_HOST=settings.ALLOWED_HOSTS[0], **defaults)

    def generic(self, method, *args, **kwargs):
        kwargs["secure"] = True
        return super().generic(method, *args, **kwargs)


class PatreonProviderContractTests(allauth_patreon_tests.PatreonTests):
    client_class = DeployedClient

    # Deviation 6 (no signup form): a Patreon login signs up by itself.

    @contextmanager
    def _pkce(self, enabled):
        provider_settings = app_settings.PROVIDERS.get(self.app.provider, {}).copy()
        provider_settings["OAUTH_PKCE_ENABLED"] = enabled
        with self.settings(
            SOCIALACCOUNT_PROVIDERS={self.app.provider: provider_settings}
        ):
            yield

    def _assert_logged_in(self, response):
        assert response.status_code == 302
        assert response["Location"] == settings.LOGIN_REDIRECT_URL
        account = SocialAccount.objects.get(provider="patreon")
        assert account.uid == "123456"
        assert account.get_provider_account().to_str() == self.get_expected_to_str()
        me = self.client.get("/api/auth/me")
        assert me.json()["patreon"]["id"] == "123456"

    def test_login(self):
        """
        docs/peer-contracts.md, deviation 6: with our automatic signup the
        login ends logged in, not at allauth's signup form.
        """
        self._assert_logged_in(self.login(self.get_mocked_response()))

    def test_login_with_pkce_disabled(self):
        """docs/peer-contracts.md, deviation 6 (allauth checks PKCE is off)."""
        with self._pkce(enabled=False):
            self._assert_logged_in(self.login(self.get_mocked_response()))

    def test_login_with_pkce_enabled(self):
        """docs/peer-contracts.md, deviation 6 (allauth checks the PKCE pair)."""
        with self._pkce(enabled=True):
            self._assert_logged_in(self.login(self.get_mocked_response()))

    # Deviation 7 (one Patreon id per user, no tokens kept).

    def test_account_tokens(self):
        """
        docs/peer-contracts.md, deviation 7: connecting a Patreon account
        to a logged-in user is refused before Patreon is asked; nothing is
        linked, no token stored.
        """
        user = get_user_model().objects.create(username="user")
        self.client.force_login(user)
        response = self.client.post(
            self.provider.get_login_url(self.request, process="connect")
        )
        assert response.status_code == 400
        assert b"cannot be connected" in response.content
        assert not SocialAccount.objects.exists()
        assert not SocialToken.objects.exists()

    def test_account_refresh_token_saved_next_login(self):
        """
        docs/peer-contracts.md, deviation 7: Patreon's tokens are never
        kept (SOCIALACCOUNT_STORE_TOKENS is off), login after login.
        """
        for _ in range(2):
            self._assert_logged_in(self.login(self.get_mocked_response()))
            self.client.logout()
        assert not SocialToken.objects.exists()
