"""
Forward auth for other services: ``GET /api/auth/check?entitlement=pro``,
built for nginx's ``auth_request`` (and Traefik's or Caddy's forward auth)
in front of them (deploy/nginx/).

204 with ``X-Auth-User-Id``, ``X-Auth-Patreon-Id`` and
``X-Auth-Entitlements`` (every entitlement the person has, comma-separated)
when allowed; without ``entitlement``, any logged-in person is. 401 nobody
logged in; 403 refused (accounts.access's envelope); 400 a request the
proxy got wrong: several ``entitlement`` parameters, or a name
PATREON_ENTITLEMENTS does not configure (the answer lists the known ones).

The proxy asks on every request it serves, so the answer is never cached,
and the session is read, never written: no activity write, no cookie.
"""

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone

from accounts import entitlements
from accounts.access import entitlement_required
from accounts.api import ApiView, logged_out, private
from sessions.middleware import session_read_only
from ventures import errors

USER_ID_HEADER = "X-Auth-User-Id"
PATREON_ID_HEADER = "X-Auth-Patreon-Id"
ENTITLEMENTS_HEADER = "X-Auth-Entitlements"


def _bad_request(code, detail):
    return private(errors.json_error(400, code, detail, known=entitlements.known()))


def allowed(request, decisions):
    """The 204 naming the person and what they are entitled to."""
    user = request.user
    membership = getattr(user, "patreon", None)
    response = HttpResponse(status=204)
    response[USER_ID_HEADER] = str(user.pk)
    response[PATREON_ID_HEADER] = membership.patreon_id if membership else ""
    response[ENTITLEMENTS_HEADER] = ",".join(
        name for name, decision in decisions.items() if decision.allowed
    )
    return private(response)


class CheckView(ApiView):
    def get(self, request):
        """May the session's person use ``entitlement``? Answered in headers."""
        names = request.GET.getlist("entitlement")
        if len(names) > 1:
            return _bad_request("bad_request", "Ask for one entitlement per check.")
        name = names[0] if names else None
        # Never echoed: the value is the caller's, of any length.
        if name is not None and name not in settings.PATREON_ENTITLEMENTS:
            return _bad_request("unknown_entitlement", "No such entitlement.")
        if not request.user.is_authenticated:
            return private(logged_out(request))
        decisions = entitlements.decisions(request.user, timezone.now())
        if name is not None and not decisions[name].allowed:
            return entitlement_required(request, name, decisions[name].reason)
        return allowed(request, decisions)


check = session_read_only(CheckView.as_view())
