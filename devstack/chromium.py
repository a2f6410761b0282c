"""
A real browser against the stack: Debian's Chromium (``/usr/bin/chromium``),
driven headless by Playwright's sync API, talking to three names that all
live on loopback:

- ``https://api.ventures.test``: the stack's nginx (devstack/stack.py, from
  deploy/nginx/ventures.conf.template) in front of two gunicorn instances;
- ``https://ventures.test``: the example frontend (``frontend/``), served by a
  test-only nginx (devstack/nginx.py ``Sites``): hosting the frontend is not
  part of our deploy;
- ``https://evil.test``: a foreign page on that same nginx, for the
  cross-origin attacks.

Chromium maps each name to its server's loopback port with
``--host-resolver-rules`` (``MAP api.ventures.test 127.0.0.1:PORT``), so the
URLs carry no port, exactly as in production: origins, cookies, SameSite and
CORS see the very names they will see there. (nginx passes the ``Host`` on
without a port, so the API builds Patreon's redirect URI without one; a URL
with a port would not survive the OAuth round trip.) The test certificate is
trusted through ``--ignore-certificate-errors-spki-list``: pages stay secure
contexts and Secure cookies behave as they do in production.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from devstack.hosts import (
    API_HOST,
    EVIL_HOST,
    FRONTEND_HOST,
)
from devstack.processes import (
    ROOT,
    program,
)

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))


ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ROOT / "docs" / "screenshots"

# The machine doc's flags: headless, no sandbox (we run as root), and no
# background traffic towards a network this machine does not have.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Every wait is bounded: a stuck page fails its test instead of the suite.
ACTION_TIMEOUT_MS = 15_000
NAVIGATION_TIMEOUT_MS = 20_000


def missing_tools():
    """What the browser tests need and this machine lacks."""
    needed = ["nginx", "openssl", "envsubst", "redis-server", "createdb", "dropdb"]
    missing = [name for name in needed if program(name) is None]
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    return missing


def chromium_args(api_port, sites_port, spki):
    rules = ", ".join(
        [
            f"MAP {API_HOST} 127.0.0.1:{api_port}",
            f"MAP {FRONTEND_HOST} 127.0.0.1:{sites_port}",
            f"MAP {EVIL_HOST} 127.0.0.1:{sites_port}",
            # Nothing else resolves: the browser stays on this machine.
            "MAP * ~NOTFOUND",
            "EXCLUDE 127.0.0.1",
        ]
    )
    return [
        *CHROMIUM_FLAGS,
        f"--host-resolver-rules={rules}",
        f"--ignore-certificate-errors-spki-list={spki}",
    ]


@dataclass
class Person:
    """One person: a browser context of their own, and their first page."""

    label: str
    context: object
    page: object
    patron: str | None = None
    responses: list = field(default_factory=list)

    def cookies(self):
        return self.context.cookies()

    def session_cookies(self):
        return [c for c in self.context.cookies() if c["name"].endswith("sessionid")]


class Chrome:
    """
    One Chromium for a stack: makes people (contexts), remembers every page
    and what each console said, so that a failing test can show them.
    """

    def __init__(self, browser):
        self.browser = browser
        self.console = []
        self.people = []

    def person(self, label, viewport=None, user_agent=None):
        context = self.browser.new_context(
            viewport=viewport or {"width": 900, "height": 760},
            user_agent=user_agent,  # None: Chromium's own
            locale="en-GB",
            timezone_id="UTC",
        )
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
        person = Person(label, context, None)
        context.on("page", lambda page: self._watch(person, page))
        person.page = context.new_page()
        self.people.append(person)
        return person

    def _watch(self, person, page):
        def said(message):
            self.console.append(
                f"[{person.label}] {message.type}: {message.text} ({page.url})"
            )

        page.on("console", said)
        page.on(
            "pageerror",
            lambda error: self.console.append(f"[{person.label}] pageerror: {error}"),
        )
        page.on("response", lambda response: person.responses.append(response))

    def close(self, people):
        for person in people:
            with contextlib.suppress(Exception):
                person.context.close()
            with contextlib.suppress(ValueError):
                self.people.remove(person)

    def open_pages(self):
        return [
            (person, page)
            for person in self.people
            for page in person.context.pages
            if not page.is_closed()
        ]


def safe_name(nodeid_name):
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", nodeid_name).strip("-")


def keep_failure_artifacts(chrome, name, console_from=0):
    """
    Screenshots of every open page (``test-artifacts/<name>.png``, then
    ``<name>-2.png``...) and the console messages since ``console_from``,
    as text for the test's report.
    """
    ARTIFACTS.mkdir(exist_ok=True)
    saved = []
    for n, (person, page) in enumerate(chrome.open_pages(), start=1):
        path = ARTIFACTS / (f"{name}.png" if n == 1 else f"{name}-{n}.png")
        try:
            page.screenshot(path=path, full_page=True, timeout=5_000)
        except Exception as error:  # the page may be what broke
            saved.append(f"{person.label} {page.url}: no screenshot ({error!r})")
        else:
            saved.append(f"{person.label} {page.url}: {path.relative_to(ROOT)}")
    console = chrome.console[console_from:] or ["(no console messages)"]
    return "\n".join(["screenshots:", *saved, "", "console:", *console])
