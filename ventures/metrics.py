"""
Prometheus metrics: what they are, how they are counted, and ``/metrics``.

The counting goes through prometheus-client. Under gunicorn every worker
process counts on its own, so gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR
(each process then writes its samples to files there, and a worker's counts
outlive it) and a scrape adds up every process's files. Without it (runserver,
manage.py, the tests) one process counts in memory.

Labels take values from short, fixed lists only (event reasons, URL pattern
names, HTTP status codes), never from what a client sends: a flood of random
paths or methods adds no series.

Who counts what: ``ventures.events.emit`` counts the auth events (logins,
rate limiting, revocations) as it logs them; ``RequestMetricsMiddleware``
times each request by route; ``observe_patreon_call`` wraps a call to
Patreon; the ``connection_created`` and ``got_request_exception`` receivers
count database errors; apps add collectors that read a value at scrape time
(``collect_at_scrape``: the sessions app's active sessions).
"""

import contextlib
import sys
import time

import requests
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
)
from prometheus_client.exposition import choose_encoder

from ventures import errors
from ventures.network import client_ip, in_networks

# AUTHENTICATION (counted by ventures.events.emit)
# ------------------------------------------------------------------------------
LOGINS = Counter(
    "ventures_logins",
    "Logins by outcome (succeeded, failed) and, for a failure, its reason "
    "(login_failures.py's names, or invalid_credentials for the admin's form).",
    ["outcome", "reason"],
)
RATE_LIMITED = Counter(
    "ventures_rate_limited_requests",
    "Requests refused by a rate limit (429), by bucket.",
    ["bucket"],
)
SESSIONS_REVOKED = Counter(
    "ventures_sessions_revoked",
    "Sessions ended on purpose (revoked), by scope of the revocation.",
    ["scope"],
)
SESSIONS_ENDED = Counter(
    "ventures_sessions_ended",
    "Sessions ended by their owner or their clock: logged_out, session_expired.",
    ["event"],
)
PATREON_WEBHOOKS = Counter(
    "ventures_patreon_webhooks",
    "Patreon webhook deliveries, by outcome (recorded, ignored, refused:...).",
    ["outcome"],
)

# PATREON CALLS (observe_patreon_call)
# ------------------------------------------------------------------------------
PATREON_CALLS = Counter(
    "ventures_patreon_calls",
    "Calls to Patreon by endpoint and result: the status class (2xx, 4xx, "
    "5xx), or timeout, unreachable, error when no answer came.",
    ["endpoint", "result"],
)
PATREON_CALL_DURATION = Histogram(
    "ventures_patreon_call_duration_seconds",
    "How long each call to Patreon took, answered or not, by endpoint.",
    ["endpoint"],
    # Up to PATREON_TIMEOUT (5 s by default) and a little beyond.
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# REQUESTS (RequestMetricsMiddleware)
# ------------------------------------------------------------------------------
REQUESTS = Counter(
    "ventures_http_requests",
    "Requests answered, by route (the URL pattern's name), method and status.",
    ["route", "method", "status"],
)
REQUEST_DURATION = Histogram(
    "ventures_http_request_duration_seconds",
    "Time from the first middleware to the response, by route.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# The route of a request no URL pattern matched (404), or that a middleware
# answered before resolving it (the HTTPS redirect, CORS preflights).
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# DATABASE (receivers connected in VenturesConfig.ready)
# ------------------------------------------------------------------------------
DATABASE_ERRORS = Counter(
    "ventures_database_errors",
    "Database errors by Django's class (OperationalError, IntegrityError...), "
    "whether a failed statement or a connection that could not be made.",
    ["error"],
)


def record_event(event, fields):
    """Count one event of ``ventures.events`` (the event names are its constants)."""
    if event == "login_succeeded":
        LOGINS.labels("succeeded", "").inc()
    elif event == "login_failed":
        LOGINS.labels("failed", fields["reason"]).inc()
    elif event == "rate_limited":
        RATE_LIMITED.labels(fields["bucket"]).inc()
    elif event == "sessions_revoked":
        SESSIONS_REVOKED.labels(fields["scope"]).inc(fields["count"])
    elif event in ("logged_out", "session_expired"):
        SESSIONS_ENDED.labels(event).inc()
    elif event == "patreon_webhook":
        PATREON_WEBHOOKS.labels(fields["outcome"]).inc()


class PatreonCall:
    """What ``observe_patreon_call`` yields: set ``status`` to the HTTP status."""

    status = None


@contextlib.contextmanager
def observe_patreon_call(endpoint):
    """
    Time the call to Patreon made inside the ``with`` block and count its
    result under ``endpoint`` (a fixed name such as "identity", never a URL)::

        with observe_patreon_call("members") as call:
            response = session.get(url)
            call.status = response.status_code

    An exception raised in the block is counted (timeout, unreachable or
    error) and goes on. Calls through ``get_adapter().get_requests_session()``
    are observed already (accounts/patreon/transport.py).
    """
    call = PatreonCall()
    result = "error"
    started = time.perf_counter()
    try:
        yield call
        result = f"{call.status // 100}xx" if call.status else "ok"
    except requests.Timeout:
        result = "timeout"
        raise
    except requests.ConnectionError:
        result = "unreachable"
        raise
    finally:
        PATREON_CALL_DURATION.labels(endpoint).observe(time.perf_counter() - started)
        PATREON_CALLS.labels(endpoint, result).inc()


class RequestMetricsMiddleware:
    """
    Count and time every request by route: the URL pattern's name
    (``api-me``, ``admin:sessions_session_changelist``), never the path.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.view_name if match is not None else UNMATCHED
        method = request.method if request.method in METHODS else "other"
        REQUEST_DURATION.labels(route).observe(time.perf_counter() - started)
        REQUESTS.labels(route, method, str(response.status_code)).inc()
        return response


def record_database_error(error):
    """Count ``error`` once, however many places see it go by."""
    if not getattr(error, "_ventures_counted", False):
        error._ventures_counted = True
        DATABASE_ERRORS.labels(type(error).__name__).inc()


def _count_failed_statements(execute, sql, params, many, context):
    try:
        return execute(sql, params, many, context)
    except DatabaseError as error:
        record_database_error(error)
        raise


def watch_connection(sender, connection, **kwargs):
    """
    ``connection_created`` receiver: count every statement that fails on
    this connection, handled or not (a lock timeout the login turns into a
    friendly page is still a database error). The wrapper object outlives
    reconnections, so it is added once.
    """
    if _count_failed_statements not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count_failed_statements)


def record_request_exception(sender, request=None, **kwargs):
    """
    ``got_request_exception`` receiver: a database error that escaped a view,
    such as a connection PostgreSQL refused (no statement ran to count it).
    """
    error = sys.exc_info()[1]
    if isinstance(error, DatabaseError):
        record_database_error(error)


_scrape_collectors = []


def collect_at_scrape(collector):
    """
    Add ``collector`` (an object with ``collect()``), whose values are read
    when Prometheus scrapes rather than counted by each process: an app's
    ``ready()`` calls this once.
    """
    _scrape_collectors.append(collector)
    if not settings.PROMETHEUS_MULTIPROC_DIR:
        REGISTRY.register(collector)


def _registry():
    """The metrics of every process of this instance."""
    if not settings.PROMETHEUS_MULTIPROC_DIR:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    for collector in _scrape_collectors:
        registry.register(collector)
    return registry


@csrf_exempt  # it changes nothing; a POST gets the same 404 or 405
@never_cache
def scrape(request):
    """
    ``/metrics``, for the addresses in METRICS_ALLOWED_IPS only (the client
    address by ``ventures.network``'s proxy rule, so a forged X-Forwarded-For
    changes nothing); anyone else gets the 404 of a page that does not exist.
    """
    ip = client_ip(request)
    if not ip or not in_networks(ip, settings.METRICS_ALLOWED_IPS):
        return errors.page_not_found(request)
    if request.method not in ("GET", "HEAD"):
        return errors.method_not_allowed(("GET", "HEAD"))
    # The format Prometheus asks for (OpenMetrics or its text format).
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(_registry()), content_type=content_type)


# sessions.middleware.sessionless's mark (ventures imports no app): a scrape
# never looks a session up, sets no cookie and varies on none.
scrape.sessionless = True
