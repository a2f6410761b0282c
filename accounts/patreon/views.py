"""
The OAuth2 adapter (Patreon's endpoints and the identity call), the
callback view, whose writes make one transaction, and the webhook Patreon
calls (its logic in accounts.patreon.webhooks).
"""

import logging
from contextlib import suppress

from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.helpers import (
    complete_social_login,
    render_authentication_error,
)
from allauth.socialaccount.providers.base import ProviderException
from allauth.socialaccount.providers.base.constants import AuthError, AuthProcess
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import (
    OAuth2Adapter,
    OAuth2CallbackView,
    OAuth2LoginView,
)
from allauth.utils import build_absolute_uri
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.base import UpdateError
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, transaction
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from requests import RequestException

from accounts import login_failures
from accounts.api import ApiView
from accounts.patreon import creator_login, identity, memberships, webhooks
from accounts.ratelimit import limit_per_ip
from sessions.middleware import sessionless
from ventures import errors, events

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
        return build_absolute_uri(request, self.get_provider().get_callback_url())

    def complete_login(self, request, app, token, **kwargs):
        # The snapshot is as new as the moment the read started: a read that
        # started later, even if it lands first, wins (memberships.apply).
        read_started_at = timezone.now()
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
        data["membership"] = memberships.to_extra_data(
            identity.membership(document, settings.PATREON_CAMPAIGN_ID),
            read_started_at,
        )
        return self.get_provider().sociallogin_from_response(request, data)


class PatreonCallbackView(OAuth2CallbackView):
    """
    allauth's callback, in the same steps, but every write of the login
    (user, social account, email address, profile, membership) in one
    transaction: a failure anywhere leaves nothing half-written, and a
    database error is a ``login_failed`` with a friendly page, not a 500.

    The transaction opens only once Patreon has answered, so no lock is held
    while the token and identity calls wait (up to PATREON_TIMEOUT each).
    """

    def dispatch(self, request, *args, **kwargs):
        try:
            return self._log_in(request)
        except login_failures.LoginRefused as refused:
            response = login_failures.refuse(request, refused.reason, refused.status)
        except (DatabaseError, UpdateError) as e:
            # The session store reports a failed write as UpdateError.
            error = e.__context__ if isinstance(e, UpdateError) else e
            reason = login_failures.database_reason(error)
            status = 500 if reason == login_failures.DATABASE_ERROR else 503
            detail = f"{type(error).__name__}: {error}"[:300]
            response = login_failures.refuse(request, reason, status, detail)
        # Whatever the rolled-back login put in the session (the user's id
        # after django's login()) goes too: nobody is logged in. flush() has
        # emptied it before it fails on a database that is still down.
        with suppress(DatabaseError):
            request.session.flush()
        request.user = AnonymousUser()
        return response

    def _log_in(self, request):
        provider = self.adapter.get_provider()
        state, response = self._get_state(request, provider)
        if response:
            return response
        if "error" in request.GET or "code" not in request.GET:
            cancelled = request.GET.get("error") == self.adapter.login_cancelled_error
            return render_authentication_error(
                request,
                provider,
                error=AuthError.CANCELLED if cancelled else AuthError.UNKNOWN,
                extra_context={"state": state, "callback_view": self},
            )
        if state.get("process", AuthProcess.LOGIN) != AuthProcess.LOGIN:
            # Connecting is refused where a login starts (PatreonProvider);
            # only a state stashed before that refusal existed gets here.
            raise login_failures.LoginRefused(login_failures.CONNECT_REFUSED)
        app = provider.app
        client = self.adapter.get_client(request, app)
        try:
            answer = self.adapter.get_access_token_data(
                request, app, client, pkce_code_verifier=state.get("pkce_code_verifier")
            )
            token = self.adapter.parse_token(answer)
            login = self.adapter.complete_login(request, app, token, response=answer)
        except (
            PermissionDenied,
            OAuth2Error,
            RequestException,
            ProviderException,
        ) as e:
            return render_authentication_error(
                request, provider, exception=e, extra_context={"state": state}
            )
        login.token, login.state = token, state
        with transaction.atomic():
            response = complete_social_login(request, login)
        if request.user.is_authenticated:
            creator_login.adopt(login.account.uid, answer)
        return response


oauth2_login = limit_per_ip("login")(OAuth2LoginView.adapter_view(PatreonOAuth2Adapter))
oauth2_callback = limit_per_ip("callback")(
    PatreonCallbackView.adapter_view(PatreonOAuth2Adapter)
)


class WebhookView(ApiView):
    """
    ``POST /api/patreon/webhook``, where Patreon delivers the campaign's
    webhooks (accounts.patreon.webhooks). The signature is the only
    credential: no session, cookie or CSRF token (Patreon has none).

    After a valid signature the answer is 200 even for events we ignore:
    Patreon pauses a webhook whose deliveries keep failing, and one odd event
    must not stop the others.
    """

    def post(self, request):
        secrets = settings.PATREON_WEBHOOK_SECRETS
        if not secrets:
            return self.refuse(request, 503, "webhook_not_configured", logging.ERROR)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > webhooks.MAX_BODY_BYTES:
            return self.refuse(request, 413, "payload_too_large")
        # Read from the stream, not request.body: DATA_UPLOAD_MAX_MEMORY_SIZE
        # (2.5 MiB) is not our limit, and nothing may parse before the check.
        body = request.read(webhooks.MAX_BODY_BYTES + 1)
        if len(body) > webhooks.MAX_BODY_BYTES:
            return self.refuse(request, 413, "payload_too_large")
        signature = request.META.get("HTTP_X_PATREON_SIGNATURE", "")
        if not webhooks.signature_matches(body, signature, secrets):
            return self.refuse(request, 403, "invalid_signature")
        event = webhooks.event_name(request.META.get("HTTP_X_PATREON_EVENT"))
        try:
            receipt = webhooks.receive(event, body)
        except DatabaseError:
            logger.exception("Webhook %s not recorded: database error", event)
            return self.refuse(
                request,
                503,
                "database_unavailable",
                logging.ERROR,
                trigger=event,
                retry_after=errors.DATABASE_RETRY_AFTER,
            )
        delivery = receipt.delivery
        events.emit(
            events.PATREON_WEBHOOK,
            request,
            patreon_id=delivery.patreon_id or None,
            trigger=event,
            outcome=delivery.outcome,
            duplicate=receipt.duplicate,
        )
        return JsonResponse(
            {
                "received": True,
                "event": event,
                "outcome": delivery.outcome,
                "duplicate": receipt.duplicate,
            }
        )

    @staticmethod
    def refuse(
        request, status, code, level=logging.WARNING, trigger=None, retry_after=None
    ):
        """A JSON error, and the event saying why (never the body or signature)."""
        events.emit(
            events.PATREON_WEBHOOK,
            request,
            level=level,
            trigger=trigger,
            outcome=f"refused:{code}",
        )
        response = errors.json_error(status, code, WEBHOOK_REFUSALS[code])
        if retry_after is not None:
            response["Retry-After"] = str(retry_after)
        return response


WEBHOOK_REFUSALS = {
    "webhook_not_configured": "Webhooks are not configured here "
    "(PATREON_WEBHOOK_SECRETS).",
    "payload_too_large": f"A webhook body is at most {webhooks.MAX_BODY_BYTES} bytes.",
    "invalid_signature": "The X-Patreon-Signature header does not sign this body.",
    "database_unavailable": errors.MESSAGES[503],
}

webhook = sessionless(csrf_exempt(WebhookView.as_view()))
