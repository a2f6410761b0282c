"""
The production stack on loopback, for the stack and browser tests and the
benchmark.

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

import base64
import contextlib
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

from devstack.certs import make_certificates, sites_certificate
from devstack.gunicorn import Gunicorn
from devstack.hosts import (
    API_HOST,
    FRONTEND_ORIGIN,
    TRUSTED_PROXY,
)
from devstack.http import Browser
from devstack.nginx import Nginx, Sites
from devstack.patreon import FakePatreonProcess
from devstack.processes import (
    KEEP,
    ROOT,
    free_port,
    run,
)
from devstack.redis import Redis
from devstack.worker import Worker


class Stack:
    """
    nginx -> ``instances`` gunicorns (``workers`` each) -> PostgreSQL, with
    Redis and the fake Patreon (behind nginx's TLS). ``database`` is a
    context manager with a ``url`` and a ``tail`` (SharedDatabase,
    ThrowawayPostgres, or either behind PgBouncer: devstack.pgbouncer.Pooled).

    Use it as a context manager; every process and the directory go at exit.
    """

    def __init__(self, name, database, *, instances=2, workers=2, **env):
        self.name = name
        self.database = database
        self.instance_count = instances
        self.workers = workers
        self.extra_env = env
        self.secret_key = secrets.token_urlsafe(64)
        self.webhook_secret = secrets.token_urlsafe(32)
        self.token_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
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
        self.fake = self.started(
            FakePatreonProcess(self.directory, ca=self.certificates.ca)
        )
        ports = [free_port() for _ in range(self.instance_count)]
        # With no instances (the benchmark starts its own and asks them
        # directly), the template still needs an upstream: a port nobody serves.
        upstreams = [f"127.0.0.1:{port}" for port in ports or [free_port()]]
        self.nginx = self.started(
            Nginx(
                self.directory / "nginx",
                self.certificates,
                upstreams,
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
            "PATREON_WEBHOOK_SECRETS": self.webhook_secret,
            "PATREON_TOKEN_KEYS": self.token_key,
            # The fake's tiers: Supporter, Patron, Benefactor.
            "PATREON_ENTITLEMENTS": "supporter:7001|7002|7003,early-access:7002|7003",
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
            timeout=300,
        )

    def gunicorn(self, name, port=None, **env):
        """A gunicorn instance of this stack (not started)."""
        return Gunicorn(
            f"gunicorn-{name}",
            port or free_port(),
            self.app_env(**env),
            self.directory / f"gunicorn-{name}.log",
        )

    def worker(self, name="worker", concurrency=1):
        """The background worker of this stack (not started)."""
        return Worker(name, self.app_env(), self.directory / f"{name}.log", concurrency)

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
        parts.append(self.db.tail(lines))  # PostgreSQL's, PgBouncer's
        return "\n".join(parts)


def collect_static():
    """
    ``manage.py collectstatic``, as a deploy does (deploy/README.md, step 1):
    whitenoise serves STATIC_ROOT in production, and without it the login
    page and the admin would be screenshotted unstyled.
    """
    env = {
        "PATH": os.environ["PATH"],
        "ENV_FILE": "",
        "DEBUG": "true",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_SETTINGS_MODULE": "ventures.settings",
    }
    run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def manage(stack, *argv):
    """``manage.py ...`` against the stack's database, with its environment."""
    return run(
        [sys.executable, "manage.py", *argv],
        cwd=ROOT,
        env=stack.app_env(),
        timeout=120,
    )


@contextlib.contextmanager
def sites_for(stack):
    """The frontend's and the foreign site's nginx, for ``stack``."""
    directory = Path(tempfile.mkdtemp(prefix="ventures-sites-"))
    directory.chmod(0o755)
    sites = None
    try:
        leaf = sites_certificate(stack.certificates, directory)
        sites = Sites(directory / "nginx", leaf, stack.certificates.key)
        sites.start()
        yield sites
    finally:
        if sites is not None:
            sites.stop()
        if not KEEP:
            shutil.rmtree(directory, ignore_errors=True)
