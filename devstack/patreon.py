"""The fake Patreon (``python -m fake_patreon``) as a process."""

from __future__ import annotations

import os
import re
import sys

from devstack.processes import (
    Process,
    StackError,
    wait_for,
)


class FakePatreonProcess(Process):
    """
    ``python -m fake_patreon`` on a free loopback port, plain HTTP, its
    campaign holding ``campaign_size`` dynamic members.
    """

    def __init__(self, directory, campaign_size=0, ca=None):
        self.port = None
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if ca:  # its webhooks go to a receiver with a certificate of ``ca``'s
            env["REQUESTS_CA_BUNDLE"] = str(ca)
        super().__init__(
            "fake_patreon",
            [
                sys.executable,
                "-m",
                "fake_patreon",
                "--port",
                "0",
                "--campaign-size",
                str(campaign_size),
            ],
            log=directory / "fake_patreon.log",
            env=env,
        )

    def start(self):
        super().start()

        def announced():
            match = re.search(
                r"serving on http://127\.0\.0\.1:(\d+)", self.log.read_text()
            )
            if not self.running():
                raise StackError(f"fake Patreon exited\n{self.tail()}")
            return match and int(match[1])

        self.port = wait_for(announced, 20, "fake Patreon", log=self.tail)
        return self
