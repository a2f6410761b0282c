"""The background worker, as ``ventures-worker.service`` runs it."""

from __future__ import annotations

import sys

from devstack.processes import Process, StackError, wait_for


class Worker(Process):
    """``manage.py procrastinate worker`` with the stack's environment."""

    def __init__(self, name, env, log, concurrency=1):
        argv = [sys.executable, "manage.py", "procrastinate", "worker"]
        argv += ["--concurrency", str(concurrency)]
        super().__init__(name, argv, log=log, env=env)

    def start(self):
        super().start()

        def listening():
            if not self.running():
                raise StackError(f"{self.name} exited\n{self.tail()}")
            return "Starting worker" in self.log.read_text()

        wait_for(listening, 60, self.name, interval=0.2, log=self.tail)
        return self
