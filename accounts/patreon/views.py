"""The OAuth2 adapter: Patreon's endpoints and the identity call."""

import logging

from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.providers.oauth2.views import (
    OAuth2Adapter,
    OAuth2CallbackView,
    OAuth2LoginView,
)
from allauth.utils import build_absolute_uri
from django.conf import settings
from django.urls import reverse

from accounts.patreon import identity
from accounts.ratelimit import limit_per_ip

logger = logging.getLogger(__name__)


class PatreonOAuth2Adapter(OAuth2Adapter):
    provider_id = "patreon"

    # Read per request, not at import, so PATREON_BASE_URL can point at the fake.
    @property
    def authorize_url(self):
        return f"{settings.PATREON_BASE_URL}/oauth2/authorize"

    @property
    def access_token_url(self):
        return f"{settings.PATREON_BASE_URL}/api/oauth2/token"

    @property
    def profile_url(self):
        return f"{settings.PATREON_BASE_URL}/api/oauth2/v2/identity"

    def get_callback_url(self, request, app):
        # The redirect URI registered with Patreon for the existing client.
        return build_absolute_uri(request, reverse("patreon-api-callback"))

    def complete_login(self, request, app, token, **kwargs):
        with get_adapter().get_requests_session() as session:
            response = session.get(
                self.profile_url,
                params=identity.IDENTITY_PARAMS,
                headers={"Authorization": f"Bearer {token.token}"},
            )
        if response.status_code != 200:
            raise identity.PatreonError(
                f"identity call answered HTTP {response.status_code}"
            )
        try:
            document = response.json()
        except ValueError as e:
            raise identity.PatreonError("identity answer is not JSON") from e
        data = identity.user_data(document)
        data["membership"] = identity.membership(document, settings.PATREON_CAMPAIGN_ID)
        return self.get_provider().sociallogin_from_response(request, data)


oauth2_login = limit_per_ip("login")(OAuth2LoginView.adapter_view(PatreonOAuth2Adapter))
oauth2_callback = limit_per_ip("callback")(
    OAuth2CallbackView.adapter_view(PatreonOAuth2Adapter)
)
