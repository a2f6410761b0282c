"""
A real browser against the real stack, for tests/test_browser.py.

Debian's Chromium (``/usr/bin/chromium``), driven headless by Playwright's
sync API, talks to three names that all live on loopback:

- ``https://api.ventures.test``: the stack's nginx (tests/stack.py, from
  deploy/nginx/ventures.conf.template) in front of two gunicorn instances;
- ``https://ventures.test``: the example frontend (``frontend/``), served by a
  test-only nginx (``Sites``): hosting the frontend is not part of our deploy;
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

import base64
import contextlib
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from fake_patreon.patrons import Directory
from tests.stack import (
    API_HOST,
    KEEP,
    ROOT,
    Process,
    StackError,
    free_port,
    program,
    run,
    tail,
    wait_for,
)

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
API_ORIGIN = f"https://{API_HOST}"
FRONTEND_HOST = "ventures.test"
FRONTEND_ORIGIN = f"https://{FRONTEND_HOST}"
FRONTEND_URL = f"{FRONTEND_ORIGIN}/"
EVIL_HOST = "evil.test"
EVIL_ORIGIN = f"https://{EVIL_HOST}"
FRONTEND_DIR = ROOT / "frontend"
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ROOT / "docs" / "screenshots"
# The fake's patrons, to know what each person's page must show.
PATRONS = Directory("9000001")

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


# CERTIFICATES
# ------------------------------------------------------------------------------


def spki_sha256(certificate):
    """Base64 of the SHA-256 of a certificate's SubjectPublicKeyInfo (DER)."""
    public_key = run(
        ["openssl", "x509", "-in", certificate, "-noout", "-pubkey"]
    ).stdout
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "DER"],
        input=public_key.encode(),
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def sites_certificate(certificates, directory):
    """
    A leaf for the frontend's and the foreign site's names, signed by the
    stack's test CA with the stack's own key: one SubjectPublicKeyInfo, so
    one hash in Chromium's list trusts every server of the test.
    """
    tls = certificates.ca.parent
    csr, leaf = directory / "sites.csr", directory / "sites.pem"
    extensions = directory / "sites.ext"
    run(
        [
            *("openssl", "req", "-new", "-key", certificates.key),
            *("-out", csr, "-subj", f"/CN={FRONTEND_HOST}"),
        ]
    )
    extensions.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName=DNS:{FRONTEND_HOST},DNS:{EVIL_HOST}\n"
    )
    run(
        [
            *("openssl", "x509", "-req", "-in", csr, "-CA", certificates.ca),
            *("-CAkey", tls / "ca.key", "-set_serial", str(secrets.randbits(63))),
            *("-days", "2", "-out", leaf, "-extfile", extensions),
        ]
    )
    return leaf


# THE FRONTEND'S AND THE FOREIGN SITE'S HOSTING
# ------------------------------------------------------------------------------

# The example page's own policy: scripts and styles from its origin only (no
# inline script), and fetch() to the API only.
FRONTEND_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    f"connect-src {API_ORIGIN}; img-src 'self' https: data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

EVIL_PAGE = (
    "<!doctype html><html lang=en><head><meta charset=utf-8>"
    "<title>evil.test</title></head><body><h1>A foreign site</h1>"
    "<p>It would like to read your ventures account, or log you out.</p>"
    "</body></html>"
)


class Sites(Process):
    """
    A test-only nginx on one loopback port: ``ventures.test`` serves
    ``frontend/`` as it is in the repository, ``evil.test`` a foreign page.
    Same test CA as the stack. ``/__cookies`` on the frontend echoes the
    Cookie header the browser sent it (test-only: it shows what a shared
    cookie domain hands to the frontend's host).
    """

    def __init__(self, directory, certificate, key):
        self.directory = directory
        self.port = free_port()
        directory.mkdir(parents=True)
        directory.chmod(0o755)
        temp = directory / "temp"
        temp.mkdir()
        temp.chmod(0o777)
        tls = f"""
            ssl_certificate {certificate};
            ssl_certificate_key {key};
            ssl_protocols TLSv1.2 TLSv1.3;
        """
        evil_page = EVIL_PAGE.replace('"', '\\"')
        (directory / "nginx.conf").write_text(
            textwrap.dedent(
                f"""
                daemon off;
                worker_processes 1;
                pid {directory / "nginx.pid"};
                error_log {directory / "error.log"} info;
                events {{ worker_connections 256; }}
                http {{
                    types {{
                        text/html html;
                        text/css css;
                        text/javascript js;
                        image/png png;
                    }}
                    default_type application/octet-stream;
                    charset utf-8;
                    charset_types text/css text/javascript;
                    client_body_temp_path {temp}/body;
                    proxy_temp_path {temp}/proxy;
                    fastcgi_temp_path {temp}/fastcgi;
                    uwsgi_temp_path {temp}/uwsgi;
                    scgi_temp_path {temp}/scgi;
                    access_log {directory / "access.log"};
                    server_tokens off;

                    server {{
                        listen 127.0.0.1:{self.port} ssl default_server;
                        server_name {FRONTEND_HOST};
                        {tls}
                        root {FRONTEND_DIR};
                        index index.html;
                        add_header Content-Security-Policy "{FRONTEND_CSP}" always;
                        add_header X-Content-Type-Options nosniff always;
                        add_header Cache-Control "no-store" always;
                        location = /__cookies {{
                            default_type text/plain;
                            return 200 "$http_cookie";
                        }}
                        location / {{
                            try_files $uri $uri/ =404;
                        }}
                    }}

                    server {{
                        listen 127.0.0.1:{self.port} ssl;
                        server_name {EVIL_HOST};
                        {tls}
                        location / {{
                            default_type text/html;
                            return 200 "{evil_page}";
                        }}
                    }}
                }}
                """
            )
        )
        argv = [program("nginx"), "-p", directory, "-c", directory / "nginx.conf"]
        argv += ["-e", directory / "error.log"]
        self.test_argv = [*argv, "-t", "-q"]
        super().__init__("sites-nginx", argv, log=directory / "nginx.log")

    def start(self):
        run(self.test_argv)
        super().start()

        def up():
            if not self.running():
                raise StackError(f"the sites' nginx exited\n{self.tail()}")
            with socket.create_connection(("127.0.0.1", self.port), timeout=2):
                return True

        wait_for(up, 20, "the sites' nginx", log=self.tail)
        return self

    def stop(self, signum=signal.SIGQUIT, timeout=20):
        return super().stop(signum, timeout)

    def tail(self, lines=40):
        return "\n".join(
            [super().tail(lines), tail(self.directory / "error.log", lines)]
        )


def collect_static():
    """
    ``manage.py collectstatic``, as a deploy does (deploy/README.md, step 1):
    whitenoise serves STATIC_ROOT in production, and without it the login
    page and the admin would be screenshotted unstyled.
    """
    env = {
        "PATH": os.environ["PATH"],
        "ENV_FILE": "",
        "DEBUG": "true",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_SETTINGS_MODULE": "ventures.settings",
    }
    run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        timeout=120,
    )


# THE BROWSER
# ------------------------------------------------------------------------------


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


# THE PAGES, AS A PERSON USES THEM
# ------------------------------------------------------------------------------


def wait_for_state(page, *states):
    """Wait until the frontend's status says one of ``states``; return it."""
    selector = ", ".join(f'#status[data-state="{s}"]' for s in states)
    return page.wait_for_selector(selector).get_attribute("data-state")


def open_frontend(page):
    page.goto(FRONTEND_URL)
    return wait_for_state(page, "logged-in", "logged-out", "error")


def shown(page):
    """What the frontend page shows about its person."""
    return {
        "name": page.inner_text("#name"),
        "patreon_id": page.inner_text("#patreon-id"),
        "patron_status": page.inner_text("#patron-status"),
        "tiers": page.inner_text("#tiers"),
    }


def expected(patron):
    """What the frontend must show for ``patron``, from the fake's directory."""
    p = PATRONS.patron(patron)
    ours = [m for m in p.memberships if m.campaign == PATRONS.campaign]
    tiers = [t.title for m in ours for t in m.tiers]
    return {
        "name": p.full_name,
        "patreon_id": p.id,
        "tiers": ", ".join(tiers) or "None",
    }


def go_to_login_page(page, screenshot=None):
    """From the frontend, logged out: follow "Log in with Patreon"."""
    assert open_frontend(page) == "logged-out", page.inner_text("#status")
    page.click("#login")
    page.wait_for_url(f"{API_ORIGIN}/login?**")
    page.wait_for_selector("button.patreon")
    if screenshot:
        page.screenshot(path=screenshot)


def go_to_patreon(page):
    """Press the login page's button: on to Patreon's consent page."""
    page.click("button.patreon")
    page.wait_for_selector('select[name="patron"]')


def choose_patron(page, patron):
    """
    Pick ``patron`` on the fake's consent page. Its menu lists the seeded
    patrons; any id of six or more digits is a patron too
    (fake_patreon/patrons.py), so one of those is added to the menu first,
    as a person would pick an account. The form and its buttons are the
    fake's own.
    """
    menu = page.locator('select[name="patron"]')
    if menu.locator(f'option[value="{patron}"]').count() == 0:
        menu.evaluate(
            "(menu, id) => menu.add(new Option(`Patron ${id} (generated)`, id))",
            patron,
        )
    menu.select_option(patron)


def log_in_together(people, patrons, login_screenshot=None):
    """
    Log each person in as their patron, all at the same time: every one of
    them is on Patreon's consent page, in the middle of an OAuth flow of
    their own, before anyone presses Allow; then all press it at once and
    the callbacks run side by side on the two instances.
    """
    for n, person in enumerate(people):
        go_to_login_page(person.page, login_screenshot if n == 0 else None)
    for person in people:
        go_to_patreon(person.page)
    for person, patron in zip(people, patrons, strict=True):
        choose_patron(person.page, patron)
        person.patron = patron
    for person in people:
        person.page.click('button[value="allow"]', no_wait_after=True)
    for person in people:
        person.page.wait_for_url(FRONTEND_URL)
        state = wait_for_state(person.page, "logged-in", "logged-out", "error")
        assert state == "logged-in", f"{person.label}: {person.page.content()[:2000]}"


def me_from(page):
    """GET /api/auth/me from ``page``'s JavaScript, as the frontend calls it."""
    return page.evaluate(
        """async (api) => {
            const r = await fetch(api + "/api/auth/me", {credentials: "include"});
            return {status: r.status, body: await r.json()};
        }""",
        API_ORIGIN,
    )


def refresh(page):
    """The frontend's Refresh button: its next call to the API."""
    page.click("#refresh")
    return wait_for_state(page, "logged-in", "logged-out", "error")


def manage(stack, *argv):
    """``manage.py ...`` against the stack's database, with its environment."""
    return run(
        [sys.executable, "manage.py", *argv],
        cwd=ROOT,
        env=stack.app_env(),
        timeout=120,
    )


@contextlib.contextmanager
def sites_for(stack):
    """The frontend's and the foreign site's nginx, for ``stack``."""
    directory = Path(tempfile.mkdtemp(prefix="ventures-sites-"))
    directory.chmod(0o755)
    sites = None
    try:
        leaf = sites_certificate(stack.certificates, directory)
        sites = Sites(directory / "nginx", leaf, stack.certificates.key)
        sites.start()
        yield sites
    finally:
        if sites is not None:
            sites.stop()
        if not KEEP:
            shutil.rmtree(directory, ignore_errors=True)
