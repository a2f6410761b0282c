"""
Where a worker's CPU goes while wrk loads one endpoint: py-spy (from PyPI,
bench/requirements.txt) samples every gunicorn worker, only while it holds
the GIL (``--gil``: Python CPU, not waiting), and each sample is put into
the first category whose marker frame it contains.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# (category, marker frames: any one of them in the stack), first match wins.
# The compiled lookup (the baseline, bench/compiled_store.py) comes before
# the ORM's rows: it builds its instances with Model.from_db too. The app's
# own lookup (sessions.lookup.fetch, through raw()) shows in the ORM rows.
CATEGORIES = [
    ("connection health check (CONN_HEALTH_CHECKS: `is_usable`)", ["is_usable"]),
    ("database round trip and driver (psycopg)", ["(psycopg/"]),
    (
        "Django's cursor (execute wrappers, query log)",
        ["CursorWrapper.", "CursorDebugWrapper."],
    ),
    (
        "session lookup (bench/compiled_store.py)",
        ["bench/compiled_store.py"],
    ),
    ("ORM: compiling the SQL", ["SQLCompiler."]),
    ("ORM: rows to model instances", ["ModelIterable.__iter__", "Model.from_db"]),
    ("ORM: building the queryset", ["QuerySet.", "Query."]),
    (
        "session decode, user and auth-hash checks",
        ["get_user", "SessionStore.load", "SessionBase._get_session"],
    ),
    ("the view and its JSON", ["MeView.get", "bare (bench/urls.py", "JsonResponse"]),
    ("rest of Django (middleware, URL resolving, response)", ["WSGIHandler.__call__"]),
    ("access log (gunicorn.conf.py JsonLogger)", ["JsonLogger.access"]),
    ("gunicorn (HTTP parsing, socket writes, worker loop)", ["(gunicorn/"]),
]
OTHER = "other"


def py_spy():
    return shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))


def available():
    return Path(py_spy()).exists()


def categorize(stack):
    for name, markers in CATEGORIES:
        if any(marker in stack for marker in markers):
            return name
    return OTHER


def record(pids, seconds, rate=250):
    """Sample ``pids`` for ``seconds``; returns {category: share of samples}."""
    directory = Path(tempfile.mkdtemp(prefix="bench-py-spy-"))
    processes = []
    for pid in pids:
        out = directory / f"{pid}.raw"
        argv = [py_spy(), "record", "--gil", "--nonblocking", "-r", str(rate)]
        argv += ["-d", str(seconds), "-f", "raw", "-o", str(out), "-p", str(pid)]
        processes.append(
            (
                out,
                subprocess.Popen(
                    argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                ),
            )
        )
    counts = collections.Counter()
    total = 0
    for out, process in processes:
        process.wait(timeout=seconds + 60)
        if not out.exists():
            continue
        for line in out.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            if not n.isdigit():
                continue
            counts[categorize(stack)] += int(n)
            total += int(n)
    shutil.rmtree(directory, ignore_errors=True)
    if not total:
        return {}
    return {name: counts[name] / total for name, _ in [*CATEGORIES, (OTHER, [])]}
