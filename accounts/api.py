"""
The JSON API the frontend calls, under /api/.

One envelope: 200 with the user, or 401 with ``authenticated: false``.
Responses about the logged-in user are never cached by anyone.
"""

from pathlib import Path

from django.conf import settings
from django.contrib.auth import logout as auth_logout
from django.http import HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.views import View

from accounts import entitlements
from accounts.patreon import memberships
from sessions.models import PUBLIC_ID_LENGTH
from ventures import errors


def private(response):
    """Mark a response as per-user: no shared cache may keep or reuse it."""
    patch_cache_control(response, no_store=True, private=True)
    patch_vary_headers(response, ["Cookie"])
    return response


class ApiView(View):
    """A class-based view whose refusals are JSON, like its answers."""

    def http_method_not_allowed(self, request, *args, **kwargs):
        return errors.method_not_allowed(
            m.upper() for m in self.http_method_names if hasattr(self, m)
        )


def isoformat(moment):
    """A datetime as ISO 8601, or None."""
    return moment and moment.isoformat()


def user_payload(user, session):
    """The /api/auth/me body for a logged-in user."""
    membership = getattr(user, "patreon", None)
    now = timezone.now()
    decided = entitlements.decisions(user, now)
    return {
        "authenticated": True,
        "user": {
            "id": user.pk,
            "username": user.get_username(),
            "email": user.email,
            "email_verified": user.email_verified,
            "name": user.name or user.get_full_name(),
            "avatar_url": user.avatar_url,
        },
        "patreon": membership
        and {
            "id": membership.patreon_id,
            "patron_status": membership.patron_status or None,
            "tiers": membership.tiers,
            "entitled_amount_cents": membership.entitled_amount_cents,
            "campaign_id": membership.campaign_id,
            "last_charge_status": membership.last_charge_status or None,
            "last_charge_date": isoformat(membership.last_charge_date),
            "next_charge_date": isoformat(membership.next_charge_date),
            "is_free_trial": membership.is_free_trial,
            "is_gifted": membership.is_gifted,
            "synced_at": membership.synced_at.isoformat(),
            "source": membership.source,
            # From the joined row alone: no Patreon call, no query.
            "stale": memberships.is_stale(membership, now),
        },
        # Decided from the joined row alone too (accounts.entitlements).
        "entitlements": [name for name, d in decided.items() if d.allowed],
        "entitlement_reasons": {name: d.reason for name, d in decided.items()},
        "session": {
            "created_at": session.created_at.isoformat(),
            "expires_at": session.get_expiry_date().isoformat(),
        },
    }


def logged_out(request):
    return JsonResponse(
        {
            "authenticated": False,
            "login_url": request.build_absolute_uri(reverse("login")),
        },
        status=401,
    )


class MeView(ApiView):
    def get(self, request):
        if not request.user.is_authenticated:
            return private(logged_out(request))
        return private(JsonResponse(user_payload(request.user, request.session)))


class CsrfView(ApiView):
    def get(self, request):
        """The CSRF token for the frontend's unsafe requests (X-CSRFToken)."""
        return private(JsonResponse({"csrf_token": get_token(request)}))


class LogoutView(ApiView):
    def post(self, request):
        """End the session on the server: its cookie is worthless afterwards."""
        was_authenticated = request.user.is_authenticated
        auth_logout(request)
        return private(
            JsonResponse({"authenticated": False, "logged_out": was_authenticated})
        )


def session_payload(row, current_key):
    """One entry of the caller's session list: an opaque id, never a key."""
    return {
        "id": row.public_id,
        "current": row.session_key == current_key,
        "created_at": row.created_at.isoformat(),
        "last_seen": row.last_seen.isoformat(),
        "expires_at": row.expire_date.isoformat(),
        "ip": row.ip,
        "user_agent": row.user_agent,
    }


def needs_recent_login(request):
    """403 with a re-login URL, for actions that need a fresh login."""
    return errors.json_error(
        403,
        "recent_login_required",
        "Log in again to end your other sessions.",
        login_url=request.build_absolute_uri(reverse("login")),
    )


OPENAPI_DOCUMENT = Path(__file__).with_name("openapi.json")


class OpenApiView(ApiView):
    def get(self, request):
        """The API's contract (OpenAPI 3.1), the same file the repository keeps."""
        return HttpResponse(
            OPENAPI_DOCUMENT.read_bytes(), content_type="application/json"
        )


class AuthenticatedApiView(ApiView):
    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return private(logged_out(request))
        return private(super().dispatch(request, *args, **kwargs))


class SessionsView(AuthenticatedApiView):
    def get(self, request):
        """The caller's own active sessions, the current one marked."""
        rows = request.user.sessions.active().order_by("-created_at")
        current = request.session.row_key
        return JsonResponse({"sessions": [session_payload(r, current) for r in rows]})


class SessionView(AuthenticatedApiView):
    def delete(self, request, public_id):
        """End one of the caller's sessions; another one needs a recent login."""
        # The public id is a prefix of the key hash: found in SQL, among the
        # caller's own rows.
        row = (
            request.user.sessions.active()
            .filter(session_key__startswith=public_id)
            .first()
            if len(public_id) == PUBLIC_ID_LENGTH
            else None
        )
        if row is None:
            return errors.json_error(404, "not_found", "No such session.")
        if row.session_key == request.session.row_key:
            auth_logout(request)
            return JsonResponse({"revoked": 1, "authenticated": False})
        if not request.session.is_recent_login(settings.SESSION_RECENT_LOGIN):
            return needs_recent_login(request)
        count = request.user.sessions.filter(pk=row.pk).revoke(
            by=request.user, request=request
        )
        return JsonResponse({"revoked": count, "authenticated": True})


class RevokeOthersView(AuthenticatedApiView):
    def post(self, request):
        """End every session of the caller but this one (needs a recent login)."""
        if not request.session.is_recent_login(settings.SESSION_RECENT_LOGIN):
            return needs_recent_login(request)
        count = request.user.sessions.exclude(pk=request.session.row_key).revoke(
            by=request.user, request=request, scope="users"
        )
        return JsonResponse({"revoked": count, "authenticated": True})
