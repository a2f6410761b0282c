"""
The JSON API the frontend calls, under /api/.

One envelope: 200 with the user, or 401 with ``authenticated: false``.
Responses about the logged-in user are never cached by anyone.
"""

from django.contrib.auth import logout as auth_logout
from django.http import JsonResponse
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.views import View

from accounts import errors


def private(response):
    """Mark a response as per-user: no shared cache may keep or reuse it."""
    patch_cache_control(response, no_store=True, private=True)
    patch_vary_headers(response, ["Cookie"])
    return response


class ApiView(View):
    """A class-based view whose refusals are JSON, like its answers."""

    def http_method_not_allowed(self, request, *args, **kwargs):
        response = errors.json_error(405, "method_not_allowed")
        response["Allow"] = ", ".join(
            m.upper() for m in self.http_method_names if hasattr(self, m)
        )
        return response


def user_payload(user, session):
    """The /api/auth/me body for a logged-in user."""
    membership = getattr(user, "patreon", None)
    return {
        "authenticated": True,
        "user": {
            "id": user.pk,
            "username": user.get_username(),
            "email": user.email,
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
        },
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


def healthz(request):
    """The process is up; touches nothing else."""
    return JsonResponse({"status": "ok"})
