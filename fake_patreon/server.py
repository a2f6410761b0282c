"""
Patreon's OAuth2 flow and API v2 identity endpoint, faked over real HTTP.

Only ever on loopback: the fake hands out tokens to anyone who asks. Paths,
parameters, status codes and bodies follow patreon.com, so the app under test
runs its real HTTP client against it; ``/__fake/`` paths are the fake's own,
for tests that drive it from another process.
"""

from __future__ import annotations

import html
import ipaddress
import json
import logging
import re
import secrets
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, replace
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fake_patreon.patrons import Directory

logger = logging.getLogger("fake_patreon")

CLIENT_NAME = "Ventures"
CODE_LIFETIME = 10 * 60
TOKEN_LIFETIME = 31 * 24 * 60 * 60  # Patreon's expires_in: 2678400

# What the consent screen says each scope grants.
SCOPES = {
    "identity": "See your name, profile picture and account details",
    "identity[email]": "See your email address",
    "identity.memberships": "See every creator you support, not only this one",
    "campaigns": "See the campaigns you run",
    "campaigns.members": "See the members of your campaigns",
    "campaigns.members[email]": "See the email addresses of your campaigns' members",
    "campaigns.members.address": "See the mailing addresses of your campaigns' members",
    "campaigns.posts": "See the posts of your campaigns",
    "w:campaigns.webhook": "Manage webhooks on your campaigns",
}

# The attributes each resource type offers through fields[type].
FIELDS = {
    "user": {
        "about",
        "created",
        "email",
        "first_name",
        "full_name",
        "image_url",
        "is_email_verified",
        "last_name",
        "social_connections",
        "thumb_url",
        "url",
        "vanity",
    },
    "member": {
        "currently_entitled_amount_cents",
        "email",
        "full_name",
        "is_follower",
        "last_charge_date",
        "last_charge_status",
        "patron_status",
        "pledge_relationship_start",
        "will_pay_amount_cents",
    },
    "tier": {"amount_cents", "description", "title", "url"},
    "campaign": {"creation_name", "summary", "url", "vanity"},
}
FIELDS_PARAMETER = re.compile(r"fields\[(.*)\]")
INCLUDES = {
    "memberships",
    "memberships.campaign",
    "memberships.currently_entitled_tiers",
}

# Each fault mode, with its options and their defaults.
FAULT_MODES = {
    "unauthorized": {},
    "server_error": {"status": 503},
    "malformed": {},
    "nodata": {},
    "slow": {"seconds": 5},
    "rate_limited": {},
    # The user's attributes replaced by whatever JSON the test gives, wrong
    # types and huge strings included: what a broken or hostile answer holds.
    "attributes": {"attributes": {}},
}
FAULT_ENDPOINTS = ("token", "identity")

JSON = "application/json; charset=utf-8"

SOCIAL_NETWORKS = ("discord", "facebook", "google", "reddit", "twitch", "twitter")

# Recorded requests are printed by failing tests: no credentials in them.
REDACTED_FIELDS = {"client_secret", "code", "refresh_token"}


@dataclass(frozen=True)
class _Grant:
    """What a code or token stands for."""

    patron_id: str
    scopes: tuple[str, ...]
    expires_at: float
    redirect_uri: str = ""


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
        self.directory = Directory(campaign_id)
        self._lock = threading.Lock()
        self._codes = {}
        self._access_tokens = {}
        self._refresh_tokens = {}
        self._issued = []
        self._faults = {}
        self._requests = []
        self._thread = None
        super().__init__((host, port), _Handler)

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
        self.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def set_fault(self, endpoint, mode, **options):
        """
        Make ``endpoint`` ("token" or "identity") misbehave until cleared.

        ``mode`` is one of ``FAULT_MODES``; "slow" takes ``seconds``,
        "server_error" takes ``status`` (a 5xx code), and "attributes" (on
        "identity" only) takes ``attributes``, a dict of any JSON values that
        replace the user's own in every identity answer.
        """
        if endpoint not in FAULT_ENDPOINTS:
            raise ValueError(
                f"endpoint must be one of {FAULT_ENDPOINTS}, not {endpoint!r}."
            )
        if mode not in FAULT_MODES:
            raise ValueError(f"mode must be one of {tuple(FAULT_MODES)}, not {mode!r}.")
        if unknown := options.keys() - FAULT_MODES[mode].keys():
            raise ValueError(
                f"Fault mode {mode!r} takes no option {', '.join(sorted(unknown))}."
            )
        options = {**FAULT_MODES[mode], **options}
        seconds = options.get("seconds", 0)
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or seconds < 0
        ):
            raise ValueError(f"seconds must be a number >= 0, not {seconds!r}.")
        if options.get("status", 500) not in range(500, 600):
            raise ValueError(f"status must be a 5xx code, not {options['status']!r}.")
        if not isinstance(options.get("attributes", {}), dict):
            raise ValueError(
                f"attributes must be an object, not {options['attributes']!r}."
            )
        if mode == "attributes" and endpoint != "identity":
            raise ValueError("Only the identity endpoint has attributes to replace.")
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
        with self._lock:
            return list(self._issued)

    def handle_error(self, request, client_address):
        # A client that gave up on a slow fault hangs up before the answer.
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("%s hung up", client_address[0], exc_info=True)
        else:
            logger.exception("Error answering %s", client_address[0])

    def _record(self, request):
        with self._lock:
            self._requests.append(request)

    def _fault(self, endpoint):
        with self._lock:
            return self._faults.get(endpoint)

    def _issue_code(self, patron_id, scopes, redirect_uri):
        code = secrets.token_urlsafe(32)
        grant = _Grant(patron_id, scopes, time.time() + CODE_LIFETIME, redirect_uri)
        with self._lock:
            self._codes[code] = grant
        return code

    def _exchange_code(self, code, redirect_uri):
        # The first attempt uses the code up, even a failed one.
        with self._lock:
            grant = self._codes.pop(code, None)
        if (
            grant is None
            or grant.redirect_uri != redirect_uri
            or grant.expires_at < time.time()
        ):
            return None
        return self._issue_tokens(grant)

    def _refresh(self, refresh_token):
        # Rotation: the old refresh token and its access token die here.
        with self._lock:
            access_token, grant = self._refresh_tokens.pop(refresh_token, (None, None))
            self._access_tokens.pop(access_token, None)
        if grant is None:
            return None
        return self._issue_tokens(grant)

    def _issue_tokens(self, grant):
        access_token = secrets.token_urlsafe(32)
        refresh_token = secrets.token_urlsafe(32)
        with self._lock:
            self._access_tokens[access_token] = replace(
                grant, expires_at=time.time() + TOKEN_LIFETIME
            )
            self._refresh_tokens[refresh_token] = (access_token, grant)
            self._issued += [access_token, refresh_token]
        return {
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_in": TOKEN_LIFETIME,
            "scope": " ".join(grant.scopes),
            "token_type": "Bearer",
            "version": "0.0.1",
        }

    def _grant_for(self, access_token):
        with self._lock:
            grant = self._access_tokens.get(access_token)
        if grant is None or grant.expires_at < time.time():
            return None
        return grant


class _Handler(BaseHTTPRequestHandler):
    server: FakePatreon

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
            request = {"method": self.command, "path": url.path, "query": self.query}
            if self.command == "POST":
                request["form"] = {
                    name: "<redacted>" if name in REDACTED_FIELDS else value
                    for name, value in self.form.items()
                }
            self.server._record(request)
        route = self.routes.get((self.command, url.path))
        if route is None:
            self._send_json(
                404, _error(404, None, "ResourceMissing", "Resource Missing")
            )
        else:
            route(self)

    @cached_property
    def form(self):
        return dict(
            parse_qsl(self.body.decode(errors="replace"), keep_blank_values=True)
        )

    # OAuth2.

    def authorize(self):
        params = self.query
        if problem := self._check_authorization(params):
            self._send_html(400, _error_page(problem))
        elif "fake_patron" in params:
            self._decide(
                params, params["fake_patron"], params.get("fake_decision", "allow")
            )
        else:
            self._send_html(
                200, _consent_page(params, self.server.directory.seeded.values())
            )

    def consent(self):
        params = self.form
        if problem := self._check_authorization(params):
            self._send_html(400, _error_page(problem))
        else:
            self._decide(params, params.get("patron", ""), params.get("decision", ""))

    def _check_authorization(self, params):
        """Why Patreon would refuse to show its consent screen, or None."""
        if params.get("response_type") != "code":
            return "response_type must be code."
        if params.get("client_id") != self.server.client_id:
            return "Unknown client_id."
        redirect_uri = urlsplit(params.get("redirect_uri", ""))
        if redirect_uri.scheme not in ("http", "https") or not redirect_uri.netloc:
            return "redirect_uri must be an absolute http(s) URL."
        if unknown := set(_scopes(params)) - SCOPES.keys():
            return f"Unknown scope: {', '.join(sorted(unknown))}."
        return None

    def _decide(self, params, patron_id, decision):
        patron = self.server.directory.patron(patron_id)
        if patron is None:
            self._send_html(400, _error_page(f"No patron with id {patron_id!r}."))
            return
        if decision == "allow":
            answer = {
                "code": self.server._issue_code(
                    patron.id, _scopes(params), params["redirect_uri"]
                )
            }
        elif decision == "deny":
            answer = {"error": "access_denied"}
        else:
            self._send_html(400, _error_page("The decision must be allow or deny."))
            return
        if "state" in params:
            answer["state"] = params["state"]
        self.send_response(302)
        self.send_header("Location", _add_query(params["redirect_uri"], answer))
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
            tokens = server._exchange_code(form.get("code"), form.get("redirect_uri"))
        elif grant_type == "refresh_token":
            tokens = server._refresh(form.get("refresh_token"))
        else:
            self._send_json(400, {"error": "unsupported_grant_type"})
            return
        if tokens is None:
            self._send_json(400, {"error": "invalid_grant"})
        else:
            self._send_json(200, tokens)

    # API v2.

    def identity(self):
        if self._faulted("identity"):
            return
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        grant = self.server._grant_for(token) if scheme.lower() == "bearer" else None
        # Patreon refuses a token without the identity scope as if it were
        # unknown, whatever else it may grant.
        if grant is None or "identity" not in grant.scopes:
            self._send_json(401, _unauthorized())
            return
        try:
            document = _identity_document(
                self.server,
                self.server.directory.patron(grant.patron_id),
                grant.scopes,
                self.query,
                self._odd_attributes(),
            )
        except _InvalidParameter as invalid:
            self._send_json(400, invalid.document)
        else:
            self._send_json(200, document)

    def _odd_attributes(self):
        """The attributes an "attributes" fault replaces, or none."""
        fault = self.server._fault("identity")
        return fault[1]["attributes"] if fault and fault[0] == "attributes" else {}

    def _faulted(self, endpoint):
        """Answer as the fault set on ``endpoint`` says; True if answered."""
        fault = self.server._fault(endpoint)
        if fault is None:
            return False
        mode, options = fault
        if mode == "slow":
            time.sleep(options["seconds"])
            return False
        if mode == "attributes":
            return False
        if mode == "unauthorized":
            self._send_json(401, _unauthorized())
        elif mode == "server_error":
            self._send_html(
                options["status"], _error_page("Patreon is having a moment.")
            )
        elif mode == "malformed":
            self._send(200, b'{"data": {"attributes": {"full_na', JSON)
        elif mode == "nodata":
            self._send_json(200, {"links": {}})
        elif mode == "rate_limited":
            error = _error(
                429,
                None,
                "RequestThrottled",
                "You have made too many attempts. Please try again later.",
                retry_after_seconds=30,
            )
            self._send_json(429, error, headers={"Retry-After": "30"})
        return True

    # The fake's own controls.

    def get_requests(self):
        self._send_json(200, self.server.requests)

    def delete_requests(self):
        self.server.clear_requests()
        self._send_no_content()

    def post_faults(self):
        try:
            fault = json.loads(self.body)
            self.server.set_fault(fault.pop("endpoint"), fault.pop("mode"), **fault)
        except (ValueError, KeyError, TypeError, AttributeError) as problem:
            self._send_json(400, {"error": str(problem)})
        else:
            self._send_no_content()

    def delete_faults(self):
        self.server.clear_faults()
        self._send_no_content()

    routes = {
        ("GET", "/oauth2/authorize"): authorize,
        ("POST", "/oauth2/authorize"): consent,
        ("POST", "/api/oauth2/token"): token,
        ("GET", "/api/oauth2/v2/identity"): identity,
        ("GET", "/__fake/requests"): get_requests,
        ("DELETE", "/__fake/requests"): delete_requests,
        ("POST", "/__fake/faults"): post_faults,
        ("DELETE", "/__fake/faults"): delete_faults,
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


def _scopes(params):
    # With no scope asked for, grant the least that still reads the identity.
    return tuple(dict.fromkeys(params.get("scope", "").split())) or ("identity",)


def _add_query(url, params):
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit(parts._replace(query=query))


# JSON:API documents.


class _InvalidParameter(ValueError):
    """A fields or include parameter asking for what Patreon doesn't offer."""

    def __init__(self, parameter, detail):
        super().__init__(detail)
        self.document = _error(
            400,
            3,
            "ParameterInvalidOnType",
            "Invalid parameter for resource type.",
            detail,
            source={"parameter": parameter},
        )


def _error(status, code, code_name, title, detail="", **extra):
    """A JSON:API error document, as Patreon words them."""
    error = {
        "code": code,
        "code_name": code_name,
        "detail": detail,
        "id": str(uuid.uuid4()),
        "status": str(status),
        "title": title,
    }
    return {"errors": [{**error, **extra}]}


def _unauthorized():
    return _error(
        401,
        1,
        "Unauthorized",
        "Unauthorized",
        "The server could not verify that you are authorized to access the URL "
        "requested. You either supplied the wrong credentials (e.g. a bad password), "
        "or your browser doesn't understand how to supply the credentials required.",
    )


def _requested_fields(query):
    """Map each resource type to the attributes ``query`` asks for."""
    fields = {resource_type: set() for resource_type in FIELDS}
    for parameter, value in query.items():
        if match := FIELDS_PARAMETER.fullmatch(parameter):
            resource_type = match[1]
            if resource_type not in FIELDS:
                raise _InvalidParameter(
                    parameter, f"No {resource_type} resources here."
                )
            names = set(filter(None, value.split(",")))
            if unknown := names - FIELDS[resource_type]:
                raise _InvalidParameter(
                    parameter,
                    f"Unknown {resource_type} field: {', '.join(sorted(unknown))}.",
                )
            fields[resource_type] = names
    return fields


def _requested_includes(query):
    include = set(filter(None, query.get("include", "").split(",")))
    if unknown := include - INCLUDES:
        raise _InvalidParameter(
            "include", f"Cannot include {', '.join(sorted(unknown))}."
        )
    # JSON:API: including a path includes every resource along it.
    return include | {path.partition(".")[0] for path in include}


def _resource(resource_type, resource_id, attributes, fields):
    """A resource object, with only the attributes ``fields`` asks for."""
    requested = fields[resource_type] & attributes.keys()
    return {
        "attributes": {name: attributes[name] for name in sorted(requested)},
        "id": resource_id,
        "type": resource_type,
    }


def _identifier(resource):
    return {"id": resource["id"], "type": resource["type"]}


def _identity_document(server, patron, scopes, query, odd_attributes=None):
    """
    The body of GET /api/oauth2/v2/identity, for ``patron``, with
    ``odd_attributes`` replacing the user's own.
    """
    fields = _requested_fields(query)
    include = _requested_includes(query)
    api_url = f"{server.base_url}/api/oauth2/v2"
    # Without identity[email], Patreon leaves the email out, silently.
    email = {"email": patron.email} if "identity[email]" in scopes else {}
    first_name, _, last_name = patron.full_name.partition(" ")
    user_attributes = {
        "about": None,
        "created": patron.created,
        "first_name": first_name,
        "full_name": patron.full_name,
        "image_url": f"https://c8.patreon.com/3/200/{patron.id}",
        "is_email_verified": patron.is_email_verified,
        "last_name": last_name,
        "social_connections": dict.fromkeys(SOCIAL_NETWORKS),
        "thumb_url": f"https://c8.patreon.com/3/100/{patron.id}",
        "url": f"https://www.patreon.com/user?u={patron.id}",
        "vanity": patron.vanity,
        **email,
        **(odd_attributes or {}),
    }
    user = _resource("user", patron.id, user_attributes, fields)
    document = {"data": user, "links": {"self": f"{api_url}/user/{patron.id}"}}
    if not include:
        return document

    # Without identity.memberships, only the membership in the client's own
    # campaign shows.
    memberships = [
        membership
        for membership in patron.memberships
        if "identity.memberships" in scopes
        or membership.campaign == server.directory.campaign
    ]
    members = [
        _resource(
            "member",
            patron.member_id(membership),
            {**vars(membership), "full_name": patron.full_name, **email},
            fields,
        )
        for membership in memberships
    ]
    user["relationships"] = {"memberships": {"data": [_identifier(m) for m in members]}}
    # Keyed by (type, id): JSON:API includes each resource once.
    included = {}
    for membership, member in zip(memberships, members, strict=True):
        included["member", member["id"]] = member
        relationships = {}
        if "memberships.currently_entitled_tiers" in include:
            tiers = [
                _resource("tier", tier.id, {**vars(tier), "url": tier.url}, fields)
                for tier in membership.tiers
            ]
            relationships["currently_entitled_tiers"] = {
                "data": [_identifier(tier) for tier in tiers]
            }
            included |= {("tier", tier["id"]): tier for tier in tiers}
        if "memberships.campaign" in include:
            c = membership.campaign
            campaign = _resource("campaign", c.id, {**vars(c), "url": c.url}, fields)
            relationships["campaign"] = {
                "data": _identifier(campaign),
                "links": {"related": f"{api_url}/campaigns/{c.id}"},
            }
            included["campaign", c.id] = campaign
        if relationships:
            member["relationships"] = relationships
    document["included"] = list(included.values())
    return document


# HTML pages.

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Patreon (fake)</title>
<style>
body {{ margin: 0; padding: 4rem 1rem; background: #f5f4f2; color: #241e12;
  font: 16px/1.5 system-ui, sans-serif; display: flex; justify-content: center; }}
main {{ background: #fff; border-radius: 12px; padding: 2rem; max-width: 28rem;
  box-shadow: 0 2px 12px rgb(0 0 0 / 8%); }}
h1 {{ font-size: 1.35rem; margin-top: 0; }}
select {{ width: 100%; padding: .5rem; font-size: 1rem; margin: .25rem 0 1.5rem; }}
button {{ border: 0; border-radius: 999px; padding: .6rem 1.5rem; font-size: 1rem;
  cursor: pointer; margin-right: .5rem; }}
button[value=allow] {{ background: #ff424d; color: #fff; }}
button[value=deny] {{ background: #e8e6e2; color: #241e12; }}
.fake {{ color: #706c64; font-size: .85rem; margin-top: 2rem; }}
</style>
</head>
<body><main>
{body}
<p class="fake">This is fake_patreon, a local stand-in for patreon.com.</p>
</main></body>
</html>
"""


def _consent_page(params, patrons):
    esc = html.escape
    scopes = "".join(f"<li>{esc(SCOPES[scope])}</li>" for scope in _scopes(params))
    hidden = "\n".join(
        f'<input type="hidden" name="{esc(name)}" value="{esc(value)}">'
        for name, value in params.items()
        if not name.startswith("fake_")
    )
    options = "".join(
        f'<option value="{esc(p.id)}">{esc(p.full_name)} ({esc(p.note)})</option>'
        for p in patrons
    )
    body = f"""<h1>{esc(CLIENT_NAME)} wants to access your Patreon account</h1>
<p>This will allow {esc(CLIENT_NAME)} to:</p>
<ul>{scopes}</ul>
<form method="post" action="/oauth2/authorize">
{hidden}
<label for="patron">Log in as</label>
<select id="patron" name="patron">{options}</select>
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>"""
    return PAGE.format(title="Allow access", body=body)


def _error_page(message):
    body = f"<h1>Something went wrong</h1>\n<p>{html.escape(message)}</p>"
    return PAGE.format(title="Error", body=body)
