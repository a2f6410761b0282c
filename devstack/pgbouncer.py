"""
Debian's PgBouncer on a free loopback port, configured from
deploy/pgbouncer.ini: only the addresses, files and authentication change
(the lines the file marks "devstack"), so what the tests run is what deploy/
documents, transaction mode included.
"""

from __future__ import annotations

import configparser
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from devstack.processes import KEEP, ROOT, Process, free_port, program, wait_for

DEPLOY_INI = ROOT / "deploy" / "pgbouncer.ini"


def _read_ini(path):
    parser = configparser.ConfigParser(
        interpolation=None, comment_prefixes=(";", "#"), empty_lines_in_values=False
    )
    parser.optionxform = str  # database names are case-sensitive
    parser.read(path)
    return parser


class PgBouncer(Process):
    """
    PgBouncer in front of the PostgreSQL database at ``server_url``
    (``postgres://user@host:port/name``), serving it under the same name and
    user on its own port. ``settings`` override deploy/pgbouncer.ini's
    [pgbouncer] section (``default_pool_size=2``).
    """

    def __init__(self, directory, server_url, **settings):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)
        self.port = free_port()
        server = urlsplit(server_url)
        self.database = server.path.lstrip("/")
        self.user = server.username or "postgres"
        config = self.directory / "pgbouncer.ini"
        self._write_config(config, server, settings)
        super().__init__(
            "pgbouncer",
            [program("pgbouncer") or "/usr/sbin/pgbouncer", config],
            log=self.directory / "pgbouncer.log",
        )

    def _write_config(self, path, server, settings):
        ini = _read_ini(DEPLOY_INI)
        [deploy_name] = ini["databases"]
        options = ini["databases"][deploy_name].split()
        del ini["databases"][deploy_name]
        kept = [o for o in options if o.split("=")[0] not in ("host", "port", "dbname")]
        ini["databases"][self.database] = " ".join(
            [
                f"host={server.hostname}",
                f"port={server.port or 5432}",
                f"dbname={self.database}",
                *kept,
            ]
        )
        auth_file = self.directory / "userlist.txt"
        auth_file.write_text(f'"{self.user}" ""\n')
        section = ini["pgbouncer"]
        section.update(
            listen_port=str(self.port),
            unix_socket_dir="",
            auth_type="trust",
            auth_file=str(auth_file),
            **{key: str(value) for key, value in settings.items()},
        )
        # The log goes to stderr, into this process's log; no pidfile, no daemon.
        for key in ("logfile", "pidfile"):
            section.pop(key, None)
        if os.geteuid() == 0:
            # PgBouncer refuses to run as root; it drops to this user itself.
            section["user"] = "postgres"
        with path.open("w") as out:
            ini.write(out)

    @property
    def url(self):
        """The database, through PgBouncer: a DATABASE_URL."""
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def answers(self):
        with psycopg.connect(self.url, connect_timeout=2, autocommit=True) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)

    def start(self):
        super().start()
        wait_for(
            self._answers_while_running,
            20,
            "pgbouncer",
            interval=0.2,
            log=self.tail,
        )
        return self

    def _answers_while_running(self):
        if not self.running():
            return False
        try:
            return self.answers()
        except psycopg.OperationalError:
            return False


class Pooled:
    """
    ``database`` (SharedDatabase, ThrowawayPostgres: a context manager with a
    ``url``) behind a PgBouncer of its own, as a database for ``Stack``: its
    ``url`` is PgBouncer's. Run the app with ``DATABASE_POOLER=transaction``.
    """

    def __init__(self, database, **settings):
        self.database = database
        self.settings = settings
        self.directory = None
        self.pgbouncer = None

    def __enter__(self):
        self.server = self.database.__enter__()
        try:
            self.directory = Path(tempfile.mkdtemp(prefix="ventures-pgbouncer-"))
            self.pgbouncer = PgBouncer(self.directory, self.server.url, **self.settings)
            self.pgbouncer.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info):
        try:
            if self.pgbouncer is not None:
                self.pgbouncer.stop()
            if self.directory and not KEEP:
                shutil.rmtree(self.directory, ignore_errors=True)
        finally:
            self.database.__exit__(*exc_info)

    @property
    def url(self):
        return self.pgbouncer.url

    def tail(self, lines=40):
        return "\n".join([self.pgbouncer.tail(lines), self.server.tail(lines)])
