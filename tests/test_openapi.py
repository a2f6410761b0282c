"""
The API's published contract, ``accounts/openapi.json`` (OpenAPI 3.1),
served at ``/api/openapi.json``.

Three promises: the document is a valid OpenAPI 3.1 document whose references
all resolve; it lists every route under /api/ in the URLconf (except the
Patreon callback, a browser page) with exactly the methods its view answers;
and what the app really answers (logged out, logged in, refusing) validates
against it, headers included.
"""

import json
import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.db import OperationalError
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from accounts import api
from fake_patreon.webhooks import sign
from tests.conftest import API_HOST
from tests.patreon import log_in
from ventures import errors, health

pytestmark = pytest.mark.django_db

DOCUMENT = json.loads(api.OPENAPI_DOCUMENT.read_text())
DOCUMENT_URI = "urn:ventures:openapi"
REGISTRY = Registry().with_resource(DOCUMENT_URI, DRAFT202012.create_resource(DOCUMENT))
FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
CALLBACK = "/api/auth/patreon/callback"


# HELPERS
# ------------------------------------------------------------------------------


def pointer(*parts):
    """A JSON pointer to ``parts`` inside the document (RFC 6901 escaping)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def resolve_pointer(ref):
    """The value a local ``#/...`` reference points at, or KeyError."""
    assert ref.startswith("#/"), f"only local references are used, not {ref}"
    value = DOCUMENT
    for part in ref[2:].split("/"):
        value = value[part.replace("~1", "/").replace("~0", "~")]
    return value


def all_refs(value):
    """Every ``$ref`` anywhere in ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref":
                yield item
            else:
                yield from all_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from all_refs(item)


def operations():
    """(path, method, operation) for every operation in the document."""
    for path, item in DOCUMENT["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def validator_at(location):
    """A Draft 2020-12 validator for the schema at JSON pointer ``location``."""
    return Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#{location}"},
        registry=REGISTRY,
        format_checker=FORMAT_CHECKER,
    )


def schema_errors(location, instance):
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in validator_at(location).iter_errors(instance)
    ]


def response_location(path, method, status):
    """Where the documented response for ``status`` is (following a $ref)."""
    responses = DOCUMENT["paths"][path][method]["responses"]
    assert str(status) in responses, (
        f"{method.upper()} {path} answered {status}, which the document does "
        f"not list (it lists {', '.join(responses)})"
    )
    spec = responses[str(status)]
    if "$ref" in spec:
        return spec["$ref"][1:]
    return pointer("paths", path, method, "responses", str(status))


def assert_conforms_at(response, location):
    """The response's body and headers validate against the response at ``location``."""
    spec = resolve_pointer("#" + location)
    for name, header in spec.get("headers", {}).items():
        if "$ref" in header:
            header = resolve_pointer(header["$ref"])
        if name not in response:
            assert not header.get("required"), f"required header {name} missing"
            continue
        Draft202012Validator(header["schema"]).validate(response[name])
    content = spec.get("content")
    if not content:
        assert not response.content, "no body is documented, yet there is one"
        return None
    assert response["Content-Type"] in content, response["Content-Type"]
    body = json.loads(response.content)
    problems = schema_errors(
        location + pointer("content", response["Content-Type"], "schema"), body
    )
    assert not problems, "\n".join(problems)
    return body


def assert_conforms(response, method, path):
    """The response validates against ``method path`` in the document."""
    return assert_conforms_at(
        response, response_location(path, method, response.status_code)
    )


def assert_conforms_to(response, name):
    """The response validates against ``components/responses/<name>``."""
    return assert_conforms_at(response, pointer("components", "responses", name))


def session_ids(client):
    return {
        s["current"]: s["id"]
        for s in client.get("/api/auth/sessions").json()["sessions"]
    }


def route_of(pattern):
    """A URLconf route as an OpenAPI path template with anonymous parameters."""
    return "/" + re.sub(r"<(?:[^>:]+:)?[^>]+>", "{}", pattern)


def template_of(path):
    return re.sub(r"\{[^}]+\}", "{}", path)


def urlconf_routes(patterns=None, prefix=""):
    """(route, URLPattern) for every URL pattern, walking included URLconfs."""
    if patterns is None:
        patterns = get_resolver().url_patterns
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from urlconf_routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def api_routes():
    """The URLconf's routes under /api/, as path templates, with their patterns."""
    return {
        route_of(route): entry
        for route, entry in urlconf_routes()
        if route.startswith("api/")
    }


def view_methods(entry):
    """The HTTP methods a class-based view answers (beyond HEAD and OPTIONS)."""
    view_class = entry.callback.view_class
    return {
        m
        for m in view_class.http_method_names
        if hasattr(view_class, m) and m not in ("head", "options")
    }


# THE DOCUMENT
# ------------------------------------------------------------------------------


class TestTheDocument:
    def test_it_is_json_with_an_openapi_3_1_version(self):
        assert DOCUMENT["openapi"].startswith("3.1.")

    def test_it_validates_against_the_openapi_3_1_specification(self):
        validate_openapi(DOCUMENT)

    def test_every_reference_resolves(self):
        refs = set(all_refs(DOCUMENT))
        assert refs
        for ref in refs:
            resolve_pointer(ref)

    def test_every_schema_and_header_component_is_used(self):
        """Shared error responses may stand alone: they answer on every path."""
        used = set(all_refs(DOCUMENT))
        for kind in ("schemas", "headers"):
            for name in DOCUMENT["components"][kind]:
                assert f"#/components/{kind}/{name}" in used, f"{kind}/{name}"

    def test_every_schema_is_a_valid_draft_2020_12_schema(self):
        for schema in DOCUMENT["components"]["schemas"].values():
            Draft202012Validator.check_schema(schema)

    def test_every_operation_has_a_unique_id(self):
        ids = [op["operationId"] for _, _, op in operations()]
        assert len(ids) == len(set(ids))

    def test_every_example_validates_against_its_schema(self):
        examples = [
            (location + pointer("schema"), media["example"])
            for location, media in self._media()
            if "example" in media
        ]
        assert len(examples) >= 8
        for location, example in examples:
            assert not schema_errors(location, example), location

    def test_the_date_time_format_is_really_checked(self):
        """Without rfc3339-validator, jsonschema would silently accept anything."""
        assert not FORMAT_CHECKER.conforms("tomorrow", "date-time")
        assert FORMAT_CHECKER.conforms("2026-11-28T04:32:33.819435+00:00", "date-time")

    def test_the_only_server_is_https(self):
        assert [s["url"][:8] for s in DOCUMENT["servers"]] == ["https://"]

    @staticmethod
    def _media():
        """(pointer, media type object) for every response body in the document."""
        for path, method, op in operations():
            for status, spec in op["responses"].items():
                base = pointer("paths", path, method, "responses", status)
                for media_type, media in spec.get("content", {}).items():
                    yield base + pointer("content", media_type), media
        for name, spec in DOCUMENT["components"]["responses"].items():
            base = pointer("components", "responses", name)
            for media_type, media in spec.get("content", {}).items():
                yield base + pointer("content", media_type), media


# THE DOCUMENT AND THE URLCONF
# ------------------------------------------------------------------------------


class TestCoverage:
    def test_the_urlconf_walk_finds_the_api(self):
        assert {"/api/auth/me", "/api/auth/sessions/{}"} <= set(api_routes())

    def test_every_api_route_in_the_urlconf_is_documented(self):
        documented = {template_of(p) for p in DOCUMENT["paths"]}
        missing = set(api_routes()) - documented - {CALLBACK}
        assert not missing

    def test_every_documented_api_path_exists_in_the_urlconf(self):
        for path in DOCUMENT["paths"]:
            match = resolve(path.replace("{id}", "0123456789abcdef0123"))
            assert match.route, path

    def test_every_method_an_api_view_answers_is_documented_and_no_other(self):
        by_template = {template_of(p): item for p, item in DOCUMENT["paths"].items()}
        for route, entry in api_routes().items():
            if route == CALLBACK:
                continue
            documented = {m for m in HTTP_METHODS if m in by_template[route]}
            assert documented == view_methods(entry), route

    def test_the_patreon_callback_is_left_out_but_named_as_a_browser_page(self):
        assert CALLBACK in api_routes()
        assert CALLBACK not in DOCUMENT["paths"]
        assert CALLBACK in DOCUMENT["info"]["description"]

    def test_the_health_probes_are_documented(self):
        assert {"/healthz", "/readyz"} <= set(DOCUMENT["paths"])


# COOKIES, CSRF AND CACHING IN THE DOCUMENT
# ------------------------------------------------------------------------------


class TestSecurityRequirements:
    def test_the_cookie_and_header_names_are_the_ones_the_settings_use(self, settings):
        schemes = DOCUMENT["components"]["securitySchemes"]
        assert schemes["sessionCookie"] == {
            **schemes["sessionCookie"],
            "type": "apiKey",
            "in": "cookie",
            "name": settings.SESSION_COOKIE_NAME,
        }
        assert schemes["csrfCookie"]["name"] == settings.CSRF_COOKIE_NAME
        assert schemes["csrfHeader"]["in"] == "header"
        header = "HTTP_" + schemes["csrfHeader"]["name"].upper().replace("-", "_")
        assert header == settings.CSRF_HEADER_NAME

    def test_every_unsafe_operation_requires_the_csrf_header_and_cookie(self):
        """Except Patreon's webhook: a machine's call, signed instead."""
        unsafe = [
            op
            for _, m, op in operations()
            if m in ("post", "put", "patch", "delete")
            and op["security"] != [{"patreonSignature": []}]
        ]
        assert unsafe
        for op in unsafe:
            for requirement in op["security"]:
                assert {"csrfHeader", "csrfCookie"} <= set(requirement), op[
                    "operationId"
                ]

    def test_every_unsafe_operation_documents_the_csrf_refusal(self):
        for _, method, op in operations():
            if method in ("post", "delete"):
                assert "403" in op["responses"], op["operationId"]

    def test_session_operations_require_the_session_cookie(self):
        for path, _, op in operations():
            if path.startswith("/api/auth/sessions"):
                for requirement in op["security"]:
                    assert "sessionCookie" in requirement, op["operationId"]

    def test_every_answer_about_the_caller_documents_no_store_and_vary_cookie(self):
        for path, _, op in operations():
            if not path.startswith("/api/auth/"):
                continue
            for status in ("200", "401"):
                spec = op["responses"].get(status)
                if spec is None:
                    continue
                if "$ref" in spec:
                    spec = resolve_pointer(spec["$ref"])
                assert set(spec["headers"]) >= {"Cache-Control", "Vary"}, path

    def test_every_api_operation_documents_the_database_outage(self):
        for path, _, op in operations():
            if path.startswith("/api/auth/"):
                assert "503" in op["responses"], op["operationId"]


# THE SERVED DOCUMENT
# ------------------------------------------------------------------------------


class TestServedDocument:
    def test_the_api_serves_the_repositorys_file_as_json(self, client):
        response = client.get("/api/openapi.json")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert json.loads(response.content) == DOCUMENT

    def test_the_served_document_matches_its_own_description(self, client):
        assert_conforms(client.get("/api/openapi.json"), "get", "/api/openapi.json")

    def test_anyone_may_read_it_without_a_session(self):
        anonymous = Client(HTTP_HOST=API_HOST)
        assert anonymous.get("/api/openapi.json", secure=True).status_code == 200


# REAL ANSWERS: LOGGED OUT
# ------------------------------------------------------------------------------


class TestLoggedOutAnswers:
    def test_me_is_the_401_logged_out_shape(self, client):
        body = assert_conforms(client.get("/api/auth/me"), "get", "/api/auth/me")
        assert body["authenticated"] is False

    def test_the_csrf_token_has_the_documented_shape_and_sets_its_cookie(
        self, client, settings
    ):
        response = client.get("/api/auth/csrf")
        assert_conforms(response, "get", "/api/auth/csrf")
        assert settings.CSRF_COOKIE_NAME in response.cookies

    def test_logging_out_when_logged_out_is_harmless(self, client):
        response = client.post("/api/auth/logout", HTTP_X_CSRFTOKEN=client.csrf_token())
        body = assert_conforms(response, "post", "/api/auth/logout")
        assert body == {"authenticated": False, "logged_out": False}

    def test_the_session_list_is_the_401_logged_out_shape(self, client):
        assert_conforms(client.get("/api/auth/sessions"), "get", "/api/auth/sessions")

    def test_ending_a_session_is_the_401_logged_out_shape(self, client):
        response = client.delete(
            "/api/auth/sessions/0123456789abcdef0123",
            HTTP_X_CSRFTOKEN=client.csrf_token(),
        )
        assert_conforms(response, "delete", "/api/auth/sessions/{id}")

    def test_ending_other_sessions_is_the_401_logged_out_shape(self, client):
        response = client.post(
            "/api/auth/sessions/revoke-others", HTTP_X_CSRFTOKEN=client.csrf_token()
        )
        assert_conforms(response, "post", "/api/auth/sessions/revoke-others")


# REAL ANSWERS: LOGGED IN
# ------------------------------------------------------------------------------


class TestLoggedInAnswers:
    def test_me_for_a_patron_with_a_tier(self, patron):
        body = assert_conforms(patron.get("/api/auth/me"), "get", "/api/auth/me")
        assert body["patreon"]["tiers"]

    def test_me_for_a_patron_with_two_tiers(self, client, fake_patreon):
        log_in(client, "1002")
        body = assert_conforms(client.get("/api/auth/me"), "get", "/api/auth/me")
        assert len(body["patreon"]["tiers"]) == 2

    def test_me_for_someone_who_never_pledged(self, client, fake_patreon):
        log_in(client, "1005")
        body = assert_conforms(client.get("/api/auth/me"), "get", "/api/auth/me")
        assert body["patreon"]["patron_status"] is None
        assert body["patreon"]["tiers"] == []

    def test_me_for_a_former_patron(self, client, fake_patreon):
        log_in(client, "1003")
        body = assert_conforms(client.get("/api/auth/me"), "get", "/api/auth/me")
        assert body["patreon"]["patron_status"] == "former_patron"

    def test_me_for_the_emergency_superuser_without_patreon(self, superuser):
        body = assert_conforms(superuser.get("/api/auth/me"), "get", "/api/auth/me")
        assert body["patreon"] is None

    def test_the_session_list(self, patron, second_browser):
        body = assert_conforms(
            patron.get("/api/auth/sessions"), "get", "/api/auth/sessions"
        )
        assert len(body["sessions"]) == 2

    def test_ending_another_session(self, patron, second_browser):
        other = session_ids(patron)[False]
        response = patron.delete(
            f"/api/auth/sessions/{other}", HTTP_X_CSRFTOKEN=patron.csrf_token()
        )
        body = assert_conforms(response, "delete", "/api/auth/sessions/{id}")
        assert body == {"revoked": 1, "authenticated": True}

    def test_ending_the_current_session(self, patron):
        current = session_ids(patron)[True]
        response = patron.delete(
            f"/api/auth/sessions/{current}", HTTP_X_CSRFTOKEN=patron.csrf_token()
        )
        body = assert_conforms(response, "delete", "/api/auth/sessions/{id}")
        assert body == {"revoked": 1, "authenticated": False}

    def test_ending_other_sessions(self, patron, second_browser):
        response = patron.post(
            "/api/auth/sessions/revoke-others", HTTP_X_CSRFTOKEN=patron.csrf_token()
        )
        body = assert_conforms(response, "post", "/api/auth/sessions/revoke-others")
        assert body["revoked"] == 1

    def test_a_login_too_old_to_end_other_sessions(
        self, patron, second_browser, time_machine
    ):
        token, other = patron.csrf_token(), session_ids(patron)[False]
        time_machine.move_to(timezone.now() + timedelta(minutes=6), tick=False)
        for response, method, path in (
            (
                patron.delete(f"/api/auth/sessions/{other}", HTTP_X_CSRFTOKEN=token),
                "delete",
                "/api/auth/sessions/{id}",
            ),
            (
                patron.post("/api/auth/sessions/revoke-others", HTTP_X_CSRFTOKEN=token),
                "post",
                "/api/auth/sessions/revoke-others",
            ),
        ):
            body = assert_conforms(response, method, path)
            assert body["error"] == "recent_login_required"

    def test_logging_out(self, patron):
        response = patron.post("/api/auth/logout", HTTP_X_CSRFTOKEN=patron.csrf_token())
        body = assert_conforms(response, "post", "/api/auth/logout")
        assert body == {"authenticated": False, "logged_out": True}


# REAL ANSWERS: REFUSALS AND FAILURES
# ------------------------------------------------------------------------------


class TestErrorAnswers:
    def test_logging_out_without_a_csrf_token(self, patron):
        response = patron.post("/api/auth/logout")
        assert_conforms(response, "post", "/api/auth/logout")

    def test_ending_a_session_without_a_csrf_token(self, patron):
        response = patron.delete(f"/api/auth/sessions/{session_ids(patron)[True]}")
        body = assert_conforms(response, "delete", "/api/auth/sessions/{id}")
        assert body["error"] == "csrf_failed"

    def test_ending_other_sessions_without_a_csrf_token(self, patron):
        response = patron.post("/api/auth/sessions/revoke-others")
        assert_conforms(response, "post", "/api/auth/sessions/revoke-others")

    @pytest.mark.parametrize(
        "session_id", ["0123456789abcdef0123", "nope", quote("ü ✓", safe="")]
    )
    def test_an_unknown_session_id(self, patron, session_id):
        response = patron.delete(
            f"/api/auth/sessions/{session_id}", HTTP_X_CSRFTOKEN=patron.csrf_token()
        )
        assert_conforms(response, "delete", "/api/auth/sessions/{id}")

    @pytest.mark.parametrize(
        "path", ["/api/", "/api/auth/", "/api/auth/me/", "/api/auth/sessions/a/b"]
    )
    def test_an_unknown_api_path(self, client, path):
        assert_conforms_to(client.get(path), "NotFound")

    @pytest.mark.parametrize("template", list(DOCUMENT["paths"]))
    def test_every_path_refuses_an_undocumented_method(self, patron, template):
        documented = DOCUMENT["paths"][template]
        method = next(m for m in ("put", "patch", "post") if m not in documented)
        path = template.replace("{id}", "0123456789abcdef0123")
        response = getattr(patron, method)(path, HTTP_X_CSRFTOKEN=patron.csrf_token())
        assert response.status_code == 405
        assert_conforms_to(response, "MethodNotAllowed")

    def test_a_host_the_api_does_not_serve(self, client):
        response = client.get("/api/auth/me", HTTP_HOST="evil.example")
        assert response.status_code == 400
        assert_conforms_to(response, "BadRequest")

    def test_a_database_outage(self, client, monkeypatch):
        def unreachable(*args, **kwargs):
            raise OperationalError("connection refused")

        monkeypatch.setattr(api.MeView, "get", unreachable)
        client.raise_request_exception = False
        response = client.get("/api/auth/me")
        assert response.status_code == 503
        assert_conforms(response, "get", "/api/auth/me")

    def test_a_bug(self, client, monkeypatch):
        def broken(*args, **kwargs):
            raise RuntimeError("bug")

        monkeypatch.setattr(api.MeView, "get", broken)
        client.raise_request_exception = False
        response = client.get("/api/auth/me")
        assert response.status_code == 500
        assert_conforms_to(response, "ServerError")

    def test_a_rate_limited_api_answer(self):
        request = RequestFactory().get("/api/auth/me")
        response = errors.too_many_requests(request, retry_after=60)
        assert response.status_code == 429
        assert_conforms_to(response, "RateLimited")


# REAL ANSWERS: HEALTH
# ------------------------------------------------------------------------------


class TestHealthAnswers:
    def test_liveness(self, client):
        assert_conforms(client.get("/healthz"), "get", "/healthz")

    def test_readiness(self, client):
        body = assert_conforms(client.get("/readyz"), "get", "/readyz")
        assert body["status"] == "ready"

    def test_unreadiness(self, client, monkeypatch):
        def down():
            raise OperationalError("connection refused")

        monkeypatch.setitem(health.CHECKS, "database", down)
        response = client.get("/readyz")
        body = assert_conforms(response, "get", "/readyz")
        assert body["checks"]["database"] == "unreachable"


# REAL ANSWERS: PATREON'S WEBHOOK
# ------------------------------------------------------------------------------


class TestWebhookAnswers:
    PATH = "/api/patreon/webhook"

    @staticmethod
    def deliver(body, secret="test-webhook-secret", **extra):  # noqa: S107
        patreon = Client(HTTP_HOST=API_HOST)
        return patreon.post(
            "/api/patreon/webhook",
            body,
            content_type="application/json",
            secure=True,
            HTTP_X_PATREON_EVENT="members:update",
            HTTP_X_PATREON_SIGNATURE=sign(body, secret),
            **extra,
        )

    def test_acknowledged(self):
        response = self.deliver(b'{"data": {"type": "member", "id": null}}')
        assert_conforms(response, "post", self.PATH)

    def test_forged(self):
        response = self.deliver(b"{}", secret="guessed")
        assert_conforms(response, "post", self.PATH)

    def test_too_large(self):
        response = self.deliver(b" " * (1024 * 1024 + 1))
        assert_conforms(response, "post", self.PATH)

    def test_not_configured(self, settings):
        settings.PATREON_WEBHOOK_SECRETS = []
        assert_conforms(self.deliver(b"{}"), "post", self.PATH)


# REAL ANSWERS: FORWARD AUTH
# ------------------------------------------------------------------------------


class TestForwardAuthAnswers:
    CHECK = "/api/auth/check"

    def test_allowed(self, patron):
        response = patron.get(self.CHECK, {"entitlement": "supporter"})
        assert response.status_code == 204
        assert_conforms(response, "get", self.CHECK)

    def test_allowed_without_patreon(self, superuser):
        response = superuser.get(self.CHECK)
        assert response["X-Auth-Patreon-Id"] == ""
        assert_conforms(response, "get", self.CHECK)

    def test_not_logged_in(self, client):
        assert_conforms(client.get(self.CHECK), "get", self.CHECK)

    def test_refused(self, patron):
        response = patron.get(self.CHECK, {"entitlement": "early-access"})
        assert assert_conforms(response, "get", self.CHECK)["reason"] == "not_entitled"

    @pytest.mark.parametrize(
        "query", ["entitlement=gold", "entitlement=a&entitlement=b"]
    )
    def test_asked_wrongly(self, patron, query):
        response = patron.get(f"{self.CHECK}?{query}")
        assert response.status_code == 400
        assert_conforms(response, "get", self.CHECK)
