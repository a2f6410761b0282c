"""
The fake's HTTP routes: Patreon's OAuth2 endpoints, API v2's identity and
creator endpoints, and (from ``fake_patreon.control``) ``/__fake/``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from functools import cached_property
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, unquote, urlsplit

from fake_patreon.api import campaigns_document, member_document, members_document
from fake_patreon.control import Controls
from fake_patreon.documents import (
    JSON,
    InvalidParameter,
    error_document,
    identity_document,
    unauthorized,
)
from fake_patreon.oauth import SCOPES, add_query, authorization_problem, scopes
from fake_patreon.pages import consent_page, error_page
from fake_patreon.patrons import CREATOR_ID

logger = logging.getLogger("fake_patreon")

# Recorded requests are printed by failing tests: no credentials in them.
REDACTED_FIELDS = {"client_secret", "code", "refresh_token"}


class Handler(Controls, BaseHTTPRequestHandler):
    """
    One request to the fake; ``routes`` maps (method, path) to its answer,
    ``path_routes`` (method, pattern) to the answer given the path's parts.
    """

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def log_message(self, format, *args):
        logger.debug("%s %s", self.address_string(), format % args)

    def _dispatch(self):
        url = urlsplit(self.path)
        self.query = dict(parse_qsl(url.query, keep_blank_values=True))
        self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not url.path.startswith("/__fake/"):
            request = {
                "method": self.command,
                "path": url.path,
                "query": self.query,
                # Patreon may drop calls without an informative one (_intro.md).
                "user_agent": self.headers.get("User-Agent"),
            }
            if self.command == "POST":
                request["form"] = {
                    name: "<redacted>" if name in REDACTED_FIELDS else value
                    for name, value in self.form.items()
                }
            self.server.record(request)
        route = self.routes.get((self.command, url.path))
        if route is not None:
            route(self)
            return
        for (method, pattern), route in self.path_routes.items():
            if method == self.command and (match := pattern.fullmatch(url.path)):
                route(self, *map(unquote, match.groups()))
                return
        self._send_not_found()

    @cached_property
    def form(self):
        return dict(
            parse_qsl(self.body.decode(errors="replace"), keep_blank_values=True)
        )

    # OAuth2.

    def authorize(self):
        params = self.query
        if problem := authorization_problem(params, self.server.client_id):
            self._send_html(400, error_page(problem))
        elif "fake_patron" in params:
            self._decide(
                params, params["fake_patron"], params.get("fake_decision", "allow")
            )
        else:
            self._send_html(
                200, consent_page(params, self.server.directory.seeded.values())
            )

    def consent(self):
        params = self.form
        if problem := authorization_problem(params, self.server.client_id):
            self._send_html(400, error_page(problem))
        else:
            self._decide(params, params.get("patron", ""), params.get("decision", ""))

    def _decide(self, params, patron_id, decision):
        patron = self.server.directory.patron(patron_id)
        if patron is None:
            self._send_html(400, error_page(f"No patron with id {patron_id!r}."))
            return
        if decision == "allow":
            # The client's own account gets every scope, whatever it asks for.
            granted = tuple(SCOPES) if patron.id == CREATOR_ID else scopes(params)
            self.server.directory.logged_in(patron.id)
            answer = {
                "code": self.server.grants.issue_code(
                    patron.id, granted, params["redirect_uri"]
                )
            }
        elif decision == "deny":
            answer = {"error": "access_denied"}
        else:
            self._send_html(400, error_page("The decision must be allow or deny."))
            return
        if "state" in params:
            answer["state"] = params["state"]
        self.send_response(302)
        self.send_header("Location", add_query(params["redirect_uri"], answer))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def token(self):
        if self._faulted("token"):
            return
        server, form = self.server, self.form
        if form.get("client_id") != server.client_id or (
            form.get("client_secret") != server.client_secret
        ):
            self._send_json(401, {"error": "invalid_client"})
            return
        # With one client, authenticating it binds the code to it too.
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            tokens = server.grants.exchange_code(
                form.get("code"), form.get("redirect_uri")
            )
            # A bad code is a 400, as OAuth2 says...
            refused = 400
        elif grant_type == "refresh_token":
            tokens = server.grants.refresh(form.get("refresh_token"))
            # ...but Patreon refuses a used or revoked refresh token with a 401.
            refused = 401
        else:
            self._send_json(400, {"error": "unsupported_grant_type"})
            return
        if tokens is None:
            self._send_json(refused, {"error": "invalid_grant"})
        else:
            self._send_json(200, tokens)

    # API v2.

    def identity(self):
        token = self._bearer_token()
        if self._faulted("identity", token):
            return
        grant = self.server.grants.grant_for(token)
        # Patreon refuses a token without the identity scope as if it were
        # unknown, whatever else it may grant.
        if grant is None or "identity" not in grant.scopes:
            self._send_json(401, unauthorized())
            return
        try:
            document = identity_document(
                self.server,
                self.server.directory.patron(grant.patron_id),
                grant.scopes,
                self.query,
                self._odd_attributes(),
            )
        except InvalidParameter as invalid:
            self._send_json(400, invalid.document)
        else:
            self._send_json(200, document)

    def campaigns(self):
        if self._creator_grant("campaigns", "campaigns") is not None:
            self._send_document(campaigns_document, self.server.directory, self.query)

    def members(self, campaign_id):
        if (grant := self._creator_grant("members", "campaigns.members")) is None:
            return
        world = self.server.directory
        if campaign_id != world.campaign.id:
            self._send_not_found()
        else:
            self._send_document(
                members_document, world, self.query, grant.scopes, self.server.bugs
            )

    def member(self, member_id):
        if (grant := self._creator_grant("member", "campaigns.members")) is None:
            return
        world = self.server.directory
        if (patron := world.member(member_id)) is None:
            self._send_not_found()
        else:
            self._send_document(
                member_document, world, patron, self.query, grant.scopes
            )

    def _creator_grant(self, endpoint, scope):
        """
        The grant of the creator's token that calls ``endpoint``, or None
        once answered: 401 without a valid token, 403 without the scope or
        for a patron's token, a fault or a 429 if one is set.
        """
        token = self._bearer_token()
        if self._faulted(endpoint, token):
            return None
        grant = self.server.grants.grant_for(token)
        if grant is None:
            self._send_json(401, unauthorized())
        elif grant.patron_id != CREATOR_ID or scope not in grant.scopes:
            self._send_json(
                403,
                error_document(
                    403,
                    1,
                    "Forbidden",
                    "Forbidden",
                    f"Only the campaign's creator may, with the {scope} scope.",
                ),
            )
        else:
            return grant
        return None

    def _bearer_token(self):
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" else None

    def _send_document(self, build, *args):
        """Answer 200 with ``build(*args, api_url)``, or 400 for a bad parameter."""
        try:
            document = build(*args, f"{self.server.base_url}/api/oauth2/v2")
        except InvalidParameter as invalid:
            self._send_json(400, invalid.document)
        else:
            self._send_json(200, document)

    def _send_not_found(self):
        self._send_json(
            404, error_document(404, None, "ResourceMissing", "Resource Missing")
        )

    def _odd_attributes(self):
        """The attributes an "attributes" fault replaces, or none."""
        fault = self.server.fault("identity")
        return fault[1]["attributes"] if fault and fault[0] == "attributes" else {}

    def _faulted(self, endpoint, token=None):
        """
        Answer a 429 if the throttle says so, or as the fault set on
        ``endpoint`` says; True if answered.
        """
        if refusal := self.server.throttle.check(endpoint, token):
            body = json.dumps(refusal.body).encode() if refusal.body else b""
            self._send(429, body, JSON, refusal.headers)
            return True
        fault = self.server.fault(endpoint)
        if fault is None:
            return False
        mode, options = fault
        if mode == "slow":
            time.sleep(options["seconds"])
            return False
        if mode == "attributes":
            return False
        if mode == "unauthorized":
            self._send_json(401, unauthorized())
        elif mode == "server_error":
            self._send_html(
                options["status"], error_page("Patreon is having a moment.")
            )
        elif mode == "refused":
            self._send_json(options["status"], {"error": options["error"]})
        elif mode == "malformed":
            self._send(200, b'{"data": {"attributes": {"full_na', JSON)
        elif mode == "nodata":
            self._send_json(200, {"links": {}})
        elif mode == "rate_limited":
            error = error_document(
                429,
                None,
                "RequestThrottled",
                "You have made too many attempts. Please try again later.",
                retry_after_seconds=30,
            )
            self._send_json(429, error, headers={"Retry-After": "30"})
        return True

    routes = {
        ("GET", "/oauth2/authorize"): authorize,
        ("POST", "/oauth2/authorize"): consent,
        ("POST", "/api/oauth2/token"): token,
        ("GET", "/api/oauth2/v2/identity"): identity,
        ("GET", "/api/oauth2/v2/campaigns"): campaigns,
        **Controls.control_routes,
    }
    path_routes = {
        ("GET", re.compile(r"/api/oauth2/v2/campaigns/([^/]+)/members")): members,
        ("GET", re.compile(r"/api/oauth2/v2/members/([^/]+)")): member,
        **Controls.control_path_routes,
    }

    def _send(self, status, body, content_type, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status, data, headers=None):
        self._send(status, json.dumps(data).encode(), JSON, headers)

    def _send_html(self, status, page):
        self._send(status, page.encode(), "text/html; charset=utf-8")

    def _send_no_content(self):
        self._send(204, b"", "text/plain")
