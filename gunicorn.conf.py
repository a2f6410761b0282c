"""
gunicorn's settings for ventures.

gunicorn reads this file from its working directory by default; the systemd
unit (deploy/systemd/ventures@.service) and the stack tests (devstack/stack.py)
also name it with ``-c gunicorn.conf.py``. Each instance binds one loopback
port behind nginx (deploy/nginx/ventures.conf.template), which terminates
TLS and balances across the instances.

What differs between machines and instances comes from the environment:

- ``GUNICORN_BIND``: address(es) to listen on, comma-separated
  (default ``127.0.0.1:8000``).
- ``WEB_CONCURRENCY``: worker processes (gunicorn's own variable).
- ``GUNICORN_THREADS``: threads per worker (default 4).
- ``GUNICORN_MAX_REQUESTS`` / ``GUNICORN_MAX_REQUESTS_JITTER`` (default 20000 / 2000).
- ``GUNICORN_WORKER_TMP_DIR``: where worker heartbeats live.
- ``GUNICORN_CONTROL_SOCKET``: gunicornc's socket; none unless set.
- ``GUNICORN_PROC_NAME``: the process title (default ``ventures``).
- ``PROMETHEUS_MULTIPROC_DIR``: where the workers count metrics (default: a
  new temporary directory, removed at exit).
- ``TRUSTED_PROXIES`` and ``LOG_LEVEL``: the application's own variables
  (README, "Configuration"), read here too so both agree.
"""

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from gunicorn.glogging import Logger

# gunicorn reads this file before it puts its --chdir on sys.path; the
# access log shares the application's JSON format and client-IP rule.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ventures.logs import JsonFormatter
from ventures.network import client_address


def _int(name, default):
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _list(name, default=""):
    return [
        item.strip()
        for item in os.environ.get(name, default).split(",")
        if item.strip()
    ]


# SOCKETS
# ------------------------------------------------------------------------------
# Loopback by default: only nginx on the same host talks to gunicorn. Anyone
# else who reaches this port may send X-Forwarded-* headers of their own
# choosing; the application believes them from TRUSTED_PROXIES only.
bind = _list("GUNICORN_BIND", "127.0.0.1:8000")

# WORKERS
# ------------------------------------------------------------------------------
# gunicorn's usual 2 x cores + 1, capped: several instances share one host
# (ventures@1, ventures@2, ...), and every thread of every worker may hold a
# PostgreSQL connection (CONN_MAX_AGE), so the product instances x workers x
# threads must stay well under the server's max_connections (100 by default).
# Set WEB_CONCURRENCY in each instance's environment to size it on purpose.
workers = _int("WEB_CONCURRENCY", min(2 * (os.cpu_count() or 1) + 1, 8))

# Threads: nginx keeps connections to the upstream open (keepalive), which
# only threaded workers can use, and the login callback waits on Patreon
# (two calls of up to PATREON_TIMEOUT each) without holding up a whole
# process. Django's database connections are per thread, so this is safe.
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 4)

# Recycle each worker after this many requests (plus up to the jitter, so the
# workers of an instance don't all restart at once): a slow memory leak then
# costs a worker restart, not an outage. The master restarts it gracefully.
# A worker boots in about 1.3 CPU-seconds here, so recycling every thousand
# requests (a common example value) would add about 1.3 ms of CPU to each
# request, as much as /api/auth/me costs itself (docs/performance.md); every
# 20,000 it adds a twentieth of that.
max_requests = _int("GUNICORN_MAX_REQUESTS", 20000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 2000)

# The longest request is the login callback: two Patreon calls bounded by
# PATREON_TIMEOUT (5 s each) plus the database. A worker silent for 30 s is
# stuck, and gunicorn kills it. nginx's proxy_read_timeout (35 s) is longer,
# so nginx reports such a request as a 502, not a timeout of its own.
timeout = 30
# On SIGTERM or HUP, workers finish the requests they have for up to this
# long. systemd's TimeoutStopSec (45 s) leaves room for it.
graceful_timeout = 30
# Longer than nginx's upstream keepalive_timeout (60 s): the proxy, not
# gunicorn, closes idle connections, so nginx never sends a request on a
# connection gunicorn is closing at that very moment.
keepalive = 65

# Not preloaded: on HUP the new workers import the application afresh, so a
# graceful reload picks up changed code and settings. A worker that refuses
# to boot (ventures.wsgi refuses an unsafe production policy) makes gunicorn
# exit instead of serving.
preload_app = False

# Worker heartbeats: tmpfs, where a slow disk cannot make the master think a
# busy worker is stuck. The systemd unit points this at its RuntimeDirectory.
_SHM = "/dev/shm"  # noqa: S108 (tmpfs for heartbeats, gunicorn's advice)
_tmp = os.environ.get("GUNICORN_WORKER_TMP_DIR", "")
if _tmp or os.path.isdir(_SHM):
    worker_tmp_dir = _tmp or _SHM

# gunicornc's control socket defaults to one path per user, which the second
# instance on a host would take over from the first: none unless asked for.
_control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
if _control_socket:
    control_socket = _control_socket
else:
    control_socket_disable = True

# PROXY
# ------------------------------------------------------------------------------
# The proxy's addresses, for the access log's client address; never "*".
# Empty (no TRUSTED_PROXIES) trusts nobody.
forwarded_allow_ips = ",".join(_list("TRUSTED_PROXIES"))
# gunicorn does not decide the scheme: the application does, from
# X-Forwarded-Proto of TRUSTED_PROXIES only (ventures.network), under every
# server alike. gunicorn's default spellings (X-Forwarded-Ssl, ...) would
# otherwise let a client's own header disagree with nginx's.
secure_scheme_headers = {}
# No header from the proxy rewrites SCRIPT_NAME or PATH_INFO.
forwarder_headers = ""

# nginx refuses longer request lines and headers first (414/494; its
# large_client_header_buffers are 4 x 8k); these back it up at gunicorn's
# maxima so that nginx, not gunicorn, is the limit people meet.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# METRICS
# ------------------------------------------------------------------------------
# Each worker counts on its own, and any of them may answer a scrape:
# prometheus-client's multiprocess mode has every worker write its samples to
# files in PROMETHEUS_MULTIPROC_DIR, and a scrape adds up all the files, so
# a recycled worker's counts stay counted (ventures.metrics). One directory
# per instance (the unit puts it in its RuntimeDirectory), emptied when the
# master starts: a previous run's counts must not add to this one's. A HUP
# keeps it, and the counters go on. The workers import the application, and
# prometheus-client, after this has set the variable.
_METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"
_MADE_METRICS_DIR = "VENTURES_MADE_METRICS_DIR"  # ours to remove at exit
if not os.environ.get(_METRICS_DIR):
    os.environ[_METRICS_DIR] = tempfile.mkdtemp(prefix="ventures-metrics-")
    os.environ[_MADE_METRICS_DIR] = os.environ[_METRICS_DIR]


def on_starting(server):
    """The master starts (not on a HUP): an empty metrics directory."""
    directory = Path(os.environ[_METRICS_DIR])
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    """A worker has exited: its live gauges go; its counters stay counted."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    made = os.environ.get(_MADE_METRICS_DIR)
    if made:
        shutil.rmtree(made, ignore_errors=True)


# LOGGING
# ------------------------------------------------------------------------------
# One JSON object per line, like the application's own logs: the access log
# on stdout, gunicorn's own messages on stderr (journald keeps both).
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
proc_name = os.environ.get("GUNICORN_PROC_NAME", "ventures")


PROBES = ("/healthz", "/readyz")


class JsonLogger(Logger):
    """
    gunicorn's logger, writing JSON lines. Each access line names the
    client's real address, the request id nginx set (X-Request-ID; the
    application echoes it or makes one), the status and the duration.

    The query string is left out on purpose: the OAuth callback carries the
    authorization code and state in it.
    """

    def setup(self, cfg):
        super().setup(cfg)
        self._trusted = [a for a in cfg.forwarded_allow_ips if a != "*"]
        formatter = JsonFormatter()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        response_headers = {name.lower(): value for name, value in resp.headers}
        peer = environ.get("REMOTE_ADDR", "")
        fields = {
            "client_ip": client_address(
                peer, environ.get("HTTP_X_FORWARDED_FOR", ""), self._trusted
            ),
            "peer": peer,
            "request_id": response_headers.get("x-request-id")
            or environ.get("HTTP_X_REQUEST_ID", ""),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "status": int(status),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "user_agent": environ.get("HTTP_USER_AGENT", ""),
            "pid": os.getpid(),
        }
        # Probes answer every few seconds: their successes stay out of the log.
        quiet = fields["path"] in PROBES and fields["status"] < 400
        try:
            self.access_log.log(
                logging.DEBUG if quiet else logging.INFO,
                "%s %s %s",
                fields["method"],
                fields["path"],
                fields["status"],
                extra=fields,
            )
        except Exception:
            self.exception("Could not write the access log")


logger_class = JsonLogger
