"""
The fake's own routes, under ``/__fake/``, for tests that drive it over HTTP
(from another process too). Bodies are JSON; a bad one answers 400
``{"error": "<what is wrong>"}``; a change answers 204 unless said otherwise.

Requests and faults:
    GET /__fake/requests            the calls to Patreon's routes, oldest first
    DELETE /__fake/requests         forget them
    POST /__fake/faults             {"endpoint": "token"|"identity"|"campaigns"|
                                    "members"|"member", "mode": ..., options}
                                    (fake_patreon.faults)
    DELETE /__fake/faults           clear every fault

The world (fake_patreon.world, fake_patreon.actions):
    DELETE /__fake/world            everything back as started: memberships,
                                    campaign size, faults, requests, throttle,
                                    bugs, webhook target, creator settings
                                    (tokens already issued stay valid)
    GET /__fake/world/patrons/<id>  {"patron_id", "member_id", "membership":
                                    {attributes..., "currently_entitled_tiers":
                                    [tier ids], "pledge": [tier ids]} or null}
    POST /__fake/world/patrons/<id> {"action": "pledge"|"change_tiers"|
                                    "decline"|"recover"|"cancel"|"refund"|
                                    "delete"|"free_join"|"blip", "tiers": [ids]
                                    (pledge, change_tiers), "charge_status":
                                    (refund), "webhook": true|false,
                                    "signature": "right"|"wrong"|"uppercase"|
                                    "none"}: 200 with the state as GET gives
                                    it, 404 for an unknown patron
    GET /__fake/campaign            {"id", "size", "first_member_id", "total"}
    POST /__fake/campaign           {"size": N}: N dynamic members

The creator (patron 1000, every scope; fake_patreon.oauth):
    GET /__fake/creator             {"expires_in", "relogin_evicts"}
    POST /__fake/creator            {"expires_in": seconds, "relogin_evicts":
                                    bool}, either or both; expires_in applies
                                    to every token issued from then on
    POST /__fake/creator/token      200, the token endpoint's answer for the
                                    creator, as after a login
    POST /__fake/creator/revoke     every creator token dies: refresh answers
                                    401 invalid_grant, API calls 401
    POST /__fake/creator/expire     the creator's access tokens expire;
                                    their refresh tokens still work

Throttling and bugs (fake_patreon.throttle, fake_patreon.api):
    POST /__fake/throttle           {"calls": 1, "endpoint": null|<endpoint>,
                                    "retry_after": 9, "header": true,
                                    "body": true}: the next calls answer 429;
                                    or {"limiter": true|false} alone
    DELETE /__fake/throttle         nothing armed, limiter off
    GET /__fake/bugs                {"repeat_cursor": bool, "ignore_page_size":
                                    bool, "lose_place": bool}
    POST /__fake/bugs               the same object, or part of it

Webhooks (fake_patreon.webhooks.Outbox):
    POST /__fake/webhooks           {"url", "secret", "host"?}: deliver each action's
                                    event there, signed, in order
    GET /__fake/webhooks            {"url", "waiting", "deliveries": [{"event",
                                    "patron_id", "status" or "error"}]}
    DELETE /__fake/webhooks         deliver nothing more, forget deliveries
"""

from __future__ import annotations

import json
import re

from fake_patreon.actions import ActionError
from fake_patreon.world import FIRST_MEMBER_ID, UnknownPatron

# What every control body is refused for, besides ValueError.
BAD_BODY = (ValueError, KeyError, TypeError, AttributeError)


def patron_state(world, patron):
    """What GET /__fake/world/patrons/<id> answers for ``patron``."""
    membership = world.ours(patron)
    if membership is None:
        return {"patron_id": patron.id, "member_id": None, "membership": None}
    attributes = {
        name: value
        for name, value in vars(membership).items()
        if name not in {"campaign", "tiers", "pledge"}
    }
    return {
        "patron_id": patron.id,
        "member_id": patron.member_id(membership),
        "membership": {
            **attributes,
            "currently_entitled_tiers": [tier.id for tier in membership.tiers],
            "pledge": [tier.id for tier in membership.pledge],
        },
    }


class Controls:
    """The ``/__fake/`` routes, mixed into the fake's request handler."""

    def _json_object(self):
        """The request's body as a JSON object ({} if empty), or ValueError."""
        body = json.loads(self.body) if self.body.strip() else {}
        if not isinstance(body, dict):
            raise ValueError("The body must be a JSON object.")
        return body

    def _controlled(self, change):
        """Run ``change()``: 204, or 400 saying what is wrong with the body."""
        try:
            change()
        except BAD_BODY as problem:
            self._send_json(400, {"error": str(problem)})
        else:
            self._send_no_content()

    def get_requests(self):
        self._send_json(200, self.server.requests)

    def delete_requests(self):
        self._controlled(self.server.clear_requests)

    def post_faults(self):
        def set_fault():
            fault = self._json_object()
            self.server.set_fault(fault.pop("endpoint"), fault.pop("mode"), **fault)

        self._controlled(set_fault)

    def delete_faults(self):
        self._controlled(self.server.clear_faults)

    def delete_world(self):
        self._controlled(self.server.reset)

    def get_patron(self, patron_id):
        world = self.server.directory
        if (patron := world.patron(patron_id)) is None:
            self._send_json(404, {"error": f"No patron with id {patron_id!r}."})
        else:
            self._send_json(200, patron_state(world, patron))

    def post_patron(self, patron_id):
        try:
            options = self._json_object()
            action = options.pop("action", None)
            self.server.act(patron_id, action, **options)
        except UnknownPatron as unknown:
            self._send_json(404, {"error": str(unknown)})
        except (ActionError, *BAD_BODY) as problem:
            self._send_json(400, {"error": str(problem)})
        else:
            self.get_patron(patron_id)

    def get_campaign(self):
        world = self.server.directory
        self._send_json(
            200,
            {
                "id": world.campaign.id,
                "size": world.size,
                "first_member_id": FIRST_MEMBER_ID,
                "total": world.members(-1, 0)[1],
            },
        )

    def post_campaign(self):
        self._controlled(
            lambda: self.server.directory.resize(self._json_object()["size"])
        )

    def get_creator(self):
        self._send_json(200, self.server.creator_settings())

    def post_creator(self):
        self._controlled(lambda: self.server.set_creator(**self._json_object()))

    def post_creator_token(self):
        self._send_json(200, self.server.creator_token())

    def post_creator_revoke(self):
        self._controlled(self.server.revoke_creator)

    def post_creator_expire(self):
        self._controlled(self.server.expire_creator)

    def post_throttle(self):
        def throttle():
            options = self._json_object()
            if "limiter" in options:
                if len(options) > 1:
                    raise ValueError("Send limiter alone.")
                self.server.throttle.limit(options["limiter"])
            else:
                self.server.throttle.arm(options)

        self._controlled(throttle)

    def delete_throttle(self):
        self._controlled(self.server.throttle.reset)

    def get_bugs(self):
        self._send_json(200, self.server.bugs.state())

    def post_bugs(self):
        self._controlled(lambda: self.server.bugs.set(self._json_object()))

    def get_webhooks(self):
        self._send_json(200, self.server.outbox.state())

    def post_webhooks(self):
        def configure():
            target = self._json_object()
            self.server.outbox.configure(
                target["url"],
                target["secret"],
                self.server.directory,
                host=target.get("host"),
            )

        self._controlled(configure)

    def delete_webhooks(self):
        self._controlled(self.server.outbox.clear)

    control_routes = {
        ("GET", "/__fake/requests"): get_requests,
        ("DELETE", "/__fake/requests"): delete_requests,
        ("POST", "/__fake/faults"): post_faults,
        ("DELETE", "/__fake/faults"): delete_faults,
        ("DELETE", "/__fake/world"): delete_world,
        ("GET", "/__fake/campaign"): get_campaign,
        ("POST", "/__fake/campaign"): post_campaign,
        ("GET", "/__fake/creator"): get_creator,
        ("POST", "/__fake/creator"): post_creator,
        ("POST", "/__fake/creator/token"): post_creator_token,
        ("POST", "/__fake/creator/revoke"): post_creator_revoke,
        ("POST", "/__fake/creator/expire"): post_creator_expire,
        ("POST", "/__fake/throttle"): post_throttle,
        ("DELETE", "/__fake/throttle"): delete_throttle,
        ("GET", "/__fake/bugs"): get_bugs,
        ("POST", "/__fake/bugs"): post_bugs,
        ("GET", "/__fake/webhooks"): get_webhooks,
        ("POST", "/__fake/webhooks"): post_webhooks,
        ("DELETE", "/__fake/webhooks"): delete_webhooks,
    }
    control_path_routes = {
        ("GET", re.compile(r"/__fake/world/patrons/([^/]+)")): get_patron,
        ("POST", re.compile(r"/__fake/world/patrons/([^/]+)")): post_patron,
    }
