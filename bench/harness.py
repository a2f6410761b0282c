"""
The stack the benchmark runs against, started from the repository's files.

- PostgreSQL: a throwaway database on the machine's server (createdb/dropdb,
  tests.stack.SharedDatabase), dropped at the end.
- Redis: a redis-server of our own on a free port (tests.stack.Redis).
- The fake Patreon, behind nginx's TLS with a test CA made here
  (tests.stack.Nginx, as the stack tests do): production settings refuse an
  http Patreon (ventures.E060), and this keeps the policy as it is. Only the
  fake's TLS server block is used; nginx is not in front of the app, so the
  load measures gunicorn and Django, not TLS termination.
- gunicorn with ``-c gunicorn.conf.py`` (tests.stack.Gunicorn), one instance
  per configuration, all with the same worker settings, in production mode
  (DEBUG off, every policy check run at boot) and
  ``DJANGO_SETTINGS_MODULE=bench.settings`` for the reference views.

Requests go straight to gunicorn from 127.0.0.1, which is the trusted proxy
(TRUSTED_PROXIES), with ``X-Forwarded-Proto: https`` as nginx would send.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.stack import (
    API_HOST,
    FRONTEND_ORIGIN,
    ROOT,
    FakePatreon,
    Gunicorn,
    Nginx,
    Redis,
    SharedDatabase,
    free_port,
    make_certificates,
    run,
)

TRUSTED_PROXY = "127.0.0.1"
KEEP = os.environ.get("BENCH_KEEP") == "1"


@dataclass
class Config:
    """One way of serving: a gunicorn instance with its own environment."""

    key: str  # short name: "pg", "redis", "pg-recycle"
    label: str  # for the report
    env: dict = field(default_factory=dict)  # on top of the common environment
    redis: bool = False
    port: int = 0
    instance: Gunicorn | None = None

    @property
    def base_url(self):
        return f"http://{self.instance.address}"


class Bench:
    """Everything the benchmark starts; stops it all and cleans up on exit."""

    def __init__(self, configs, workers=2):
        self.configs = configs
        self.workers = workers
        self.secret_key = secrets.token_urlsafe(64)
        self._exit = contextlib.ExitStack()
        self.directory = None

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
            if self.directory and not KEEP:
                import shutil

                shutil.rmtree(self.directory, ignore_errors=True)
            elif self.directory:
                print(f"bench: kept {self.directory}", file=sys.stderr)

    def _started(self, process):
        self._exit.callback(process.stop)
        return process.start()

    def _start(self):
        self.directory = Path(tempfile.mkdtemp(prefix="ventures-bench-"))
        self.directory.chmod(0o755)
        self.certificates = make_certificates(self.directory / "tls")
        self.db = self._exit.enter_context(SharedDatabase())
        self.redis = self._started(Redis(self.directory / "redis"))
        self.fake = self._started(FakePatreon(self.directory))
        for config in self.configs:
            config.port = free_port()
        # nginx only puts TLS in front of the fake Patreon here; its API
        # server block (the template needs an upstream) is not used.
        self.nginx = self._started(
            Nginx(
                self.directory / "nginx",
                self.certificates,
                [f"127.0.0.1:{self.configs[0].port}"],
                fake_port=self.fake.port,
            )
        )
        run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT,
            env=self.app_env(),
            timeout=300,
        )
        for config in self.configs:
            env = self.app_env(**config.env)
            if config.redis:
                env["REDIS_URL"] = self.redis.url
            config.instance = self._started(
                Gunicorn(
                    f"gunicorn-{config.key}",
                    config.port,
                    env,
                    self.directory / f"gunicorn-{config.key}.log",
                )
            )
        for config in self.configs:
            config.instance.wait_ready(timeout=120)

    def app_env(self, **overrides):
        """The production environment gunicorn, manage.py and bench run with."""
        env = {
            "PATH": os.environ["PATH"],
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "bench.settings",
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
            "WEB_CONCURRENCY": str(self.workers),
            **overrides,
        }
        return {k: v for k, v in env.items() if v is not None}

    def stop_servers(self):
        """Stop every gunicorn (the in-process phases want the CPU)."""
        for config in self.configs:
            if config.instance is not None and config.instance.running():
                config.instance.stop()
