"""
Our Patreon provider, registered under allauth's id ``patreon`` through
``SOCIALACCOUNT_PROVIDERS["patreon"]["provider_class"]``.

allauth's own asks patrons for creator scopes and speaks API v1 by default;
this one asks only who the person is and reads API v2.
"""

from allauth.account.models import EmailAddress
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.providers.base.constants import AuthProcess
from allauth.socialaccount.providers.patreon.provider import (
    PatreonProvider as AllauthPatreonProvider,
)
from django.urls import reverse

from accounts import login_failures
from accounts.patreon.views import PatreonOAuth2Adapter


class PatreonProvider(AllauthPatreonProvider):
    oauth2_adapter_class = PatreonOAuth2Adapter

    def get_redirect_from_request_kwargs(self, request):
        """
        Start a login, and nothing else: allauth's "connect" process would
        link another Patreon account to the logged-in user, and a user is one
        Patreon id for good (docs/security.md, "Identity").
        """
        kwargs = super().get_redirect_from_request_kwargs(request)
        if kwargs["process"] != AuthProcess.LOGIN:
            user = request.user if request.user.is_authenticated else None
            raise ImmediateHttpResponse(
                login_failures.refuse(
                    request, login_failures.CONNECT_REFUSED, 400, user=user
                )
            )
        return kwargs

    def get_callback_url(self):
        """
        The redirect URI registered with Patreon for the existing client: the
        adapter sends it to Patreon, and allauth asks the provider for it.
        """
        return reverse("patreon-api-callback")

    def get_default_scope(self):
        return ["identity", "identity[email]"]

    def extract_uid(self, data):
        return str(data["id"])

    def extract_common_fields(self, data):
        # Attributes are already of the right type and length (identity.profile).
        attributes = data.get("attributes", {})
        return {
            "email": attributes.get("email"),
            "first_name": attributes.get("first_name") or "",
            "last_name": attributes.get("last_name") or "",
            "name": attributes.get("full_name") or "",
        }

    def extract_email_addresses(self, data):
        attributes = data.get("attributes", {})
        email = attributes.get("email")
        if not email:
            return []
        # Trusted only when Patreon says so; never used to link accounts.
        verified = attributes.get("is_email_verified") is True
        return [EmailAddress(email=email, verified=verified, primary=True)]


provider_classes = [PatreonProvider]
