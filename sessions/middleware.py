"""Session timeouts and activity, enforced on the server for every request."""

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from sessions import context
from sessions.context import Client
from ventures import events
from ventures.network import client_ip


def sessionless(view):
    """
    Mark ``view`` as one that never reads the session (a machine's endpoint,
    such as Patreon's webhook): no session lookup, no cookie, no
    ``Vary: Cookie``, whatever cookie the caller sends.
    """
    view.sessionless = True
    return view


def session_read_only(view):
    """
    Mark ``view`` as one that reads the session and never writes it (a check
    another server makes on every request it serves, such as nginx's
    ``auth_request``): no activity recorded, so no row write and no cookie.
    A session past its limits is refused, and left for the next ordinary
    request (or ``clear_expired_sessions``) to end.
    """
    view.session_read_only = True
    return view


class SessionActivityMiddleware:
    """
    Place it before SessionMiddleware: it names the client for the whole
    request (so rows created while the response is saved still get it), and
    its ``process_view`` runs once the user is known, before any view.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = context.begin(
            Client(client_ip(request), request.META.get("HTTP_USER_AGENT", ""))
        )
        try:
            return self.get_response(request)
        finally:
            context.end(token)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if getattr(view_func, "sessionless", False):
            return None
        session = request.session
        user = request.user
        read_only = getattr(view_func, "session_read_only", False)
        if not user.is_authenticated:
            if SESSION_KEY in session and not read_only:
                # The owner was deleted or deactivated: the session is dead.
                session.flush()
            return None
        # The store set the owner's limits when it loaded the row (with the
        # owner, in the same query): nothing to rebuild per request.
        if session.is_expired():
            if not read_only:
                events.emit(events.SESSION_EXPIRED, request, user=user)
                session.flush()
            request.user = AnonymousUser()
            return None
        if read_only:
            return None
        interval = settings.SESSION_ACTIVITY_INTERVAL
        if (timezone.now() - session.last_seen).total_seconds() >= interval:
            session.touch()
        return None
