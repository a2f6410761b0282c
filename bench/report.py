"""
docs/performance.md and its plots, from the results python -m bench saved.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from pathlib import Path

from bench import session_rows as sr

# The targets.
ME_RATIO_TARGET = 0.6
REVOKE_TARGET_MS = 20
ADMIN_TARGET_MS = 300
LOCK_TARGET_MS = 1000
BIG = "1000000"

PROTOTYPE = [
    ("bare Django JSON view, full middleware", "1.00x (1,600-2,100 req/s)"),
    ("stock `django.contrib.sessions.backends.db` + user lookup", "0.20x"),
    ("stock `cached_db` sessions with Redis", "0.24x"),
    ("signed-cookie sessions (cannot be revoked)", "0.29x"),
    ("one `cache.get` from Redis", "0.65x"),
    ("one raw `SELECT 1` through Django's connection", "0.75x"),
]

# Not measured by make bench: tests/test_concurrency.py prints these figures
# (pytest -s); quoted here so a new report keeps them.
EMBEDDED_SQLITE = """\
## The embedded SQLite default

Measured by `tests/test_concurrency.py`, not by `make bench` (`.venv/bin/python \
-m pytest -n 0 -s tests/test_concurrency.py` prints each burst's figures): 30 \
different patrons start the whole Patreon login at the same moment (login page, \
its button, the fake's consent, the callback, then `/api/auth/me`) against \
`manage.py runserver` in development mode, as `make run` serves it, each with a \
client address of its own. Five runs of the module on the 2 shared cores (load \
average 4-6), 2026-12-01:

| database | failed logins (of 30) | successful logins/s, median (range) |
| --- | ---: | ---: |
| SQLite file, as Django leaves it: rollback journal, deferred transactions, \
5 s busy timeout | 6-13 (8-22 in earlier runs), each a 500 "database is locked" \
| 5.2 (3.5-9.1) |
| SQLite file, as `ventures/settings.py` sets it: WAL, `transaction_mode=IMMEDIATE`, \
20 s busy timeout, `synchronous=NORMAL` | 0 | 16.7 (13.5-19.4) |
| PostgreSQL 15, a fresh database | 0 | 17.8 (11.2-21.1) |

Under Django's defaults a transaction begins deferred: `update_or_create` in the \
login's `record_login` reads, then writes, and when another connection holds the \
write lock SQLite cannot let a reader upgrade (both would wait forever), so it \
fails it at once, without waiting for the busy timeout. `IMMEDIATE` takes the \
write lock at `BEGIN`, where the busy timeout does wait; WAL lets readers (every \
`/api/auth/me`) go on while one connection writes. A login writes in about 8 \
short transactions (sessions, state, user and account, membership): a few \
milliseconds each, 134 ms at most under this load, none across a call to \
Patreon; one SQLite file thus serializes some 25 logins/s here, far more than \
a small team's morning. runserver serves each client connection in a new \
thread with a new database connection, which costs PostgreSQL more to open \
than SQLite, so the two come out even here; production serves PostgreSQL from \
gunicorn with persistent connections (above).
"""


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=1, suffix=""):
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
        "errors": sum(r["errors"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "steal": med(r["steal_pct"] for r in runs),
        "booted": sum(r["workers_booted"] for r in runs),
        "n": len(runs),
    }


def spread(values):
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f}x"
    return f"**{med(values):.2f}x** ({min(values):.2f}-{max(values):.2f})"


def status(ok):
    return "met" if ok else "**missed**"


def targets(results, points):
    middle = results["middle"]
    rows = []
    me = ratios(points, "pg", "me", middle)
    me_cpu = cpu_ratios(points, "pg", "me", middle)
    all_levels = [
        ratio
        for c in results["args"]["connections"]
        for ratio in ratios(points, "pg", "me", c)
    ]
    if me:
        rows.append(
            (
                f"/api/auth/me >= {ME_RATIO_TARGET}x the bare view, PostgreSQL alone"
                f" (c={middle})",
                f"{med(me):.2f}x req/s (all levels and runs: {min(all_levels):.2f}-"
                f"{max(all_levels):.2f}x); {med(me_cpu):.2f}x by CPU per request",
                status(med(me) >= ME_RATIO_TARGET),
            )
        )
    pairs, cpu_pairs = [], []
    for c in results["args"]["connections"]:
        pg = {r["run"]: r for r in points[("pg", "me", c)]}
        redis = {r["run"]: r for r in points[("redis", "me", c)]}
        for run in pg:
            if run in redis:
                pairs.append(redis[run]["rps"] / pg[run]["rps"])
                cpu_pairs.append(redis[run]["app_cpu_ms"] / pg[run]["app_cpu_ms"])
    if pairs:
        ratio_redis = med(ratios(points, "redis", "me", middle))
        rows.append(
            (
                "adding Redis does not make /me slower",
                f"/me with Redis / without: {med(pairs):.2f}x throughput, "
                f"{med(cpu_pairs):.2f}x app CPU per request; "
                f"ratio to bare with Redis {ratio_redis:.2f}x",
                status(med(pairs) >= 0.95 or med(cpu_pairs) <= 1.05),
            )
        )
    q = results.get("queries", {}).get("me (logged in)")
    if q:
        rows.append(
            (
                "authenticated /me: at most 1 SQL query",
                f"{q['queries']} query (+{q['health_checks']} health-check round trip)",
                status(q["queries"] <= 1),
            )
        )
        side = results.get("server_side", {}).get("me")
        writes = q["writes"] + (
            side["rows_updated"] + side["rows_inserted"] if side else 0
        )
        rows.append(
            (
                "no write on an ordinary authenticated request",
                f"{q['writes']} in-process; "
                + (
                    f"{side['rows_updated']} rows updated, {side['rows_inserted']} "
                    f"inserted over {side['requests']:,} requests under load"
                    if side
                    else ""
                ),
                status(writes == 0),
            )
        )
    for figures in results.get("logins", []):
        rows.append(
            (
                f"login callback, 0 errors ({figures['config']})",
                f"{figures['logins']} logins, {figures['errors']} errors, "
                f"{figures['logins_per_second']:.1f}/s",
                status(figures["errors"] == 0 and figures["logins"] > 0),
            )
        )
    big = results.get("rows", {}).get(BIG)
    if big:
        rows += [
            (
                f"revoke one user's sessions, 1M rows, <= {REVOKE_TARGET_MS} ms",
                f"{big[sr.REVOKE]:.1f} ms",
                status(big[sr.REVOKE] <= REVOKE_TARGET_MS),
            ),
            (
                f"admin session list, 1M rows, <= {ADMIN_TARGET_MS} ms",
                f"{big[sr.ADMIN]:.0f} ms (SQL {big[sr.ADMIN_SQL]:.1f} ms)",
                status(big[sr.ADMIN] <= ADMIN_TARGET_MS),
            ),
            (
                "cleanup never holds a lock longer than 1 s, 1M rows",
                f"longest DELETE transaction {big[sr.LONGEST_LOCK]:.0f} ms; "
                "longest wait of a concurrent revocation "
                f"{big[sr.LONGEST_WAIT]:.0f} ms",
                status(big[sr.LONGEST_LOCK] <= LOCK_TARGET_MS),
            ),
        ]
    return rows


def throughput_table(results, points):
    lines = [
        "| configuration | connections | bare req/s | /me req/s | /me ÷ bare"
        " req/s (median, range) | bare ÷ /me CPU per request |"
        " bare p50 / p99 ms | /me p50 / p99 ms | errors |",
        "| --- | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: |",
    ]
    for key in main_configs(results, points):
        label = results["configs"][key]
        for c in results["args"]["connections"]:
            bare = summary(points, (key, "bare", c))
            me = summary(points, (key, "me", c))
            if not bare or not me:
                continue
            lines.append(
                f"| {label} | {c} | {bare['rps']:,.0f} | {me['rps']:,.0f} | "
                f"{spread(ratios(points, key, 'me', c))} | "
                f"{spread(cpu_ratios(points, key, 'me', c))} | "
                f"{bare['p50']:.1f} / {bare['p99']:.1f} | "
                f"{me['p50']:.1f} / {me['p99']:.1f} | "
                f"{bare['errors'] + me['errors']} |"
            )
    return "\n".join(lines)


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
    its PostgreSQL backends and wrk): the throughput ratio a CPU-bound
    machine without neighbours would show, and much steadier than req/s on
    a shared one.
    """
    mine = {r["run"]: r for r in points[(config, endpoint, connections)]}
    ref = {r["run"]: r for r in points[(config, reference, connections)]}

    def total(r):
        return r["app_cpu_ms"] + r.get("pg_cpu_ms", 0.0) + r["wrk_cpu_ms"]

    return [total(ref[run]) / total(mine[run]) for run in sorted(mine) if run in ref]


def variants_table(results, points):
    middle = results["middle"]
    lines = [
        f"| configuration (c={middle}) | bare req/s | /me req/s | /me ÷ bare req/s |"
        " bare ÷ /me CPU per request | /me p50 / p99 ms |"
        " /me CPU ms/req: app + PostgreSQL | workers booted |",
        "| --- | ---: | ---: | --- | --- | ---: | ---: | ---: |",
    ]
    for key in ["pg", *variant_configs(results, points)]:
        bare = summary(points, (key, "bare", middle))
        me = summary(points, (key, "me", middle))
        if not bare or not me:
            continue
        lines.append(
            f"| {results['configs'][key]} | {bare['rps']:,.0f} | {me['rps']:,.0f} |"
            f" {spread(ratios(points, key, 'me', middle))} |"
            f" {spread(cpu_ratios(points, key, 'me', middle))} |"
            f" {me['p50']:.1f} / {me['p99']:.1f} |"
            f" {me['app']:.2f} + {me['pg']:.2f} |"
            f" {bare['booted'] + me['booted']} |"
        )
    return "\n".join(lines)


def reference_table(results, points):
    middle = results["middle"]
    lines = [
        f"| configuration | view (c={middle}) | req/s | ÷ bare | p50 / p99 ms |"
        " CPU ms/req: app | PostgreSQL | rest | wrk |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    names = {
        "bare": "bare JSON view (ceiling)",
        "me": "authenticated /api/auth/me",
        "select1": "one raw `SELECT 1`",
        "cache-get": "one `cache.get` (Redis)",
    }
    for key in main_configs(results, points):
        label = results["configs"][key]
        for endpoint, name in names.items():
            s = summary(points, (key, endpoint, middle))
            if not s:
                continue
            ratio = spread(ratios(points, key, endpoint, middle))
            lines.append(
                f"| {label} | {name} | {s['rps']:,.0f} | "
                f"{ratio if endpoint != 'bare' else '1x'} | "
                f"{s['p50']:.1f} / {s['p99']:.1f} | {s['app']:.2f} | "
                f"{s['pg']:.2f} | {s['other']:.2f} | {s['wrk']:.2f} |"
            )
    return "\n".join(lines)


def query_table(results):
    lines = [
        "| request | status | SQL queries (Django) | + health-check round trips"
        " | writes |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, q in results.get("queries", {}).items():
        lines.append(
            f"| {name} | {q['status']} | {q['queries']} | {q['health_checks']} |"
            f" {q['writes']} |"
        )
    side = results.get("server_side", {})
    if side:
        lines += [
            "",
            "Counted by PostgreSQL itself (pg_stat_database of the bench database,"
            " every statement is a transaction in autocommit) during a 3 s wrk run"
            " at 4 connections on the PostgreSQL configuration:",
            "",
            "| request | requests | statements per request | rows inserted |"
            " rows updated | rows deleted |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, s in side.items():
            lines.append(
                f"| {name} | {s['requests']:,} | {s['statements_per_request']:.2f} |"
                f" {s['rows_inserted']} | {s['rows_updated']} | {s['rows_deleted']} |"
            )
    return "\n".join(lines)


def profile_table(results):
    profiles = results.get("profile") or {}
    if not profiles:
        return "(not profiled: py-spy is not installed)"
    names = []
    for p in profiles.values():
        for name in p["shares"]:
            if name not in names:
                names.append(name)
    cols = list(profiles)
    head = " | ".join(f"{c}: share | {c}: ms/req" for c in cols)
    lines = [f"| where the worker's CPU goes | {head} |"]
    lines.append("| --- |" + " ---: | ---: |" * len(cols))
    for name in names:
        cells = []
        for c in cols:
            share = profiles[c]["shares"].get(name, 0.0)
            cells.append(
                f"{100 * share:.0f}% | {share * profiles[c]['app_cpu_ms']:.2f}"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    totals = " | ".join(f"100% | {profiles[c]['app_cpu_ms']:.2f}" for c in cols)
    lines.append(f"| **total (gunicorn CPU per request)** | {totals} |")
    return "\n".join(lines)


def login_table(results):
    lines = [
        "| configuration | logins | concurrency | logins/s | callback p50 / p99 ms |"
        " errors | preparing them (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for f in results.get("logins", []):
        lines.append(
            f"| {results['configs'][f['config']]} | {f['logins']} |"
            f" {f['concurrency']} |"
            f" {f['logins_per_second']:.1f} | {f['p50_ms']:.0f} / {f['p99_ms']:.0f} |"
            f" {f['errors']} | {f['prepare_seconds']:.1f} |"
        )
        for sample in f.get("error_samples", []):
            lines.append(f"|  | error: `{sample}` | | | | | |")
    return "\n".join(lines)


def memory_table(results):
    lines = [
        "| configuration | workers seen | peak RSS per worker, max (MiB) |"
        " median (MiB) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, label in results["configs"].items():
        m = (results.get("memory") or {}).get(key)
        if m:
            lines.append(
                f"| {label} | {m['workers_seen']} | {m['max_mib']:.1f} |"
                f" {m['median_mib']:.1f} |"
            )
    return "\n".join(lines)


def rows_table(results):
    rows = results.get("rows")
    if not rows:
        return "(not measured)"
    return sr.markdown({int(k): v for k, v in rows.items()})


# PLOTS
# ------------------------------------------------------------------------------


def plot_rows(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results.get("rows")
    if not rows:
        return False
    sizes = sorted(int(k) for k in rows)
    series = [
        (sr.REVOKE, "revoke one user's sessions", REVOKE_TARGET_MS),
        (sr.ADMIN, "admin session list page", ADMIN_TARGET_MS),
        (sr.OWN, "user's own session list", None),
        (sr.LONGEST_LOCK, "longest cleanup DELETE (lock held)", LOCK_TARGET_MS),
        (sr.LONGEST_WAIT, "longest wait of a concurrent revocation", None),
    ]
    fig, ax = plt.subplots(figsize=(8, 6), dpi=110)
    for key, label, target in series:
        values = [rows[str(s)][key] for s in sizes]
        (line,) = ax.plot(sizes, values, marker="o", label=label)
        if target:
            ax.axhline(target, color=line.get_color(), linestyle=":", linewidth=1)
            ax.annotate(
                f"target {target:,} ms",
                (sizes[-1], target),
                textcoords="offset points",
                xytext=(0, 3),
                ha="right",
                fontsize=7,
                color=line.get_color(),
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(sizes, [f"{s:,}" for s in sizes])
    ax.set_xlabel("session rows in accounts_session")
    ax.set_ylabel("milliseconds (median; log scale)")
    ax.set_title("Session administration cost vs number of session rows")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def plot_throughput(results, points, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = results["args"]["connections"]
    middle = results["middle"]
    main = main_configs(results, points)
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(12, 4.8), dpi=110, gridspec_kw={"width_ratios": [1, 1.2]}
    )
    width = 0.8 / max(len(main), 1)
    top = 1.0
    for i, key in enumerate(main):
        xs, ys, lo, hi = [], [], [], []
        for j, c in enumerate(levels):
            values = ratios(points, key, "me", c)
            if not values:
                continue
            xs.append(j + (i - (len(main) - 1) / 2) * width)
            ys.append(med(values))
            lo.append(med(values) - min(values))
            hi.append(max(values) - med(values))
        left.bar(xs, ys, width, yerr=[lo, hi], capsize=3, label=results["configs"][key])
        top = max([top, *(y + h + 0.05 for y, h in zip(ys, hi, strict=True))])
    left.axhline(ME_RATIO_TARGET, color="red", linestyle="--", linewidth=1)
    left.set_xticks(range(len(levels)), [f"wrk -c{c}" for c in levels])
    left.set_ylim(0, top)
    left.set_ylabel("/api/auth/me req/s ÷ bare view req/s")
    left.set_title("/me as a ratio of the ceiling (median, range)")
    left.legend(fontsize=8, loc="upper left")
    left.grid(True, axis="y", alpha=0.3)

    keys = [*main, *variant_configs(results, points)]
    names = {
        "pg": "PostgreSQL\n(the app as it is)",
        "redis": "PostgreSQL + Redis",
        "pg-compiled": "before: compiled lookup",
        "pg-unprepared": "client-side binding",
        "pg-nohc": "no health checks",
        "pg-recycle": "max_requests=1000",
    }
    ys, lo, hi, labels, texts, cpus = [], [], [], [], [], []
    for key in keys:
        values = ratios(points, key, "me", middle)
        if not values:
            continue
        ys.append(med(values))
        lo.append(med(values) - min(values))
        hi.append(max(values) - med(values))
        cpus.append(med(cpu_ratios(points, key, "me", middle)))
        labels.append(names.get(key, key))
        me = summary(points, (key, "me", middle))
        bare = summary(points, (key, "bare", middle))
        texts.append(f"{me['rps']:,.0f} / {bare['rps']:,.0f} req/s")
    positions = list(range(len(ys)))[::-1]
    palette = {
        "pg": "#1f77b4",
        "redis": "#ff7f0e",
        "pg-compiled": "#9467bd",
        "pg-unprepared": "#c5b0d5",
        "pg-nohc": "#2ca02c",
        "pg-recycle": "#999999",
    }
    colors = [palette.get(k, "#2ca02c") for k in keys][: len(ys)]
    right.barh(positions, ys, xerr=[lo, hi], capsize=3, color=colors)
    right.scatter(
        cpus,
        positions,
        marker="D",
        color="black",
        zorder=3,
        s=18,
        label="bare ÷ /me CPU per request",
    )
    for y, value, cpu_value, text in zip(positions, ys, cpus, texts, strict=True):
        right.annotate(
            f"{value:.2f}x req/s, {cpu_value:.2f}x CPU  ({text})",
            (max(value, cpu_value), y),
            xytext=(6, 6),
            textcoords="offset points",
            fontsize=7,
        )
    right.legend(fontsize=7, loc="lower right")
    right.axvline(ME_RATIO_TARGET, color="red", linestyle="--", linewidth=1)
    right.text(
        ME_RATIO_TARGET,
        1.005,
        f" target {ME_RATIO_TARGET}x",
        transform=right.get_xaxis_transform(),
        fontsize=8,
        color="red",
        va="bottom",
    )
    right.set_yticks(positions, labels, fontsize=8)
    right.set_xlim(0, 1.3)
    right.set_xlabel("/me req/s ÷ bare req/s (median, range)")
    right.set_title(f"Per configuration, wrk -c{middle}", pad=14)
    right.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


# THE DOCUMENT
# ------------------------------------------------------------------------------


def write(results, out):
    out = Path(out)
    points = index(results.get("wrk", []))
    plots = {}
    try:
        rows_png = out.with_name("performance-rows.png")
        if plot_rows(results, rows_png):
            plots["rows"] = rows_png.name
        ratio_png = out.with_name("performance-throughput.png")
        if plot_throughput(results, points, ratio_png):
            plots["throughput"] = ratio_png.name
    except ImportError:
        plots = {}
    out.write_text(render(results, points, plots))


def database_sentence(db):
    """The app's database connection settings, as this run found them."""
    if not db:
        return ""
    text = (
        "The app's database connection (ventures/settings.py), as the main"
        f" configurations ran it: `CONN_MAX_AGE={db['CONN_MAX_AGE']}`,"
        f" `CONN_HEALTH_CHECKS={db['CONN_HEALTH_CHECKS']}`"
    )
    if db.get("server_side_binding"):
        return text + (
            ", psycopg's server-side binding with"
            f" `prepare_threshold={db['prepare_threshold']}`: psycopg prepares a"
            f" statement once it has run {db['prepare_threshold']} times on a"
            " connection, so PostgreSQL parses and plans the session lookup once"
            " per connection, not per request."
        )
    return text + (
        ", client-side binding (Django's default): no statement is prepared,"
        " PostgreSQL parses and plans every query."
    )


def render(results, points, plots):
    m = results["machine"]
    a = results["args"]
    v = results.get("versions", {})
    middle = results.get("middle", 16)
    parts = []
    add = parts.append
    add("# Performance\n")
    arguments = results["command"].removeprefix("python -m bench").strip()
    make = f"make bench BENCH_ARGS='{arguments}'" if arguments else "make bench"
    add(
        "Generated by `make bench` (bench/__main__.py); do not edit by hand, run"
        " it again. Everything below comes from one run of:\n"
    )
    add(f"```sh\n{make}\n```\n")
    add(
        "`make bench` installs what the benchmark needs (the virtualenv,"
        " `bench/requirements.txt` with matplotlib and py-spy, nginx and wrk),"
        " then runs `.venv/bin/python -m bench $(BENCH_ARGS)`; once those are"
        " installed, the equivalent is"
        f" `{' '.join(['.venv/bin/python -m bench', arguments]).strip()}`.\n"
    )
    add(
        f"Run {results['started']}, took {results.get('runtime_seconds', 0) // 60} min "
        f"{results.get('runtime_seconds', 0) % 60} s. "
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM, "
        f"Linux {m['kernel']}, load average at start {' '.join(m['loadavg_at_start'])}"
        " (a shared, noisy machine: compare numbers of the same run only). "
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".\n"
    )
    add(
        "Setup: gunicorn from `gunicorn.conf.py` (gthread, WEB_CONCURRENCY=2 workers"
        " x 4 threads, production settings with"
        " `DJANGO_SETTINGS_MODULE=bench.settings`,"
        " which only adds the reference views of `bench/urls.py`), one instance per"
        " configuration; a throwaway database on the machine's PostgreSQL; a throwaway"
        " redis-server; the fake Patreon behind nginx's TLS (test CA). wrk runs on the"
        f" same 2 cores, `-t2 -c{{{','.join(map(str, a['connections']))}}}"
        f" -d{a['seconds']}s`,"
        f" {a['runs']} run(s) per point, interleaved (bare and /me alternate, their"
        " order flips every run); ratios are taken per run, then the median. Requests"
        " go straight to gunicorn as nginx would send them (`X-Forwarded-Proto: https`"
        " from the trusted proxy, an `Origin` of the frontend); /me walks the cookies"
        f" of all {2 * a['logins']} patrons logged in through the fake, on a table of"
        " 100,000 more session rows. "
        + database_sentence(results.get("database"))
        + " The configurations run with"
        " `GUNICORN_MAX_REQUESTS=0` (no worker recycling, steady state), but for"
        " *max_requests=1000*, which recycles each worker after 1,000 requests"
        " (+ up to 100; gunicorn.conf.py's default is now 20,000 + up to 2,000;"
        " see the notes). *Ratios by CPU* divide the CPU per request (gunicorn, its"
        " PostgreSQL backends and wrk, from /proc) of the bare view by /me's: on"
        " a CPU-bound machine without neighbours that is the throughput ratio,"
        " and it is much steadier than req/s here.\n"
    )
    if "repeated" in results:
        repeated = results["repeated"]
        add(
            "wrk opens its connections when a run starts, and which gunicorn worker"
            " accepts each one is a race: now and then one worker gets them all and"
            " the other sits idle, which cuts any endpoint's throughput by half or"
            " more. A measured run (or a profile) in which one worker did more"
            " than 90% of the workers' CPU is therefore run again, up to"
            f" {results.get('attempts', 3)} times in all: {len(repeated)} run(s)"
            " were repeated in this one"
            + (
                " ("
                + ", ".join(
                    f"{config} {endpoint} c={c}" + (f" x{n}" if n > 1 else "")
                    for (config, endpoint, c), n in Counter(
                        (r["config"], r["endpoint"], r["connections"]) for r in repeated
                    ).items()
                )
                + ")"
                if repeated
                else ""
            )
            + ".\n"
        )

    add("## Targets\n")
    add("| target | measured | |\n| --- | --- | --- |")
    for target, measured, ok in targets(results, points):
        add(f"| {target} | {measured} | {ok} |")
    add("")

    add("## /api/auth/me against the bare view\n")
    if "throughput" in plots:
        add(f"![/me throughput ratio per configuration]({plots['throughput']})\n")
    add(throughput_table(results, points) + "\n")
    add(
        "Variants, measured in the same run at the middle concurrency level."
        " *PostgreSQL* is the app as it is: its session lookup"
        " (`accounts/session_lookup.py`) builds and compiles the query once per"
        " thread and only executes it per request, and psycopg prepares it on"
        " each connection (server-side binding, `prepare_threshold=5`)."
        " *Before* is the app as it was until both changes: the session lookup"
        " of `bench/orm_store.py`, the same query through"
        ' `select_related("user__patreon")...first()`, built, compiled and'
        " materialised by the ORM on every request, with Django's default"
        " client-side binding (nothing prepared: PostgreSQL parses and plans the"
        " join for every request). *Compiled lookup, client-side binding* is the"
        " app's lookup with Django's default binding: from *before* to it is what"
        " compiling the lookup once gains, from it to *PostgreSQL* what prepared"
        " statements gain. *No CONN_HEALTH_CHECKS* is the app with"
        " `CONN_HEALTH_CHECKS = False`, which the app does not do;"
        " *max_requests=1000* is the app recycling each worker every 1,000"
        " requests (+ up to 100; the other configurations run with"
        " `GUNICORN_MAX_REQUESTS=0`). /me's CPU per request is split into"
        " gunicorn (*app*) and the bench database's PostgreSQL backends.\n"
    )
    add(variants_table(results, points) + "\n")
    add(
        f"Reference views and CPU per request (c={middle}): *app* is gunicorn's"
        " CPU (master and workers), *PostgreSQL* the bench database's backends,"
        " *rest* the machine's other busy CPU during the run (kernel threads,"
        " Redis, and whatever else runs on this shared machine: mostly noise),"
        " *wrk* the load generator's.\n"
    )
    add(reference_table(results, points) + "\n")

    add("### Where /me's CPU goes (py-spy)\n")
    add(
        "py-spy `--gil` on both workers: *me* (the app as it is) and *bare* on"
        " the PostgreSQL configuration, *me, before (ORM lookup)* on the app as"
        f" it was before (bench/orm_store.py, client-side binding); c={middle}, 8 s"
        " per endpoint; each sample goes to the first row whose frames it contains;"
        " ms/req is the share times the measured gunicorn CPU per request.\n"
    )
    add(profile_table(results) + "\n")

    add("## SQL per request\n")
    add(
        "In-process (Django's test client, bench settings, the same database), the"
        " last of three identical requests; *health-check round trips* are the"
        " `SELECT 1` that `CONN_HEALTH_CHECKS = True` sends before the first query of"
        " every request, below Django's query log (counted by wrapping"
        " `connection.is_usable`).\n"
    )
    add(query_table(results) + "\n")

    add("## Logins through the fake Patreon\n")
    add(
        "Each login: the login page, its button, the fake's consent (prepared"
        " first), then the callback, timed: the app exchanges the code and fetches"
        " the identity (two HTTPS calls to the fake through nginx), creates the user"
        " and membership, and starts the session. A new patron and a new client"
        " address per login, so rate limits apply as in production.\n"
    )
    add(login_table(results) + "\n")

    add("## Memory\n")
    add(
        "Peak RSS (VmHWM) of each gunicorn worker, sampled twice a second through"
        " every phase under load.\n"
    )
    add(memory_table(results) + "\n")

    add("## Session rows\n")
    add(
        "In-process with the app's own code (bench/session_rows.py): N rows, 10 per"
        " user, half expired; medians of 5. Revoking = `accounts.revocation"
        ".revoke_user_sessions` for a user with 10 live sessions; the admin list"
        " is `/admin/accounts/session/` as a superuser (SQL vs the rest, i.e."
        " rendering); cleanup = `SessionStore.clear_expired(batch_size=1000)`, the"
        " lock held is one batch's DELETE transaction, from the DELETE to its commit,"
        " while a second connection keeps locking (`FOR UPDATE`) the rows of a user"
        " at the head of cleanup's queue.\n"
    )
    if "rows" in plots:
        add(f"![cost vs number of session rows]({plots['rows']})\n")
    add(rows_table(results) + "\n")

    add(EMBEDDED_SQLITE)
    add("## The prototype's numbers (issue 7, not measured here)\n")
    add(
        "Measured on a prototype on this kind of machine (gunicorn, 2 sync workers,"
        " wrk -c16, PostgreSQL and Redis on loopback), quoted for context; this app's"
        " custom session store cannot run the stock backends, so they are not"
        " re-measured:\n"
    )
    add("| prototype view | throughput ÷ bare |\n| --- | --- |")
    for name, value in PROTOTYPE:
        add(f"| {name} | {value} |")
    add("")
    add(notes(results, points))
    return "\n".join(parts).rstrip() + "\n"


def cpu(s):
    """CPU per request that the request itself caused: gunicorn, PostgreSQL, wrk."""
    return s["app"] + s["pg"] + s["wrk"]


def _ms(s):
    return f"{s['app']:.2f} + {s['pg']:.2f} ms"


def notes(results, points):
    """The closing note: what bounds each figure, from this run's numbers."""
    middle = results.get("middle", 16)
    lines = ["## Notes: what bounds each figure\n"]
    get = {
        key: summary(points, (config, endpoint, middle))
        for key, (config, endpoint) in {
            "bare": ("pg", "bare"),
            "me": ("pg", "me"),
            "select1": ("pg", "select1"),
            "cache": ("redis", "cache-get"),
            "orm": ("pg-compiled", "me"),
            "unprepared": ("pg-unprepared", "me"),
            "nohc": ("pg-nohc", "me"),
        }.items()
    }
    profiles = results.get("profile") or {}
    prof = profiles.get("me", {})
    shares = prof.get("shares", {})
    app = prof.get("app_cpu_ms", 0.0)
    orm_prof = profiles.get("me, before (compiled lookup)", {})

    def part(prefix, shares=shares):
        return sum(v for k, v in shares.items() if k.startswith(prefix))

    def by(config):
        return (
            f"{med(ratios(points, config, 'me', middle)):.2f}x the bare view by"
            f" req/s, {med(cpu_ratios(points, config, 'me', middle)):.2f}x by CPU"
        )

    # What every request pays, the bare view's too.
    common = ("rest of Django", "gunicorn", "access log", "the view")

    bare, me, sel = get["bare"], get["me"], get["select1"]
    if bare and me:
        text = (
            f"- **/me costs {cpu(me) / cpu(bare):.1f}x the bare view's CPU.** Per"
            f" request (gunicorn + PostgreSQL backends, c={middle}): bare"
            f" {_ms(bare)}, /me {_ms(me)}."
        )
        if shares:
            text += (
                f" py-spy puts {100 * part('session lookup'):.0f}% of /me's worker"
                f" CPU ({part('session lookup') * app:.2f} ms) in the session lookup"
                " itself (`accounts/session_lookup.py`: the parameters, the"
                " converters, three `Model.from_db`), the database round trip and"
                f" driver at {100 * part('database'):.0f}%, Django's cursor at"
                f" {100 * part('Django'):.0f}%, the health check at"
                f" {100 * part('connection'):.0f}%; the session decode, the user"
                f" and auth-hash checks take {100 * part('session decode'):.0f}%."
                " What every request pays, the bare view's too (the rest of"
                " Django, gunicorn, the access log, the view and its JSON), is"
                f" {100 * sum(part(c) for c in common):.0f}%"
                f" ({sum(part(c) for c in common) * app:.2f} ms)."
            )
        text += (
            " On the database side psycopg has prepared the session lookup on"
            " each connection (server-side binding, `prepare_threshold=5`):"
            " PostgreSQL runs the stored plan instead of parsing and planning the"
            f" three-table join for every request, {me['pg']:.2f} ms of its CPU per"
            " /me request, the health check's `SELECT 1` included."
        )
        lines.append(text)
    orm, unprepared = get["orm"], get["unprepared"]
    if orm and me:
        text = (
            "- **Before** (the ORM session lookup of bench/orm_store.py, with"
            f" client-side binding): /me at {by('pg-compiled')}; {_ms(orm)} per"
            f" request, against {_ms(me)} for the app now."
        )
        orm_shares = orm_prof.get("shares", {})
        if orm_shares:
            orm_app = orm_prof.get("app_cpu_ms", 0.0)
            share = part("ORM", orm_shares)
            text += (
                f" py-spy puts {100 * share:.0f}% of its worker CPU"
                f" ({share * orm_app:.2f} ms of {orm_app:.2f}) in the ORM:"
                ' building the `select_related("user__patreon")` queryset,'
                " compiling it to SQL (3 tables, 28 columns) and turning the row"
                " into three model instances, anew for every request. The app's"
                " lookup does that work once per thread."
            )
        lines.append(text)
    if orm and unprepared and me:
        lines.append(
            "- **What each change gains.** Compiling the lookup once (*before* to"
            " *compiled lookup, client-side binding*, /me at"
            f" {by('pg-unprepared')}): gunicorn's CPU per /me request"
            f" {orm['app']:.2f} to {unprepared['app']:.2f} ms, PostgreSQL's"
            f" {orm['pg']:.2f} to {unprepared['pg']:.2f} ms. Prepared statements"
            " (to the app as it is): gunicorn's"
            f" {unprepared['app']:.2f} to {me['app']:.2f} ms, PostgreSQL's"
            f" {unprepared['pg']:.2f} to {me['pg']:.2f} ms. By CPU, /me went from"
            f" {med(cpu_ratios(points, 'pg-compiled', 'me', middle)):.2f}x to"
            f" {med(cpu_ratios(points, 'pg-unprepared', 'me', middle)):.2f}x to"
            f" {med(cpu_ratios(points, 'pg', 'me', middle)):.2f}x the bare view."
        )
    if sel and bare:
        ref = (
            f"- **The floor for any database-backed request.** A view doing one raw"
            f" `SELECT 1` costs {_ms(sel)}"
            f" ({med(cpu_ratios(points, 'pg', 'select1', middle)):.2f}x the bare"
            " view by CPU,"
            f" {med(ratios(points, 'pg', 'select1', middle)):.2f}x by req/s): its"
            " two round trips (the health check and the query) and Django's cursor"
            " path. /me cannot be cheaper than that plus its own work (the session"
            " lookup's parameters and instances, the session decode, the auth-hash"
            " check, the payload)."
        )
        if get["cache"]:
            ref += (
                " A `cache.get` from Redis costs"
                f" {get['cache']['app']:.2f} ms of gunicorn CPU"
                f" ({med(cpu_ratios(points, 'redis', 'cache-get', middle)):.2f}x the"
                " bare view by CPU,"
                f" {med(ratios(points, 'redis', 'cache-get', middle)):.2f}x by"
                " req/s)."
            )
        lines.append(ref)
    nohc = get["nohc"]
    if nohc and me:
        lines.append(
            "- **No connection health checks** (the app with"
            " `CONN_HEALTH_CHECKS = False`; measured above, not in the app): /me"
            f" at {by('pg-nohc')}; {_ms(nohc)} per request against {_ms(me)}"
            " with them. The check costs one round trip per request; without it,"
            " a connection PostgreSQL dropped fails the request that finds it."
        )
    if shares:
        top = sorted(shares.items(), key=lambda kv: -kv[1])[:4]
        lines.append(
            f"- **What bounds /me now.** py-spy on the app ({app:.2f} ms of"
            " gunicorn CPU per request), its largest shares: "
            + "; ".join(
                f"{name} {100 * share:.0f}% ({share * app:.2f} ms)"
                for name, share in top
            )
            + "."
        )
        bare_prof = profiles.get("bare", {})
        if bare_prof.get("shares"):
            bare_app = bare_prof.get("app_cpu_ms", 0.0)
            extra = {
                name: share * app - bare_prof["shares"].get(name, 0.0) * bare_app
                for name, share in shares.items()
            }
            top = sorted(extra.items(), key=lambda kv: -kv[1])[:4]
            lines[-1] += (
                f" Against the bare view ({bare_app:.2f} ms), /me's extra"
                f" {app - bare_app:.2f} ms of gunicorn CPU goes mostly to: "
                + "; ".join(f"{name} {ms:+.2f} ms" for name, ms in top)
                + "."
            )
    redis_me = summary(points, ("redis", "me", middle))
    if redis_me and me:
        lines.append(
            "- **Redis.** /me never touches the cache (sessions are rows in"
            " PostgreSQL; Redis holds the login rate limits and the readiness"
            f" probe's key), so REDIS_URL changes nothing on it: {_ms(redis_me)}"
            f" with Redis against {_ms(me)} without."
        )
    runs = [r for r in results.get("wrk", []) if r["config"] == "pg-recycle"]
    if runs:
        boots = sum(r["workers_booted"] for r in runs)
        served = sum(r["requests"] for r in runs)
        slowest = min(runs, key=lambda r: r["rps"])
        text = (
            "- **Worker recycling.** *max_requests=1000* (+ up to 100 jitter,"
            " gunicorn.conf.py's default until it became 20,000 + up to 2,000)"
            " restarts each worker after a thousand-odd requests. A worker is"
            " not preloaded: it imports Django, allauth and"
            " the app and runs the policy checks itself (importing ventures.wsgi"
            " alone takes about 1.3 CPU-seconds on an idle machine, seconds of"
            f" wall time on a loaded one). Here {boots} workers booted while"
            f" that instance served {served:,} requests (at these rates a worker"
            " boots every few seconds). Its slowest run served"
            f" {slowest['rps']:,.0f} req/s ({slowest['endpoint']},"
            f" {slowest['requests']:,} requests in {slowest['seconds']:.0f} s)"
        )
        if slowest["requests"] == 0:
            text += (
                ": both workers, started together and loaded evenly, were booting"
                " at once and the instance answered nothing"
            )
        text += "."
        recycled = summary(points, ("pg-recycle", "me", middle))
        if recycled and me:
            text += (
                f" /me cost {recycled['app']:.2f} ms of gunicorn CPU per request"
                f" there, against {me['app']:.2f} ms without recycling."
            )
        lines.append(
            text + " At the default of 20,000 a worker boots about twenty times"
            " less often. The other configurations run with"
            " `GUNICORN_MAX_REQUESTS=0`, so that ratios compare requests, not"
            " boots."
        )
    big = (results.get("rows") or {}).get(BIG)
    if big:
        lines.append(
            f"- **Admin session list.** With 1M rows the page's"
            f" {big[sr.ADMIN_QUERIES]} queries take {big[sr.ADMIN_SQL]:.1f} ms of"
            f" {big[sr.ADMIN]:.0f} ms; the rest is the admin rendering 50 rows"
            " (`items_for_result`: an action checkbox rendered through the form"
            " templates, then three dates and the other cells per row), the same"
            " at any table size. Filtering to active sessions takes"
            f" {big[sr.ADMIN_ACTIVE]:.0f} ms: a filtered list is counted exactly"
            " (EstimatedCountPaginator estimates unfiltered lists only), a count"
            " over half a million rows."
        )
        lines.append(
            f"- **Revoking** is one DELETE by the user's index:"
            f" {big[sr.REVOKE]:.1f} ms at 1M rows, flat in the table's size."
        )
        lines.append(
            f"- **Cleanup.** {big[sr.BATCHES]:,} batches of 1000 took"
            f" {big[sr.CLEANUP]:.0f} s; the median batch {big[sr.MEDIAN_BATCH]:.0f} ms,"
            f" the longest {big[sr.LONGEST_BATCH]:.0f} ms (selecting the next keys,"
            " which locks no row, included). The longest DELETE transaction held"
            f" its row locks {big[sr.LONGEST_LOCK]:.0f} ms. Those are locks on"
            " expired rows only, which no request reads; only a revocation of the"
            " same user can wait on them: the probe's longest wait was"
            f" {big[sr.LONGEST_WAIT]:.0f} ms, and pg_locks, sampled every few"
            f" milliseconds, showed at most {big[sr.LOCK_WAITERS]} waiter(s)."
        )
    return "\n".join(lines) + "\n"
