"""The figures the report is made of: medians, ratios and summaries of the runs."""

from __future__ import annotations

import statistics
from collections import defaultdict

# The targets.
ME_RATIO_TARGET = 0.6
REVOKE_TARGET_MS = 20
ADMIN_TARGET_MS = 300
LOCK_TARGET_MS = 1000
# "No throughput loss beyond noise": /me after at least this share of before.
NOISE_FLOOR = 0.95
BIG = "1000000"


def med(values):
    """The median of the values that are not None, or None."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=1, suffix=""):
    """``value`` for a table cell: thousands separated, ``-`` for none."""
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}{suffix}"
    return f"{value:,.{digits}f}{suffix}"


def index(wrk):
    """{(config, endpoint, connections): [results...]} of the measured runs."""
    points = defaultdict(list)
    for r in wrk:
        if r["run"] >= 0:
            points[(r["config"], r["endpoint"], r["connections"])].append(r)
    return points


def ratios(points, config, endpoint, connections, reference="bare"):
    """Per-run ratio of ``endpoint``'s throughput to ``reference``'s."""
    mine = {r["run"]: r["rps"] for r in points[(config, endpoint, connections)]}
    ref = {r["run"]: r["rps"] for r in points[(config, reference, connections)]}
    return [mine[run] / ref[run] for run in sorted(mine) if ref.get(run)]


def summary(points, key):
    """Medians (and totals) over the runs of one (config, endpoint, level)."""
    runs = points.get(key, [])
    if not runs:
        return None
    return {
        "rps": med(r["rps"] for r in runs),
        "p50": med(r["p50_ms"] for r in runs),
        "p99": med(r["p99_ms"] for r in runs),
        "app": med(r["app_cpu_ms"] for r in runs),
        "wrk": med(r["wrk_cpu_ms"] for r in runs),
        "other": med(r["other_cpu_ms"] for r in runs),
        "pg": med(r.get("pg_cpu_ms", 0.0) for r in runs),
        "pooler": med(r.get("pooler_cpu_ms", 0.0) for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "steal": med(r["steal_pct"] for r in runs),
        "booted": sum(r["workers_booted"] for r in runs),
        "n": len(runs),
    }


def spread(values):
    """Ratios as a cell: the median in bold, then the range."""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f}x"
    return f"**{med(values):.2f}x** ({min(values):.2f}-{max(values):.2f})"


def status(ok):
    """A target's verdict, a miss in bold."""
    return "met" if ok else "**missed**"


def main_configs(results, points):
    """The configurations the targets are about, measured at every level."""
    main = results.get("main", ["pg", "redis"])
    return [k for k in main if points[(k, "me", results["middle"])]]


def variant_configs(results, points):
    """Variants, measured at the middle level only."""
    variants = results.get("variants", [])
    return [k for k in variants if points[(k, "me", results["middle"])]]


def cpu_ratios(points, config, endpoint, connections, reference="bare"):
    """
    Per run, the reference's CPU per request over the endpoint's (gunicorn,
    its PostgreSQL backends, PgBouncer when in front, and wrk): the
    throughput ratio a CPU-bound machine without neighbours would show, and
    much steadier than req/s on a shared one.
    """
    mine = {r["run"]: r for r in points[(config, endpoint, connections)]}
    ref = {r["run"]: r for r in points[(config, reference, connections)]}
    return [
        _cpu_total(ref[run]) / _cpu_total(mine[run])
        for run in sorted(mine)
        if run in ref
    ]


def _cpu_total(r):
    return (
        r["app_cpu_ms"]
        + r.get("pg_cpu_ms", 0.0)
        + r.get("pooler_cpu_ms", 0.0)
        + r["wrk_cpu_ms"]
    )


def against(points, config, baseline, endpoint, connections, by_cpu=False):
    """
    Per run, ``config``'s ratio of ``endpoint`` to its bare view (req/s, or
    CPU per request ``by_cpu``) over ``baseline``'s: each configuration
    against its own bare view, so neighbours' load that differed between the
    two configurations' turns cancels out.
    """

    def per_run(key):
        bare = {r["run"]: r for r in points[(key, "bare", connections)]}
        return {
            r["run"]: (
                _cpu_total(bare[r["run"]]) / _cpu_total(r)
                if by_cpu
                else r["rps"] / bare[r["run"]]["rps"]
            )
            for r in points[(key, endpoint, connections)]
            if bare.get(r["run"], {}).get("rps")
        }

    mine, base = per_run(config), per_run(baseline)
    return [mine[run] / base[run] for run in sorted(mine) if base.get(run)]


def same_view(points, config, baseline, endpoint, connections):
    """Per run, req/s of the same view in two configurations: the noise."""
    mine = {r["run"]: r["rps"] for r in points[(config, endpoint, connections)]}
    base = {r["run"]: r["rps"] for r in points[(baseline, endpoint, connections)]}
    return [mine[run] / base[run] for run in sorted(mine) if base.get(run)]


def cpu(s):
    """
    CPU per request that the request itself caused: gunicorn, PostgreSQL,
    PgBouncer (when in front), wrk.
    """
    return s["app"] + s["pg"] + s.get("pooler", 0.0) + s["wrk"]


def ms_pair(s):
    """gunicorn's and PostgreSQL's (and PgBouncer's) CPU per request, in ms."""
    pooler = f" + {s['pooler']:.2f}" if s.get("pooler") else ""
    return f"{s['app']:.2f} + {s['pg']:.2f}{pooler} ms"
