"""
Patreon's 429s: armed by a test for the next calls, or from a real limiter.

Patreon limits a client to 100 calls per 2 seconds and a token to 100 per
minute, and answers 429 with a JSON:API ``RequestThrottled`` error carrying
``retry_after_seconds`` (``_rate_limits.md``), reportedly with a
``Retry-After`` header too. A test arms the next ``calls`` calls (to one
endpoint or to any) with or without the header, with or without the body:
without both, the client has nothing to go by but its own default.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass

from fake_patreon.documents import error_document
from fake_patreon.faults import FAULT_ENDPOINTS

# (calls, seconds): per client, and per token.
CLIENT_LIMIT = (100, 2)
TOKEN_LIMIT = (100, 60)
RULE_OPTIONS = {
    "calls": 1,
    "endpoint": None,
    "retry_after": 9,
    "header": True,
    "body": True,
}


@dataclass(frozen=True)
class Refusal:
    """A 429 as Patreon sends it: its body (bytes, maybe empty) and headers."""

    body: dict | None
    headers: dict


def refusal(retry_after, header=True, body=True):
    """The 429 telling a client to come back in ``retry_after`` seconds."""
    document = None
    if body:
        document = error_document(
            429,
            None,
            "RequestThrottled",
            "You have made too many attempts. Please try again later.",
            retry_after_seconds=retry_after,
        )
    return Refusal(document, {"Retry-After": str(retry_after)} if header else {})


def checked_rule(options):
    """The armed rule ``options`` asks for, defaults filled in, or ValueError."""
    if not isinstance(options, dict):
        raise ValueError("The body must be an object.")
    if unknown := options.keys() - RULE_OPTIONS.keys():
        raise ValueError(
            f"Unknown option(s) {sorted(unknown)}: pick among {list(RULE_OPTIONS)}, "
            f'or send {{"limiter": true}} alone.'
        )
    rule = {**RULE_OPTIONS, **options}
    for name in ("calls", "retry_after"):
        value = rule[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0, not {value!r}.")
    if rule["endpoint"] is not None and rule["endpoint"] not in FAULT_ENDPOINTS:
        raise ValueError(
            f"endpoint must be null or one of {FAULT_ENDPOINTS}, "
            f"not {rule['endpoint']!r}."
        )
    if not isinstance(rule["header"], bool) or not isinstance(rule["body"], bool):
        raise ValueError("header and body must be true or false.")
    return rule


class Throttle:
    """The armed 429s and the optional limiter, shared by the server's threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        """Nothing armed, limiter off, every window empty."""
        with self._lock:
            self._rule = None
            self._limiter = False
            self._client_calls = deque()
            self._token_calls = {}

    def arm(self, options):
        """Refuse the next calls as ``options`` says (see RULE_OPTIONS)."""
        rule = checked_rule(options)
        with self._lock:
            self._rule = rule if rule["calls"] else None

    def limit(self, on):
        """Switch the real limiter on or off."""
        if not isinstance(on, bool):
            raise ValueError("limiter must be true or false.")
        with self._lock:
            self._limiter = on
            self._client_calls.clear()
            self._token_calls.clear()

    def check(self, endpoint, token):
        """A Refusal for this call to ``endpoint`` with ``token``, or None."""
        with self._lock:
            rule = self._rule
            if rule and rule["endpoint"] in (None, endpoint):
                rule["calls"] -= 1
                if not rule["calls"]:
                    self._rule = None
                return refusal(rule["retry_after"], rule["header"], rule["body"])
            if self._limiter and endpoint != "token":
                return self._limited(token)
        return None

    def _limited(self, token):
        now = time.time()
        windows = (
            (self._client_calls, CLIENT_LIMIT),
            (self._token_calls.setdefault(token, deque()), TOKEN_LIMIT),
        )
        for calls, (most, seconds) in windows:
            while calls and calls[0] <= now - seconds:
                calls.popleft()
            if len(calls) >= most:
                return refusal(max(1, math.ceil(calls[0] + seconds - now)))
        for calls, _ in windows:
            calls.append(now)
        return None
