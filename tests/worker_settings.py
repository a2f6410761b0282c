"""
The suite's settings for a worker it starts as a process (tests/test_tasks.py):
its Patreon is the in-process fake, on plain HTTP on loopback, which the
policy refuses in production (ventures.E060), rightly everywhere else.
"""

from tests.settings import *  # noqa: F403
from tests.settings import SILENCED_SYSTEM_CHECKS

SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "ventures.E060"]
