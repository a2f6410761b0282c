"""
The ventures benchmark: one command, the real stack, side by side.

    make bench                           # about 10-15 minutes
    make bench BENCH_ARGS=--quick        # about 3 minutes, smaller and shorter

``make bench`` installs the virtualenv, bench/requirements.txt (matplotlib,
py-spy), nginx and wrk, then runs ``.venv/bin/python -m bench $(BENCH_ARGS)``.

Starts gunicorn from gunicorn.conf.py (one instance per configuration, the
same worker settings for all), a throwaway PostgreSQL database, a throwaway
Redis and the fake Patreon behind TLS (bench.harness); logs patrons in
through the fake (bench.logins); loads authenticated /api/auth/me and the
reference views with wrk, interleaved, several runs (bench.load); counts
SQL per request in-process and in PostgreSQL (bench.inprocess); times the
session lookup alone in-process, before, ORM and now (bench.lookups);
profiles a worker with py-spy (bench.profile); times session administration
at 10k, 100k and 1M rows (bench.session_rows); and writes
docs/performance.md, its plots and bench/results.json (bench.report).

``--render bench/results.json`` rewrites the report from saved results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import inprocess, load, logins, lookups, profile, report, session_rows
from bench.harness import Bench, Config
from devstack.processes import ROOT, program

RESULTS = ROOT / "bench" / "results.json"

ENDPOINTS = {
    "bare": "/api/bench/bare",
    "me": "/api/auth/me",
    # Forward auth, as nginx's auth_request asks it (every bench patron has a tier).
    "check": "/api/auth/check?entitlement=supporter",
    "select1": "/api/bench/select1",
    "cache-get": "/api/bench/cache-get",
}
# Asked with a logged-in patron's session cookie.
SESSION_ENDPOINTS = ("me", "check")

# gunicorn recycles each worker after max_requests (20,000 + up to 2,000 by
# default, in gunicorn.conf.py). A worker boots in about 1.5 CPU-seconds
# here: even at that default a few boots could land in one run and distort
# its ratios, the more the faster the endpoint. The configurations run with
# recycling off (GUNICORN_MAX_REQUESTS=0: steady state); "pg-recycle" sets
# max_requests=1000 (+ up to 100, the repository's default until it became
# 20,000) to show what frequent recycling costs.
STEADY = {"GUNICORN_MAX_REQUESTS": "0"}
RECYCLE_1000 = {"GUNICORN_MAX_REQUESTS": "1000", "GUNICORN_MAX_REQUESTS_JITTER": "100"}
COMPILED_STORE = {"BENCH_SESSION_ENGINE": "bench.compiled_store"}
SELECT_1 = {"BENCH_HEALTH_CHECK": "select1"}
NO_CHECK = {"BENCH_HEALTH_CHECK": "none"}
# Django's defaults, which the app overrides on PostgreSQL: no server-side
# binding, no prepared statements (bench.settings).
CLIENT_SIDE = {**STEADY, "BENCH_CLIENT_SIDE_BINDING": "true"}

# A measured run in which one gunicorn worker had all of wrk's connections
# (bench.load) measures the accept race, not the endpoint: it runs again, up
# to this many times in all; the report says how many were.
ATTEMPTS = 5

# The two configurations the targets are about, at every concurrency level.
MAIN = ("pg", "redis")
# Variants at the middle concurrency level only: the app as it was before
# (the hand-compiled lookup of bench/compiled_store.py) as a baseline; the
# app with client-side binding, to tell what prepared statements gain; with
# Django's SELECT 1 health check (as before issue 17) and with no check at
# all, to tell what the app's own check costs; through PgBouncer in
# transaction mode (DATABASE_POOLER=transaction); and with frequent worker
# recycling.
VARIANTS = (
    "pg-compiled",
    "pg-unprepared",
    "pg-hc",
    "pg-nocheck",
    "pgbouncer",
    "pg-recycle",
)


def configurations():
    return [
        Config("pg", "PostgreSQL", dict(STEADY)),
        Config("redis", "PostgreSQL + Redis", dict(STEADY), redis=True),
        Config(
            "pg-compiled",
            "PostgreSQL, before: compiled session lookup (bench/compiled_store.py)",
            {**STEADY, **COMPILED_STORE},
        ),
        Config("pg-unprepared", "PostgreSQL, client-side binding", CLIENT_SIDE),
        Config(
            "pg-hc",
            "PostgreSQL, Django's SELECT 1 health check (before issue 17)",
            {**STEADY, **SELECT_1},
        ),
        Config(
            "pg-nocheck",
            "PostgreSQL, no connection health check",
            {**STEADY, **NO_CHECK},
        ),
        Config("pgbouncer", "PostgreSQL through PgBouncer", dict(STEADY), pooled=True),
        Config("pg-recycle", "PostgreSQL, max_requests=1000", RECYCLE_1000),
    ]


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller, shorter run")
    parser.add_argument("--runs", type=int, help="wrk runs per point (default 3)")
    parser.add_argument("--seconds", type=int, help="seconds per wrk run (default 5)")
    parser.add_argument("--connections", help="wrk connection levels (4,16,64)")
    parser.add_argument("--rows", help="session-table sizes (10000,100000,1000000)")
    parser.add_argument("--logins", type=int, help="logins per configuration (200)")
    parser.add_argument("--no-profile", action="store_true", help="skip py-spy")
    parser.add_argument("--no-rows", action="store_true", help="skip session rows")
    parser.add_argument("--out", default=str(ROOT / "docs" / "performance.md"))
    parser.add_argument("--render", metavar="JSON", help="only render saved results")
    args = parser.parse_args(argv)
    quick = args.quick
    args.runs = args.runs or (1 if quick else 3)
    args.seconds = args.seconds or (3 if quick else 5)
    args.connections = [
        int(c) for c in (args.connections or ("16" if quick else "4,16,64")).split(",")
    ]
    args.rows = [
        int(r)
        for r in (
            args.rows or ("10000,100000" if quick else "10000,100000,1000000")
        ).split(",")
        if r
    ]
    args.logins = args.logins or (60 if quick else 200)
    return args


def command_line():
    return " ".join(["python -m bench", *sys.argv[1:]])


def machine():
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
    }


def versions(database_url):
    import django
    import gunicorn
    import psycopg

    def first_line(argv, pattern=None):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except OSError:
            return "not found"
        text = (out.stdout or out.stderr).strip().splitlines()
        line = text[0] if text else ""
        if pattern:
            match = re.search(pattern, line)
            return match[1] if match else line
        return line

    with psycopg.connect(database_url) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    from importlib.metadata import version

    return {
        "Python": platform.python_version(),
        "Django": django.get_version(),
        "django-allauth": version("django-allauth"),
        "psycopg": psycopg.__version__,
        "gunicorn": gunicorn.__version__,
        "PostgreSQL": pg,
        "Redis": first_line(["redis-server", "--version"], r"v=(\S+)"),
        "wrk": first_line([load.wrk_path(), "-v"], r"wrk (\S+)"),
        "nginx (fake Patreon's TLS only)": first_line(
            [profile.shutil.which("nginx") or "/usr/sbin/nginx", "-v"],
            r"nginx/(\S+)",
        ),
    }


def database_settings():
    """The app's connection settings, as the main configurations run them."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    options = db.get("OPTIONS", {})
    return {
        "CONN_MAX_AGE": db.get("CONN_MAX_AGE"),
        "CONN_HEALTH_CHECKS": db.get("CONN_HEALTH_CHECKS"),
        "server_side_binding": options.get("server_side_binding"),
        "prepare_threshold": options.get("prepare_threshold"),
    }


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class Runner:
    def __init__(self, args, bench, configs):
        self.args = args
        self.bench = bench
        self.configs = {c.key: c for c in configs}
        self.cookies_file = bench.directory / "cookies.txt"
        self.wrk = []  # every WrkResult, as dicts
        self.repeated = []  # runs measured again: one worker had every connection
        self.postgres = load.PostgresBackends(bench.db.url, bench.db.name)

    def wrk_run(self, key, endpoint, connections, run, seconds=None, retry=None):
        """
        One wrk run; a measured one (``run`` >= 0, or ``retry``) again if one
        worker had every connection.
        """
        retry = run >= 0 if retry is None else retry
        for attempt in range(1, ATTEMPTS + 1):
            result = self._wrk_once(key, endpoint, connections, run, seconds)
            if not (retry and result.one_worker()) or attempt == ATTEMPTS:
                return result
            log(
                f"  one worker did {result.busiest_worker_pct:.0f}% of the work"
                " (it held every connection): again"
            )
            self.repeated.append(result.as_dict())
        return result

    def _wrk_once(self, key, endpoint, connections, run, seconds=None):
        config = self.configs[key]
        result = load.run_wrk(
            config,
            endpoint,
            ENDPOINTS[endpoint],
            connections=connections,
            seconds=seconds or self.args.seconds,
            run=run,
            cookies_file=self.cookies_file if endpoint in SESSION_ENDPOINTS else None,
            postgres=self.postgres,
            pooler=self.bench.pgbouncer if config.pooled else None,
        )
        busiest = result.busiest_worker_pct
        log(
            f"{key:>10} {endpoint:>9} c={connections:<3} run {run}: "
            f"{result.rps:7.0f}/s p50 {result.p50_ms:6.1f} ms p99 {result.p99_ms:6.1f}"
            f" ms, CPU/req app {result.app_cpu_ms:.2f} pg {result.pg_cpu_ms:.2f} ms,"
            f" errors {result.errors}, busiest worker "
            + (f"{busiest:.0f}%" if busiest is not None else "-")
        )
        return result

    def logins(self):
        from django.conf import settings

        figures, cookies = [], []
        for n, key in enumerate(["pg", "redis"]):
            config = self.configs[key]
            log(f"{self.args.logins} logins against {key}")
            result, got = logins.bench_logins(
                config,
                str(self.bench.certificates.ca),
                count=self.args.logins,
                concurrency=4,
                first_patron=2_000_000 + 100_000 * n,
                first_ip=n * self.args.logins,
                session_cookie=settings.SESSION_COOKIE_NAME,
            )
            log(
                f"  {result['logins_per_second']:.1f} logins/s, "
                f"p50 {result['p50_ms']:.0f} ms, errors {result['errors']}"
            )
            figures.append(result)
            cookies += got
        name = settings.SESSION_COOKIE_NAME
        self.cookies_file.write_text("".join(f"{name}={c}\n" for c in cookies))
        return figures, cookies

    def load_phase(self):
        levels = self.args.connections
        middle = 16 if 16 in levels else levels[len(levels) // 2]
        log("warming up")
        for key in (*MAIN, *VARIANTS):
            for endpoint in ("bare", "me"):
                self.wrk_run(key, endpoint, middle, run=-1, seconds=2)
        for run in range(self.args.runs):
            # Alternate the order from run to run, so that a drift of the
            # machine's speed does not favour one side.
            pair = ["bare", "me"] if run % 2 == 0 else ["me", "bare"]
            for key in MAIN:
                for connections in levels:
                    for endpoint in pair:
                        self.wrk.append(
                            self.wrk_run(key, endpoint, connections, run).as_dict()
                        )
                refs = ["check", "select1"] + (["cache-get"] if key == "redis" else [])
                for endpoint in refs:
                    self.wrk.append(self.wrk_run(key, endpoint, middle, run).as_dict())
            for key in VARIANTS:
                for endpoint in pair:
                    self.wrk.append(self.wrk_run(key, endpoint, middle, run).as_dict())
        return middle

    def profile_phase(self, connections):
        if self.args.no_profile or not profile.available():
            log(
                "py-spy not available, no profile:"
                " pip install -r bench/requirements.txt"
            )
            return {}
        import threading

        profiles = {}
        seconds = 8
        for name, key, endpoint in (
            ("me", "pg", "me"),
            ("me, before (compiled lookup)", "pg-compiled", "me"),
            ("bare", "pg", "bare"),
        ):
            workers = load.children_of(self.configs[key].instance.pid)
            for attempt in range(1, ATTEMPTS + 1):
                log(f"profiling {endpoint} on {key} with py-spy for {seconds} s")
                holder = {}

                def loader(key=key, endpoint=endpoint, holder=holder):
                    holder["wrk"] = self.wrk_run(
                        key,
                        endpoint,
                        connections,
                        run=-2,
                        seconds=seconds + 2,
                        retry=False,
                    )

                thread = threading.Thread(target=loader)
                thread.start()
                time.sleep(1)
                shares = profile.record(workers, seconds)
                thread.join()
                result = holder["wrk"]
                if not result.one_worker() or attempt == ATTEMPTS:
                    break
                log("  one worker held every connection: profiling again")
                self.repeated.append(result.as_dict())
            profiles[name] = {
                "shares": shares,
                "app_cpu_ms": result.app_cpu_ms,
                "rps": result.rps,
            }
        return profiles

    def server_side_phase(self):
        from django.db import connections

        config = self.configs["pg"]
        db = self.bench.db
        out = {}
        for endpoint in ("me", "bare"):

            def run_load(endpoint=endpoint):
                result = load.run_wrk(
                    config,
                    endpoint,
                    ENDPOINTS[endpoint],
                    connections=4,
                    seconds=3,
                    cookies_file=self.cookies_file if endpoint == "me" else None,
                )
                return result.requests

            out[endpoint] = inprocess.server_side_counts(db.url, db.name, run_load)
            log(f"server-side counts for {endpoint}: {out[endpoint]}")
        connections.close_all()
        return out


REQUIRED = {
    "wrk": "apt-get install wrk",
    "nginx": "apt-get install nginx (TLS in front of the fake Patreon)",
    "redis-server": "apt-get install redis-server",
    "createdb": "apt-get install postgresql-client",
    "dropdb": "apt-get install postgresql-client",
    "openssl": "apt-get install openssl",
    "envsubst": "apt-get install gettext-base (deploy/nginx/render)",
    "pgbouncer": "apt-get install pgbouncer",
}


def preflight():
    """Name every missing program at once, with how to install it."""

    missing = [
        f"  {name}: {how}" for name, how in REQUIRED.items() if not program(name)
    ]
    if missing:
        raise SystemExit("python -m bench needs:\n" + "\n".join(missing))


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    if args.render:
        results = json.loads(Path(args.render).read_text())
        report.write(results, out)
        log(f"wrote {out}")
        return
    preflight()
    began = time.monotonic()
    results = {
        "command": command_line(),
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "args": {
            "runs": args.runs,
            "seconds": args.seconds,
            "connections": args.connections,
            "rows": args.rows,
            "logins": args.logins,
            "quick": args.quick,
        },
    }
    configs = configurations()
    log("starting the stack")
    with Bench(configs, workers=2) as bench:
        results["configs"] = {c.key: c.label for c in configs}
        results["main"], results["variants"] = list(MAIN), list(VARIANTS)
        results["workers"] = {"WEB_CONCURRENCY": 2, "GUNICORN_THREADS": "4 (default)"}
        inprocess.setup_django(bench.app_env(LOG_LEVEL="WARNING"))
        results["versions"] = versions(bench.db.url)
        results["database"] = database_settings()
        log("seeding 100,000 background session rows")
        session_rows.seed(100_000)
        runner = Runner(args, bench, configs)
        masters = {c.key: c.instance.pid for c in configs}
        with load.MemorySampler(masters) as memory:
            results["logins"], cookies = runner.logins()
            log("counting queries in-process")
            results["queries"] = {
                "me (logged in)": inprocess.count_queries("/api/auth/me", cookies[0]),
                "me (no cookie)": inprocess.count_queries("/api/auth/me"),
                "me (unknown cookie)": inprocess.count_queries(
                    "/api/auth/me", "x" * 32
                ),
                "check (logged in)": inprocess.count_queries(
                    ENDPOINTS["check"], cookies[0]
                ),
                "sessions (logged in)": inprocess.count_queries(
                    "/api/auth/sessions", cookies[0]
                ),
                "bare": inprocess.count_queries("/api/bench/bare"),
                "select1": inprocess.count_queries("/api/bench/select1"),
            }
            log("timing the session lookups in-process")
            results["lookups"] = lookups.measure(repeats=3 if args.quick else 5)
            log(f"  ms per lookup: {results['lookups']['ms']}")
            middle = runner.load_phase()
            results["middle"] = middle
            results["wrk"] = runner.wrk
            results["profile"] = runner.profile_phase(middle)
            results["repeated"], results["attempts"] = runner.repeated, ATTEMPTS
            results["server_side"] = runner.server_side_phase()
        results["memory"] = {c.key: memory.summary(c.key) for c in configs}
        bench.stop_servers()
        if not args.no_rows:
            from django.db import connections

            connections.close_all()
            log(f"session rows: {args.rows}")
            table = session_rows.run_all(args.rows, runs=5, log=log)
            results["rows"] = {str(k): v for k, v in table.items()}
    results["runtime_seconds"] = round(time.monotonic() - began)
    RESULTS.write_text(json.dumps(results, indent=1, default=str))
    report.write(results, out)
    log(f"done in {results['runtime_seconds']} s: wrote {out} and {RESULTS}")


if __name__ == "__main__":
    main()
