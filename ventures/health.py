"""
Health for load balancers and orchestrators: cheap, JSON, silent on success.

``/healthz`` says the process answers; ``/readyz`` says it can serve users:
the database answers, its migrations are applied and the cache (Redis, when
configured) answers; it also reports, without failing on them, what apps
add to ``REPORTS``. Neither needs a session or a login.
"""

import logging
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from prometheus_client.core import GaugeMetricFamily

from ventures import errors

logger = logging.getLogger(__name__)

# Once every migration is applied it stays so for this process's life, so
# readiness checks the migration graph until then and one query after.
_migrated = False


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _migrations():
    global _migrated
    if not _migrated:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        _migrated = not plan
    return "ok" if _migrated else "pending"


def _cache():
    if not settings.REDIS_URL:
        return "not configured"
    cache.set("readyz", "1", 5)
    return "ok" if cache.get("readyz") == "1" else "unreachable"


CHECKS = {"database": _database, "migrations": _migrations, "cache": _cache}
# What /readyz reports beside its checks without making the instance unready:
# an instance serves logins and /me without the background worker, so its
# absence is an operator's alert, not a reason to take the site down.
# Apps add theirs (accounts: the worker's heartbeat, the creator's token).
REPORTS = {}


SAFE_METHODS = ("GET", "HEAD")


def probe(view):
    """GET and HEAD only, never cached; other methods get a JSON 405."""

    @wraps(view)
    def wrapper(request):
        if request.method not in SAFE_METHODS:
            return errors.method_not_allowed(SAFE_METHODS)
        return view(request)

    return never_cache(wrapper)


@probe
def healthz(request):
    """The process is up; touches nothing else."""
    return JsonResponse({"status": "ok"})


def _run(functions, kind):
    """``{name: result}`` of each of ``functions``; "unreachable" if it raised."""
    results = {}
    for name, function in functions.items():
        try:
            results[name] = function()
        except Exception as e:
            logger.warning("readiness %s %s failed: %s", kind, name, e)
            results[name] = "unreachable"
    return results


def readiness():
    """``{check: result}``, and whether every result lets the instance serve."""
    results = _run(CHECKS, "check")
    return results, all(v in ("ok", "not configured") for v in results.values())


class ReadinessCollector:
    """``ventures_ready{check}``: /readyz's checks, run when Prometheus scrapes."""

    def describe(self):
        return [GaugeMetricFamily("ventures_ready", "")]

    def collect(self):
        results, _ = readiness()
        family = GaugeMetricFamily(
            "ventures_ready",
            "1 while a readiness check of /readyz passes (database, migrations, "
            "cache), else 0.",
            labels=["check"],
        )
        for name, result in results.items():
            family.add_metric([name], result in ("ok", "not configured"))
        yield family


@probe
def readyz(request):
    """Ready to serve: 200, or 503 naming what is not."""
    results, ready = readiness()
    reports = _run(REPORTS, "report")
    return JsonResponse(
        {
            "status": "ready" if ready else "unavailable",
            "checks": results,
            "reports": reports,
        },
        status=200 if ready else 503,
    )
