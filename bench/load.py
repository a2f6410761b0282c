"""
Load with wrk, and what it cost: throughput, latency, CPU and memory.

Each ``wrk`` run also reads, before and after, the CPU time of the gunicorn
instance under load (master, live workers and reaped workers), of wrk
itself, and of the whole machine (/proc/stat), so the report can say where
each request's CPU went: on 2 shared cores, throughput is CPU per request.

It also reads each worker's share of that CPU. wrk opens its connections at
the start of a run and keeps them, and which worker accepts each one is a
race: now and then one worker takes them all and the other sits idle, which
cuts throughput by half or more, whatever the endpoint (``one_worker``).
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from devstack.hosts import API_HOST, FRONTEND_ORIGIN

LUA = Path(__file__).with_name("wrk.lua")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# What every request carries, as nginx would pass on a browser's request
# from the frontend (a credentialed cross-origin fetch names its Origin).
HEADERS = {
    "Host": API_HOST,
    "X-Forwarded-Proto": "https",
    "X-Forwarded-For": "203.0.113.7",
    "Origin": FRONTEND_ORIGIN,
    "User-Agent": "Mozilla/5.0 (bench) wrk",
}


def wrk_path():
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    return path


def _stat_fields(pid):
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name may contain spaces; the fields follow its ")".
    return text[text.rindex(")") + 2 :].split()


def process_cpu(pid, children=True):
    """CPU seconds of ``pid`` (and of its reaped children), or 0 if gone."""
    try:
        fields = _stat_fields(pid)
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / CLOCK_TICKS


def children_of(pid):
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def gunicorn_cpu(master):
    """The instance's CPU seconds: the master, its reaped and its live workers."""
    return process_cpu(master) + sum(
        process_cpu(w, children=False) for w in children_of(master)
    )


def machine_cpu():
    """(busy, steal, total) jiffies of the whole machine."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    busy = user + nice + system + irq + softirq
    return busy, steal, sum(values[:8])


def status_kib(pid, field):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class PostgresBackends:
    """
    The CPU time of the PostgreSQL backends serving one database (the
    server runs on this machine; root reads their /proc). A backend that
    exits during a run takes its CPU with it (gunicorn's connections live
    CONN_MAX_AGE = 60 s, so a few may): a slight undercount.
    """

    def __init__(self, database_url, dbname):
        import psycopg

        server = database_url.rsplit("/", 1)[0]
        self.conn = psycopg.connect(f"{server}/postgres", autocommit=True)
        self.dbname = dbname

    def cpu(self):
        """{backend pid: CPU seconds} for the database's backends now."""
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", [self.dbname]
        ).fetchall()
        return {pid: process_cpu(pid, children=False) for (pid,) in rows}

    @staticmethod
    def delta(before, after):
        return sum(after[p] - before.get(p, 0.0) for p in after)

    def close(self):
        self.conn.close()


class MemorySampler:
    """
    Peak RSS (VmHWM) of every worker of the given gunicorn masters, sampled
    twice a second for as long as it runs: workers that gunicorn recycles
    (max_requests) are caught while they live.
    """

    def __init__(self, masters, interval=0.5):
        self.masters = masters  # {config key: master pid}
        self.interval = interval
        self.peaks = {key: {} for key in masters}  # key -> {worker pid: KiB}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self):
        for key, master in self.masters.items():
            for worker in children_of(master):
                kib = status_kib(worker, "VmHWM")
                if kib is not None:
                    peaks = self.peaks[key]
                    peaks[worker] = max(peaks.get(worker, 0), kib)

    def _loop(self):
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self):
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()

    def summary(self, key):
        values = sorted(self.peaks[key].values())
        if not values:
            return None
        return {
            "workers_seen": len(values),
            "max_mib": values[-1] / 1024,
            "median_mib": values[len(values) // 2] / 1024,
        }


@dataclass
class WrkResult:
    config: str
    endpoint: str
    connections: int
    run: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # socket errors and non-2xx/3xx answers
    app_cpu_ms: float  # gunicorn CPU per request
    pg_cpu_ms: float  # the database's PostgreSQL backends, per request
    wrk_cpu_ms: float  # load generator CPU per request
    other_cpu_ms: float  # the rest of the machine per request (kernel, Redis...)
    steal_pct: float  # CPU stolen by the hypervisor during the run
    workers_booted: int  # gunicorn workers started during the run (recycling)
    # The busiest worker's share of the workers' CPU (None if workers changed).
    busiest_worker_pct: float | None = None
    pooler_cpu_ms: float = 0.0  # PgBouncer's CPU per request, when in front

    def one_worker(self, threshold=90.0):
        """Whether one worker did nearly all the work (it held every connection)."""
        return (
            self.busiest_worker_pct is not None and self.busiest_worker_pct > threshold
        )

    def as_dict(self):
        return asdict(self)


def run_wrk(
    config,
    endpoint,
    path,
    *,
    connections,
    seconds,
    run=0,
    cookies_file=None,
    threads=2,
    postgres=None,
    pooler=None,
):
    """
    One wrk run against ``config``'s gunicorn; returns a WrkResult. The CPU
    of ``postgres`` (PostgresBackends) and ``pooler`` (a process: PgBouncer)
    counts as the requests' too.
    """
    master = config.instance.pid
    argv = [wrk_path(), f"-t{min(threads, connections)}", f"-c{connections}"]
    argv += [f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA)]
    for name, value in HEADERS.items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(config.base_url + path)
    env = {**os.environ, "BENCH_COOKIES": str(cookies_file or "")}
    pg_before = postgres.cpu() if postgres else {}
    pooler_before = process_cpu(pooler.pid) if pooler else 0.0
    workers_before = set(children_of(master))
    worker_before = {w: process_cpu(w, children=False) for w in workers_before}
    app_before = gunicorn_cpu(master)
    busy_before, steal_before, total_before = machine_cpu()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=seconds + 60
    )
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_after, steal_after, total_after = machine_cpu()
    app_after = gunicorn_cpu(master)
    workers_after = set(children_of(master))
    worker_used = [
        process_cpu(w, children=False) - worker_before[w] for w in workers_before
    ]
    pg_after = postgres.cpu() if postgres else {}
    pg_cpu = PostgresBackends.delta(pg_before, pg_after)
    pooler_cpu = (process_cpu(pooler.pid) if pooler else 0.0) - pooler_before
    match = re.search(r"^BENCH (\{.*\})$", result.stdout, re.MULTILINE)
    if result.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed: {result.stdout}\n{result.stderr}")
    data = json.loads(match[1])
    requests = max(data["requests"], 1)
    elapsed = data["duration_us"] / 1e6
    wrk_cpu = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    app_cpu = app_after - app_before
    machine_busy = (busy_after - busy_before) / CLOCK_TICKS
    total = max(total_after - total_before, 1)
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    return WrkResult(
        config=config.key,
        endpoint=endpoint,
        connections=connections,
        run=run,
        requests=data["requests"],
        seconds=round(elapsed, 3),
        rps=data["requests"] / elapsed,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        errors=errors,
        app_cpu_ms=app_cpu * 1000 / requests,
        pg_cpu_ms=pg_cpu * 1000 / requests,
        wrk_cpu_ms=wrk_cpu * 1000 / requests,
        other_cpu_ms=max(machine_busy - app_cpu - wrk_cpu - pg_cpu - pooler_cpu, 0)
        * 1000
        / requests,
        steal_pct=100 * (steal_after - steal_before) / total,
        workers_booted=len(workers_after - workers_before),
        busiest_worker_pct=(
            100 * max(worker_used) / sum(worker_used)
            if len(worker_used) > 1
            and workers_after == workers_before
            and sum(worker_used) > 0
            else None
        ),
        pooler_cpu_ms=pooler_cpu * 1000 / requests,
    )
