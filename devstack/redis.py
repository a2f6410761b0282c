"""A redis-server of our own on a free loopback port."""

from __future__ import annotations

import socket

from devstack.processes import (
    Process,
    free_port,
    wait_for,
)


class Redis(Process):
    def __init__(self, directory):
        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        super().__init__(
            "redis",
            [
                *("redis-server", "--port", self.port, "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", directory),
            ],
            log=directory / "redis.log",
        )

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    def start(self):
        super().start()
        wait_for(self.ping, 20, "redis", log=self.tail)
        return self
