"""
Security headers, graded as Mozilla's HTTP Observatory grades them.

``observatory_score`` re-implements the scoring of the current Observatory
(github.com/mdn/mdn-http-observatory, ``src/scanner/index.js``,
``src/grader/charts.js`` and ``src/analyzer/tests/*.js``) and is fed real
responses of this app: the JSON API (``/api/auth/me``), the login page
(``/login``) and the admin's login page (``/admin/login/``). Each must get A+.

How the Observatory scans (and so how ``scan`` below retrieves): a GET of the
page over HTTPS (it gives up on a non-2xx status, so the API is graded logged
in); a GET over plain HTTP whose redirects it follows; ``/robots.txt`` for
more cookies; and a CORS preflight (``OPTIONS`` with ``Origin:
https://http-observatory.security.mozilla.org`` and
``Access-Control-Request-Method: GET``). Every cookie set along the way is
judged; for the API we also judge the cookies the login sets, which the
Observatory would never see (stricter, not looser).

Scoring: start at 100 and add each test's modifier. The bonuses (positive
modifiers) count only when the score without them is at least 90
(``MINIMUM_SCORE_FOR_EXTRA_CREDIT``). Grades: A+ for 100 and more, then A
(90-99), A- (85), B+ (80), B (70-79), B- (65), C+ (60), C (50-59), C- (45),
D+ (40), D (30-39), D- (25), F below.

The modifiers, per test (Observatory result id, modifier):

content-security-policy
    csp-implemented-with-no-unsafe-default-src-none               +10
    csp-implemented-with-no-unsafe                                 +5
    csp-implemented-with-unsafe-inline-in-style-src-only            0
    csp-implemented-with-insecure-scheme-in-passive-content-only  -10
    csp-implemented-with-unsafe-eval                              -10
    csp-implemented-with-unsafe-inline                            -20
    csp-implemented-with-insecure-scheme                          -20
    csp-header-invalid                                            -25
    csp-not-implemented                                           -25
cookies
    cookies-secure-with-httponly-sessions-and-samesite             +5
    cookies-secure-with-httponly-sessions                           0
    cookies-not-found                                               0
    cookies-without-secure-flag-but-protected-by-hsts              -5
    cookies-session-without-secure-flag-but-protected-by-hsts     -10
    cookies-without-secure-flag                                   -20
    cookies-samesite-flag-invalid                                 -20
    cookies-anticsrf-without-samesite-flag                        -20
    cookies-session-without-httponly-flag                         -30
    cookies-session-without-secure-flag                           -40
cross-origin-resource-sharing
    ...-not-implemented                                             0
    ...-implemented-with-public-access                              0
    ...-implemented-with-restricted-access                          0
    ...-implemented-with-universal-access (reflected + credentials)  -50
redirection
    redirection-all-redirects-preloaded                             0
    redirection-to-https                                            0
    redirection-not-needed-no-http                                  0
    redirection-off-host-from-http                                 -5
    redirection-not-to-https-on-initial-redirection               -10
    redirection-not-to-https                                      -20
    redirection-missing                                           -20
referrer-policy
    referrer-policy-private                                        +5
    referrer-policy-not-implemented                                 0
    referrer-policy-unsafe                                         -5
    referrer-policy-header-invalid                                 -5
strict-transport-security
    hsts-preloaded                                                 +5
    hsts-implemented-max-age-at-least-six-months                    0
    hsts-implemented-max-age-less-than-six-months                 -10
    hsts-not-implemented                                          -20
    hsts-header-invalid                                           -20
subresource-integrity
    sri-implemented-and-all-scripts-loaded-securely                +5
    sri-implemented-and-external-scripts-loaded-securely           +5
    sri-not-implemented-response-not-html                           0
    sri-not-implemented-but-no-scripts-loaded                       0
    sri-not-implemented-but-all-scripts-loaded-from-secure-origin   0
    sri-not-implemented-but-external-scripts-loaded-securely       -5
    sri-implemented-but-external-scripts-not-loaded-securely      -20
    sri-not-implemented-and-external-scripts-not-loaded-securely  -50
x-content-type-options
    x-content-type-options-nosniff                                  0
    x-content-type-options-not-implemented                         -5
    x-content-type-options-header-invalid                          -5
x-frame-options
    x-frame-options-implemented-via-csp (frame-ancestors)          +5
    x-frame-options-sameorigin-or-deny                              0
    x-frame-options-allow-from-origin                               0
    x-frame-options-not-implemented                               -20
    x-frame-options-header-invalid                                -20
cross-origin-resource-policy
    corp-implemented-with-same-origin                             +10
    corp-implemented-with-same-site                               +10
    corp-implemented-with-cross-origin                              0
    corp-not-implemented                                            0
    corp-header-invalid                                            -5

Not modelled, because this app never triggers them: HSTS preload-list
membership (api.ventures.test is on no list, so no +5 and no preloaded
redirections), ``<meta http-equiv>`` policies (the pages carry none),
several CSP policies in one response, and CSP duplicate-directive warnings.
"""

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.test import Client

from tests.conftest import API_HOST
from tests.patreon import log_in
from ventures.cookies import registrable_domain

pytestmark = pytest.mark.django_db

OBSERVATORY_ORIGIN = "https://http-observatory.security.mozilla.org"
MINIMUM_SCORE_FOR_EXTRA_CREDIT = 90
SIX_MONTHS = 15_552_000  # the Observatory's "white lie" for 15768000

MODIFIERS = {
    # content-security-policy
    "csp-implemented-with-no-unsafe-default-src-none": 10,
    "csp-implemented-with-no-unsafe": 5,
    "csp-implemented-with-unsafe-inline-in-style-src-only": 0,
    "csp-implemented-with-insecure-scheme-in-passive-content-only": -10,
    "csp-implemented-with-unsafe-eval": -10,
    "csp-implemented-with-unsafe-inline": -20,
    "csp-implemented-with-insecure-scheme": -20,
    "csp-header-invalid": -25,
    "csp-not-implemented": -25,
    # cookies
    "cookies-secure-with-httponly-sessions-and-samesite": 5,
    "cookies-secure-with-httponly-sessions": 0,
    "cookies-not-found": 0,
    "cookies-without-secure-flag-but-protected-by-hsts": -5,
    "cookies-session-without-secure-flag-but-protected-by-hsts": -10,
    "cookies-without-secure-flag": -20,
    "cookies-samesite-flag-invalid": -20,
    "cookies-anticsrf-without-samesite-flag": -20,
    "cookies-session-without-httponly-flag": -30,
    "cookies-session-without-secure-flag": -40,
    # cross-origin-resource-sharing
    "cross-origin-resource-sharing-not-implemented": 0,
    "cross-origin-resource-sharing-implemented-with-public-access": 0,
    "cross-origin-resource-sharing-implemented-with-restricted-access": 0,
    "cross-origin-resource-sharing-implemented-with-universal-access": -50,
    # redirection
    "redirection-all-redirects-preloaded": 0,
    "redirection-to-https": 0,
    "redirection-not-needed-no-http": 0,
    "redirection-off-host-from-http": -5,
    "redirection-not-to-https-on-initial-redirection": -10,
    "redirection-not-to-https": -20,
    "redirection-missing": -20,
    # referrer-policy
    "referrer-policy-private": 5,
    "referrer-policy-not-implemented": 0,
    "referrer-policy-unsafe": -5,
    "referrer-policy-header-invalid": -5,
    # strict-transport-security
    "hsts-preloaded": 5,
    "hsts-implemented-max-age-at-least-six-months": 0,
    "hsts-implemented-max-age-less-than-six-months": -10,
    "hsts-not-implemented": -20,
    "hsts-header-invalid": -20,
    # subresource-integrity
    "sri-implemented-and-all-scripts-loaded-securely": 5,
    "sri-implemented-and-external-scripts-loaded-securely": 5,
    "sri-not-implemented-response-not-html": 0,
    "sri-not-implemented-but-no-scripts-loaded": 0,
    "sri-not-implemented-but-all-scripts-loaded-from-secure-origin": 0,
    "sri-not-implemented-but-external-scripts-loaded-securely": -5,
    "sri-implemented-but-external-scripts-not-loaded-securely": -20,
    "sri-not-implemented-and-external-scripts-not-loaded-securely": -50,
    # x-content-type-options
    "x-content-type-options-nosniff": 0,
    "x-content-type-options-not-implemented": -5,
    "x-content-type-options-header-invalid": -5,
    # x-frame-options
    "x-frame-options-implemented-via-csp": 5,
    "x-frame-options-sameorigin-or-deny": 0,
    "x-frame-options-allow-from-origin": 0,
    "x-frame-options-not-implemented": -20,
    "x-frame-options-header-invalid": -20,
    # cross-origin-resource-policy
    "corp-implemented-with-same-origin": 10,
    "corp-implemented-with-same-site": 10,
    "corp-implemented-with-cross-origin": 0,
    "corp-not-implemented": 0,
    "corp-header-invalid": -5,
}

GRADES = [
    (100, "A+"),
    (90, "A"),
    (85, "A-"),
    (80, "B+"),
    (70, "B"),
    (65, "B-"),
    (60, "C+"),
    (50, "C"),
    (45, "C-"),
    (40, "D+"),
    (30, "D"),
    (25, "D-"),
    (0, "F"),
]


# WHAT THE OBSERVATORY SEES
# ------------------------------------------------------------------------------


@dataclass
class Cookie:
    name: str
    secure: bool
    httponly: bool
    samesite: str  # "" when absent


@dataclass
class Scan:
    """What one Observatory scan retrieves."""

    url: str
    status: int
    headers: dict  # lower-case name -> value
    body: str
    cookies: list = field(default_factory=list)
    http_route: list = field(default_factory=list)  # URLs, the http:// one first
    cors_request_origin: str = OBSERVATORY_ORIGIN
    cors_headers: dict = field(default_factory=dict)

    def header(self, name):
        return self.headers.get(name.lower())


def headers_of(response):
    return {name.lower(): value for name, value in response.items()}


def cookies_of(response):
    """The live cookies a response sets (deleted ones leave the jar)."""
    return [
        Cookie(
            name=name,
            secure=bool(morsel["secure"]),
            httponly=bool(morsel["httponly"]),
            samesite=morsel["samesite"] or "",
        )
        for name, morsel in response.cookies.items()
        if str(morsel["max-age"]) != "0"
    ]


def scan(browser, path, extra_cookies=()):
    """Retrieve ``path`` on the API host the way the Observatory does."""
    page = browser.get(path, secure=True)
    robots = browser.get("/robots.txt", secure=True)
    cors = browser.options(
        path,
        secure=True,
        HTTP_ORIGIN=OBSERVATORY_ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
    )
    route = [f"http://{API_HOST}{path}"]
    plain = Client(HTTP_HOST=API_HOST)
    response = plain.get(path)
    for _ in range(10):
        if response.status_code not in (301, 302, 303, 307, 308):
            break
        location = response["Location"]
        route.append(location)
        parts = urlsplit(location)
        if parts.netloc and parts.netloc != API_HOST:
            break
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        response = plain.get(target, secure=parts.scheme == "https")
    return Scan(
        url=f"https://{API_HOST}{path}",
        status=page.status_code,
        headers=headers_of(page),
        body=page.content.decode(errors="replace"),
        cookies=[*extra_cookies, *cookies_of(page), *cookies_of(robots)],
        http_route=route,
        cors_headers=headers_of(cors),
    )


# THE OBSERVATORY'S TESTS
# ------------------------------------------------------------------------------

DANGEROUSLY_BROAD = {
    "ftp:",
    "http:",
    "https:",
    "*",
    "http://*",
    "http://*.*",
    "https://*",
    "https://*.*",
}
UNSAFE_INLINE = {"'unsafe-inline'", "data:"}
NONCES_HASHES = ("'sha256-", "'sha384-", "'sha512-", "'nonce-")


class InvalidPolicy(ValueError):
    pass


def parse_csp(header):
    """One policy as {directive: set of sources}, as src/analyzer/cspParser.js."""
    policy = header.replace("\r", "").replace("\n", "").strip()
    if "," in policy:
        raise AssertionError("this grader handles one policy per response")
    if len(policy) < len("img-src") - 1:
        raise InvalidPolicy(policy)
    csp = {}
    for entry in policy.split(";"):
        directive, *sources = entry.strip().split()
        directive = directive.lower()
        if directive in csp and directive not in ("report-uri", "report-to"):
            raise InvalidPolicy(f"duplicate directive {directive}")
        values = {s.lower() for s in sources}
        if not values and directive.endswith("-src"):
            values = {"'none'"}
        csp[directive] = values
    return csp


def csp_test(scan):
    header = scan.header("Content-Security-Policy")
    if not header:
        return "csp-not-implemented"
    try:
        csp = parse_csp(header)
    except InvalidPolicy:
        return "csp-header-invalid"
    default = csp.get("default-src")
    object_src = set(csp.get("object-src") or default or {"*"})
    script_src = set(csp.get("script-src") or default or {"*"})
    style_src = set(csp.get("style-src") or default or {"*"})
    for sources in (script_src, style_src):
        if any(s.startswith(NONCES_HASHES) for s in sources):
            sources.discard("'unsafe-inline'")
    result = None
    if "'strict-dynamic'" in script_src:
        if any(s.startswith(NONCES_HASHES) for s in script_src):
            script_src = {
                s
                for s in script_src
                if not any(s.startswith(b) for b in DANGEROUSLY_BROAD)
                and s not in ("'self'", "'unsafe-inline'")
            }
        else:
            result = "csp-header-invalid"
    passive = ("img-src", "media-src")
    active_sources = [
        s
        for directive, sources in csp.items()
        if directive not in passive and directive != "script-src"
        for s in sources
    ] + list(script_src)
    passive_sources = [
        s for directive in passive for s in (csp.get(directive) or default or set())
    ]
    https = scan.url.startswith("https:")

    def insecure(sources):
        return https and any(s.startswith(("http:", "ftp:")) for s in sources)

    checks = [
        (
            script_src & (DANGEROUSLY_BROAD | UNSAFE_INLINE)
            or object_src & DANGEROUSLY_BROAD,
            "csp-implemented-with-unsafe-inline",
        ),
        (insecure(active_sources), "csp-implemented-with-insecure-scheme"),
        ("'unsafe-eval'" in script_src | style_src, "csp-implemented-with-unsafe-eval"),
        (
            insecure(passive_sources),
            "csp-implemented-with-insecure-scheme-in-passive-content-only",
        ),
        (
            style_src & (DANGEROUSLY_BROAD | UNSAFE_INLINE),
            "csp-implemented-with-unsafe-inline-in-style-src-only",
        ),
        (default == {"'none'"}, "csp-implemented-with-no-unsafe-default-src-none"),
        (True, "csp-implemented-with-no-unsafe"),
    ]
    return result or next(name for failed, name in checks if failed)


def hsts_test(scan):
    header = scan.header("Strict-Transport-Security")
    if not header:
        return "hsts-not-implemented"
    header = header[:1024]
    if "," in header:
        return "hsts-header-invalid"
    max_age = None
    for parameter in (p.strip().lower() for p in header.split(";")):
        if parameter.startswith("max-age="):
            digits = re.match(r"\s*[+-]?\d+", parameter[8:128])
            max_age = int(digits[0]) if digits else None
    if max_age is None:
        return "hsts-header-invalid"
    if max_age < SIX_MONTHS:
        return "hsts-implemented-max-age-less-than-six-months"
    return "hsts-implemented-max-age-at-least-six-months"


COOKIE_BADNESS = [
    "cookies-without-secure-flag-but-protected-by-hsts",
    "cookies-without-secure-flag",
    "cookies-session-without-secure-flag-but-protected-by-hsts",
    "cookies-samesite-flag-invalid",
    "cookies-anticsrf-without-samesite-flag",
    "cookies-session-without-httponly-flag",
    "cookies-session-without-secure-flag",
]


def cookies_test(scan):
    if not scan.cookies:
        return "cookies-not-found"
    hsts = hsts_test(scan) == "hsts-implemented-max-age-at-least-six-months"
    result = None

    def worse(candidate):
        nonlocal result
        if result is None or COOKIE_BADNESS.index(candidate) > COOKIE_BADNESS.index(
            result
        ):
            result = candidate

    for cookie in scan.cookies:
        name = cookie.name.lower()
        session = "login" in name or "sess" in name
        samesite = cookie.samesite.lower()
        if samesite and samesite not in ("lax", "strict", "none"):
            worse("cookies-samesite-flag-invalid")
        if not cookie.secure and samesite == "none":
            worse("cookies-samesite-flag-invalid")
        if not cookie.secure:
            worse(
                "cookies-without-secure-flag-but-protected-by-hsts"
                if hsts
                else "cookies-without-secure-flag"
            )
        if "csrf" in name and not samesite:
            worse("cookies-anticsrf-without-samesite-flag")
        if session and not cookie.secure:
            worse(
                "cookies-session-without-secure-flag-but-protected-by-hsts"
                if hsts
                else "cookies-session-without-secure-flag"
            )
        if session and not cookie.httponly:
            worse("cookies-session-without-httponly-flag")
    if result:
        return result
    if all(c.samesite for c in scan.cookies):
        return "cookies-secure-with-httponly-sessions-and-samesite"
    return "cookies-secure-with-httponly-sessions"


def cors_test(scan):
    allowed = scan.cors_headers.get("access-control-allow-origin")
    if not allowed:
        return "cross-origin-resource-sharing-not-implemented"
    allowed = allowed[:256].strip().lower()
    credentials = scan.cors_headers.get("access-control-allow-credentials", "")
    if allowed == "*":
        return "cross-origin-resource-sharing-implemented-with-public-access"
    if allowed == scan.cors_request_origin and credentials.strip().lower() == "true":
        return "cross-origin-resource-sharing-implemented-with-universal-access"
    return "cross-origin-resource-sharing-implemented-with-restricted-access"


def redirection_test(scan):
    route = scan.http_route
    if not route:
        return "redirection-not-needed-no-http"
    if len(route) == 1:
        return "redirection-missing"
    first, second, last = (urlsplit(u) for u in (route[0], route[1], route[-1]))
    if last.scheme != "https":
        return "redirection-not-to-https"
    if second.scheme == "http":
        return "redirection-not-to-https-on-initial-redirection"
    if first.hostname != second.hostname:
        return "redirection-off-host-from-http"
    return "redirection-to-https"


def referrer_policy_test(scan):
    good = [
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    ]
    bad = [
        "origin",
        "origin-when-cross-origin",
        "unsafe-url",
        "no-referrer-when-downgrade",
    ]
    header = scan.header("Referrer-Policy")
    if header is None:
        return "referrer-policy-not-implemented"
    valid = [
        p.strip().lower() for p in header.split(",") if p.strip().lower() in good + bad
    ]
    if valid and valid[-1] in good:
        return "referrer-policy-private"
    if valid:
        return "referrer-policy-unsafe"
    return "referrer-policy-header-invalid"


class Scripts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts = []

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts.append(dict(attrs))


SRI_BADNESS = [
    "sri-implemented-and-all-scripts-loaded-securely",
    "sri-implemented-and-external-scripts-loaded-securely",
    "sri-implemented-but-external-scripts-not-loaded-securely",
    "sri-not-implemented-but-external-scripts-loaded-securely",
    "sri-not-implemented-and-external-scripts-not-loaded-securely",
    "sri-not-implemented-response-not-html",
]


def sri_test(scan):
    mime = (scan.header("Content-Type") or "").split(";")[0]
    if mime and mime not in ("text/html", "application/xhtml+xml"):
        return "sri-not-implemented-response-not-html"
    parser = Scripts()
    parser.feed(scan.body)
    if not parser.scripts:
        return "sri-not-implemented-but-no-scripts-loaded"
    result, foreign = None, False

    def worse(candidate):
        nonlocal result
        if result is None or SRI_BADNESS.index(candidate) > SRI_BADNESS.index(result):
            result = candidate

    site = registrable_domain(API_HOST)
    for attrs in parser.scripts:
        src = attrs.get("src")
        if not src:
            continue
        integrity = attrs.get("integrity")
        protocol_relative = re.match(r"^//[^/]", src) is not None
        full = re.match(r"^https?://", src) is not None
        relative = not protocol_relative and not full
        same_site = (
            protocol_relative
            or relative
            or registrable_domain(urlsplit(src).hostname or "") == site
        )
        secure_origin = relative or (same_site and not protocol_relative)
        secure_scheme = (full and src.startswith("https:")) or relative
        if not secure_origin:
            foreign = True
            if integrity and not secure_scheme:
                worse("sri-implemented-but-external-scripts-not-loaded-securely")
            elif not integrity and secure_scheme:
                worse("sri-not-implemented-but-external-scripts-loaded-securely")
            elif not integrity:
                worse("sri-not-implemented-and-external-scripts-not-loaded-securely")
        elif integrity and secure_scheme and result is None:
            result = "sri-implemented-and-all-scripts-loaded-securely"
    if result:
        return result
    if foreign:
        return "sri-implemented-and-external-scripts-loaded-securely"
    return "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"


def x_content_type_options_test(scan):
    header = scan.header("X-Content-Type-Options")
    if not header:
        return "x-content-type-options-not-implemented"
    if header[:256].strip().lower() == "nosniff":
        return "x-content-type-options-nosniff"
    return "x-content-type-options-header-invalid"


def x_frame_options_test(scan):
    csp = scan.header("Content-Security-Policy")
    try:
        if csp and "frame-ancestors" in parse_csp(csp):
            return "x-frame-options-implemented-via-csp"
    except InvalidPolicy:
        pass
    header = scan.header("X-Frame-Options")
    if not header:
        return "x-frame-options-not-implemented"
    value = header[:1024].strip().lower()
    if value in ("deny", "sameorigin"):
        return "x-frame-options-sameorigin-or-deny"
    if value.startswith("allow-from"):
        return "x-frame-options-allow-from-origin"
    return "x-frame-options-header-invalid"


def corp_test(scan):
    header = scan.header("Cross-Origin-Resource-Policy")
    if not header:
        return "corp-not-implemented"
    return {
        "same-site": "corp-implemented-with-same-site",
        "same-origin": "corp-implemented-with-same-origin",
        "cross-origin": "corp-implemented-with-cross-origin",
    }.get(header[:256].strip().lower(), "corp-header-invalid")


TESTS = {
    "content-security-policy": csp_test,
    "cookies": cookies_test,
    "cross-origin-resource-sharing": cors_test,
    "redirection": redirection_test,
    "referrer-policy": referrer_policy_test,
    "strict-transport-security": hsts_test,
    "subresource-integrity": sri_test,
    "x-content-type-options": x_content_type_options_test,
    "x-frame-options": x_frame_options_test,
    "cross-origin-resource-policy": corp_test,
}


@dataclass
class Grade:
    score: int
    grade: str
    results: dict  # test name -> (result, modifier)

    def __str__(self):
        rows = "\n".join(
            f"  {test:32} {result:62} {modifier:+d}"
            for test, (result, modifier) in self.results.items()
        )
        return f"score {self.score} ({self.grade})\n{rows}"


def observatory_score(scan):
    """The Observatory's score and grade for one scan, with each test's result."""
    results = {}
    for name, test in TESTS.items():
        result = test(scan)
        results[name] = (result, MODIFIERS[result])
    with_extra_credit = 100 + sum(m for _, m in results.values())
    uncurved = 100 + sum(m for _, m in results.values() if m < 0)
    score = max(
        with_extra_credit if uncurved >= MINIMUM_SCORE_FOR_EXTRA_CREDIT else uncurved,
        0,
    )
    return Grade(score, observatory_grade(score), results)


def observatory_grade(score):
    """Round down to a multiple of 5 (100 at most) and read the chart."""
    rounded = min(score - score % 5, 100)
    return next(grade for floor, grade in GRADES if rounded >= floor)


# THE GRADER GRADES LIKE THE OBSERVATORY
# ------------------------------------------------------------------------------


def synthetic(headers=None, cookies=(), body="", route=None, cors=None):
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    headers.setdefault("content-type", "application/json")
    return Scan(
        url="https://example.test/",
        status=200,
        headers=headers,
        body=body,
        cookies=list(cookies),
        http_route=["http://example.test/", "https://example.test/"]
        if route is None
        else route,
        cors_headers=cors or {},
    )


GOOD = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains; preload",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class TestTheGrader:
    def test_a_site_without_any_security_header_fails(self):
        grade = observatory_score(synthetic())
        # CSP -25, HSTS -20, XFO -20, XCTO -5.
        assert (grade.score, grade.grade) == (30, "D")

    def test_the_good_headers_earn_every_bonus(self):
        grade = observatory_score(synthetic(GOOD))
        # CSP +10, referrer +5, XFO via CSP +5, CORP +10.
        assert (grade.score, grade.grade) == (130, "A+")

    def test_bonuses_only_count_once_the_score_without_them_is_an_a(self):
        headers = {**GOOD, "X-Content-Type-Options": "sniff-away"}
        headers["Strict-Transport-Security"] = "max-age=300"
        grade = observatory_score(synthetic(headers))
        # -5 and -10 leave 85 (< 90), so the +30 of bonuses do not count.
        assert grade.score == 85

    def test_unsafe_inline_scripts_cost_twenty(self):
        headers = {
            **GOOD,
            "Content-Security-Policy": "script-src 'self' 'unsafe-inline'",
        }
        assert observatory_score(synthetic(headers)).results[
            "content-security-policy"
        ] == ("csp-implemented-with-unsafe-inline", -20)

    def test_a_nonce_neutralises_unsafe_inline(self):
        policy = "default-src 'none'; script-src 'nonce-abc' 'unsafe-inline'"
        assert csp_test(synthetic({"Content-Security-Policy": policy})) == (
            "csp-implemented-with-no-unsafe-default-src-none"
        )

    def test_an_http_form_target_on_an_https_site_costs_twenty(self):
        policy = "default-src 'none'; form-action 'self' http://127.0.0.1:8765"
        assert csp_test(synthetic({"Content-Security-Policy": policy})) == (
            "csp-implemented-with-insecure-scheme"
        )

    def test_a_reflected_origin_with_credentials_costs_fifty(self):
        cors = {
            "access-control-allow-origin": OBSERVATORY_ORIGIN,
            "access-control-allow-credentials": "true",
        }
        assert observatory_score(synthetic(GOOD, cors=cors)).results[
            "cross-origin-resource-sharing"
        ] == ("cross-origin-resource-sharing-implemented-with-universal-access", -50)

    def test_a_session_cookie_readable_by_scripts_costs_thirty(self):
        cookie = Cookie("sessionid", secure=True, httponly=False, samesite="Lax")
        assert cookies_test(synthetic(GOOD, cookies=[cookie])) == (
            "cookies-session-without-httponly-flag"
        )

    def test_a_csrf_cookie_without_samesite_costs_twenty(self):
        cookie = Cookie("csrftoken", secure=True, httponly=False, samesite="")
        assert cookies_test(synthetic(GOOD, cookies=[cookie])) == (
            "cookies-anticsrf-without-samesite-flag"
        )

    def test_no_redirect_from_http_costs_twenty(self):
        scan = synthetic(GOOD, route=["http://example.test/"])
        assert redirection_test(scan) == "redirection-missing"

    def test_a_third_party_script_without_integrity_costs_five(self):
        body = '<html><script src="https://cdn.example.net/x.js"></script></html>'
        scan = synthetic({"Content-Type": "text/html"}, body=body)
        assert (
            sri_test(scan) == "sri-not-implemented-but-external-scripts-loaded-securely"
        )

    def test_our_own_scripts_need_no_integrity(self):
        body = '<script src="/static/admin/js/theme.js"></script>'
        scan = synthetic({"Content-Type": "text/html"}, body=body)
        assert sri_test(scan) == (
            "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"
        )

    def test_the_grades_follow_the_observatory_chart(self):
        scores = (135, 100, 99, 90, 87, 65, 64, 24)
        grades = ["A+", "A+", "A", "A", "A-", "B-", "C+", "F"]
        assert [observatory_grade(s) for s in scores] == grades


# OUR RESPONSES GET A+
# ------------------------------------------------------------------------------


@pytest.fixture
def production_patreon(settings):
    """Pages name Patreon in form-action: grade them with the real, https one."""
    settings.PATREON_BASE_URL = "https://www.patreon.com"


def assert_a_plus(grade):
    assert grade.score >= 100, str(grade)
    assert grade.grade == "A+", str(grade)
    penalties = {t: r for t, (r, m) in grade.results.items() if m < 0}
    assert not penalties, str(grade)


class TestOurGrades:
    def test_the_api_gets_a_plus(self, client, fake_patreon):
        login = log_in(client, "1001")
        grade = observatory_score(
            scan(client, "/api/auth/me", extra_cookies=cookies_of(login))
        )
        print(f"/api/auth/me (logged in): {grade}")
        assert_a_plus(grade)
        assert grade.score == 135

    def test_the_api_refusing_a_stranger_would_get_a_plus_too(self, client):
        """The Observatory stops at a 401; its headers are graded all the same."""
        result = scan(client, "/api/auth/me")
        assert result.status == 401
        grade = observatory_score(result)
        print(f"/api/auth/me (logged out): {grade}")
        assert_a_plus(grade)

    def test_the_login_page_gets_a_plus(self, client, production_patreon):
        grade = observatory_score(scan(client, "/login"))
        print(f"/login: {grade}")
        assert_a_plus(grade)
        assert grade.score == 135

    def test_the_admin_login_page_gets_a_plus(self, client, production_patreon):
        grade = observatory_score(scan(client, "/admin/login/"))
        print(f"/admin/login/: {grade}")
        assert_a_plus(grade)
        assert grade.score == 135

    def test_the_json_policy_is_default_src_none_with_no_framing(self, client):
        csp = parse_csp(client.get("/api/auth/me")["Content-Security-Policy"])
        assert csp["default-src"] == {"'none'"}
        assert csp["frame-ancestors"] == {"'none'"}
        assert csp["form-action"] == {"'none'"}
        assert csp["base-uri"] == {"'none'"}

    def test_the_page_policy_runs_only_our_scripts_with_this_responses_nonce(
        self, client, production_patreon
    ):
        first, second = (client.get("/login") for _ in range(2))
        policies = [parse_csp(r["Content-Security-Policy"]) for r in (first, second)]
        nonces = [
            next(s for s in p["script-src"] if s.startswith("'nonce-"))
            for p in policies
        ]
        assert nonces[0] != nonces[1]
        assert policies[0]["default-src"] == {"'none'"}
        assert policies[0]["style-src"] == {"'self'"}
        assert policies[0]["object-src"] == {"'none'"}
        assert policies[0]["frame-ancestors"] == {"'none'"}

    def test_pages_with_a_plain_http_patreon_would_lose_twenty(self, client, settings):
        """Why production refuses an http PATREON_BASE_URL (ventures.E060) here too."""
        settings.PATREON_BASE_URL = "http://127.0.0.1:8765"
        assert (
            csp_test(scan(client, "/login")) == "csp-implemented-with-insecure-scheme"
        )
