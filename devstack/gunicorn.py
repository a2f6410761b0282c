"""One gunicorn instance, as ``ventures@N`` runs it."""

from __future__ import annotations

import contextlib
import json
import sys

import requests

from devstack.hosts import (
    API_HOST,
)
from devstack.processes import (
    ROOT,
    Process,
    StackError,
    wait_for,
)


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
