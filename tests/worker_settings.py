"""
The suite's settings for a worker it starts as a process (tests/test_tasks.py):
its Patreon is the in-process fake, on plain HTTP on loopback, which the
policy refuses in production (ventures.E060), rightly everywhere else.

It runs only the jobs its test queued. A worker defers, when it starts, any
periodic task whose time came in the last 10 minutes: in a suite that
empties the queue between tests, every worker started at 06:03 would run
the full sync too, and the test would see its writes.
"""

from tests.settings import *  # noqa: F403
from tests.settings import SILENCED_SYSTEM_CHECKS

SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "ventures.E060"]

PROCRASTINATE_ON_APP_READY = "tests.worker_settings.without_schedule"


def without_schedule(app):
    """Forget the periodic tasks (tests call them directly)."""
    app.periodic_registry.periodic_tasks.clear()
