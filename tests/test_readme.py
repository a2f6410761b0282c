"""
The README's shell commands, run as a newcomer runs them, in a fresh clone.

The clone holds what git tracks (and new files it does not ignore) as they
are in the working tree, so uncommitted edits are checked too; what git
ignores (.venv, db.sqlite3, .secret-key, .env) is what a fresh clone lacks.
Its ``.venv`` is a link to the virtualenv running this test, which `make test`
built from these very requirements (``reused_virtualenv`` checks the pins),
and every make command gets ``-o`` for the virtualenv's stamps: nothing is
installed, and the linked virtualenv is never written to.

`make run` serves on free ports (the Makefile's ``API_PORT``,
``FRONTEND_PORT`` and ``FAKE_PATREON_PORT``, from the environment) and
stops with a Ctrl-C, as in a terminal. The first hour is then walked in
Debian's Chromium, as the README's "Logging in locally" tells it: ``/``
leads to the example frontend, whose login lands back on it showing the
patron, and `make manage ARGS="staff grant ..."` opens the admin to them.
Every other README command is in ``NOT_RUN`` with its reason: a command in
neither list fails ``test_every_readme_command_is_run_or_says_why_not``.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import requests
from playwright.sync_api import sync_playwright

from devstack.chromium import CHROMIUM, CHROMIUM_FLAGS
from devstack.pages import choose_patron, expected, shown, wait_for_state
from devstack.processes import ROOT, Process, free_port, run, wait_for

pytestmark = pytest.mark.slow

README = ROOT / "README.md"

# What this module runs, and how it checks it.
RUN = {
    "make run": "serves for the whole module; the first hour below uses it, "
    "and a Ctrl-C must stop all three servers",
    'make manage ARGS="staff grant --patreon-id 1001"': "after patron 1001 "
    "logged in through the frontend; the admin must then open to them",
}
# The README's commands this module does not run, and why.
NOT_RUN = {
    "make test": "the suite this test belongs to: it would run itself",
    "DATABASE_URL=postgres://postgres@127.0.0.1:5432/ventures make test": (
        "the suite again, on PostgreSQL, as CI's .ci/run does: it would run itself"
    ),
    "journalctl -u 'ventures@*' --since -5min -o cat | jq -r "
    "'select(.event == \"login_failed\") | .time[0:16]' | sort | uniq -c": (
        "reads the journal of deployed ventures@ units: a test machine runs no "
        "journald; tests/test_logs.py checks the JSON event lines it reads"
    ),
    "make bench": "about 10-15 minutes, and it rewrites docs/performance.md",
    ".venv/bin/python manage.py patreon sync --pending": (
        "tests/test_sync.py runs it against the fake Patreon's world"
    ),
    ".venv/bin/python manage.py patreon sync --full": (
        "tests/test_sync.py runs it against the fake Patreon's world, "
        "and tests/test_stack.py against the stack"
    ),
    ".venv/bin/python manage.py procrastinate worker": (
        "runs until stopped; tests/test_tasks.py runs it --one-shot, "
        "tests/test_stack.py as devstack.worker for the whole scenario"
    ),
    ".venv/bin/python manage.py patreon creator-token set": (
        "reads a token on stdin; tests/test_creator.py and tests/test_stack.py "
        "feed it the fake creator's"
    ),
    ".venv/bin/python manage.py patreon creator-token status": (
        "tests/test_creator.py and tests/test_stack.py read its output"
    ),
    ".venv/bin/python -c 'from cryptography.fernet import Fernet; "
    "print(Fernet.generate_key().decode())'": (
        "prints a random key; tests/test_creator.py rotates to a key made so"
    ),
    ".venv/bin/python manage.py patreon creator-token reseal": (
        "tests/test_creator.py reseals under a rotated key"
    ),
    "make bench BENCH_ARGS=--quick": "still minutes of load on a shared "
    "machine, and it rewrites docs/performance.md too",
    ".venv/bin/python -m bench.sync": "minutes of load, and it rewrites "
    "bench/memberships.json; tests/test_sync.py runs the same full sync",
    ".venv/bin/python -m bench.rereads": "minutes of load, and it rewrites "
    "bench/memberships.json; tests/test_stack.py runs the same path end to end",
}
PATRON = "1001"


# THE README'S COMMANDS
# ------------------------------------------------------------------------------

SH_BLOCK = re.compile(r"^ *```sh\n(.*?)^ *```", re.MULTILINE | re.DOTALL)


def without_comment(line):
    """``line`` up to its shell comment: a ``#`` outside quotes, after a blank."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
        continue
    return line


def readme_commands(text):
    """Each command of the README's ```sh blocks, continuation lines joined."""
    commands = []
    for block in SH_BLOCK.findall(text):
        pending = []
        for raw in block.splitlines():
            line = without_comment(raw).strip()
            if line.endswith("\\"):
                pending.append(line[:-1].strip())
                continue
            if line:
                pending.append(line)
            if pending:
                commands.append(" ".join(pending))
                pending = []
    return commands


def test_readme_commands_are_read_as_a_shell_reads_them():
    text = (
        '```sh\nmake run    # serves\n\nmake x ARGS="a # b"  # c\n```\n'
        "  ```sh\n  one \\\n    | two\n  ```\n"
    )
    assert readme_commands(text) == ["make run", 'make x ARGS="a # b"', "one | two"]


def test_every_readme_command_is_run_or_says_why_not():
    commands = readme_commands(README.read_text())
    unaccounted = [c for c in commands if c not in RUN and c not in NOT_RUN]
    assert not unaccounted, (
        "README commands that tests/test_readme.py neither runs nor explains "
        f"(add each to RUN and check it, or to NOT_RUN with a reason): {unaccounted}"
    )
    stale = [c for c in [*RUN, *NOT_RUN] if c not in commands]
    assert not stale, f"no longer in the README: {stale}"


def readme_command(prefix):
    """The README's one command starting with ``prefix``, exactly as written."""
    [command] = [c for c in readme_commands(README.read_text()) if c.startswith(prefix)]
    return command


# THE FRESH CLONE
# ------------------------------------------------------------------------------

STAMPS = (".venv/.run-deps", ".venv/.test-deps")


def with_built_virtualenv(command):
    """A make command, told that the (linked) virtualenv is up to date."""
    assert command.startswith("make "), command
    assume_old = " ".join(f"-o {stamp}" for stamp in STAMPS)
    return command.replace("make ", f"make {assume_old} ", 1)


def reused_virtualenv():
    """
    The virtualenv running this test, once it holds exactly what
    requirements.txt pins: what `make run` would have installed.
    """
    if sys.prefix == sys.base_prefix:
        pytest.fail(
            f"run the tests from the virtualenv of `make test`, not {sys.prefix}"
        )
    wrong = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        pin = line.split("#", 1)[0].strip()
        if not pin:
            continue
        name, version = pin.split("==")
        name = name.split("[", 1)[0]
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong.append(f"{name} {installed} (requirements.txt: {version})")
    if wrong:
        pytest.fail(f"{sys.prefix} is not what requirements.txt pins: {wrong}")
    return Path(sys.prefix)


def clone_working_tree(destination):
    """Copy what git tracks, and new files it does not ignore, as they are now."""
    listed = run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if not source.is_file():  # deleted in the working tree
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


@pytest.fixture(scope="module")
def clone():
    directory = Path(tempfile.mkdtemp(prefix="ventures-readme-"))
    try:
        clone_working_tree(directory)
        (directory / ".venv").symlink_to(reused_virtualenv())
        yield directory
    finally:
        # rmtree removes the .venv link, never what it points to.
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def ports():
    """
    Free ports, or with UPDATE_SCREENSHOTS=1 the README's own (8000, 8001,
    8765): the refreshed screenshot then shows the addresses it gives.
    """
    if os.environ.get("UPDATE_SCREENSHOTS"):
        return {"API_PORT": 8000, "FRONTEND_PORT": 8001, "FAKE_PATREON_PORT": 8765}
    return {
        "API_PORT": free_port(),
        "FRONTEND_PORT": free_port(),
        "FAKE_PATREON_PORT": free_port(),
    }


@pytest.fixture(scope="module")
def newcomer_env(ports):
    """A newcomer's shell: no DATABASE_URL, DEBUG or settings module of ours."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        **{name: str(port) for name, port in ports.items()},
    }


class MakeRun(Process):
    """`make run` in the clone; stopped with a Ctrl-C to its process group."""

    def __init__(self, clone, env, ports):
        super().__init__(
            "make run",
            ["sh", "-c", with_built_virtualenv(readme_command("make run"))],
            log=clone / "make-run.log",
            env=env,
            cwd=clone,
        )
        self.api = f"http://localhost:{ports['API_PORT']}"
        self.frontend = f"http://localhost:{ports['FRONTEND_PORT']}"
        self.fake = f"http://127.0.0.1:{ports['FAKE_PATREON_PORT']}"

    def serving(self):
        if not self.running():
            raise AssertionError(f"make run exited\n{self.tail()}")
        return (
            requests.get(f"{self.api}/healthz", timeout=2).ok
            and requests.get(f"{self.frontend}/", timeout=2).ok
            and _answers(self.fake)
        )

    def interrupt(self):
        """Ctrl-C, as in a terminal: every process of the group gets SIGINT."""
        os.killpg(self.pid, signal.SIGINT)
        try:
            return self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            return None


@pytest.fixture(scope="module")
def make_run(clone, newcomer_env, ports):
    server = MakeRun(clone, newcomer_env, ports)
    server.start()
    try:
        wait_for(server.serving, 120, "make run", interval=0.3, log=server.tail)
        yield server
        server.interrupt()
        still_up = [
            url for url in (server.api, server.frontend, server.fake) if _answers(url)
        ]
        assert not still_up, f"still serving after Ctrl-C: {still_up}\n{server.tail()}"
    finally:
        server.stop(signal.SIGKILL, timeout=5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(server.pid, signal.SIGKILL)


def _answers(url):
    try:
        requests.get(url, timeout=2)
    except requests.ConnectionError:
        return False
    return True


# THE FIRST HOUR
# ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            # Only this machine's loopback names resolve.
            args=[
                *CHROMIUM_FLAGS,
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, "
                "EXCLUDE 127.0.0.1",
            ],
            timeout=60_000,
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(
        viewport={"width": 900, "height": 760}, locale="en-GB", timezone_id="UTC"
    )
    context.set_default_timeout(15_000)
    context.set_default_navigation_timeout(20_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_root_leads_to_the_example_frontend(make_run):
    response = requests.get(f"{make_run.api}/", allow_redirects=False, timeout=5)
    assert response.status_code == 302
    assert response.headers["Location"] == f"{make_run.frontend}/"


def test_the_first_hour_as_the_readme_tells_it(
    make_run, clone, newcomer_env, page, screenshots
):
    api, frontend = make_run.api, make_run.frontend
    api_answers = []
    page.on(
        "response",
        lambda r: r.url.startswith(f"{api}/api/") and api_answers.append(r),
    )

    # The address runserver prints leads to the frontend, logged out.
    page.goto(f"{api}/")
    page.wait_for_url(f"{frontend}/")
    assert wait_for_state(page, "logged-in", "logged-out", "error") == "logged-out"
    assert page.inner_text("#api-origin") == api

    # Its login goes to the API's login page, then Patreon (the fake), and
    # lands back on the frontend, which now shows the patron.
    page.click("#login")
    page.wait_for_url(f"{api}/login?**")
    page.click("button.patreon")
    page.wait_for_selector('select[name="patron"]')
    choose_patron(page, PATRON)
    page.click('button[value="allow"]')
    page.wait_for_url(f"{frontend}/")
    assert wait_for_state(page, "logged-in", "logged-out", "error") == "logged-in"
    want = expected(PATRON)
    assert {k: shown(page)[k] for k in want} == want
    page.wait_for_selector("#sessions tr.current-session")
    page.screenshot(path=screenshots / "frontend.png")

    # Cross-origin, with credentials: the API named the frontend's origin,
    # and its development cookie is host-only, HttpOnly, Lax, not Secure.
    me = [r for r in api_answers if r.url == f"{api}/api/auth/me"][-1]
    assert me.status == 200
    assert me.header_value("access-control-allow-origin") == frontend
    assert me.header_value("access-control-allow-credentials") == "true"
    [cookie] = [c for c in page.context.cookies() if c["name"] == "sessionid"]
    assert (cookie["domain"], cookie["httpOnly"], cookie["secure"]) == (
        "localhost",
        True,
        False,
    )
    assert cookie["sameSite"] == "Lax"

    # "To make yourself staff locally": the README's command, as written.
    command = readme_command("make manage")
    done = subprocess.run(
        ["sh", "-c", with_built_virtualenv(command)],
        cwd=clone,
        env=newcomer_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"

    # The admin opens to them: no login form, their tools in the header.
    page.goto(f"{api}/admin/")
    page.wait_for_selector("#user-tools")
    assert page.url == f"{api}/admin/"
    assert page.locator("#login-form").count() == 0

    # Back on the frontend, its unsafe calls pass CSRF over plain HTTP too:
    # logging out (a cross-origin POST with the token) ends the session.
    page.goto(f"{frontend}/")
    assert wait_for_state(page, "logged-in", "logged-out", "error") == "logged-in"
    page.click("#logout")
    assert wait_for_state(page, "logged-out", "error") == "logged-out"
    assert page.inner_text("#status") == "You are logged out."
    page.reload()
    assert wait_for_state(page, "logged-in", "logged-out", "error") == "logged-out"
