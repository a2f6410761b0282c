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

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests

from devstack.http import DirectClient, LoginError
from devstack.load import percentile

# Every request says which part of the benchmark sent it.
USER_AGENT = {"User-Agent": "Mozilla/5.0 (bench) login"}


@dataclass
class Pending:
    """A login waiting for its callback."""

    patron: str
    ip: str
    cookies: dict
    callback: str  # path and query


def client_ip(n):
    """A distinct client address per login (a documentation range)."""
    return f"198.18.{n // 250 % 250}.{n % 250 + 1}"


def prepare(address, ca, patron, ip):
    """The steps before the callback; returns a Pending login."""
    client = DirectClient(address, ca, ip, headers=USER_AGENT)
    callback = client.start_login(patron)
    return Pending(patron, ip, dict(client.cookies), callback)


def finish(address, ca, pending, session_cookie):
    """The callback; returns (seconds, session cookie value)."""
    client = DirectClient(address, ca, pending.ip, headers=USER_AGENT)
    client.cookies = dict(pending.cookies)
    began = time.perf_counter()
    response = client.get(pending.callback)
    elapsed = time.perf_counter() - began
    if response.status_code != 302 or session_cookie not in client.cookies:
        raise LoginError(f"the callback answered {response.status_code}", response)
    if "/login" in response.headers.get("Location", "").split("?")[0]:
        raise LoginError(
            f"the callback sent us to {response.headers['Location']}", response
        )
    return elapsed, client.cookies[session_cookie]


def bench_logins(
    config, ca, *, count, concurrency, first_patron, session_cookie, first_ip=0
):
    """
    ``count`` logins of new patrons against ``config``; returns the figures
    and the session cookies of the logged-in browsers.
    """
    address = config.instance.address
    patrons = [str(first_patron + i) for i in range(count)]
    began = time.perf_counter()
    errors = []
    with ThreadPoolExecutor(concurrency) as pool:
        futures = [
            pool.submit(prepare, address, ca, patron, client_ip(first_ip + i))
            for i, patron in enumerate(patrons)
        ]
        pending = []
        for future in futures:
            try:
                pending.append(future.result())
            except (LoginError, requests.RequestException) as error:
                errors.append(f"prepare: {error!r}")
    prepared = time.perf_counter() - began

    def one(login):
        try:
            return finish(address, ca, login, session_cookie)
        except (LoginError, requests.RequestException) as error:
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
