"""
The example frontend (``frontend/``) on an origin of its own, for ``make run``.

    python -m devstack.frontend --port 8001 --api-origin http://localhost:8000

Another port of ``localhost`` than the API is another origin, so the page
calls the API cross-origin, with CORS and CSRF exactly as in production; but
it is the same site, so the API's development cookie (SameSite=Lax, and not
Secure over plain HTTP) still goes with the page's fetches. 127.0.0.1 and
localhost would be two sites, and the browser would keep the cookie back.
(Cookies ignore ports, so this server receives the API's cookies too, as a
frontend does under a shared SESSION_COOKIE_DOMAIN; its JavaScript still
cannot read them: they are HttpOnly.)

The page learns the API's origin from its ``api-origin`` meta tag, which this
server fills in as it serves ``index.html``: the files on disk stay what a
frontend developer copies. Every answer carries the strict policy the page is
written for (frontend/index.html), so a change that needs inline script fails
here first.
"""

from __future__ import annotations

import argparse
import html
import re
import signal
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

FRONTEND_DIR = Path(__file__).resolve().parent.parent / "frontend"
API_ORIGIN_META = re.compile(r'<meta name="api-origin" content="[^"]*">')


def content_security_policy(api_origin):
    """The policy frontend/index.html documents, allowing fetch() to the API only."""
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"connect-src {api_origin}; img-src 'self' https: data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def index_page(directory, api_origin):
    """``index.html`` with its api-origin meta tag set to ``api_origin``."""
    page = (directory / "index.html").read_text()
    tag = f'<meta name="api-origin" content="{html.escape(api_origin)}">'
    page, found = API_ORIGIN_META.subn(lambda _: tag, page)
    if found != 1:
        raise ValueError(
            f'{directory / "index.html"} has no <meta name="api-origin"> tag '
            "to point at the API."
        )
    return page.encode()


class _Handler(SimpleHTTPRequestHandler):
    def __init__(self, *args, index, policy, **kwargs):
        self.index = index
        self.policy = policy
        super().__init__(*args, **kwargs)

    def send_head(self):
        if urlsplit(self.path).path not in ("/", "/index.html"):
            return super().send_head()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.index)))
        self.end_headers()
        # do_GET copies this to the socket; do_HEAD only closes it.
        return _Body(self.index)

    def end_headers(self):
        self.send_header("Content-Security-Policy", self.policy)
        self.send_header("X-Content-Type-Options", "nosniff")
        # Edits to frontend/ show on the next reload.
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class _Body:
    """The served index page, as the file object send_head returns."""

    def __init__(self, data):
        self.data = data

    def read(self, size=-1):
        data, self.data = self.data, b""
        return data

    def close(self):
        pass


class FrontendServer(ThreadingHTTPServer):
    """``frontend/`` on ``host``:``port`` (0 picks one), calling ``api_origin``."""

    daemon_threads = True

    def __init__(self, api_origin, host="127.0.0.1", port=0, directory=FRONTEND_DIR):
        parts = urlsplit(api_origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
            raise ValueError(
                f"--api-origin {api_origin!r} is not an origin such as "
                "http://localhost:8000."
            )
        self.api_origin = api_origin
        handler = partial(
            _Handler,
            directory=str(directory),
            index=index_page(Path(directory), api_origin),
            policy=content_security_policy(api_origin),
        )
        self._thread = None
        super().__init__((host, port), handler)

    @property
    def origin(self):
        """The page's origin, on localhost: the API's site (see the module)."""
        return f"http://localhost:{self.server_address[1]}"

    def start(self):
        """Serve from a background thread; return self."""
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FrontendServer {self.origin}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()
        self._thread.join()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def main(argv=None):
    """Parse ``argv``, serve, and return once told to stop."""
    parser = argparse.ArgumentParser(
        prog="python -m devstack.frontend",
        description="The example frontend on its own origin, for development.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    parser.add_argument(
        "--api-origin", default="http://localhost:8000", help="where the API is"
    )
    args = parser.parse_args(argv)

    # As in fake_patreon: wait for the stop signals in the main thread.
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        server = FrontendServer(args.api_origin, args.host, args.port)
    except (ValueError, OSError) as error:
        parser.error(str(error))
    with server:
        print(
            f"Example frontend serving on {server.origin}/ (API: {server.api_origin})",
            flush=True,
        )
        signal.sigwait(stop_signals)


if __name__ == "__main__":
    main()
