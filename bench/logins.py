"""
Logins through the fake Patreon, as browsers do them, against one gunicorn.

Each login is the whole flow: the login page (its CSRF token), its button
(allauth stores the OAuth state in a new session and sends us to Patreon),
the patron's consent on the fake (over TLS, via nginx), and the callback,
where the app exchanges the code and asks for the identity (two HTTPS calls
to the fake), creates the user and membership and starts the session.

The first three steps are prepared for every login first; then the
callbacks, the part this measures, run ``concurrency`` at a time. Every
login is a different client address (X-Forwarded-For, as nginx sends it),
so the per-IP rate limits apply exactly as in production, and a different,
new patron, so each callback creates its user.
"""

from __future__ import annotations

import re
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

import requests

from tests.stack import API_HOST, API_ORIGIN

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass
class Pending:
    """A login waiting for its callback."""

    patron: str
    ip: str
    cookies: dict
    callback: str  # path and query


class LoginFailed(Exception):
    pass


class Client:
    """One browser, talking to gunicorn as nginx would (trusted proxy)."""

    def __init__(self, base_url, ip, ca):
        self.base_url = base_url
        self.ip = ip
        self.ca = ca
        self.cookies = {}
        self.http = requests.Session()
        self.http.trust_env = False

    def request(self, method, path, **kwargs):
        headers = {
            "Host": API_HOST,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": self.ip,
            "User-Agent": "Mozilla/5.0 (bench) login",
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method != "GET":
            headers["Origin"] = API_ORIGIN
        response = self.http.request(
            method,
            self.base_url + path,
            headers=headers,
            allow_redirects=False,
            timeout=30,
            **kwargs,
        )
        for header in response.raw.headers.getlist("Set-Cookie"):
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response


def client_ip(n):
    """A distinct client address per login (a documentation range)."""
    return f"198.18.{n // 250 % 250}.{n % 250 + 1}"


def prepare(base_url, ca, patron, ip):
    """The steps before the callback; returns a Pending login."""
    client = Client(base_url, ip, ca)
    page = client.request("GET", "/login")
    token = CSRF_INPUT.search(page.text)
    if page.status_code != 200 or not token:
        raise LoginFailed(f"GET /login answered {page.status_code}")
    start = client.request(
        "POST", "/accounts/patreon/login/", data={"csrfmiddlewaretoken": token[1]}
    )
    if start.status_code != 302:
        raise LoginFailed(f"starting the login answered {start.status_code}")
    authorize = start.headers["Location"]
    separator = "&" if "?" in authorize else "?"
    consent = requests.get(
        authorize + separator + urlencode({"fake_patron": patron}),
        allow_redirects=False,
        verify=ca,
        timeout=30,
    )
    if consent.status_code != 302:
        raise LoginFailed(f"the fake's consent answered {consent.status_code}")
    callback = urlsplit(consent.headers["Location"])
    if callback.netloc != API_HOST:
        raise LoginFailed(f"the fake sent us to {callback.netloc}")
    return Pending(
        patron, ip, dict(client.cookies), f"{callback.path}?{callback.query}"
    )


def finish(base_url, ca, pending, session_cookie):
    """The callback; returns (seconds, session cookie value)."""
    client = Client(base_url, pending.ip, ca)
    client.cookies = dict(pending.cookies)
    began = time.perf_counter()
    response = client.request("GET", pending.callback)
    elapsed = time.perf_counter() - began
    if response.status_code != 302 or session_cookie not in client.cookies:
        raise LoginFailed(
            f"the callback answered {response.status_code}: {response.text[:200]}"
        )
    if "/login" in response.headers.get("Location", "").split("?")[0]:
        raise LoginFailed(f"the callback sent us to {response.headers['Location']}")
    return elapsed, client.cookies[session_cookie]


def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def bench_logins(
    config, ca, *, count, concurrency, first_patron, session_cookie, first_ip=0
):
    """
    ``count`` logins of new patrons against ``config``; returns the figures
    and the session cookies of the logged-in browsers.
    """
    base_url = config.base_url
    patrons = [str(first_patron + i) for i in range(count)]
    began = time.perf_counter()
    errors = []
    with ThreadPoolExecutor(concurrency) as pool:
        futures = [
            pool.submit(prepare, base_url, ca, patron, client_ip(first_ip + i))
            for i, patron in enumerate(patrons)
        ]
        pending = []
        for future in futures:
            try:
                pending.append(future.result())
            except (LoginFailed, requests.RequestException) as error:
                errors.append(f"prepare: {error!r}")
    prepared = time.perf_counter() - began

    def one(login):
        try:
            return finish(base_url, ca, login, session_cookie)
        except (LoginFailed, requests.RequestException) as error:
            return error

    began = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        outcomes = list(pool.map(one, pending))
    seconds = time.perf_counter() - began
    latencies, cookies = [], []
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            errors.append(f"callback: {outcome!r}")
        else:
            latencies.append(outcome[0])
            cookies.append(outcome[1])
    figures = {
        "config": config.key,
        "logins": len(cookies),
        "concurrency": concurrency,
        "seconds": seconds,
        "logins_per_second": len(cookies) / seconds if seconds else 0.0,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "median_ms": statistics.median(latencies) * 1000 if latencies else 0.0,
        "errors": len(errors),
        "error_samples": errors[:5],
        "prepare_seconds": prepared,
    }
    return figures, cookies
