"""The background worker, as ``ventures-worker.service`` runs it."""

from __future__ import annotations

import sys

import psycopg

from devstack.processes import Process, StackError, wait_for

# A worker starting defers every periodic task whose time came in the last
# ten minutes, in the order accounts.tasks declares them (the stalled jobs'
# retry, every five minutes, last), then runs them and what they queue.
SETTLED = """
SELECT EXISTS (SELECT FROM procrastinate_periodic_defers
               WHERE task_name = 'procrastinate.retry_stalled_jobs')
   AND NOT EXISTS (SELECT FROM procrastinate_jobs
                   WHERE status = 'doing'
                      OR (status = 'todo' AND coalesce(scheduled_at <= now(), true)))
"""


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

    def settle(self, timeout=60):
        """
        Wait until the started worker has run what it queues as it starts:
        the safety nets, and the full sync in the ten minutes after 00, 06,
        12 and 18 h, which would otherwise run beside what comes next.
        """

        def settled():
            if not self.running():
                raise StackError(f"{self.name} exited\n{self.tail()}")
            with psycopg.connect(self.env["DATABASE_URL"], autocommit=True) as db:
                return db.execute(SETTLED).fetchone()[0]

        wait_for(
            settled, timeout, f"{self.name}'s first jobs", interval=0.2, log=self.tail
        )
        return self
