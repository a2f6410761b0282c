"""
The parts every server of the dev stack shares: a process in its own
process group with its output in one log, free loopback ports, bounded
waits, and commands run to completion.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
# Set STACK_KEEP=1 to keep the stack's directory (logs, configs) after a run.
KEEP = os.environ.get("STACK_KEEP") == "1"


def program(name):
    """A program's path: on PATH, or in the sbin directories (nginx lives there)."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


class StackError(RuntimeError):
    """A part of the stack would not start; the message has its log."""


def _ephemeral_ports():
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """
    A free port on 127.0.0.1, below the range the kernel hands out to
    outgoing connections: a server started seconds later still finds it
    free however many connections the tests open meanwhile.
    """
    low = _ephemeral_ports()[0]
    # The system's randomness, not the module's: a test tool that seeds
    # `random` (Hypothesis does, per test) would give every xdist worker the
    # same ports.
    choose = random.SystemRandom().randrange
    for _ in range(100):
        port = choose(20000, low) if low > 21000 else 0
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise StackError("no free port")


def wait_for(check, timeout, what, interval=0.1, log=str):
    """
    Call ``check`` until it returns a true value and return that, or fail
    after ``timeout`` seconds with the text ``log()`` returns then.
    """
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except (OSError, requests.RequestException) as error:
            value, last = None, error
        if value:
            return value
        time.sleep(interval)
    raise StackError(f"{what}: not ready after {timeout} s ({last!r})\n{log()}")


def tail(path, lines=40):
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return f"--- {path}: no log ---"
    return f"--- {path} (last {lines} lines) ---\n" + "\n".join(
        text.splitlines()[-lines:]
    )


def run(argv, timeout=120, **kwargs):
    """Run a command to completion; raise with its output when it fails."""
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )
    if result.returncode != 0:
        raise StackError(
            f"{' '.join(map(str, argv))} exited {result.returncode}\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


# CERTIFICATES
# ------------------------------------------------------------------------------


# ------------------------------------------------------------------------------


class Process:
    """A server in its own process group, its output in one log file."""

    def __init__(self, name, argv, *, log, env=None, cwd=ROOT):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log = Path(log)
        self.env = env
        self.cwd = cwd
        self.popen = None

    def start(self):
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self):
        return self.popen.pid

    def running(self):
        return self.popen is not None and self.popen.poll() is None

    def send(self, signum):
        """Signal the main process only (systemd's KillMode=mixed does too)."""
        self.popen.send_signal(signum)

    def stop(self, signum=signal.SIGTERM, timeout=40):
        """Signal the main process, wait, then kill whatever is left."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signum)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)
        return self.popen.returncode

    def children(self):
        """The pids of the main process's children (gunicorn's workers)."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        try:
            return {int(pid) for pid in path.read_text().split()}
        except OSError:
            return set()

    def tail(self, lines=40):
        return tail(self.log, lines)
