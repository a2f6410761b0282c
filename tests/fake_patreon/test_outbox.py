"""
The fake's own webhook sender (fake_patreon.webhooks.Outbox): after each
world action, a signed delivery to a real local HTTP receiver.
"""

import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fake_patreon.webhooks import sign
from tests.fake_patreon.calls import act, control

SECRET = "receiver-secret"


class Receiver(ThreadingHTTPServer):
    """A webhook endpoint on loopback: keeps each POST, answers ``status``."""

    def __init__(self, status=200):
        self.received = queue.Queue()
        self.status = status
        super().__init__(("127.0.0.1", 0), ReceiverHandler)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/api/patreon/webhook"

    def next(self):
        """The next delivery: (headers, raw body); fails after 10 s without one."""
        return self.received.get(timeout=10)


class ReceiverHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.put((dict(self.headers), body))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        pass


@pytest.fixture
def receiver(fake):
    server = Receiver()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}
    )
    thread.start()
    response = control(fake, "POST", "webhooks", {"url": server.url, "secret": SECRET})
    assert response.status_code == 204
    yield server
    server.shutdown()
    thread.join()
    server.server_close()


def test_a_cancellation_is_delivered_signed(fake, receiver):
    member_id = act(fake, "1001", "cancel")["member_id"]

    headers, body = receiver.next()

    assert headers["X-Patreon-Event"] == "members:pledge:delete"
    assert headers["X-Patreon-Signature"] == sign(body, SECRET)
    payload = json.loads(body)
    assert payload["data"]["id"] == member_id
    assert payload["data"]["attributes"]["patron_status"] == "former_patron"
    assert payload["data"]["relationships"]["user"]["data"]["id"] == "1001"


@pytest.mark.parametrize(
    ("action", "options", "event"),
    [
        ("pledge", {"tiers": ["7002"]}, "members:pledge:create"),
        ("free_join", {}, "members:create"),
    ],
)
def test_each_action_has_its_trigger(fake, receiver, action, options, event):
    act(fake, "1005", action, **options)

    headers, _ = receiver.next()

    assert headers["X-Patreon-Event"] == event


def test_deliveries_arrive_in_order_with_the_state_after_each(fake, receiver):
    act(fake, "1001", "decline")
    act(fake, "1001", "recover")
    act(fake, "1001", "change_tiers", tiers=["7003"])

    deliveries = [receiver.next() for _ in range(3)]

    statuses = [
        (h["X-Patreon-Event"], json.loads(b)["data"]["attributes"]["patron_status"])
        for h, b in deliveries
    ]
    assert statuses == [
        ("members:update", "declined_patron"),
        ("members:update", "active_patron"),
        ("members:pledge:update", "active_patron"),
    ]
    last = json.loads(deliveries[-1][1])
    assert last["data"]["relationships"]["currently_entitled_tiers"]["data"] == [
        {"id": "7003", "type": "tier"}
    ]


def test_a_deleted_member_is_announced_as_it_was(fake, receiver):
    member_id = act(fake, "1003", "delete")["member_id"]
    assert member_id is None

    headers, body = receiver.next()

    assert headers["X-Patreon-Event"] == "members:delete"
    payload = json.loads(body)
    assert payload["data"]["attributes"]["patron_status"] == "former_patron"
    assert payload["data"]["relationships"]["user"]["data"]["id"] == "1003"


def test_a_missed_webhook(fake, receiver):
    act(fake, "1001", "cancel", webhook=False)
    act(fake, "1002", "cancel")

    _, body = receiver.next()

    assert json.loads(body)["data"]["relationships"]["user"]["data"]["id"] == "1002"
    assert receiver.received.empty()


@pytest.mark.parametrize(
    ("signature", "expected"),
    [
        ("wrong", lambda body: sign(body, "not-the-webhook-secret")),
        ("uppercase", lambda body: sign(body, SECRET).upper()),
        ("none", lambda body: None),
    ],
)
def test_signatures_on_request(fake, receiver, signature, expected):
    act(fake, "1001", "cancel", signature=signature)

    headers, body = receiver.next()

    assert headers.get("X-Patreon-Signature") == expected(body)
    assert headers.get("X-Patreon-Signature") != sign(body, SECRET)


def test_what_was_delivered_is_listed(fake, receiver):
    receiver.status = 403
    act(fake, "1001", "cancel")
    fake.outbox.close()  # waits for the queue to drain

    state = control(fake, "GET", "webhooks").json()

    assert state["url"] == receiver.url
    assert state["deliveries"] == [
        {"event": "members:pledge:delete", "patron_id": "1001", "status": 403}
    ]
    assert SECRET not in json.dumps(state)


def test_an_unreachable_receiver_is_recorded_not_retried(fake):
    control(fake, "POST", "webhooks", {"url": "http://127.0.0.1:9/hook", "secret": "s"})
    act(fake, "1001", "cancel")
    fake.outbox.close()  # waits for the queue to drain

    [delivery] = control(fake, "GET", "webhooks").json()["deliveries"]

    assert delivery["event"] == "members:pledge:delete"
    assert "error" in delivery


def test_without_a_target_nothing_is_sent(fake, receiver):
    assert control(fake, "DELETE", "webhooks").status_code == 204

    act(fake, "1001", "cancel")
    control(fake, "POST", "webhooks", {"url": receiver.url, "secret": SECRET})
    act(fake, "1002", "cancel")

    _, body = receiver.next()
    assert json.loads(body)["data"]["relationships"]["user"]["data"]["id"] == "1002"


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://x", "secret": "s"},
        {"url": "http://x"},
        {"url": "http://x", "secret": ""},
    ],
)
def test_bad_webhook_targets_are_refused(fake, body):
    response = control(fake, "POST", "webhooks", body)

    assert response.status_code == 400
    assert response.json()["error"]
