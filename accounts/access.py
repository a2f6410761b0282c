"""
Entitlement gates for Django views: ``require_entitlement("pro")`` on a
function view, ``EntitlementRequiredMixin`` (``entitlement = "pro"``) on a
class-based one.

Nobody logged in gets the API's 401 (``authenticated: false`` and a
``login_url``); a refusal gets 403 ``{"error": "entitlement_required",
"entitlement", "reason", "detail", "login_url"}``. Both are never cached.
The decision reads the membership the session lookup loaded with the user:
no query of its own.
"""

from functools import wraps

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils import timezone

from accounts import entitlements
from accounts.api import logged_out, private
from ventures import errors

# What each refusal tells the person, and what to do about it.
DETAILS = {
    entitlements.NOT_MEMBER: "This needs a membership of our campaign on Patreon.",
    entitlements.MEMBERSHIP_STALE: (
        "Your Patreon membership was last checked too long ago: log in again "
        "to refresh it."
    ),
    entitlements.NOT_ENTITLED: "Your Patreon tier does not include this.",
    entitlements.REFUNDED: "Your last Patreon payment was refunded.",
    entitlements.FRAUD: "Your last Patreon payment was refused by Patreon.",
    entitlements.DECLINED_PAST_GRACE: (
        "Your last Patreon payment was declined: update it on Patreon, then "
        "log in again."
    ),
}


def entitlement_required(request, name, reason):
    """The 403 for ``name`` refused for ``reason``, with where to log in again."""
    return private(
        errors.json_error(
            403,
            "entitlement_required",
            DETAILS[reason],
            entitlement=name,
            reason=reason,
            login_url=request.build_absolute_uri(reverse("login")),
        )
    )


def refusal(request, name):
    """
    None if the request's user has the entitlement ``name``; otherwise the
    401 or 403 to answer. A name PATREON_ENTITLEMENTS does not configure is
    a mistake in the code or the deployment, never the visitor's: it raises
    ImproperlyConfigured, so it is logged and nobody gets in.
    """
    if name not in settings.PATREON_ENTITLEMENTS:
        raise ImproperlyConfigured(
            f"Entitlement {name!r} is not in PATREON_ENTITLEMENTS "
            f"(configured: {', '.join(entitlements.known()) or 'none'})."
        )
    if not request.user.is_authenticated:
        return private(logged_out(request))
    decision = entitlements.decide_for(request.user, name, timezone.now())
    if decision.allowed:
        return None
    return entitlement_required(request, name, decision.reason)


def require_entitlement(name):
    """Decorate a view so only people with the entitlement ``name`` reach it."""

    def decorator(view):
        @wraps(view)
        def gated(request, *args, **kwargs):
            return refusal(request, name) or view(request, *args, **kwargs)

        return gated

    return decorator


class EntitlementRequiredMixin:
    """
    A class-based view only people with ``entitlement`` reach. List it
    before the view class, as Django's LoginRequiredMixin.
    """

    entitlement = None

    def dispatch(self, request, *args, **kwargs):
        if self.entitlement is None:
            raise ImproperlyConfigured(
                f"{type(self).__name__} is missing the entitlement attribute."
            )
        return refusal(request, self.entitlement) or super().dispatch(
            request, *args, **kwargs
        )
