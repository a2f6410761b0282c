"""
Hostile input thrown at every endpoint, bounded in time, on every CI run.

Hypothesis drives Django's test client: against every operation of the
published contract (``accounts/openapi.json``), anonymous and logged in, and
with targeted generators for what a schema does not describe: malformed and
duplicated session cookies, cookies forged with the seed's published key in
Flask's and Django's signed formats, huge and malformed ``Host``, ``Origin``
and ``X-Forwarded-*`` headers, bogus ``state``/``code``/``error`` on the
Patreon callback and odd ``next`` values on the login page.

Every answer is judged: never a status of 500 or more, never an HTML error
page under /api/ (the Patreon callback is a browser page and may answer
HTML), never an authenticated answer (200 from ``/api/auth/me`` or
``/api/auth/sessions``) without a real login, never an absolute URL on a host
the request made up; and API answers keep to the contract's statuses and
schemas. A failure is shrunk by Hypothesis to the smallest request that
shows it.

Runs are deterministic (``derandomize``), so CI is reproducible; set
``FUZZ_RANDOM=1`` to explore new inputs locally. The counts per category and
status are printed and, so CI logs show them even under xdist, repeated in a
warning at the end of the module.
"""

import functools
import hashlib
import html
import json
import os
import re
import warnings
from collections import Counter
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from django.contrib.auth import HASH_SESSION_KEY
from django.contrib.sessions.backends.signed_cookies import (
    SessionStore as SignedCookieSessionStore,
)
from django.core import signing
from django.db import transaction
from django.test import Client, override_settings
from django.utils.crypto import salted_hmac
from hypothesis import HealthCheck, given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st
from itsdangerous import URLSafeTimedSerializer
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from accounts import api
from accounts.models import User
from tests.conftest import API_HOST, FRONTEND_ORIGIN, browser
from tests.patreon import CSRF_INPUT, log_in, start_login

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# The Flask app's key, published in the incident write-up (shared/seed/).
PUBLISHED_KEY = "32e6ab70212f7e807449da70bf651de3f862b0191ab921de0f3b11cb933803d1"
CALLBACK = "/api/auth/patreon/callback"
AUTHENTICATED_ANSWERS = {"/api/auth/me", "/api/auth/sessions"}
DOCUMENT = json.loads(api.OPENAPI_DOCUMENT.read_text())
REGISTRY = Registry().with_resource(
    "urn:ventures:openapi", DRAFT202012.create_resource(DOCUMENT)
)
OPERATIONS = [
    (path, method)
    for path, item in DOCUMENT["paths"].items()
    for method in ("get", "post", "delete")
    if method in item
]
GLOBAL_ERRORS = {400: "BadRequest", 404: "NotFound", 405: "MethodNotAllowed"}
ALLOWED_REDIRECT_HOSTS = {API_HOST, urlsplit(FRONTEND_ORIGIN).hostname}

# Requests each category must send (the total is at least 10,000).
# Each generated input goes to several endpoints: Hypothesis's generation,
# not the app, is the slow part.
PLANNED = {
    "contract, anonymous": 2750,  # 250 inputs x 11 operations
    "contract, logged in": 1500,  # 150 inputs x 10 operations (all but logout)
    "contract, wrong methods": 198,  # 11 paths x 9 methods x 2 browsers
    "session cookies": 1800,  # 600 cookies x 3 endpoints
    "forged cookies": 1500,  # 500 cookies x 3 endpoints
    "headers, direct": 900,  # 300 header sets x 3 endpoints
    "headers, behind the proxy": 900,
    "callback": 1000,  # 500 queries, then /api/auth/me
    "callback with a real state": 160,  # 40 x (login page, start, callback, me)
    "next": 1000,  # 500 values x (login page, login start)
}


def fuzz(examples):
    """Hypothesis settings for one category: deterministic, no deadline."""
    return fuzz_settings(
        max_examples=examples,
        derandomize=not os.environ.get("FUZZ_RANDOM"),
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )


# THE JUDGE
# ------------------------------------------------------------------------------


class Tally:
    def __init__(self):
        self.requests = Counter()
        self.statuses = Counter()

    def report(self):
        lines = [f"fuzz: {sum(self.requests.values())} requests"]
        for category, count in self.requests.items():
            statuses = ", ".join(
                f"{status}: {n}"
                for (c, status), n in sorted(self.statuses.items())
                if c == category
            )
            lines.append(f"  {category}: {count} ({statuses})")
        return "\n".join(lines)


TALLY = Tally()


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    report = TALLY.report()
    print(report)
    warnings.warn(report, UserWarning, stacklevel=1)


def absolute_urls(response):
    """Absolute URLs the app built into this answer."""
    urls = []
    if response.get("Location", "").startswith(("http://", "https://", "//")):
        urls.append(response["Location"])
    if response.get("Content-Type") == "application/json" and response.content:
        body = json.loads(response.content)
        if isinstance(body, dict) and isinstance(body.get("login_url"), str):
            urls.append(body["login_url"])
    return urls


def judge(category, path, response, *, logged_in=False):
    """Count one answer and hold it to the rules every answer must follow."""
    status = response.status_code
    TALLY.requests[category] += 1
    TALLY.statuses[category, status] += 1
    assert status < 500, f"{status} on {path}: {response.content[:300]!r}"
    content_type = response.get("Content-Type", "")
    if path.startswith("/api/") and path != CALLBACK and status >= 400:
        assert content_type == "application/json", f"{status} {content_type} {path}"
        assert b"<html" not in response.content.lower()
    if path in AUTHENTICATED_ANSWERS and not logged_in:
        assert status != 200, f"authenticated answer on {path} without a login"
    for url in absolute_urls(response):
        host = urlsplit(url).hostname
        assert host in ALLOWED_REDIRECT_HOSTS or host == "127.0.0.1", (
            url
        )  # fake Patreon


@functools.cache
def validator(location):
    """A validator for the JSON body of the response at ``location``."""
    schema = {
        "$ref": f"urn:ventures:openapi#{location}/content/application~1json/schema"
    }
    return Draft202012Validator(schema, registry=REGISTRY)


def response_spec(location):
    value = DOCUMENT
    for part in location.strip("/").split("/"):
        value = value[part.replace("~1", "/")]
    return value


def keeps_the_contract(path, method, response):
    """An API answer has a documented status and validates against its schema."""
    operation = DOCUMENT["paths"][path].get("get" if method == "head" else method)
    status = response.status_code
    if operation and str(status) in operation["responses"]:
        spec = operation["responses"][str(status)]
        location = "/paths/{}/{}/responses/{}".format(
            path.replace("/", "~1"), "get" if method == "head" else method, status
        )
        if "$ref" in spec:
            location = spec["$ref"][1:]
    elif status == 401 and path.startswith("/api/auth/sessions"):
        # Session views check the login before the method.
        location = "/components/responses/LoggedOut"
    else:
        assert status in GLOBAL_ERRORS, (
            f"{method.upper()} {path} answered {status}, which is not documented"
        )
        location = f"/components/responses/{GLOBAL_ERRORS[status]}"
    if method == "head" or "content" not in response_spec(location):
        return
    validator(location).validate(json.loads(response.content))


# STRATEGIES
# ------------------------------------------------------------------------------

# What an HTTP/1.1 server hands the app as a header value: visible ASCII,
# space, tab and obs-text (RFC 9110 field-value). No CR, LF or NUL: servers
# refuse those before Django sees them.
header_text = st.text(
    alphabet=st.characters(
        min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"
    )
    | st.just("\t"),
    max_size=200,
)
huge = st.integers(min_value=1000, max_value=8000).map(lambda n: "A" * n)
any_text = st.text(max_size=100)  # any Unicode but surrogates, NUL included
small_text = st.text(max_size=20)


def json_values():
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | small_text,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(small_text, inner, max_size=4)
        ),
        max_leaves=10,
    )


bodies = st.one_of(
    st.just(("", b"")),
    st.tuples(
        st.just("application/json"), json_values().map(lambda v: json.dumps(v).encode())
    ),
    st.tuples(st.just("application/json"), st.binary(max_size=200)),
    st.tuples(
        st.just("application/x-www-form-urlencoded"),
        st.dictionaries(small_text, small_text, max_size=4).map(
            lambda d: urlencode(d).encode()
        ),
    ),
    st.tuples(st.just("application/x-www-form-urlencoded"), st.binary(max_size=200)),
    st.tuples(
        st.sampled_from(
            [
                "multipart/form-data",
                "multipart/form-data; boundary=",
                "multipart/form-data; boundary=x",
                "text/plain",
                "application/xml",
                "*/*",
            ]
        ),
        st.binary(max_size=200),
    ),
)
queries = st.one_of(
    st.just(""),
    st.dictionaries(small_text, any_text, max_size=4).map(urlencode),
    st.text(alphabet="%&=+;abcxyz019AF", max_size=40),  # broken percent escapes
)


def path_values(parameter):
    """Values for a path parameter: what its schema says, and anything else."""
    pattern = parameter["schema"].get("pattern")
    documented = st.from_regex(pattern, fullmatch=True) if pattern else small_text
    return st.one_of(documented, any_text.filter(bool), huge.map(lambda s: s[:300]))


PATH_PARAMETERS = {
    p["name"]: p
    for item in DOCUMENT["paths"].values()
    for p in item.get("parameters", [])
    if p["in"] == "path"
}
assert list(PATH_PARAMETERS) == ["id"], "fuzzing knows how to fill {id} only"
path_ids = path_values(PATH_PARAMETERS["id"])


def concrete(path, ident):
    return path.replace("{id}", quote(ident, safe="") or "%20")


ALPHANUMERIC = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
csrf_tokens = st.one_of(
    st.none(),
    st.just("valid"),
    st.text(alphabet=ALPHANUMERIC, min_size=32, max_size=64),
    header_text,
)


def send(client, method, path, *, query="", body=("", b""), **extra):
    """One request through the test client, with a raw query string."""
    content_type, data = body
    kwargs = {"QUERY_STRING": query, **extra}
    if method in ("get", "head", "options"):
        return getattr(client, method)(path, **kwargs)
    return client.generic(
        method.upper(),
        path,
        data,
        content_type=content_type or "application/octet-stream",
        **kwargs,
    )


def hostile_browser():
    """A browser that turns server errors into answers to judge."""
    client = browser()
    client.raise_request_exception = False
    return client


class RawBrowser(Client):
    """Like the suite's browser, but the request says whether it is HTTPS."""

    def __init__(self):
        super().__init__(enforce_csrf_checks=True, HTTP_HOST=API_HOST)
        self.raise_request_exception = False


def token_of(client):
    return client.get("/api/auth/csrf", secure=True).json()["csrf_token"]


# THE CONTRACT, FUZZED
# ------------------------------------------------------------------------------


def fuzz_operations(client, token, operations, inputs, *, logged_in):
    """Send one generated input to each operation, and judge every answer."""
    ident, query, body, csrf = inputs
    extra = {}
    if csrf == "valid":
        extra["HTTP_X_CSRFTOKEN"] = token
    elif csrf is not None:
        extra["HTTP_X_CSRFTOKEN"] = csrf
    category = "contract, logged in" if logged_in else "contract, anonymous"
    with transaction.atomic():
        for path, method in operations:
            target = concrete(path, ident)
            response = send(client, method, target, query=query, body=body, **extra)
            judge(category, target, response, logged_in=logged_in)
            keeps_the_contract(path, method, response)


contract_inputs = st.tuples(path_ids, queries, bodies, csrf_tokens)


@pytest.fixture
def anonymous():
    client = hostile_browser()
    return client, token_of(client)


def test_every_operation_survives_garbage_anonymously(anonymous):
    client, token = anonymous

    @fuzz(PLANNED["contract, anonymous"] // len(OPERATIONS))
    @given(inputs=contract_inputs)
    def run(inputs):
        fuzz_operations(client, token, OPERATIONS, inputs, logged_in=False)

    run()
    assert TALLY.requests["contract, anonymous"] >= PLANNED["contract, anonymous"]


@pytest.fixture
def patron_and_bystander(fake_patreon):
    patron, bystander = hostile_browser(), hostile_browser()
    log_in(patron, "1001")
    log_in(bystander, "1002")
    return patron, token_of(patron), bystander


def test_every_operation_survives_garbage_from_a_logged_in_patron(
    patron_and_bystander,
):
    """Everything but logout, so the patron stays logged in throughout."""
    patron, token, bystander = patron_and_bystander
    operations = [op for op in OPERATIONS if op != ("/api/auth/logout", "post")]

    @fuzz(PLANNED["contract, logged in"] // len(operations))
    @given(inputs=contract_inputs)
    def run(inputs):
        fuzz_operations(patron, token, operations, inputs, logged_in=True)

    run()
    assert TALLY.requests["contract, logged in"] >= PLANNED["contract, logged in"]
    assert patron.get("/api/auth/me").json()["patreon"]["id"] == "1001"
    assert bystander.get("/api/auth/me").json()["patreon"]["id"] == "1002"


METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "TRACE", "PROPFIND", "FOO"]


def test_every_path_answers_every_method_without_failing(patron_and_bystander):
    patron, token, _ = patron_and_bystander
    stranger = hostile_browser()
    clients = [(patron, token, True), (stranger, token_of(stranger), False)]
    for path in DOCUMENT["paths"]:
        concrete = path.replace("{id}", "0123456789abcdef0123")
        for method in METHODS:
            for client, csrf, logged_in in clients:
                with transaction.atomic():
                    response = client.generic(method, concrete, HTTP_X_CSRFTOKEN=csrf)
                category = "contract, wrong methods"
                judge(category, concrete, response, logged_in=logged_in)
                if concrete.startswith("/api/"):
                    keeps_the_contract(path, method.lower(), response)
    assert (
        TALLY.requests["contract, wrong methods"] >= PLANNED["contract, wrong methods"]
    )


# SESSION COOKIES: MALFORMED, MISLEADING, DUPLICATED
# ------------------------------------------------------------------------------

KEY_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
key_like = st.text(alphabet=KEY_ALPHABET, min_size=32, max_size=32)
short_cookie_values = st.one_of(
    key_like,  # the right format, but no such session
    st.text(alphabet=KEY_ALPHABET, max_size=80),  # the wrong length
    header_text.filter(lambda v: ";" not in v),  # invalid characters
    st.uuids().map(str),
    st.binary(min_size=32, max_size=32).map(lambda b: b.hex()),  # like a row's hash
    st.binary(max_size=48).map(lambda b: signing.b64_encode(b).decode()),
    st.builds(lambda a, b: f"eyJ{a}.eyJ{b}.{a}", key_like, key_like),  # JWT-shaped
    st.sampled_from(["", '""', '"quoted"', "deleted", "null", "undefined", "0", "-1"]),
)
cookie_values = short_cookie_values | huge  # very long too
cookie_names = st.sampled_from(
    [
        "__Host-sessionid",
        "__Host-sessionid",
        "__host-sessionid",
        "__Secure-sessionid",
        "sessionid",
        "session",
        "__Host-sessionid ",
        " __Host-sessionid",
    ]
)
cookie_headers = st.one_of(
    st.tuples(cookie_names, cookie_values).map(lambda p: f"{p[0]}={p[1]}"),
    st.lists(st.tuples(cookie_names, short_cookie_values), min_size=2, max_size=40).map(
        lambda pairs: "; ".join(f"{n}={v}" for n, v in pairs)
    ),
    header_text,
)


@pytest.fixture
def real_users(fake_patreon):
    """Real accounts, so a forged or guessed id would have someone to match."""
    for patron in ("1001", "1002"):
        log_in(browser(), patron)
    return list(User.objects.all())


COOKIE_TARGETS = [
    ("get", "/api/auth/me"),
    ("get", "/api/auth/sessions"),
    ("post", "/api/auth/logout"),
]


def send_cookie(category, client, cookie):
    with transaction.atomic():
        for method, path in COOKIE_TARGETS:
            response = getattr(client, method)(path, HTTP_COOKIE=cookie)
            judge(category, path, response)


def test_malformed_session_cookies_never_authenticate(real_users):
    client = hostile_browser()

    @fuzz(PLANNED["session cookies"] // len(COOKIE_TARGETS))
    @given(cookie=cookie_headers)
    def run(cookie):
        send_cookie("session cookies", client, cookie)

    run()
    assert TALLY.requests["session cookies"] >= PLANNED["session cookies"]


# FORGED COOKIES: SIGNED WITH THE PUBLISHED KEY
# ------------------------------------------------------------------------------


class CompactJson:
    """Flask's session serializer writes compact JSON (for plain values)."""

    @staticmethod
    def dumps(value):
        return json.dumps(value, separators=(",", ":"))

    @staticmethod
    def loads(value):
        return json.loads(value)


def flask_session_cookie(payload, key=PUBLISHED_KEY):
    """A Flask session cookie, as Flask's SecureCookieSessionInterface signs it."""
    return URLSafeTimedSerializer(
        key,
        salt="cookie-session",
        serializer=CompactJson,
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1},
    ).dumps(payload)


def django_signed_cookie_session(payload, key=PUBLISHED_KEY):
    """A session in Django's signed_cookies backend format, under ``key``."""
    return signing.dumps(
        payload,
        key=key,
        salt="django.contrib.sessions.backends.signed_cookies",
        compress=True,
    )


def django_signed_cookie(name, value, key=PUBLISHED_KEY):
    """A cookie as HttpResponse.set_signed_cookie would sign it under ``key``."""
    return signing.TimestampSigner(
        key=b"django.http.cookies" + key.encode(), salt=name
    ).sign(value)


def session_auth_hash(user, key=PUBLISHED_KEY):
    """The auth hash a forger holding ``key`` would compute for ``user``."""
    return salted_hmac(
        "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash",
        user.password,
        secret=key,
        algorithm="sha256",
    ).hexdigest()


def forged_payloads(users):
    ids = st.sampled_from([u.pk for u in users] + [0, -1, 10**9])
    django_login = st.builds(
        lambda uid, hashed, backend: {
            "_auth_user_id": str(uid),
            "_auth_user_backend": backend,
            HASH_SESSION_KEY: hashed,
        },
        ids,
        st.sampled_from(users).map(session_auth_hash) | st.text(max_size=64),
        st.sampled_from(
            [
                "accounts.backends.AuthenticationBackend",
                "django.contrib.auth.backends.ModelBackend",
                "allauth.account.auth_backends.AuthenticationBackend",
            ]
        ),
    )
    flask_login = st.fixed_dictionaries(
        {"user_id": ids | ids.map(str), "_fresh": st.booleans()},
        optional={
            "_id": st.text(alphabet="0123456789abcdef", min_size=128, max_size=128),
            "patreon_id": st.sampled_from(["1001", "1002", "1"]),
            "authenticated": st.just(True),
            "is_staff": st.just(True),
        },
    )
    return (
        django_login
        | flask_login
        | st.dictionaries(small_text, json_values(), max_size=5)
    )


def forged_cookies(users):
    def sign(args):
        fmt, name, payload = args
        if fmt == "flask":
            value = flask_session_cookie(payload)
        elif fmt == "django-session":
            value = django_signed_cookie_session(payload)
        else:
            value = django_signed_cookie(name, json.dumps(payload))
        return f"{name}={value}"

    return st.tuples(
        st.sampled_from(["flask", "django-session", "django-signed"]),
        st.sampled_from(
            ["session", "__Host-sessionid", "sessionid", "__Secure-sessionid"]
        ),
        forged_payloads(users),
    ).map(sign)


def test_the_forgers_formats_are_the_real_ones():
    """An app that trusted the published key would accept these cookies."""
    payload = {"_auth_user_id": "1", "user_id": 1, "_fresh": True}
    flask = URLSafeTimedSerializer(
        PUBLISHED_KEY,
        salt="cookie-session",
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1},
    )
    assert flask.loads(flask_session_cookie(payload)) == payload
    with override_settings(SECRET_KEY=PUBLISHED_KEY):
        store = SignedCookieSessionStore(django_signed_cookie_session(payload))
        assert store.load() == payload
        signer = signing.get_cookie_signer(salt="sessionid")
        assert signer.unsign(django_signed_cookie("sessionid", "x")) == "x"


def test_cookies_forged_with_the_published_key_never_authenticate(real_users):
    client = hostile_browser()

    @fuzz(PLANNED["forged cookies"] // len(COOKIE_TARGETS))
    @given(cookie=forged_cookies(real_users))
    def run(cookie):
        send_cookie("forged cookies", client, cookie)

    run()
    assert TALLY.requests["forged cookies"] >= PLANNED["forged cookies"]


# HEADERS: HOST, ORIGIN, X-FORWARDED-*, HUGE AND MALFORMED
# ------------------------------------------------------------------------------

hosts = st.one_of(
    st.just(API_HOST),
    st.builds(lambda s: API_HOST + s, header_text),
    st.builds(lambda p: f"{API_HOST}:{p}", st.integers(min_value=-1, max_value=10**6)),
    st.sampled_from(["evil.example", "ventures.test", "localhost", "[::1]", "", "*"]),
    header_text,
    huge,
)
origins = st.one_of(
    st.sampled_from(
        [
            FRONTEND_ORIGIN,
            "null",
            "https://ventures.test.evil.com",
            "http://ventures.test",
            "https://evil.ventures.test",
            f"https://{API_HOST}",
            "https://[",
            "https://[::1",
            "file://",
            "https://",
        ]
    ),
    st.builds(lambda s: FRONTEND_ORIGIN + s, header_text),
    header_text,
    huge,
)
ips = st.one_of(
    st.ip_addresses().map(str),
    st.sampled_from(
        ["unknown", "_hidden", "fe80::1%eth0", "::ffff:1.2.3.4", "1.2.3.4:80"]
    ),
    header_text,
)
forwarded_for = st.lists(ips, max_size=6).map(", ".join) | header_text | huge
header_sets = st.fixed_dictionaries(
    {},
    optional={
        "HTTP_HOST": hosts,
        "HTTP_ORIGIN": origins,
        "HTTP_REFERER": origins,
        "HTTP_X_FORWARDED_FOR": forwarded_for,
        "HTTP_X_FORWARDED_PROTO": st.sampled_from(
            ["https", "http", "https, http", "HTTPS", ""]
        )
        | header_text,
        "HTTP_X_FORWARDED_HOST": hosts,
        "HTTP_X_FORWARDED_PORT": header_text,
        "HTTP_FORWARDED": header_text,
        "HTTP_X_REQUEST_ID": header_text | huge,
        "HTTP_USER_AGENT": header_text | huge,
        "HTTP_ACCEPT_LANGUAGE": header_text,
        "HTTP_ACCESS_CONTROL_REQUEST_METHOD": header_text,
        "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": header_text,
    },
)
header_targets = st.sampled_from(
    [
        ("get", "/api/auth/me"),
        ("get", "/api/auth/csrf"),
        ("get", "/api/auth/sessions"),
        ("post", "/api/auth/logout"),
        ("options", "/api/auth/logout"),
        ("get", "/login"),
        ("get", "/healthz"),
        ("get", "/api/auth/nothing"),
    ]
)


def fuzz_headers(category):
    client = RawBrowser()
    token = token_of(client)

    @fuzz(PLANNED[category] // 3)
    @given(
        targets=st.lists(header_targets, min_size=3, max_size=3),
        headers=header_sets,
        secure=st.booleans(),
        csrf=st.booleans(),
    )
    def run(targets, headers, secure, csrf):
        extra = dict(headers)
        if csrf:
            extra["HTTP_X_CSRFTOKEN"] = token
        with transaction.atomic():
            for method, path in targets:
                response = getattr(client, method)(path, secure=secure, **extra)
                judge(category, path, response)

    run()
    assert TALLY.requests[category] >= PLANNED[category]


def test_hostile_headers_from_the_internet():
    fuzz_headers("headers, direct")


def test_hostile_headers_through_a_trusted_proxy(settings):
    """Behind the proxy X-Forwarded-* is believed, so it must be parsed safely."""
    settings.TRUSTED_PROXIES = ["127.0.0.1", "::1"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    fuzz_headers("headers, behind the proxy")


# THE PATREON CALLBACK
# ------------------------------------------------------------------------------

callback_keys = (
    st.sampled_from(
        [
            "state",
            "code",
            "error",
            "error_description",
            "error_uri",
            "scope",
            "_redir",
            "next",
            "process",
        ]
    )
    | small_text
)
callback_queries = st.one_of(
    st.dictionaries(callback_keys, any_text | huge, max_size=6).map(urlencode),
    st.lists(st.tuples(callback_keys, any_text), max_size=8).map(urlencode),  # repeats
    st.text(alphabet="%&=+;statecodeerror019AFx", max_size=60),
)


def test_bogus_callbacks_log_nobody_in(fake_patreon):
    client = hostile_browser()
    users = User.objects.count()

    @fuzz(PLANNED["callback"] // 2)
    @given(query=callback_queries)
    def run(query):
        with transaction.atomic():
            response = client.get(CALLBACK, QUERY_STRING=query)
            judge("callback", CALLBACK, response)
            judge("callback", "/api/auth/me", client.get("/api/auth/me"))

    run()
    assert User.objects.count() == users
    assert TALLY.requests["callback"] >= PLANNED["callback"]


def test_bogus_codes_and_errors_with_a_real_state_log_nobody_in(fake_patreon):
    """A real state (the browser started a login), then a made-up answer."""
    client = hostile_browser()

    @fuzz(PLANNED["callback with a real state"] // 4)
    @given(
        code=st.none() | any_text | huge,
        error=st.none() | st.sampled_from(["access_denied", "server_error"]) | any_text,
        extra=st.dictionaries(callback_keys, any_text, max_size=3),
    )
    def run(code, error, extra):
        authorize = start_login(client)
        TALLY.requests["callback with a real state"] += 2  # the login page, the start
        [state] = parse_qs(urlsplit(authorize).query)["state"]
        query = {**extra, "state": state}
        if code is not None:
            query["code"] = code
        if error is not None:
            query["error"] = error
        with transaction.atomic():
            response = client.get(CALLBACK, QUERY_STRING=urlencode(query))
            judge("callback with a real state", CALLBACK, response)
            judge(
                "callback with a real state", "/api/auth/me", client.get("/api/auth/me")
            )

    run()
    assert not User.objects.exists()
    assert (
        TALLY.requests["callback with a real state"]
        >= PLANNED["callback with a real state"]
    )


# ODD ?next= VALUES
# ------------------------------------------------------------------------------

next_prefixes = st.sampled_from(
    [
        "",
        "/",
        "//",
        "/\\",
        "\\\\",
        "https://",
        "http://",
        "https:",
        FRONTEND_ORIGIN,
        FRONTEND_ORIGIN + "/",
        FRONTEND_ORIGIN + "@",
        FRONTEND_ORIGIN + ".",
        "https://[",
        "https://ventures.test]",
        "javascript:",
        "data:",
        " ",
        "\t/",
    ]
)
next_values = st.one_of(
    st.builds(lambda a, b: a + b, next_prefixes, any_text),
    any_text,
    huge,
)


def rendered_next(page):
    """The next value the login page would carry through the flow, if any."""
    match = re.search(r'name="next" value="([^"]*)"', page)
    return html.unescape(match[1]) if match else None


def is_ours(url):
    """A path on the API, or a URL on the frontend's origin, as a browser reads it."""
    # Browsers read a backslash as a slash: "/\\evil" is "//evil".
    parts = urlsplit(url.replace("\\", "/"))
    if url.startswith("/"):
        return not parts.scheme and not parts.netloc
    return f"{parts.scheme}://{parts.netloc}".lower() == FRONTEND_ORIGIN


def test_odd_next_values_never_break_the_login_or_leave_the_site(fake_patreon):
    client = hostile_browser()
    token = CSRF_INPUT.search(client.get("/login").content.decode())[1]

    @fuzz(PLANNED["next"] // 2)
    @given(next_url=next_values)
    def run(next_url):
        with transaction.atomic():
            page = client.get("/login", QUERY_STRING=urlencode({"next": next_url}))
            judge("next", "/login", page)
            carried = rendered_next(page.content.decode())
            assert carried is None or is_ours(carried), carried
            start = client.post(
                "/accounts/patreon/login/",
                {"csrfmiddlewaretoken": token, "next": next_url},
            )
            judge("next", "/accounts/patreon/login/", start)
            assert start.status_code == 302
            assert start["Location"].startswith(fake_patreon.base_url)

    run()
    assert TALLY.requests["next"] >= PLANNED["next"]


def test_the_categories_add_up_to_at_least_ten_thousand_requests():
    assert sum(PLANNED.values()) >= 10_000
