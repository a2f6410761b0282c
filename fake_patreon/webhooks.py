"""
Patreon's webhook deliveries, as the fake sends them, over real HTTP.

Patreon POSTs a JSON:API document with two headers: ``X-Patreon-Event``
(the trigger) and ``X-Patreon-Signature``, the hex HMAC-MD5 of the raw body
under the webhook's secret; nothing else is signed (Patreon's
platform-documentation, ``_webhooks_v2.md``). The payloads follow real
deliveries: a ``member`` with ``address``, ``campaign``,
``currently_entitled_tiers`` and ``user`` relationships, the campaign, user
and tiers in ``included``. Beside them the odd shapes a receiver must survive:
the portal's "Send test" (``"id": null``), ``posts:publish``, API v1's
``pledges:create``; and the faults: wrong and uppercase signatures, tampered
bodies, duplicates, deliveries held back and sent in another order.

``Outbox`` is the sender inside the fake's process: once told where to post
(``/__fake/webhooks``), it delivers the matching event after each change to
the world, from a background thread, in order.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, replace

import requests

logger = logging.getLogger("fake_patreon")

EVENT_HEADER = "X-Patreon-Event"
SIGNATURE_HEADER = "X-Patreon-Signature"
API = "https://www.patreon.com/api/oauth2/v2"
# The triggers of API v2 (and the v1 ones still delivered to old webhooks).
MEMBER_EVENTS = (
    "members:create",
    "members:update",
    "members:delete",
    "members:pledge:create",
    "members:pledge:update",
    "members:pledge:delete",
)
LEGACY_EVENTS = ("pledges:create", "pledges:update", "pledges:delete")


def sign(body, secret):
    """Patreon's signature of ``body`` (bytes): hex HMAC-MD5 under ``secret``."""
    return hmac.new(secret.encode(), body, hashlib.md5).hexdigest()


def _ref(kind, ident):
    return {"id": ident, "type": kind}


def member_payload(directory, patron_id, *, campaign=None, tiers=None, **attributes):
    """
    A ``members:*`` body for ``patron_id``'s membership of ``campaign`` (ours
    by default), as the directory holds it. ``tiers`` replaces the entitled
    tiers (stale tiers after a delete and re-create); ``attributes``
    replace the member's own (a cancellation: ``patron_status``...).
    """
    patron = directory.patron(patron_id)
    campaign = campaign or directory.campaign
    membership = next(m for m in patron.memberships if m.campaign == campaign)
    return membership_payload(patron, membership, tiers=tiers, **attributes)


def membership_payload(patron, membership, *, tiers=None, **attributes):
    """The ``members:*`` body for ``patron``'s ``membership`` (see member_payload)."""
    campaign = membership.campaign
    tiers = membership.tiers if tiers is None else tiers
    member_id = patron.member_id(membership)
    return {
        "data": {
            "attributes": {
                "campaign_lifetime_support_cents": membership.lifetime_support_cents,
                "currently_entitled_amount_cents": (
                    membership.currently_entitled_amount_cents
                ),
                "email": patron.email,
                "full_name": patron.full_name,
                "is_follower": membership.is_follower,
                "last_charge_date": membership.last_charge_date,
                "last_charge_status": membership.last_charge_status,
                "lifetime_support_cents": membership.lifetime_support_cents,
                "next_charge_date": membership.next_charge_date,
                "note": "",
                "patron_status": membership.patron_status,
                "pledge_cadence": membership.pledge_cadence,
                "pledge_relationship_start": membership.pledge_relationship_start,
                "will_pay_amount_cents": membership.will_pay_amount_cents,
                **attributes,
            },
            "id": member_id,
            "relationships": {
                "address": {"data": None},
                "campaign": {
                    "data": _ref("campaign", campaign.id),
                    "links": {"related": f"{API}/campaigns/{campaign.id}"},
                },
                "currently_entitled_tiers": {
                    "data": [_ref("tier", tier.id) for tier in tiers]
                },
                "user": {
                    "data": _ref("user", patron.id),
                    "links": {"related": f"{API}/user/{patron.id}"},
                },
            },
            "type": "member",
        },
        "included": [
            {
                "attributes": {
                    "creation_name": campaign.creation_name,
                    "summary": campaign.summary,
                    "url": campaign.url,
                    "vanity": campaign.vanity,
                },
                "id": campaign.id,
                "type": "campaign",
            },
            {
                "attributes": {
                    "full_name": patron.full_name,
                    "url": f"https://www.patreon.com/user?u={patron.id}",
                    "vanity": patron.vanity,
                },
                "id": patron.id,
                "type": "user",
            },
            *(
                {
                    "attributes": {
                        "amount_cents": tier.amount_cents,
                        "title": tier.title,
                        "url": tier.url,
                    },
                    "id": tier.id,
                    "type": "tier",
                }
                for tier in tiers
            ),
        ],
        "links": {"self": f"{API}/members/{member_id}"},
    }


def portal_test_payload(directory):
    """
    The developer portal's "Send test": a member without an id, with
    attributes of API v1 that real deliveries lack.
    """
    campaign = directory.campaign
    return {
        "data": {
            "attributes": {
                "amount_cents": 100,
                "created_at": "2024-05-01T08:00:00.000+00:00",
                "declined_since": None,
                "full_name": "Test Patron",
                "patron_pays_fees": False,
                "patron_status": "active_patron",
                "pledge_cap_cents": None,
            },
            "id": None,
            "relationships": {
                "campaign": {"data": _ref("campaign", campaign.id)},
                "user": {"data": _ref("user", None)},
            },
            "type": "member",
        },
        "included": [],
    }


def post_payload(directory, post_id="60000001"):
    """A ``posts:publish`` body: a post of our campaign, nobody's membership."""
    return {
        "data": {
            "attributes": {
                "title": "A new venture",
                "published_at": "2024-05-02T09:00:00.000+00:00",
                "is_public": False,
                "url": f"/posts/{post_id}",
            },
            "id": post_id,
            "relationships": {
                "campaign": {"data": _ref("campaign", directory.campaign.id)},
                "user": {"data": _ref("user", "9999")},
            },
            "type": "post",
        },
        "included": [],
    }


def legacy_pledge_payload(directory, patron_id):
    """API v1's ``pledges:create`` body, still sent to old webhooks."""
    return {
        "data": {
            "attributes": {
                "amount_cents": 300,
                "created_at": "2024-05-01T08:00:00.000+00:00",
                "declined_since": None,
                "patron_pays_fees": False,
                "pledge_cap_cents": None,
            },
            "id": "55500001",
            "relationships": {
                "creator": {"data": _ref("user", "9999")},
                "patron": {"data": _ref("user", patron_id)},
                "reward": {"data": _ref("reward", "7001")},
            },
            "type": "pledge",
        },
        "included": [],
    }


@dataclass(frozen=True)
class Delivery:
    """One POST as Patreon makes it: the trigger, the raw body, the signature."""

    event: str
    body: bytes
    signature: str | None

    @classmethod
    def signed(cls, event, payload, secret):
        """``payload`` serialised once and signed with ``secret``."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        return cls(event, body, sign(body, secret))

    def uppercase(self):
        """The same signature in uppercase hex (still right)."""
        return replace(self, signature=self.signature.upper())

    def signed_with(self, secret):
        """The same body signed with another secret (wrong, unless it is ours)."""
        return replace(self, signature=sign(self.body, secret))

    def unsigned(self):
        return replace(self, signature=None)

    def tampered(self, old=b'"active_patron"', new=b'"former_patron"'):
        """The body changed after signing: the signature no longer matches."""
        body = self.body.replace(old, new, 1)
        if body == self.body:
            body = self.body + b" "
        return replace(self, body=body)

    def headers(self):
        headers = {EVENT_HEADER: self.event, "Content-Type": "application/json"}
        if self.signature is not None:
            headers[SIGNATURE_HEADER] = self.signature
        return headers


@dataclass(frozen=True)
class Answer:
    """What the receiver answered, and how long the acknowledgement took."""

    status: int
    body: bytes
    seconds: float

    def json(self):
        return json.loads(self.body)


class _NamedHostAdapter(requests.adapters.HTTPAdapter):
    """TLS to an address, naming (SNI) and verifying ``host`` instead."""

    def __init__(self, host):
        self._host = host
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(
            *args, **kwargs, server_hostname=self._host, assert_hostname=self._host
        )


class WebhookSender:
    """
    Posts deliveries to ``url`` over real HTTP, signed with ``secret``; it
    can hold deliveries back and send them later in any order, as a retry
    queue flushed by Patreon would.
    """

    def __init__(self, url, secret, directory, *, headers=None, timeout=10, host=None):
        self.url = url
        # Sent with every delivery (X-Forwarded-Proto from a test's proxy).
        self.headers = headers or {}
        self.secret = secret
        self.directory = directory
        self.timeout = timeout
        self.held = []
        self._session = requests.Session()
        if host:
            # The receiver's name where ``url`` holds its address (a test's
            # nginx on 127.0.0.1): sent as Host, and as TLS's server name.
            self.headers = {"Host": host, **self.headers}
            self._session.mount(url, _NamedHostAdapter(host))

    def member_event(self, patron_id, event="members:update", **options):
        """A signed ``members:*`` delivery for ``patron_id`` (see member_payload)."""
        payload = member_payload(self.directory, patron_id, **options)
        return Delivery.signed(event, payload, self.secret)

    def portal_test(self, event="members:create"):
        return Delivery.signed(event, portal_test_payload(self.directory), self.secret)

    def post_published(self):
        payload = post_payload(self.directory)
        return Delivery.signed("posts:publish", payload, self.secret)

    def legacy_pledge(self, patron_id):
        payload = legacy_pledge_payload(self.directory, patron_id)
        return Delivery.signed("pledges:create", payload, self.secret)

    def send(self, delivery, headers=None):
        """POST ``delivery``; the receiver's answer and its latency."""
        started = time.perf_counter()
        response = self._session.post(
            self.url,
            data=delivery.body,
            headers={**delivery.headers(), **self.headers, **(headers or {})},
            timeout=self.timeout,
            allow_redirects=False,
        )
        return Answer(
            response.status_code, response.content, time.perf_counter() - started
        )

    def hold(self, delivery):
        """Keep ``delivery`` back, as a failed delivery waits for its retry."""
        self.held.append(delivery)

    def flush(self, order=reversed):
        """Send the held deliveries (newest first by default); their answers."""
        held, self.held = self.held, []
        return [self.send(delivery) for delivery in order(held)]

    def close(self):
        self._session.close()


# How an Outbox signs a delivery, as an action's ``signature`` option asks.
SIGNATURES = {
    "right": lambda delivery: delivery,
    "wrong": lambda delivery: delivery.signed_with("not-the-webhook-secret"),
    "uppercase": Delivery.uppercase,
    "none": Delivery.unsigned,
}


class Outbox:
    """
    The fake's own deliveries: each change to the world, signed and posted
    to the configured URL by one background thread, oldest first. Failed
    deliveries are recorded, not retried.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._queue = queue.Queue()
        self._sender = None
        self._thread = None
        self._sent = []

    def configure(self, url, secret, directory, host=None):
        """
        Deliver to ``url``, signed with ``secret``, from now on; to ``host``
        (Host and TLS name) when ``url`` names an address.
        """
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"url must be an http(s) URL, not {url!r}.")
        if not isinstance(secret, str) or not secret:
            raise ValueError("secret must be a non-empty string.")
        with self._lock:
            self._sender = WebhookSender(url, secret, directory, host=host)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._deliver, name="fake Patreon webhooks", daemon=True
                )
                self._thread.start()

    def clear(self):
        """Deliver nothing more, and forget what was sent."""
        with self._lock:
            self._sender = None
            self._sent.clear()

    def state(self):
        """Where deliveries go (no secret), and what each delivery got."""
        with self._lock:
            return {
                "url": self._sender and self._sender.url,
                "waiting": self._queue.qsize(),
                "deliveries": list(self._sent),
            }

    def push(self, change, signature="right"):
        """Queue the delivery of ``change`` (a world.Change), if configured."""
        with self._lock:
            sender = self._sender
        if sender is None:
            return
        payload = membership_payload(change.patron, change.membership)
        delivery = Delivery.signed(change.trigger, payload, sender.secret)
        self._queue.put((sender, SIGNATURES[signature](delivery), change.patron.id))

    def _deliver(self):
        while (item := self._queue.get()) is not None:
            sender, delivery, patron_id = item
            outcome = {"event": delivery.event, "patron_id": patron_id}
            try:
                outcome["status"] = sender.send(delivery).status
            except requests.RequestException as error:
                logger.warning("Webhook delivery to %s failed: %s", sender.url, error)
                outcome["error"] = str(error)
            with self._lock:
                self._sent.append(outcome)
            self._queue.task_done()
        self._queue.task_done()

    def close(self):
        """Stop the background thread once the queued deliveries are sent."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None
