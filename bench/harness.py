"""
The stack the benchmark runs against: devstack's ``Stack`` without its own
gunicorn instances, and one instance per configuration instead.

- PostgreSQL: a throwaway database on the machine's server
  (devstack.postgres.SharedDatabase), dropped at the end.
- Redis: a redis-server of our own on a free port; only the configurations
  that ask for it get ``REDIS_URL``.
- The fake Patreon, behind nginx's TLS with a test CA made here, as the
  stack tests have it: production settings refuse an http Patreon
  (ventures.E060), and this keeps the policy as it is. nginx is not in front
  of the app, so the load measures gunicorn and Django, not TLS termination.
- PgBouncer (Debian's, from deploy/pgbouncer.ini: devstack.pgbouncer) in
  front of that database, for the configurations marked ``pooled``, which run
  with ``DATABASE_POOLER=transaction``.
- gunicorn with ``-c gunicorn.conf.py``, one instance per configuration, all
  with the same worker settings, in production mode (DEBUG off, every policy
  check run at boot) and ``DJANGO_SETTINGS_MODULE=bench.settings`` for the
  reference views.

Requests go straight to gunicorn from 127.0.0.1, which is the trusted proxy
(TRUSTED_PROXIES), with ``X-Forwarded-Proto: https`` as nginx would send.
``STACK_KEEP=1`` keeps the directory (logs, configs) after a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from devstack.gunicorn import Gunicorn
from devstack.pgbouncer import PgBouncer
from devstack.postgres import SharedDatabase
from devstack.stack import Stack


@dataclass
class Config:
    """One way of serving: a gunicorn instance with its own environment."""

    key: str  # short name: "pg", "redis", "pg-recycle"
    label: str  # for the report
    env: dict = field(default_factory=dict)  # on top of the common environment
    redis: bool = False
    pooled: bool = False  # through PgBouncer, in transaction mode
    instance: Gunicorn | None = None

    @property
    def base_url(self):
        return f"http://{self.instance.address}"


class Bench(Stack):
    """Everything the benchmark starts; stops it all and cleans up on exit."""

    def __init__(self, configs, workers=2):
        super().__init__(
            "bench",
            SharedDatabase(),
            instances=0,
            workers=workers,
            DJANGO_SETTINGS_MODULE="bench.settings",
        )
        self.configs = configs
        self.pgbouncer = None

    def _start(self):
        super()._start()
        if any(config.pooled for config in self.configs):
            self.pgbouncer = self.started(
                PgBouncer(self.directory / "pgbouncer", self.db.url)
            )
        for config in self.configs:
            env = dict(config.env)
            if not config.redis:
                env["REDIS_URL"] = None  # app_env leaves it out
            if config.pooled:
                env.update(
                    DATABASE_URL=self.pgbouncer.url, DATABASE_POOLER="transaction"
                )
            config.instance = self.started(self.gunicorn(config.key, **env))
        for config in self.configs:
            config.instance.wait_ready(timeout=120)

    def stop_servers(self):
        """Stop every gunicorn (the in-process phases want the CPU)."""
        for config in self.configs:
            if config.instance is not None and config.instance.running():
                config.instance.stop()
