"""
The production stack on loopback, for tests/test_stack.py.

nginx terminates TLS (a test CA made here with ``openssl``) in front of
gunicorn instances on PostgreSQL and Redis; the fake Patreon sits behind
nginx's TLS too, so the application runs in production mode, which refuses
an http Patreon (ventures.E060).

Everything starts from the files deploy/ documents: nginx from
deploy/nginx/ventures.conf.template rendered by deploy/nginx/render, and
gunicorn with ``-c gunicorn.conf.py``. Test-only nginx files: the top-level
nginx.conf that includes the rendered site (as Debian's does), the fake
Patreon's TLS server block, and the negative control's cache, included
where the template includes site additions.

Each process runs in its own process group and every port is a free one on
127.0.0.1; ``Stack`` stops them all and removes its directory, whatever
happens.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import pwd
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy
from http.cookies import SimpleCookie
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter

ROOT = Path(__file__).resolve().parent.parent
API_HOST = "api.ventures.test"
API_ORIGIN = f"https://{API_HOST}"
FRONTEND_ORIGIN = "https://ventures.test"
PATREON_HOST = "patreon.ventures.test"
CERTIFICATE_NAMES = (API_HOST, "ventures.test", PATREON_HOST)
TRUSTED_PROXY = "127.0.0.1"
PG_BIN = Path(os.environ.get("STACK_PG_BIN", "/usr/lib/postgresql/15/bin"))
# The machine's shared PostgreSQL, where each stack gets a database of its own.
SHARED_PG = {"host": "127.0.0.1", "port": "5432", "user": "postgres"}
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
# Set STACK_KEEP=1 to keep the stack's directory (logs, configs) after a run.
KEEP = os.environ.get("STACK_KEEP") == "1"


def program(name):
    """A program's path: on PATH, or in the sbin directories (nginx lives there)."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


class StackError(RuntimeError):
    """A part of the stack would not start; the message has its log."""


def _ephemeral_ports():
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """
    A free port on 127.0.0.1, below the range the kernel hands out to
    outgoing connections: a server started seconds later still finds it
    free however many connections the tests open meanwhile.
    """
    low = _ephemeral_ports()[0]
    for _ in range(100):
        port = random.randrange(20000, low) if low > 21000 else 0
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise StackError("no free port")


def wait_for(check, timeout, what, interval=0.1, log=str):
    """
    Call ``check`` until it returns a true value and return that, or fail
    after ``timeout`` seconds with the text ``log()`` returns then.
    """
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except (OSError, requests.RequestException) as error:
            value, last = None, error
        if value:
            return value
        time.sleep(interval)
    raise StackError(f"{what}: not ready after {timeout} s ({last!r})\n{log()}")


def tail(path, lines=40):
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return f"--- {path}: no log ---"
    return f"--- {path} (last {lines} lines) ---\n" + "\n".join(
        text.splitlines()[-lines:]
    )


def run(argv, timeout=120, **kwargs):
    """Run a command to completion; raise with its output when it fails."""
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )
    if result.returncode != 0:
        raise StackError(
            f"{' '.join(map(str, argv))} exited {result.returncode}\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


# CERTIFICATES
# ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    ca: Path  # what clients trust (REQUESTS_CA_BUNDLE, verify=)
    certificate: Path  # the leaf, for every name of the stack and 127.0.0.1
    key: Path


def make_certificates(directory):
    """A test CA and one leaf certificate it signed, valid for two days."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca = directory / "ca.key", directory / "ca.pem"
    key, csr = directory / "server.key", directory / "server.csr"
    leaf, extensions = directory / "server.pem", directory / "server.ext"
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    ca_extensions = [
        *("-addext", "basicConstraints=critical,CA:TRUE"),
        *("-addext", "keyUsage=critical,keyCertSign,cRLSign"),
    ]
    run(
        [
            *("openssl", "req", "-x509", *new_key),
            *("-keyout", ca_key, "-out", ca, "-days", "2"),
            *("-subj", "/CN=ventures stack test CA", *ca_extensions),
        ]
    )
    run(
        [
            *("openssl", "req", "-new", *new_key),
            *("-keyout", key, "-out", csr, "-subj", f"/CN={API_HOST}"),
        ]
    )
    names = ",".join([*(f"DNS:{n}" for n in CERTIFICATE_NAMES), "IP:127.0.0.1"])
    extensions.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName={names}\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n"
    )
    serial = str(secrets.randbits(63))
    run(
        [
            *("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key),
            *("-set_serial", serial, "-days", "2", "-out", leaf),
            *("-extfile", extensions),
        ]
    )
    for private in (ca_key, key):
        private.chmod(0o600)
    return Certificates(ca=ca, certificate=leaf, key=key)


# PROCESSES
# ------------------------------------------------------------------------------


class Process:
    """A server in its own process group, its output in one log file."""

    def __init__(self, name, argv, *, log, env=None, cwd=ROOT):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log = Path(log)
        self.env = env
        self.cwd = cwd
        self.popen = None

    def start(self):
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self):
        return self.popen.pid

    def running(self):
        return self.popen is not None and self.popen.poll() is None

    def send(self, signum):
        """Signal the main process only (systemd's KillMode=mixed does too)."""
        self.popen.send_signal(signum)

    def stop(self, signum=signal.SIGTERM, timeout=40):
        """Signal the main process, wait, then kill whatever is left."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signum)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)
        return self.popen.returncode

    def children(self):
        """The pids of the main process's children (gunicorn's workers)."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        try:
            return {int(pid) for pid in path.read_text().split()}
        except OSError:
            return set()

    def tail(self, lines=40):
        return tail(self.log, lines)


class Gunicorn(Process):
    """One instance, as ``ventures@N`` runs it: ``gunicorn -c gunicorn.conf.py``."""

    def __init__(self, name, port, env, log):
        self.port = port
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            ROOT / "gunicorn.conf.py",
            "ventures.wsgi:application",
        ]
        super().__init__(
            name, argv, log=log, env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
        )

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def healthy(self):
        response = requests.get(
            f"http://{self.address}/healthz", headers={"Host": API_HOST}, timeout=5
        )
        return response.status_code == 200

    def wait_ready(self, timeout=60):
        def ready():
            if not self.running():
                raise StackError(f"{self.name} exited\n{self.tail()}")
            return self.healthy()

        wait_for(ready, timeout, self.name, interval=0.2, log=self.tail)
        return self

    def access_log(self):
        """The access log lines written so far, parsed."""
        entries = []
        for line in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("logger") == "gunicorn.access":
                    entries.append(entry)
        return entries


class Redis(Process):
    def __init__(self, directory):
        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        super().__init__(
            "redis",
            [
                *("redis-server", "--port", self.port, "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", directory),
            ],
            log=directory / "redis.log",
        )

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    def start(self):
        super().start()
        wait_for(self.ping, 20, "redis", log=self.tail)
        return self


class FakePatreon(Process):
    """``python -m fake_patreon`` on a free loopback port, plain HTTP."""

    def __init__(self, directory):
        self.port = None
        super().__init__(
            "fake_patreon",
            [sys.executable, "-m", "fake_patreon", "--port", "0"],
            log=directory / "fake_patreon.log",
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def start(self):
        super().start()

        def announced():
            match = re.search(
                r"serving on http://127\.0\.0\.1:(\d+)", self.log.read_text()
            )
            if not self.running():
                raise StackError(f"fake Patreon exited\n{self.tail()}")
            return match and int(match[1])

        self.port = wait_for(announced, 20, "fake Patreon", log=self.tail)
        return self


class Nginx(Process):
    """
    nginx from deploy/nginx/ventures.conf.template, rendered by
    deploy/nginx/render with this stack's names, ports and certificate.

    ``location_conf`` goes where the template includes site additions inside
    ``location /``, ``http_conf`` at the http level: only the negative
    control of the isolation test uses them. With ``fake_port``, a second
    server block on a port of its own puts TLS in front of the fake Patreon.
    """

    def __init__(
        self,
        directory,
        certificates,
        upstreams,
        *,
        location_conf="",
        http_conf="",
        fake_port=None,
    ):
        self.directory = directory
        self.https_port = free_port()
        self.http_port = free_port()
        self.fake_tls_port = free_port() if fake_port else None
        directory.mkdir(parents=True)
        # nginx's workers run as nobody when the master is root.
        directory.chmod(0o755)
        for sub in ("temp", "cache", "location.d", "http.d"):
            (directory / sub).mkdir()
        for sub in ("temp", "cache"):
            (directory / sub).chmod(0o777)
        if location_conf:
            (directory / "location.d" / "test.conf").write_text(location_conf)
        if http_conf:
            (directory / "http.d" / "test.conf").write_text(http_conf)
        self.access_log_path = directory / "access.log"
        render_env = {
            "PATH": os.environ["PATH"],
            "VENTURES_SERVER_NAME": API_HOST,
            "VENTURES_HTTPS_LISTEN": f"127.0.0.1:{self.https_port}",
            "VENTURES_HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
            "VENTURES_TLS_CERTIFICATE": str(certificates.certificate),
            "VENTURES_TLS_CERTIFICATE_KEY": str(certificates.key),
            "VENTURES_UPSTREAMS": " ".join(upstreams),
            "VENTURES_ACCESS_LOG": str(self.access_log_path),
            "VENTURES_LOCATION_INCLUDES": str(directory / "location.d" / "*.conf"),
        }
        rendered = run([ROOT / "deploy" / "nginx" / "render"], env=render_env).stdout
        (directory / "ventures.conf").write_text(rendered)
        fake = ""
        if fake_port:
            fake = textwrap.dedent(
                f"""
                # Test only: TLS in front of the fake Patreon, with the same
                # certificate (it names {PATREON_HOST} and 127.0.0.1).
                server {{
                    listen 127.0.0.1:{self.fake_tls_port} ssl;
                    server_name {PATREON_HOST} 127.0.0.1;
                    ssl_certificate {certificates.certificate};
                    ssl_certificate_key {certificates.key};
                    access_log {directory / "fake_patreon.access.log"};
                    location / {{
                        proxy_pass http://127.0.0.1:{fake_port};
                        proxy_set_header Host $http_host;
                    }}
                }}
                """
            )
        temp = directory / "temp"
        # The top level, as Debian's /etc/nginx/nginx.conf: it includes the
        # rendered template in the http context.
        (directory / "nginx.conf").write_text(
            textwrap.dedent(
                f"""
                daemon off;
                worker_processes 1;
                pid {directory / "nginx.pid"};
                error_log {directory / "error.log"} info;
                events {{ worker_connections 4096; }}
                http {{
                    default_type application/octet-stream;
                    client_body_temp_path {temp}/body;
                    proxy_temp_path {temp}/proxy;
                    fastcgi_temp_path {temp}/fastcgi;
                    uwsgi_temp_path {temp}/uwsgi;
                    scgi_temp_path {temp}/scgi;
                    include {directory / "http.d" / "*.conf"};
                    include {directory / "ventures.conf"};
                    {fake}
                }}
                """
            )
        )
        argv = [program("nginx"), "-p", directory, "-c", directory / "nginx.conf"]
        argv += ["-e", directory / "error.log"]
        self.test_argv = [*argv, "-t", "-q"]
        super().__init__("nginx", argv, log=directory / "nginx.log")

    def start(self):
        run(self.test_argv)
        super().start()

        def up():
            if not self.running():
                raise StackError(f"nginx exited\n{self.tail()}")
            with socket.create_connection(("127.0.0.1", self.https_port), timeout=2):
                return True

        wait_for(up, 20, "nginx", log=self.tail)
        return self

    def stop(self, signum=signal.SIGQUIT, timeout=20):
        return super().stop(signum, timeout)

    def tail(self, lines=40):
        return "\n".join(
            [super().tail(lines), tail(self.directory / "error.log", lines)]
        )

    @property
    def fake_base_url(self):
        return f"https://127.0.0.1:{self.fake_tls_port}"


# DATABASES
# ------------------------------------------------------------------------------


class SharedDatabase:
    """A fresh database on the machine's PostgreSQL, dropped afterwards."""

    def __init__(self):
        self.name = f"ventures_stack_{uuid.uuid4().hex[:12]}"
        self.args = ["-h", SHARED_PG["host"], "-p", SHARED_PG["port"]]
        self.args += ["-U", SHARED_PG["user"]]

    @property
    def url(self):
        pg = SHARED_PG
        return f"postgres://{pg['user']}@{pg['host']}:{pg['port']}/{self.name}"

    def __enter__(self):
        run(["createdb", *self.args, self.name], timeout=60)
        return self

    def __exit__(self, *exc_info):
        run(["dropdb", *self.args, "--force", "--if-exists", self.name], timeout=60)

    def tail(self, lines=40):
        return ""


class ThrowawayPostgres:
    """
    A PostgreSQL of our own (initdb in a temp dir, its own port), which a
    test may stop and start. Run as the postgres user when we are root.
    """

    def __init__(self):
        self.directory = None
        self.port = free_port()
        self.as_root = os.geteuid() == 0

    @property
    def data(self):
        return self.directory / "data"

    @property
    def logfile(self):
        return self.directory / "postgres.log"

    @property
    def url(self):
        return f"postgres://postgres@127.0.0.1:{self.port}/ventures"

    def _run(self, *argv, timeout=60):
        argv = [str(a) for a in argv]
        if self.as_root:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return run(argv, timeout=timeout, cwd=self.directory)

    def __enter__(self):
        self.directory = Path(tempfile.mkdtemp(prefix="ventures-postgres-"))
        try:
            self._create()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _create(self):
        self.directory.chmod(0o755)
        if self.as_root:
            postgres = pwd.getpwnam("postgres")
            os.chown(self.directory, postgres.pw_uid, postgres.pw_gid)
        self._run(
            PG_BIN / "initdb",
            "-D",
            self.data,
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        self.start()
        run(
            [
                "createdb",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "ventures",
            ]
        )

    def start(self):
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c max_connections=100"
        )
        self._run(
            PG_BIN / "pg_ctl",
            "-D",
            self.data,
            "-l",
            self.logfile,
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self, mode="fast"):
        self._run(
            PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "30", "stop"
        )

    def running(self):
        return self.directory is not None and (self.data / "postmaster.pid").exists()

    def __exit__(self, *exc_info):
        try:
            if self.running():
                try:
                    self.stop("immediate")
                except (StackError, subprocess.TimeoutExpired):
                    pid = int((self.data / "postmaster.pid").read_text().split()[0])
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        finally:
            if self.directory and not KEEP:
                shutil.rmtree(self.directory, ignore_errors=True)

    def tail(self, lines=40):
        return tail(self.logfile, lines) if self.directory else ""


# THE STACK
# ------------------------------------------------------------------------------


class Stack:
    """
    nginx -> ``instances`` gunicorns (``workers`` each) -> PostgreSQL, with
    Redis and the fake Patreon (behind nginx's TLS). ``database`` is a
    context manager with a ``url`` (SharedDatabase, ThrowawayPostgres).

    Use it as a context manager; every process and the directory go at exit.
    """

    def __init__(self, name, database, *, instances=2, workers=2, **env):
        self.name = name
        self.database = database
        self.instance_count = instances
        self.workers = workers
        self.extra_env = env
        self.secret_key = secrets.token_urlsafe(64)
        self.processes = []
        self.instances = []
        self.directory = None
        self._exit = contextlib.ExitStack()

    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info):
        try:
            self._exit.close()
        finally:
            if KEEP:
                print(f"stack {self.name}: kept {self.directory}")
            elif self.directory:
                shutil.rmtree(self.directory, ignore_errors=True)

    def _start(self):
        self.directory = Path(tempfile.mkdtemp(prefix=f"ventures-{self.name}-"))
        self.directory.chmod(0o755)
        self.certificates = make_certificates(self.directory / "tls")
        self.db = self._exit.enter_context(self.database)
        self.redis = self.started(Redis(self.directory / "redis"))
        self.fake = self.started(FakePatreon(self.directory))
        ports = [free_port() for _ in range(self.instance_count)]
        self.nginx = self.started(
            Nginx(
                self.directory / "nginx",
                self.certificates,
                [f"127.0.0.1:{port}" for port in ports],
                fake_port=self.fake.port,
            )
        )
        self.migrate()
        self.instances = [
            self.started(self.gunicorn(chr(ord("a") + i), port))
            for i, port in enumerate(ports)
        ]
        for instance in self.instances:
            instance.wait_ready()

    def started(self, process):
        """Start ``process`` and stop it when the stack stops."""
        self.processes.append(process)
        self._exit.callback(process.stop)
        return process.start()

    def app_env(self, **overrides):
        """The production environment gunicorn and manage.py run with."""
        env = {
            "PATH": os.environ["PATH"],
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "ventures.settings",
            "ENV_FILE": "",
            "SECRET_KEY": self.secret_key,
            "ALLOWED_HOSTS": API_HOST,
            "FRONTEND_ORIGINS": FRONTEND_ORIGIN,
            "TRUSTED_PROXIES": TRUSTED_PROXY,
            "PATREON_BASE_URL": self.nginx.fake_base_url,
            "PATREON_CLIENT_ID": "fake-client-id",
            "PATREON_CLIENT_SECRET": "fake-client-secret",
            "PATREON_CAMPAIGN_ID": "9000001",
            "REQUESTS_CA_BUNDLE": str(self.certificates.ca),
            "DATABASE_URL": self.db.url,
            "REDIS_URL": self.redis.url,
            "WEB_CONCURRENCY": str(self.workers),
            **self.extra_env,
            **overrides,
        }
        return {k: v for k, v in env.items() if v is not None}

    def migrate(self):
        run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT,
            env=self.app_env(),
            timeout=180,
        )

    def gunicorn(self, name, port=None, **env):
        """A gunicorn instance of this stack (not started)."""
        return Gunicorn(
            f"gunicorn-{name}",
            port or free_port(),
            self.app_env(**env),
            self.directory / f"gunicorn-{name}.log",
        )

    def restart(self, instance):
        """Start a stopped instance again, as systemd would: same port, same env."""
        fresh = Gunicorn(instance.name, instance.port, instance.env, instance.log)
        self.processes.remove(instance)
        self.started(fresh)
        fresh.wait_ready()
        self.instances[self.instances.index(instance)] = fresh
        return fresh

    def nginx_for(self, name, upstreams, **options):
        """Another nginx from the same template (not started)."""
        return Nginx(
            self.directory / f"nginx-{name}",
            self.certificates,
            [u.address for u in upstreams],
            **options,
        )

    @contextlib.contextmanager
    def running(self, process):
        """Start ``process`` for the ``with`` block only."""
        self.processes.append(process)
        try:
            process.start()
            if isinstance(process, Gunicorn):
                process.wait_ready()
            yield process
        finally:
            process.stop()

    def browser(self, via=None, **options):
        return Browser(via or self.nginx, self.certificates.ca, **options)

    def logs(self, lines=30):
        """The tail of every log, for assertion messages."""
        parts = [p.tail(lines) for p in self.processes]
        if isinstance(self.db, ThrowawayPostgres):
            parts.append(self.db.tail(lines))
        return "\n".join(parts)


# CLIENTS
# ------------------------------------------------------------------------------

# Each browser connects from an address of its own in 127.1.0.0/16 (all of
# 127/8 is loopback), as distinct people do: nginx passes it on as
# X-Forwarded-For, and per-IP rate limits count each person apart.
_client_numbers = itertools.count(1)


def next_client_ip():
    n = next(_client_numbers)
    return f"127.1.{n // 250 % 250}.{n % 250 + 1}"


class _Adapter(HTTPAdapter):
    """Connections from ``source_ip``; TLS names ``server_hostname`` (SNI)."""

    def __init__(self, source_ip, server_hostname=None):
        self._extra = {"source_address": (source_ip, 0)}
        if server_hostname:
            self._extra["server_hostname"] = server_hostname
        super().__init__(pool_connections=1, pool_maxsize=2)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **{**kwargs, **self._extra})


class Browser:
    """
    One person's browser: its own cookies (kept by name, as a browser keeps
    them for one host), its own client address, talking HTTPS to nginx for
    ``api.ventures.test`` (SNI and certificate checked against that name).
    """

    def __init__(self, nginx, ca, source_ip=None):
        self.nginx = nginx
        self.ca = str(ca)
        self.ip = source_ip or next_client_ip()
        self.cookies = {}
        self.http = requests.Session()
        self.http.trust_env = False
        # requests' own jar would match cookies on 127.0.0.1, not on our
        # host names: this class keeps them instead.
        self.http.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self.http.mount("https://", _Adapter(self.ip))
        self.http.mount("http://", _Adapter(self.ip))
        self._mounted = set()

    def _base(self, nginx):
        if nginx.https_port not in self._mounted:
            self.http.mount(
                f"https://127.0.0.1:{nginx.https_port}/",
                _Adapter(self.ip, server_hostname=API_HOST),
            )
            self._mounted.add(nginx.https_port)
        return f"https://127.0.0.1:{nginx.https_port}"

    def keep_cookies(self, response):
        for header in response.raw.headers.getlist("Set-Cookie"):
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    def cookie_header(self):
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def request(self, method, path, *, via=None, headers=None, timeout=15, **kwargs):
        """``method path`` through nginx (``via``, default the stack's)."""
        headers = {"Host": API_HOST, **(headers or {})}
        if self.cookies:
            headers.setdefault("Cookie", self.cookie_header())
        if method not in ("GET", "HEAD"):
            # A browser names the origin of every unsafe request.
            headers.setdefault("Origin", API_ORIGIN)
        response = self.http.request(
            method,
            self._base(via or self.nginx) + path,
            headers=headers,
            allow_redirects=False,
            verify=self.ca,
            timeout=timeout,
            **kwargs,
        )
        self.keep_cookies(response)
        return response

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def direct(self, instance, path, method="GET", headers=None, timeout=15):
        """
        ``method path`` straight to one gunicorn instance, as nginx would
        ask it: from 127.0.0.1 (a trusted proxy), with this browser's
        cookies and address.
        """
        headers = {
            "Host": API_HOST,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": self.ip,
            "Cookie": self.cookie_header(),
            **(headers or {}),
        }
        if method not in ("GET", "HEAD"):
            headers.setdefault("Origin", API_ORIGIN)
        response = requests.request(
            method,
            f"http://{instance.address}{path}",
            headers=headers,
            allow_redirects=False,
            timeout=timeout,
        )
        self.keep_cookies(response)
        return response

    def login_token(self):
        """The CSRF token of the login page's form."""
        page = self.get("/login")
        token = CSRF_INPUT.search(page.text)
        if page.status_code != 200 or not token:
            raise LoginError(f"GET /login answered {page.status_code}", page)
        return token[1]

    def log_in(self, patron):
        """
        The whole Patreon login: the login page, its button, Patreon's
        consent (``fake_patron`` answers it), the callback. Returns the
        callback's response.
        """
        start = self.post(
            "/accounts/patreon/login/",
            data={"csrfmiddlewaretoken": self.login_token()},
        )
        if start.status_code != 302:
            raise LoginError(f"starting the login answered {start.status_code}", start)
        authorize = start.headers["Location"]
        separator = "&" if "?" in authorize else "?"
        consent = self.http.get(
            authorize + separator + urlencode({"fake_patron": patron}),
            allow_redirects=False,
            verify=self.ca,
            timeout=15,
        )
        if consent.status_code != 302:
            raise LoginError(
                f"Patreon's consent answered {consent.status_code}", consent
            )
        callback = urlsplit(consent.headers["Location"])
        if callback.netloc != API_HOST:
            raise LoginError(f"Patreon sent us to {callback.netloc}", consent)
        response = self.get(f"{callback.path}?{callback.query}")
        if response.status_code != 302 or not any(
            name.endswith("sessionid") for name in self.cookies
        ):
            raise LoginError(f"the callback answered {response.status_code}", response)
        return response

    def me(self, via=None, **kwargs):
        return self.get("/api/auth/me", via=via, **kwargs)

    def log_out(self):
        token = self.get("/api/auth/csrf").json()["csrf_token"]
        return self.post("/api/auth/logout", headers={"X-CSRFToken": token})


class LoginError(AssertionError):
    def __init__(self, message, response):
        body = response.text[:500]
        super().__init__(f"{message}: {response.headers!r}\n{body}")
        self.response = response


# LOAD
# ------------------------------------------------------------------------------


def private_answer_problem(response, patron):
    """What is wrong with an /api/auth/me answer for ``patron``, or None."""
    if response.status_code != 200:
        return f"status {response.status_code}: {response.text[:200]}"
    try:
        got = response.json()["patreon"]["id"]
    except (ValueError, KeyError, TypeError):
        return f"not a user payload: {response.text[:200]}"
    if got != patron:
        return f"MISMATCH: patron {patron} was shown patron {got}"
    cache_control = response.headers.get("Cache-Control", "")
    if "no-store" not in cache_control or "private" not in cache_control:
        return f"Cache-Control {cache_control!r}"
    if "cookie" not in response.headers.get("Vary", "").lower():
        return f"Vary {response.headers.get('Vary')!r}"
    return None


@dataclass
class LoadResult:
    requests: int = 0
    seconds: float = 0.0
    latencies: list = field(default_factory=list)
    mismatches: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    def percentile(self, p):
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000

    def figures(self):
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "requests_per_second": round(self.requests / self.seconds, 1)
            if self.seconds
            else 0,
            "p50_ms": round(self.percentile(50), 1),
            "p99_ms": round(self.percentile(99), 1),
            "mismatches": len(self.mismatches),
            "errors": len(self.errors),
        }


def hammer(browsers, rounds, threads=16, via=None, deadline=240):
    """
    Each browser (a (Browser, patron id) pair) asks /api/auth/me ``rounds``
    times; the browsers are split across ``threads`` threads, each of which
    walks its own browsers in turn, so requests of different people
    interleave on every connection nginx keeps to the instances.
    """
    result = LoadResult()
    lock = threading.Lock()
    stop_at = time.monotonic() + deadline
    groups = [browsers[i::threads] for i in range(threads)]

    def work(group):
        latencies, mismatches, errors = [], [], []
        for _ in range(rounds):
            for browser, patron in group:
                if time.monotonic() > stop_at:
                    errors.append("deadline passed")
                    break
                began = time.perf_counter()
                try:
                    response = browser.me(via=via)
                except requests.RequestException as error:
                    errors.append(f"{patron}: {error!r}")
                    continue
                latencies.append(time.perf_counter() - began)
                problem = private_answer_problem(response, patron)
                if problem and problem.startswith("MISMATCH"):
                    mismatches.append(problem)
                elif problem:
                    errors.append(f"{patron}: {problem}")
        with lock:
            result.requests += len(latencies)
            result.latencies += latencies
            result.mismatches += mismatches
            result.errors += errors

    began = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, [g for g in groups if g]))
    result.seconds = time.perf_counter() - began
    return result


def log_in_all(stack, patrons, threads=16, via=None):
    """Log each patron in with a browser of their own, concurrently."""

    def one(patron):
        browser = stack.browser(via)
        browser.log_in(patron)
        return browser, patron

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, patrons))


class Outcome(NamedTuple):
    time: float  # time.monotonic() when the answer (or the error) came
    patron: str
    response: requests.Response | None
    problem: str | None  # None: a correct answer


class BackgroundLoad:
    """One thread per browser asking /api/auth/me until stopped."""

    def __init__(self, browsers, pause=0.0):
        self.browsers = browsers
        self.pause = pause
        self.outcomes = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._work, args=pair, daemon=True)
            for pair in browsers
        ]

    def _work(self, browser, patron):
        while not self._stop.is_set():
            try:
                response = browser.me(timeout=20)
                problem = private_answer_problem(response, patron)
            except requests.RequestException as error:
                response, problem = None, repr(error)
            with self._lock:
                self.outcomes.append(
                    Outcome(time.monotonic(), patron, response, problem)
                )
            if self.pause:
                time.sleep(self.pause)

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    @property
    def concurrency(self):
        return len(self._threads)

    def between(self, start, end=float("inf")):
        return [o for o in self.outcomes if start <= o.time < end]

    def failures(self, start=0.0, end=float("inf")):
        return [o for o in self.between(start, end) if o.problem]

    def wait_for_requests(self, count, timeout=30):
        target = len(self.outcomes) + count
        wait_for(lambda: len(self.outcomes) >= target, timeout, "background load")
