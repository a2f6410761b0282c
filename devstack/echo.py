"""
A stand-in for another service behind nginx: a loopback HTTP server that
answers every request with the headers it received, as JSON. The stack test
of forward auth reads what nginx let through to it.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from devstack.processes import free_port


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # nginx keeps upstream connections alive

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                # Every header as sent, repeated ones too, names as spelled.
                "headers": [[name, value] for name, value in self.headers.items()],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format, *args):
        """Quiet: the test reads the answers, not a log."""


class EchoServer:
    """The echo service on a free loopback port, in a thread of this process."""

    name = "echo"

    def __init__(self):
        self.port = free_port()
        self.server = None
        self.thread = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), _Echo)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(timeout=5)
            self.server = None

    def tail(self, lines=40):
        """Nothing to show: it logs nothing (``Stack.logs`` asks every process)."""
        return ""
