"""
Served as production serves it: nginx (TLS) in front of two gunicorn
instances on PostgreSQL and Redis, logging in through the fake Patreon.

The stack (devstack/stack.py) is started from the files deploy/ documents:
deploy/nginx/ventures.conf.template rendered by deploy/nginx/render, and
gunicorn with -c gunicorn.conf.py. Everything listens on 127.0.0.1, on free
ports, and is stopped and removed at the end of the module.
"""

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from devstack.echo import EchoServer
from devstack.hosts import API_HOST
from devstack.http import LoginError
from devstack.load import BackgroundLoad, hammer, log_in_all
from devstack.pgbouncer import Pooled
from devstack.postgres import PG_BIN, SharedDatabase, ThrowawayPostgres
from devstack.processes import ROOT, program, wait_for
from devstack.stack import Stack, manage
from fake_patreon.patrons import Directory
from fake_patreon.webhooks import Delivery, WebhookSender

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "test-artifacts"
HSTS = "max-age=63072000; includeSubDomains; preload"

# The misconfiguration behind Steam's Christmas 2015 incident: a shared cache
# keyed on the URL alone, told to ignore the headers that say "private".
SHARED_CACHE_LOCATION = """
proxy_cache ventures_shared;
proxy_cache_key $scheme$host$request_uri;
proxy_cache_valid 200 10m;
proxy_ignore_headers Cache-Control Expires Set-Cookie Vary X-Accel-Expires;
"""


@pytest.fixture(scope="module")
def tools():
    """
    The stack's programs. A missing one fails the tests instead of skipping
    them, on a laptop as in CI: `make test` installs them.
    """
    needed = ["nginx", "openssl", "envsubst", "redis-server", "createdb", "dropdb"]
    needed.append("pgbouncer")
    if os.geteuid() == 0:
        needed.append("runuser")
    missing = [name for name in needed if program(name) is None]
    missing += [
        str(PG_BIN / name)
        for name in ("initdb", "pg_ctl")
        if not (PG_BIN / name).exists()
    ]
    if missing:
        pytest.fail(f"the stack needs {', '.join(missing)}: run `make test`")


class _StackLogsOnFailure:
    """A failed test's report gets the logs of the stacks it used."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        if report.failed:
            for value in getattr(item, "funcargs", {}).values():
                if isinstance(value, Stack):
                    report.sections.append((f"stack {value.name}", value.logs(60)))
        return report


@pytest.fixture(scope="module", autouse=True)
def logs_on_failure(request):
    plugin = _StackLogsOnFailure()
    request.config.pluginmanager.register(plugin)
    yield
    request.config.pluginmanager.unregister(plugin)


@pytest.fixture(scope="module")
def stack(tools):
    """The stack on a fresh database of the machine's PostgreSQL."""
    with Stack("main", SharedDatabase()) as running:
        yield running


@pytest.fixture(scope="module")
def pooled_stack(tools):
    """
    The stack with both instances through Debian's PgBouncer in transaction
    mode (deploy/pgbouncer.ini), in front of a fresh database.
    """
    with Stack(
        "pooled", Pooled(SharedDatabase()), DATABASE_POOLER="transaction"
    ) as running:
        yield running


@pytest.fixture(params=["direct", "pgbouncer"])
def any_stack(request):
    """The stack straight on PostgreSQL, then through PgBouncer."""
    name = {"direct": "stack", "pgbouncer": "pooled_stack"}[request.param]
    return request.getfixturevalue(name)


@pytest.fixture(scope="module")
def pg_stack(tools):
    """A second stack, on a PostgreSQL of its own that tests may restart."""
    with Stack("pg", ThrowawayPostgres()) as running:
        yield running


def patreon_id(response):
    return response.json()["patreon"]["id"]


def cookie_attributes(header):
    """A Set-Cookie header as (name, {attribute: value}), attributes lowercased."""
    first, *rest = [part.strip() for part in header.split(";")]
    name = first.partition("=")[0]
    attributes = {}
    for part in rest:
        key, _, value = part.partition("=")
        attributes[key.lower()] = value
    return name, attributes


def set_cookies(response):
    return dict(
        cookie_attributes(header)
        for header in response.raw.headers.getlist("Set-Cookie")
    )


def record(name, figures):
    """Print the figures and keep them in test-artifacts/ for CI to show."""
    print(f"\n{name}: {json.dumps(figures)}")
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "stack-figures.json"
    try:
        everything = json.loads(path.read_text())
    except (OSError, ValueError):
        everything = {}
    everything[name] = figures
    path.write_text(json.dumps(everything, indent=2) + "\n")


def postgres_connections(stack):
    """How many connections PostgreSQL holds for the stack's database now."""
    database = getattr(stack.db, "server", stack.db)  # behind PgBouncer or not
    server = database.url.rsplit("/", 1)[0]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        return connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
            [database.name],
        ).fetchone()[0]


def access_log_count(instance, path):
    return sum(1 for entry in instance.access_log() if entry.get("path") == path)


# LOGIN ACROSS INSTANCES
# ------------------------------------------------------------------------------


def test_a_session_made_through_nginx_is_one_session_on_every_instance(stack):
    browser = stack.browser()
    browser.log_in("1001")
    a, b = stack.instances

    for instance in (a, b):
        response = browser.direct(instance, "/api/auth/me")
        assert response.status_code == 200, f"{instance.name}\n{stack.logs()}"
        assert patreon_id(response) == "1001"

    # Log out on B, as the frontend would: the CSRF token from the API, then
    # an unsafe request naming our origin.
    token = browser.direct(b, "/api/auth/csrf").json()["csrf_token"]
    logout = browser.direct(
        b, "/api/auth/logout", method="POST", headers={"X-CSRFToken": token}
    )
    assert logout.status_code == 200, f"{logout.text}\n{stack.logs()}"
    assert logout.json()["logged_out"] is True

    # The session row is gone: A refuses the cookie, and so does nginx.
    assert browser.direct(a, "/api/auth/me").status_code == 401
    assert browser.me().status_code == 401


def test_a_session_revoked_on_one_instance_is_refused_by_the_other(any_stack):
    """The patron, on a second device, ends the first one's session through B."""
    stack = any_stack
    laptop, phone = stack.browser(), stack.browser()
    laptop.log_in("1002")
    phone.log_in("1002")
    a, b = stack.instances
    assert laptop.direct(a, "/api/auth/me").status_code == 200

    listed = phone.direct(b, "/api/auth/sessions").json()["sessions"]
    [other] = [s["id"] for s in listed if not s["current"]]
    token = phone.direct(b, "/api/auth/csrf").json()["csrf_token"]
    ended = phone.direct(
        b,
        f"/api/auth/sessions/{other}",
        method="DELETE",
        headers={"X-CSRFToken": token},
    )
    assert ended.status_code == 200, f"{ended.text}\n{stack.logs()}"

    assert laptop.direct(a, "/api/auth/me").status_code == 401
    assert laptop.me().status_code == 401
    assert phone.direct(a, "/api/auth/me").status_code == 200


# ISOLATION UNDER LOAD
# ------------------------------------------------------------------------------


def test_two_hundred_people_each_see_only_themselves_under_load(any_stack, request):
    stack = any_stack
    patrons = [str(n) for n in range(200000, 200200)]
    began = time.perf_counter()
    browsers = log_in_all(stack, patrons, threads=16)
    login_seconds = time.perf_counter() - began
    a, b = stack.instances
    served_before = [access_log_count(i, "/api/auth/me") for i in (a, b)]

    result = hammer(browsers, rounds=50, threads=16)

    served = [
        access_log_count(i, "/api/auth/me") - before
        for i, before in zip((a, b), served_before, strict=True)
    ]
    figures = {
        **result.figures(),
        "patrons": len(browsers),
        "login_seconds": round(login_seconds, 2),
        "logins_per_second": round(len(browsers) / login_seconds, 1),
        "served_by_instance": dict(zip(("a", "b"), served, strict=True)),
        # Held once the load is over: CONN_MAX_AGE (direct), or PgBouncer's pool.
        "postgres_connections": postgres_connections(stack),
    }
    record(f"isolation[{request.node.callspec.id}]", figures)
    assert result.requests >= 10_000, figures
    assert not result.mismatches, f"{result.mismatches[:10]}\n{figures}"
    assert not result.errors, f"{result.errors[:10]}\n{figures}\n{stack.logs()}"
    # Round-robin: requests of the same sessions went to both instances.
    assert min(served) >= result.requests // 4, figures


def test_without_database_pooler_the_app_fails_behind_pgbouncer(pooled_stack):
    """
    The control of the load above through PgBouncer: an instance that
    prepares statements (DATABASE_POOLER unset, as before issue 17) behind
    the same PgBouncer fails logins and requests with "prepared statement
    ... already exists" (or "does not exist"): PgBouncer hands each
    transaction whichever server connection is free.
    """
    stack = pooled_stack
    instance = stack.gunicorn("prepared", DATABASE_POOLER="")
    with stack.running(instance):
        front = stack.nginx_for("prepared", [instance])
        with stack.running(front):
            failed_logins, browsers = [], []
            for patron in [str(n) for n in range(204000, 204008)]:
                browser = stack.browser(via=front)
                try:
                    browser.log_in(patron)
                except LoginError:
                    failed_logins.append(patron)
                else:
                    browsers.append((browser, patron))
            result = hammer(browsers, rounds=10, threads=8, via=front)
    record(
        "prepared_statements_behind_pgbouncer",
        {"failed_logins": len(failed_logins), **result.figures()},
    )
    assert failed_logins or result.errors, result.figures()
    assert "prepared statement" in instance.log.read_text()


def test_a_shared_cache_in_front_would_be_caught(stack):
    """
    The negative control: the same check through an nginx rendered with a
    shared cache that ignores Cache-Control, Set-Cookie and Vary finds
    people shown someone else's account. A check that cannot fail this way
    would prove nothing above.
    """
    browsers = log_in_all(stack, [str(n) for n in range(201000, 201020)])
    cache = stack.directory / "shared-cache"
    cache.mkdir()
    cache.chmod(0o777)
    cached = stack.nginx_for(
        "shared-cache",
        stack.instances,
        location_conf=SHARED_CACHE_LOCATION,
        http_conf=f"proxy_cache_path {cache} levels=1 keys_zone=ventures_shared:1m"
        " max_size=10m inactive=10m use_temp_path=off;\n",
    )
    with stack.running(cached):
        result = hammer(browsers, rounds=10, threads=8, via=cached)
    record("shared_cache_negative_control", result.figures())
    assert len(result.mismatches) > 0, result.figures()


# RESTARTS
# ------------------------------------------------------------------------------


def test_restarting_one_instance_and_reloading_the_other_loses_nothing(stack):
    browsers = log_in_all(stack, [str(n) for n in range(202000, 202008)])
    a, b = stack.instances
    masters = {"b": b.pid}

    with BackgroundLoad(browsers) as load:
        load.wait_for_requests(50)
        # A: what `systemctl restart ventures@1` does (SIGTERM, start again).
        assert a.stop(signal.SIGTERM) == 0, a.tail()
        a = stack.restart(a)
        load.wait_for_requests(50)
        # B: `systemctl reload ventures@2` (HUP): new workers, same master.
        old_workers = b.children()
        b.send(signal.SIGHUP)
        wait_for(
            lambda: (
                len(b.children()) == stack.workers and not b.children() & old_workers
            ),
            40,
            "B's workers after HUP",
            log=b.tail,
        )
        load.wait_for_requests(100)

    failures = load.failures()
    figures = {
        "requests": len(load.outcomes),
        "failures": len(failures),
        "allowed": load.concurrency,
    }
    record("restart_and_reload", figures)
    assert len(failures) <= load.concurrency, f"{failures[:10]}\n{stack.logs()}"
    assert b.pid == masters["b"]
    assert b.running()
    for browser, patron in browsers:
        for instance in (a, b):
            response = browser.direct(instance, "/api/auth/me")
            assert response.status_code == 200, f"{patron} on {instance.name}"
            assert patreon_id(response) == patron


def test_postgres_restart_answers_503_then_recovers_with_every_session(pg_stack):
    stack = pg_stack
    browsers = log_in_all(stack, [str(n) for n in range(203000, 203008)])
    masters = [i.pid for i in stack.instances]

    with BackgroundLoad(browsers, pause=0.02) as load:
        load.wait_for_requests(40)
        down = time.monotonic()
        stack.db.stop("fast")
        wait_for(
            lambda: any(
                o.response is not None and o.response.status_code == 503
                for o in load.between(down)
            ),
            20,
            "a 503 while PostgreSQL is down",
            log=stack.logs,
        )
        ready = stack.browser().get("/readyz")
        time.sleep(1)
        up = time.monotonic()
        stack.db.start()

        def everyone_served_again():
            fine = {o.patron for o in load.between(up) if o.problem is None}
            return len(fine) == len(browsers)

        wait_for(everyone_served_again, 30, "recovery", log=stack.logs)
        recovered = time.monotonic()
        load.wait_for_requests(80)

    outage = load.between(down, recovered)
    unavailable = [o for o in outage if o.problem]
    for _, patron, response, problem in unavailable:
        assert response is not None, f"{patron}: {problem}\n{stack.logs()}"
        assert response.status_code == 503, f"{patron}: {problem}\n{stack.logs()}"
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.json()["error"] == "database_unavailable"
        assert int(response.headers["Retry-After"]) > 0
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] != "ok", ready.text
    after = load.between(recovered)
    assert after
    assert not [o for o in after if o.problem], [o.problem for o in after][:5]
    record(
        "postgres_restart",
        {
            "requests": len(load.outcomes),
            "answered_503": len(unavailable),
            "seconds_down": round(up - down, 2),
            "seconds_to_recover": round(recovered - up, 2),
        },
    )
    # No instance was restarted, and no session was lost.
    assert [i.pid for i in stack.instances] == masters
    assert all(i.running() for i in stack.instances)
    for browser, patron in browsers:
        for instance in stack.instances:
            response = browser.direct(instance, "/api/auth/me")
            assert response.status_code == 200, f"{patron} on {instance.name}"
            assert patreon_id(response) == patron


def test_a_postgres_restart_between_requests_fails_none_of_the_next(pg_stack):
    """
    Each worker thread still holds a connection the restart dropped: the
    connection check before a request's first query (ventures.postgresql)
    finds it closed and opens another, so not even the first request after
    the restart fails, whatever its first query: the readiness probe's, or
    the session lookup of /me.
    """
    stack = pg_stack
    browsers = log_in_all(stack, [str(n) for n in range(205000, 205016)])
    # Every thread of every worker opens its connection (16 at once).
    warm = hammer(browsers, rounds=5, threads=16)
    assert not warm.errors, warm.errors[:5]

    stack.db.stop("fast")
    stack.db.start()

    def probe(instance):
        return stack.browser().direct(instance, "/readyz").status_code

    with ThreadPoolExecutor(16) as pool:
        probes = list(pool.map(probe, stack.instances * 40))
    result = hammer(browsers, rounds=5, threads=16)

    record("postgres_restart_between_requests", result.figures())
    assert set(probes) == {200}, f"{probes}\n{stack.logs()}"
    assert not result.errors, f"{result.errors[:5]}\n{stack.logs()}"


def test_without_redis_logins_and_me_keep_working(stack):
    known = stack.browser()
    known.log_in("1002")
    stack.redis.stop()
    try:
        response = known.me()
        assert response.status_code == 200, f"{response.text}\n{stack.logs()}"
        assert patreon_id(response) == "1002"

        newcomer = stack.browser()
        newcomer.log_in("1003")
        assert patreon_id(newcomer.me()) == "1003"

        ready = newcomer.get("/readyz")
        assert ready.status_code == 503, ready.text
        failing = [k for k, v in ready.json()["checks"].items() if v != "ok"]
        assert failing, ready.text
        assert all("cache" in k or "redis" in k for k in failing), ready.text
    finally:
        stack.redis.start()
    assert stack.browser().get("/readyz").status_code == 200


# WHAT A BROWSER SEES
# ------------------------------------------------------------------------------


def test_cookies_are_host_only_secure_and_lax(stack):
    browser = stack.browser()
    page = browser.get("/login")
    callback = browser.log_in("1004")

    name, csrf = next(iter(set_cookies(page).items()))
    assert name == "__Host-csrftoken"
    cookies = set_cookies(callback)
    assert "__Host-sessionid" in cookies, cookies
    for name, attributes in [("csrf", csrf), ("session", cookies["__Host-sessionid"])]:
        assert "secure" in attributes, name
        assert "httponly" in attributes, name
        assert attributes["samesite"] == "Lax", name
        assert attributes["path"] == "/", name
        assert "domain" not in attributes, name


def test_a_cookie_domain_gives_a_secure_prefixed_shared_cookie(stack):
    instance = stack.gunicorn("domain", SESSION_COOKIE_DOMAIN=".ventures.test")
    with stack.running(instance):
        front = stack.nginx_for("domain", [instance])
        with stack.running(front):
            browser = stack.browser(via=front)
            cookies = set_cookies(browser.log_in("1005"))
            assert browser.me().status_code == 200
    assert "__Secure-sessionid" in cookies, cookies
    attributes = cookies["__Secure-sessionid"]
    assert attributes["domain"].lstrip(".") == "ventures.test"
    assert "secure" in attributes
    assert "httponly" in attributes
    assert attributes["samesite"] == "Lax"


@pytest.mark.parametrize("path", ["/api/auth/me", "/login"])
def test_security_headers_come_once_on_real_responses(stack, path):
    response = stack.browser().get(path)
    headers = response.raw.headers
    assert headers.getlist("Strict-Transport-Security") == [HSTS]
    assert headers.getlist("X-Content-Type-Options") == ["nosniff"]
    assert headers.getlist("Referrer-Policy") == ["same-origin"]
    assert headers.getlist("X-Frame-Options") == ["DENY"]
    assert headers.getlist("Cross-Origin-Opener-Policy") == ["same-origin"]
    assert headers["Server"] == "nginx"  # no version


def test_plain_http_moves_to_https(stack):
    response = requests.get(
        f"http://127.0.0.1:{stack.nginx.http_port}/api/auth/me?x=1",
        headers={"Host": API_HOST},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 301
    assert response.headers["Location"] == f"https://{API_HOST}/api/auth/me?x=1"


def tls_handshake(stack, server_hostname, version=None):
    context = ssl.create_default_context(cafile=str(stack.certificates.ca))
    context.check_hostname = server_hostname is not None
    if version:
        context.minimum_version = context.maximum_version = version
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    address = ("127.0.0.1", stack.nginx.https_port)
    with (
        socket.create_connection(address, 5) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        return tls.version()


def test_only_our_name_is_served(stack):
    nginx = stack.nginx
    # Plain HTTP, another Host: the connection closes without an answer (444).
    with pytest.raises(requests.ConnectionError):
        requests.get(
            f"http://127.0.0.1:{nginx.http_port}/",
            headers={"Host": "evil.test"},
            timeout=10,
        )
    # TLS for our name, then another Host: no answer either.
    with pytest.raises(requests.ConnectionError):
        stack.browser().get("/api/auth/me", headers={"Host": "evil.test"})
    # TLS for another name, or for none: refused during the handshake,
    # before any certificate is shown.
    with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
        tls_handshake(stack, "evil.test")
    with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
        tls_handshake(stack, None)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1:DeprecationWarning")
def test_tls_is_modern(stack):
    assert tls_handshake(stack, API_HOST) == "TLSv1.3"
    assert tls_handshake(stack, API_HOST, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    # The server's alert, not this client's refusal.
    with pytest.raises(ssl.SSLError, match="ALERT_PROTOCOL_VERSION"):
        tls_handshake(stack, API_HOST, ssl.TLSVersion.TLSv1_1)


# LOGS AND REQUEST IDS
# ------------------------------------------------------------------------------


def test_access_logs_name_the_real_client_and_the_request(stack):
    browser = stack.browser()
    agent = f"stack-test-{time.time_ns()}"
    response = browser.get(
        "/api/auth/me",
        headers={
            "User-Agent": agent,
            # A client's own versions of what only nginx may say.
            "X-Forwarded-For": "203.0.113.9",
            "X-Request-ID": "chosen-by-the-client",
        },
    )
    assert response.status_code == 401

    def nginx_line():
        text = Path(stack.nginx.access_log_path).read_text()
        return [json.loads(x) for x in text.splitlines() if agent in x]

    [front] = wait_for(nginx_line, 10, "nginx's access log line")
    assert front["client_ip"] == browser.ip
    assert len(front["request_id"]) == 32

    def gunicorn_line():
        return [
            entry
            for instance in stack.instances
            for entry in instance.access_log()
            if entry.get("user_agent") == agent
        ]

    [entry] = wait_for(gunicorn_line, 10, "gunicorn's access log line")
    assert entry["request_id"] == front["request_id"]
    assert entry["client_ip"] == browser.ip
    assert entry["peer"] == "127.0.0.1"
    assert entry["status"] == 401
    assert entry["duration_ms"] >= 0


def test_probe_successes_stay_out_of_the_access_log(stack):
    agent = f"probe-{time.time_ns()}"
    for instance in stack.instances:
        response = requests.get(
            f"http://{instance.address}/healthz",
            headers={"Host": "api.ventures.test", "User-Agent": agent},
            timeout=10,
        )
        assert response.status_code == 200
    time.sleep(0.5)
    logged = [
        entry
        for instance in stack.instances
        for entry in instance.access_log()
        if entry.get("user_agent") == agent
    ]
    assert logged == []


def test_the_response_carries_nginx_s_request_id(stack):
    response = stack.browser().get(
        "/api/auth/me", headers={"X-Request-ID": "chosen-by-the-client"}
    )
    request_id = response.headers.get("X-Request-ID", "")
    assert len(request_id) == 32, response.headers
    assert request_id != "chosen-by-the-client"


def test_readyz_through_nginx(stack):
    response = stack.browser().get("/readyz")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")


# METRICS
# ------------------------------------------------------------------------------


def scrape(instance):
    """
    One scrape of ``instance``, as deploy/prometheus/prometheus.yml has
    Prometheus make it: to the instance's own address (proxy_url), naming the
    API's host, so ALLOWED_HOSTS needs no loopback entry.
    """
    response = requests.get(
        f"http://{API_HOST}:{instance.port}/metrics",
        proxies={"http": f"http://{instance.address}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_one_scrape_counts_every_worker_s_logins(stack):
    """
    Three workers, recycled every 15 requests while patrons log in: one
    scrape, answered by one worker, counts every login of every worker,
    those that have exited too.
    """
    patrons = [str(n) for n in range(300000, 300030)]
    instance = stack.gunicorn(
        "metrics",
        WEB_CONCURRENCY="3",
        GUNICORN_MAX_REQUESTS="15",
        GUNICORN_MAX_REQUESTS_JITTER="0",
        METRICS_ALLOWED_IPS="127.0.0.1",
    )
    nginx = stack.nginx_for("metrics", [instance])
    with stack.running(instance), stack.running(nginx):
        log_in_all(stack, patrons, threads=8, via=nginx)
        samples = scrape(instance)
        workers = {entry["pid"] for entry in instance.access_log()}
    logins = ("ventures_logins_total", (("outcome", "succeeded"), ("reason", "")))
    assert samples[logins] == len(patrons)
    assert len(workers) > 3, "no worker was recycled"
    calls = samples[
        (
            "ventures_patreon_calls_total",
            (("endpoint", "identity"), ("result", "2xx")),
        )
    ]
    assert calls == len(patrons)
    assert samples[("ventures_active_sessions", ())] >= len(patrons)


def test_nginx_refuses_metrics_to_everyone(stack):
    """
    Even where the application would answer (METRICS_ALLOWED_IPS lists every
    loopback client here), nginx never passes /metrics on, however spelled.
    """
    instance = stack.gunicorn("metrics-open", METRICS_ALLOWED_IPS="127.0.0.0/8")
    nginx = stack.nginx_for("metrics-open", [instance])
    with stack.running(instance), stack.running(nginx):
        browser = stack.browser(nginx)
        refused = {
            path: browser.get(path, headers={"X-Forwarded-For": "127.0.0.1"})
            for path in ("/metrics", "/%6detrics", "//metrics", "/metrics?x=1")
        }
        assert browser.direct(instance, "/metrics").status_code == 200

        def passed_on():
            return [e for e in instance.access_log() if "etrics" in e["path"]]

        # gunicorn writes its access line after the answer has gone.
        wait_for(passed_on, 10, "the direct request's access line")
        passed_on = passed_on()
    assert {path: r.status_code for path, r in refused.items()} == dict.fromkeys(
        refused, 404
    )
    assert not any(b"ventures_" in r.content for r in refused.values())
    assert len(passed_on) == 1  # the direct request only


def test_login_rate_limit_counts_the_address_nginx_saw(stack):
    """
    The limit counts per client address as nginx saw it: a client cannot
    reset it by sending an X-Forwarded-For of its own.
    """
    browser = stack.browser()
    token = browser.login_token()
    statuses = []
    for n in range(60):
        response = browser.post(
            "/accounts/patreon/login/",
            data={"csrfmiddlewaretoken": token},
            headers={"X-Forwarded-For": f"198.51.100.{n}"},
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[-1] == 429, statuses
    assert set(statuses[:-1]) == {302}, statuses
    assert int(response.headers["Retry-After"]) > 0
    # Someone else, from another address, is not held back.
    stack.browser().log_in("1006")


def test_patreons_webhook_through_nginx(stack):
    """Signed, duplicated, forged and oversized deliveries, as nginx passes them."""
    stack.browser().log_in("1001")
    sender = WebhookSender(
        "/api/patreon/webhook", stack.webhook_secret, Directory("9000001")
    )
    patreon = stack.browser()

    def deliver(delivery):
        return patreon.post(
            "/api/patreon/webhook", data=delivery.body, headers=delivery.headers()
        )

    update = sender.member_event("1001")
    first, again = deliver(update), deliver(update)
    assert (first.status_code, again.status_code) == (200, 200), first.text
    assert (first.json()["outcome"], again.json()["duplicate"]) == ("marked", True)
    assert deliver(update.tampered()).status_code == 403
    huge = Delivery("members:update", b" " * (2 * 1024 * 1024), None)
    assert deliver(huge.signed_with(stack.webhook_secret)).status_code == 413
    assert "Set-Cookie" not in first.headers


# MEMBERSHIPS THAT STAY TRUE
# ------------------------------------------------------------------------------


def fake_control(stack, method, path, **kwargs):
    """One of the fake Patreon's own ``/__fake/`` calls (fake_patreon.control)."""
    response = requests.request(
        method,
        f"http://127.0.0.1:{stack.fake.port}/__fake/{path}",
        timeout=10,
        **kwargs,
    )
    assert response.status_code < 300, response.text
    return response


def token_calls(stack):
    calls = fake_control(stack, "GET", "requests").json()
    return [c for c in calls if c["path"] == "/api/oauth2/token"]


def patron_status(browser, instance):
    return browser.direct(instance, "/api/auth/me").json()["patreon"]["patron_status"]


def test_memberships_stay_true_through_webhooks_the_worker_and_the_full_sync(stack):
    """
    The creator's token stored as an operator would, the fake delivering its
    webhooks through nginx, and the worker running: a cancellation reaches
    both instances within seconds; a forged webhook changes nothing and a
    full sync repairs what it would have said; a dead grant stops every
    refresh and says so.
    """
    answer = fake_control(stack, "POST", "creator/token").json()
    stored = subprocess.run(
        [sys.executable, "manage.py", "patreon", "creator-token", "set"],
        input=json.dumps(answer),
        env=stack.app_env(),
        cwd=ROOT,
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert stored.returncode == 0, stored.stdout + stored.stderr
    assert answer["access_token"] not in stored.stdout + stored.stderr
    fake_control(
        stack,
        "POST",
        "webhooks",
        json={
            "url": f"https://127.0.0.1:{stack.nginx.https_port}/api/patreon/webhook",
            "secret": stack.webhook_secret,
            "host": API_HOST,
        },
    )
    leaving, declined = stack.browser(), stack.browser()
    leaving.log_in("3000001")
    declined.log_in("3000002")
    a, b = stack.instances
    with stack.running(stack.worker()) as worker:
        worker.settle()
        fake_control(stack, "POST", "world/patrons/3000001", json={"action": "cancel"})
        wait_for(
            lambda: {patron_status(leaving, i) for i in (a, b)} == {"former_patron"},
            10,
            "the cancellation on both instances",
            log=stack.logs,
        )
        ready = leaving.direct(a, "/readyz").json()["reports"]
        assert ready == {"worker": "ok", "patreon_credential": "valid"}

        # Forged: refused at the door, nothing recorded, nothing re-read.
        fake_control(
            stack,
            "POST",
            "world/patrons/3000002",
            json={"action": "decline", "signature": "wrong"},
        )

        def delivered():
            return fake_control(stack, "GET", "webhooks").json()["deliveries"]

        # A delivery is listed once its answer has come (the cancel's first).
        wait_for(lambda: len(delivered()) == 2, 10, "the forged delivery")
        assert [d.get("status") for d in delivered()] == [200, 403]
        assert patron_status(declined, a) == "active_patron"
        synced = manage(stack, "patreon", "sync", "--full")
        assert "Full sync complete" in synced.stdout
        assert {patron_status(declined, i) for i in (a, b)} == {"declined_patron"}
        assert declined.me().json()["patreon"]["source"] == "sync"

        # The grant dies at Patreon: one refresh is refused, then none.
        fake_control(stack, "POST", "creator/revoke")
        fake_control(stack, "DELETE", "requests")
        for action in ("recover", "decline", "recover"):
            fake_control(
                stack, "POST", "world/patrons/3000002", json={"action": action}
            )
        wait_for(
            lambda: "patreon_token_invalid" in stack.logs(200),
            10,
            "the credential's refusal",
            log=stack.logs,
        )
        time.sleep(2)  # the other two re-reads, had they called
        assert len(token_calls(stack)) == 1
        assert leaving.direct(b, "/readyz").json()["reports"]["patreon_credential"] == (
            "needs_reauth"
        )
        status = manage(stack, "patreon", "creator-token", "status").stdout
        assert "state: needs_reauth" in status
        assert answer["access_token"] not in stack.logs(500)


# FORWARD AUTH
# ------------------------------------------------------------------------------


def test_forward_auth_guards_an_upstream(stack):
    """
    deploy/nginx's example, rendered with a members service (an echo of the
    headers it receives): nginx asks /api/auth/check?entitlement=early-access
    before each request to /members/.
    """
    echo = EchoServer()
    guarded = stack.nginx_for(
        "forward-auth",
        stack.instances,
        members_upstream=echo.address,
        members_entitlement="early-access",
    )
    patron, supporter, stranger = (stack.browser() for _ in range(3))
    patron.log_in("1002")  # Patron and Benefactor tiers
    supporter.log_in("1001")  # Supporter only
    user_id = patron.me().json()["user"]["id"]
    forged = {
        "X-Auth-User-Id": "1",
        "X-Auth-Patreon-Id": "1001",
        "X-Auth-Entitlements": "supporter,early-access,admin",
        "X-AUTH-USER-ID": "2",
        "X_Auth_User_Id": "3",
    }
    with stack.running(echo), stack.running(guarded):
        reached = patron.get("/members/videos?page=2", via=guarded, headers=forged)
        posted = patron.post("/members/comments", via=guarded, data={"text": "hi"})
        refused = supporter.get("/members/videos", via=guarded, headers=forged)
        anonymous = stranger.get("/members/videos", via=guarded, headers=forged)
        internal = patron.get("/_ventures/auth-check", via=guarded)
        patron.log_out()
        logged_out = patron.get("/members/videos", via=guarded)

    assert reached.status_code == 200, f"{reached.text}\n{stack.logs()}"
    seen = reached.json()
    assert seen["path"] == "/members/videos?page=2"
    headers = {}
    for name, value in seen["headers"]:
        headers.setdefault(name.lower(), []).append(value)
    # Nginx's values, once each, whatever the client sent.
    assert headers["x-auth-user-id"] == [str(user_id)]
    assert headers["x-auth-patreon-id"] == ["1002"]
    assert headers["x-auth-entitlements"] == ["supporter,early-access"]
    assert "x_auth_user_id" not in headers
    # The API's cookies stay with the API.
    assert "cookie" not in headers
    assert headers["x-forwarded-for"] == [patron.ip]
    # A POST is checked with a GET (no body) and then goes through whole.
    assert posted.status_code == 200, posted.text
    assert posted.json()["method"] == "POST"
    assert refused.status_code == 403
    assert anonymous.status_code == 401
    assert internal.status_code == 404
    assert logged_out.status_code == 401
