"""PostgreSQL: a database on the machine's server, or a throwaway initdb instance."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path

from devstack.processes import (
    KEEP,
    StackError,
    free_port,
    run,
    tail,
)

PG_BIN = Path(os.environ.get("STACK_PG_BIN", "/usr/lib/postgresql/15/bin"))
# The machine's shared PostgreSQL, where each stack gets a database of its own.
SHARED_PG = {"host": "127.0.0.1", "port": "5432", "user": "postgres"}


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
