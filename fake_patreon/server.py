"""
Patreon's OAuth2 flow and API v2 identity endpoint, faked over real HTTP.

Only ever on loopback: the fake hands out tokens to anyone who asks. Paths,
parameters, status codes and bodies follow patreon.com, so the app under test
runs its real HTTP client against it; ``/__fake/`` paths are the fake's own,
for tests that drive it from another process.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
import threading
from http.server import ThreadingHTTPServer

from fake_patreon.api import Bugs
from fake_patreon.faults import checked_fault
from fake_patreon.handler import Handler
from fake_patreon.oauth import SCOPES, TOKEN_LIFETIME, Grants
from fake_patreon.patrons import CREATOR_ID
from fake_patreon.throttle import Throttle
from fake_patreon.webhooks import SIGNATURES, Outbox
from fake_patreon.world import World

logger = logging.getLogger("fake_patreon")


class FakePatreon(ThreadingHTTPServer):
    """
    A fake patreon.com on ``host``:``port`` (0 picks a free port).

    Use it as a context manager, or call ``start()`` and ``stop()``.
    """

    daemon_threads = True
    # Tests log in a hundred patrons at once; socketserver's backlog of 5
    # would refuse some of their connections.
    request_queue_size = 128

    def __init__(
        self,
        host="127.0.0.1",
        port=0,
        client_id="fake-client-id",
        client_secret="fake-client-secret",  # noqa: S107 (a fake's fake secret)
        campaign_id="9000001",
        campaign_size=0,
    ):
        try:
            is_loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            is_loopback = False
        if not is_loopback:
            raise ValueError(
                f"FakePatreon binds loopback IP addresses only, such as 127.0.0.1, "
                f"not {host!r}: it grants tokens to anyone who can reach it."
            )
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.client_id = client_id
        self.client_secret = client_secret
        # The world, under the name the static directory had: the patrons.
        self.directory = World(campaign_id, campaign_size)
        self.grants = Grants()
        self.grants.evicting = {CREATOR_ID}
        self.throttle = Throttle()
        self.bugs = Bugs()
        self.outbox = Outbox()
        self._lock = threading.Lock()
        self._faults = {}
        self._requests = []
        self._thread = None
        super().__init__((host, port), Handler)

    @property
    def base_url(self):
        """Where the fake answers, such as http://127.0.0.1:8765."""
        host, port = self.server_address[:2]
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"

    def start(self):
        """Serve from a background thread; return self."""
        # shutdown() waits up to a poll interval: keep stop() quick for tests.
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakePatreon {self.base_url}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self):
        """Stop serving and close the listening socket."""
        # shutdown() waits for serve_forever(), forever if it never ran.
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.outbox.close()
        self.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def reset(self):
        """
        Everything as started, but the tokens issued: the world, faults,
        requests, throttle, bugs, webhook target, creator settings.
        """
        self.directory.reset()
        self.clear_faults()
        self.clear_requests()
        self.throttle.reset()
        self.bugs.reset()
        self.outbox.clear()
        self.grants.lifetime = TOKEN_LIFETIME
        self.grants.evicting = {CREATOR_ID}

    def act(self, patron_id, action, *, webhook=True, signature="right", **options):
        """
        Apply ``action`` to ``patron_id``'s membership of our campaign (see
        ``fake_patreon.actions``); unless ``webhook`` is false, deliver its
        event, its ``signature`` one of SIGNATURES. Return the world.Change.
        """
        if not isinstance(webhook, bool):
            raise ValueError("webhook must be true or false.")
        if signature not in SIGNATURES:
            raise ValueError(f"signature must be one of {tuple(SIGNATURES)}.")
        change = self.directory.act(patron_id, action, options)
        if webhook:
            self.outbox.push(change, signature)
        return change

    def creator_settings(self):
        return {
            "expires_in": self.grants.lifetime,
            "relogin_evicts": CREATOR_ID in self.grants.evicting,
        }

    def set_creator(self, *, expires_in=None, relogin_evicts=None):
        """Set the tokens' lifetime, and whether a creator's login evicts."""
        if expires_in is not None:
            if isinstance(expires_in, bool) or not isinstance(expires_in, int):
                raise ValueError(f"expires_in must be an integer, not {expires_in!r}.")
            if expires_in < 1:
                raise ValueError("expires_in must be at least 1 second.")
            self.grants.lifetime = expires_in
        if relogin_evicts is not None:
            if not isinstance(relogin_evicts, bool):
                raise ValueError("relogin_evicts must be true or false.")
            self.grants.evicting = {CREATOR_ID} if relogin_evicts else set()

    def creator_token(self):
        """A token endpoint's answer for the creator, with every scope."""
        return self.grants.issue(CREATOR_ID, tuple(SCOPES))

    def revoke_creator(self):
        """Revoke every token of the creator."""
        self.grants.revoke(CREATOR_ID)

    def expire_creator(self):
        """Expire the creator's access tokens (refreshing still works)."""
        self.grants.expire(CREATOR_ID)

    def set_fault(self, endpoint, mode, **options):
        """
        Make ``endpoint`` (one of FAULT_ENDPOINTS) misbehave until cleared.

        ``mode`` is one of ``FAULT_MODES``; "slow" takes ``seconds``,
        "server_error" takes ``status`` (a 5xx code), "refused" (on "token"
        only) ``status`` (400 or 401) and ``error``, and "attributes" (on
        "identity" only) takes ``attributes``, a dict of any JSON values that
        replace the user's own in every identity answer.
        """
        mode, options = checked_fault(endpoint, mode, options)
        with self._lock:
            self._faults[endpoint] = (mode, options)

    def clear_faults(self):
        """Make every endpoint behave again."""
        with self._lock:
            self._faults.clear()

    @property
    def requests(self):
        """The requests received so far, oldest first, as JSON-ready dicts."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self):
        """Forget the requests received so far."""
        with self._lock:
            self._requests.clear()

    @property
    def issued_tokens(self):
        """Every access and refresh token issued, even revoked: to hunt leaks."""
        return self.grants.issued

    def handle_error(self, request, client_address):
        # A client that gave up on a slow fault hangs up before the answer.
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("%s hung up", client_address[0], exc_info=True)
        else:
            logger.exception("Error answering %s", client_address[0])

    def record(self, request):
        """Keep ``request`` for ``requests``."""
        with self._lock:
            self._requests.append(request)

    def fault(self, endpoint):
        """The fault set on ``endpoint``: (mode, options), or None."""
        with self._lock:
            return self._faults.get(endpoint)
