"""
What the session subsystem knows about the request being served, in one
``ContextVar`` set by ``sessions.middleware`` for each request.

Stores are created in places that never see the request (allauth re-creates
``request.session``), and Django's ``backend.get_user(user_id)`` is not given
the request either: both reach the request's context instead.
"""

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Client:
    """Where the request being served comes from."""

    ip: str | None
    user_agent: str


NO_CLIENT = Client(None, "")  # management commands, shells


@dataclass
class RequestContext:
    """
    ``client``: who sent the request, recorded on the rows it saves.
    ``user``: the owner of the session row the store loaded, fetched in the
    same query as the row, so authenticating costs no second query.
    """

    client: Client = NO_CLIENT
    user: object = None


_current = ContextVar("sessions_request_context", default=None)


def current():
    """The context of the request being served (an empty one outside requests)."""
    return _current.get() or RequestContext()


def begin(client):
    """Start a request's context; pass the returned token to ``end``."""
    return _current.set(RequestContext(client))


def end(token):
    """Drop the request's context."""
    _current.reset(token)
