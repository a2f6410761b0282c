"""
The seed's testing checklist, ticked by a real browser.

Debian's Chromium, headless, driven by Playwright, against the production
stack (devstack/stack.py: nginx with TLS from the deploy template, two gunicorn
instances, PostgreSQL, Redis, the fake Patreon behind TLS) and the example
frontend (frontend/) on its own origin. devstack/chromium.py says how the names
``api.ventures.test``, ``ventures.test`` and ``evil.test`` reach loopback.

Every test runs twice, once per session cookie configuration:

- ``host-only``: the API's cookie ``__Host-sessionid``, no Domain;
- ``shared-domain``: ``SESSION_COOKIE_DOMAIN=.ventures.test``, so the cookie
  is ``__Secure-sessionid`` and the frontend's host receives it too.

docs/browser-tests.md maps the seed's five boxes to these tests. A failing
test keeps a screenshot of every open page in test-artifacts/ and prints the
browsers' console messages and the stack's logs in its report.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect, sync_playwright

from devstack.certs import spki_sha256
from devstack.chromium import (
    CHROMIUM,
    Chrome,
    chromium_args,
    keep_failure_artifacts,
    missing_tools,
    safe_name,
)
from devstack.hosts import API_HOST, API_ORIGIN, EVIL_ORIGIN, FRONTEND_ORIGIN
from devstack.pages import (
    choose_patron,
    expected,
    go_to_login_page,
    go_to_patreon,
    log_in_together,
    me_from,
    open_frontend,
    refresh,
    shown,
    wait_for_state,
)
from devstack.postgres import SharedDatabase
from devstack.processes import wait_for
from devstack.stack import Stack, collect_static, manage, sites_for

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class CookieConfig:
    name: str
    env: dict
    session_cookie: str
    domain: str  # as the browser reports the cookie's domain
    screenshots: bool  # the docs' screenshots come from one configuration

    @property
    def shared(self):
        return "SESSION_COOKIE_DOMAIN" in self.env


CONFIGS = [
    CookieConfig("host-only", {}, "__Host-sessionid", API_HOST, screenshots=True),
    CookieConfig(
        "shared-domain",
        {"SESSION_COOKIE_DOMAIN": ".ventures.test"},
        "__Secure-sessionid",
        ".ventures.test",
        screenshots=False,
    ),
]


# FIXTURES
# ------------------------------------------------------------------------------


class _ArtifactsOnFailure:
    """A failed test keeps screenshots, and reports console and stack logs."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        if report.failed and report.when in ("setup", "call"):
            funcargs = getattr(item, "funcargs", {})
            chrome = funcargs.get("chrome")
            if isinstance(chrome, Chrome):
                report.sections.append(
                    (
                        "browser",
                        keep_failure_artifacts(
                            chrome,
                            safe_name(item.name),
                            getattr(item, "console_from", 0),
                        ),
                    )
                )
            browser_stack = funcargs.get("browser_stack")
            if isinstance(browser_stack, Stack):
                report.sections.append(
                    (f"stack {browser_stack.name}", browser_stack.logs(40))
                )
        return report


@pytest.fixture(scope="module", autouse=True)
def artifacts_on_failure(request):
    plugin = _ArtifactsOnFailure()
    request.config.pluginmanager.register(plugin)
    yield
    request.config.pluginmanager.unregister(plugin)


def host_only(test):
    """
    Run ``test`` in the host-only configuration only: what it checks does
    not depend on the cookie's Domain, and the module stays quick.
    """
    test.host_only = True
    return test


def pytest_generate_tests(metafunc):
    if "config" in metafunc.fixturenames:
        configs = CONFIGS[:1] if getattr(metafunc.function, "host_only", 0) else CONFIGS
        metafunc.parametrize(
            "config", configs, ids=[c.name for c in configs], scope="module"
        )


@pytest.fixture(scope="module")
def browser_stack(config):
    """The production stack, with this configuration's session cookie."""
    missing = missing_tools()
    if missing:
        # Failed, never skipped, on a laptop as in CI: `make test` installs them.
        pytest.fail(f"the browser tests need {', '.join(missing)}: run `make test`")
    collect_static()
    # Every browser reaches nginx from 127.0.0.1: lift the per-address login
    # limits, which tests/test_stack.py checks on their own.
    limits = {"RATELIMIT_LOGIN": "1000", "RATELIMIT_CALLBACK": "1000"}
    with Stack(
        f"browser-{config.name}", SharedDatabase(), **limits, **config.env
    ) as running:
        try:
            yield running
        finally:
            stop_quickly(running)


def stop_quickly(browser_stack):
    """
    nginx first, then both instances at once: a gunicorn takes seconds to
    stop, and the stack would stop them one after the other. The stack's own
    exit then finds them stopped.
    """
    browser_stack.nginx.stop()
    with ThreadPoolExecutor(len(browser_stack.instances)) as pool:
        list(pool.map(lambda instance: instance.stop(), browser_stack.instances))


@pytest.fixture(scope="module")
def chrome(browser_stack):
    """Chromium for this stack, with the frontend's and evil's nginx."""
    with sites_for(browser_stack) as sites, sync_playwright() as playwright:
        spki = spki_sha256(browser_stack.certificates.certificate)
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=chromium_args(browser_stack.nginx.https_port, sites.port, spki),
            timeout=60_000,
        )
        try:
            yield Chrome(browser)
        finally:
            browser.close()


@pytest.fixture
def people(chrome, request):
    """Make people for this test (``people(n)``); their contexts close after."""
    request.node.console_from = len(chrome.console)
    made = []

    def make(count, prefix=None, viewport=None, user_agent=None):
        prefix = prefix or safe_name(request.node.originalname)
        new = [
            chrome.person(f"{prefix}-{len(made) + n + 1}", viewport, user_agent)
            for n in range(count)
        ]
        made.extend(new)
        return new

    yield make
    chrome.close(made)


@pytest.fixture(scope="module")
def crowd(chrome):
    """Three people logged in at once, kept for the tests that only look."""
    three = [chrome.person(f"crowd-{n}") for n in range(1, 4)]
    try:
        log_in_together(three, [str(n) for n in range(300011, 300014)])
        yield three
    finally:
        chrome.close(three)


@pytest.fixture
def config_screenshots(config, screenshots):
    """The screenshots folder, in the one configuration the docs show; else None."""
    return screenshots if config.screenshots else None


def assert_shows_own_data(person):
    want = expected(person.patron)
    got = shown(person.page)
    assert {key: got[key] for key in want} == want, person.label


def session_cookie(person, config):
    cookies = person.session_cookies()
    assert [c["name"] for c in cookies] == [config.session_cookie], cookies
    return cookies[0]


# THE SEED'S CHECKLIST
# ------------------------------------------------------------------------------


def test_multiple_users_can_log_in_simultaneously(people, config, config_screenshots):
    """Two, then five people log in at once; each lands logged in as themselves."""
    two = people(2, "pair")
    log_in_together(
        two,
        ["1001", "1002"],
        login_screenshot=config_screenshots and config_screenshots / "login.png",
    )
    for person in two:
        assert_shows_own_data(person)

    five = people(5, "five")
    log_in_together(five, [str(n) for n in range(300001, 300006)])

    everyone = two + five
    values = {session_cookie(p, config)["value"] for p in everyone}
    assert len(values) == len(everyone), "two people share a session cookie"
    # Nobody became the last one to log in (the seed's incident): each page,
    # asked again, still shows its own person.
    for person in everyone:
        assert refresh(person.page) == "logged-in", person.label
        assert_shows_own_data(person)


def test_each_user_sees_their_own_account_data(crowd):
    """Each page shows its own name, Patreon id and tiers, and only its sessions."""
    for person in crowd:
        assert_shows_own_data(person)
        me = me_from(person.page)
        assert me["status"] == 200, me
        assert me["body"]["patreon"]["id"] == person.patron
        assert me["body"]["user"]["email"] == f"patron{person.patron}@example.test"
        rows = person.page.locator("#sessions tr")
        assert rows.count() == 1, person.label
        assert person.page.locator("#sessions tr.current-session").count() == 1
    names = {shown(p.page)["name"] for p in crowd}
    assert len(names) == len(crowd), names


def test_sessions_persist_across_page_reloads(crowd, browser_stack, config):
    """Reload, a new tab, and restarting both API instances keep everyone in."""
    for person in crowd:
        person.page.reload()
        assert wait_for_state(person.page, "logged-in", "logged-out") == "logged-in"
        assert_shows_own_data(person)

    for person in crowd:
        tab = person.context.new_page()
        try:
            assert open_frontend(tab) == "logged-in", person.label
            assert shown(tab)["patreon_id"] == person.patron
        finally:
            tab.close()

    if config.shared:
        return  # restarts do not depend on the cookie: host-only shows them
    # Both instances down, then up again: nothing of a session lives in a
    # process, so nobody notices but for the wait.
    old = list(browser_stack.instances)
    with ThreadPoolExecutor(len(old)) as pool:
        stopped = list(pool.map(lambda instance: instance.stop(), old))
        assert stopped == [0] * len(old), browser_stack.logs()
        list(pool.map(browser_stack.restart, old))
    assert {i.pid for i in browser_stack.instances}.isdisjoint({i.pid for i in old})

    for person in crowd:
        person.page.reload()
        assert wait_for_state(person.page, "logged-in", "logged-out") == "logged-in"
        assert_shows_own_data(person)


def test_session_cookies_have_correct_security_flags(crowd, config):
    """The cookies the browser stored, and what the frontend's JavaScript sees."""
    values = set()
    for person in crowd:
        cookie = session_cookie(person, config)
        values.add(cookie["value"])
        assert cookie["secure"] is True
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Lax"
        assert cookie["domain"] == config.domain
        assert cookie["path"] == "/"
        [csrf] = [c for c in person.cookies() if c["name"].endswith("csrftoken")]
        assert csrf["name"] == "__Host-csrftoken"
        assert csrf["domain"] == API_HOST
        assert (csrf["secure"], csrf["httpOnly"], csrf["sameSite"]) == (
            True,
            True,
            "Lax",
        )

        # The frontend's script sees no cookie of the API's at all.
        script_sees = person.page.evaluate("document.cookie")
        assert "sessionid" not in script_sees
        assert "csrftoken" not in script_sees

        # What the browser sends the frontend's own host: the shared cookie
        # (that is what a Domain means), HttpOnly all the same.
        tab = person.context.new_page()
        try:
            tab.goto(f"{FRONTEND_ORIGIN}/__cookies")
            sent = tab.inner_text("body")
            if config.shared:
                assert f"{config.session_cookie}={cookie['value']}" in sent
            else:
                assert "sessionid" not in sent
            assert "csrftoken" not in sent
            tab.goto(f"{FRONTEND_ORIGIN}/")
            assert tab.evaluate("document.cookie") == ""
        finally:
            tab.close()
    assert len(values) == len(crowd)


def test_cors_headers_show_correct_origin(people):
    """Every API answer the frontend got names its origin, with credentials."""
    [person] = people(1)
    log_in_together([person], ["1003"])
    person.responses.clear()

    person.page.reload()
    assert wait_for_state(person.page, "logged-in") == "logged-in"
    assert refresh(person.page) == "logged-in"
    person.page.click("#logout")
    assert wait_for_state(person.page, "logged-out") == "logged-out"

    api = [r for r in person.responses if r.url.startswith(f"{API_ORIGIN}/api/")]
    paths = {r.url.removeprefix(API_ORIGIN) for r in api}
    assert {
        "/api/auth/me",
        "/api/auth/sessions",
        "/api/auth/csrf",
        "/api/auth/logout",
    } <= paths, paths
    for response in api:
        headers = response.all_headers()
        where = f"{response.request.method} {response.url}"
        assert response.request.all_headers().get("origin") == FRONTEND_ORIGIN, where
        assert headers.get("access-control-allow-origin") == FRONTEND_ORIGIN, where
        assert headers.get("access-control-allow-credentials") == "true", where
        assert "origin" in headers.get("vary", "").lower(), where


# BEYOND THE CHECKLIST
# ------------------------------------------------------------------------------


def test_a_foreign_origin_cannot_read_me_or_log_anyone_out(people, browser_stack):
    [person] = people(1)
    log_in_together([person], ["1004"])
    evil = person.context.new_page()
    evil.goto(f"{EVIL_ORIGIN}/")

    # Reading: a credentialed CORS fetch is refused by the browser...
    read = evil.evaluate(
        """async (url) => {
            try {
                const r = await fetch(url, {credentials: "include"});
                return {read: await r.text()};
            } catch (error) { return {refused: String(error)}; }
        }""",
        f"{API_ORIGIN}/api/auth/me",
    )
    assert "refused" in read, read
    # ...and so is a no-cors one: the API's Cross-Origin-Resource-Policy
    # (same-origin) keeps even an opaque answer from a foreign page.
    no_cors = evil.evaluate(
        """async (url) => {
            try {
                const r = await fetch(url, {credentials: "include", mode: "no-cors"});
                return {type: r.type, status: r.status, body: await r.text()};
            } catch (error) { return {refused: String(error)}; }
        }""",
        f"{API_ORIGIN}/api/auth/me",
    )
    assert "refused" in no_cors or no_cors == {
        "type": "opaque",
        "status": 0,
        "body": "",
    }, no_cors

    # Logging out: a fetch POST (simple, no preflight), a CORS one with a
    # made-up token, and a form POST, the classic cross-site request.
    refused_before = refused_logouts(browser_stack)
    attempts = evil.evaluate(
        """async (url) => {
            const outcomes = [];
            for (const options of [
                {mode: "no-cors", body: "x"},
                {headers: {"X-CSRFToken": "guess"}},
            ]) {
                try {
                    const r = await fetch(url, {
                        method: "POST", credentials: "include", ...options});
                    outcomes.push(r.type);
                } catch (error) { outcomes.push("refused"); }
            }
            return outcomes;
        }""",
        f"{API_ORIGIN}/api/auth/logout",
    )
    # The no-cors POST reaches the API (its answer is kept from the page);
    # the one with a custom header dies at its preflight.
    assert attempts == ["refused", "refused"], attempts
    with evil.expect_navigation() as navigation:
        evil.evaluate(
            """(url) => {
                const form = document.createElement("form");
                form.method = "post";
                form.action = url;
                document.body.append(form);
                form.submit();
            }""",
            f"{API_ORIGIN}/api/auth/logout",
        )
    # SameSite=Lax kept the session cookie off both POSTs, and the CSRF check
    # refused them: the API answered 403 to each.
    assert navigation.value.status == 403, navigation.value.status
    wait_for(
        lambda: refused_logouts(browser_stack) - refused_before >= 2,
        10,
        "the API's 403 to the cross-site POSTs",
        log=browser_stack.logs,
    )

    assert refresh(person.page) == "logged-in"
    assert shown(person.page)["patreon_id"] == "1004"
    assert me_from(person.page)["status"] == 200


def test_logout_in_one_context_leaves_the_others_logged_in(people, config):
    three = people(3)
    log_in_together(three, [str(n) for n in range(300021, 300024)])
    leaving, *staying = three
    old_cookie = session_cookie(leaving, config)

    leaving.page.click("#logout")
    assert wait_for_state(leaving.page, "logged-out") == "logged-out"
    assert leaving.session_cookies() == []
    assert open_frontend(leaving.page) == "logged-out"
    # The old cookie is worthless: the session is gone on the server.
    leaving.context.add_cookies([restorable(old_cookie)])
    assert me_from(leaving.page)["status"] == 401

    for person in staying:
        assert refresh(person.page) == "logged-in", person.label
        assert_shows_own_data(person)


def refused_logouts(browser_stack):
    """How many POST /api/auth/logout the instances answered with 403."""
    return sum(
        1
        for instance in browser_stack.instances
        for entry in instance.access_log()
        if entry.get("path") == "/api/auth/logout"
        and entry.get("method") == "POST"
        and entry.get("status") == 403
    )


def restorable(cookie):
    """A cookie as context.add_cookies() takes it back, host-only kept so."""
    kept = {k: cookie[k] for k in ("name", "value", "secure", "httpOnly", "sameSite")}
    if cookie["domain"].startswith("."):
        return {**kept, "domain": cookie["domain"], "path": cookie["path"]}
    return {**kept, "url": f"https://{cookie['domain']}/"}


@host_only
def test_ending_a_session_from_the_list_logs_that_browser_out(people):
    laptop, phone = people(2)
    log_in_together([laptop, phone], ["1005", "1005"])
    assert refresh(laptop.page) == "logged-in"
    assert laptop.page.locator("#sessions tr").count() == 2

    other = laptop.page.locator("#sessions tr:not(.current-session)")
    other.locator("button.end-session").click()
    expect(laptop.page.locator("#sessions tr")).to_have_count(1)
    assert laptop.page.locator("#sessions tr.current-session").count() == 1

    assert refresh(phone.page) == "logged-out"
    assert refresh(laptop.page) == "logged-in"


# What people log in with, so the admin's session list (and the README's
# screenshot of it) shows the browsers staff really see, not only Chromium.
USER_AGENTS = {
    "1006": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)"
    " AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148"
    " Safari/604.1",
    "1007": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36"
    " (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "300041": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101"
    " Firefox/133.0",
    "300042": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"
    " (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
    "300043": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36"
    " (KHTML, like Gecko) Chrome/131.0.6778.135 Mobile Safari/537.36",
}
# The admin is laid out for a 1280 px screen (a 720p one, so that the
# screenshot shows the filters and the first rows).
ADMIN_VIEWPORT = {"width": 1280, "height": 720}


@host_only
def test_staff_revoking_a_session_in_the_admin_logs_that_browser_out(
    people, browser_stack, config_screenshots
):
    [victim] = people(1, "victim", user_agent=USER_AGENTS["1006"])
    others = [
        people(1, f"patron-{n}", user_agent=USER_AGENTS[n])[0]
        for n in ("300041", "300042", "300043")
    ]
    [staffer] = people(1, "staff", ADMIN_VIEWPORT, USER_AGENTS["1007"])
    log_in_together(
        [victim, *others, staffer], ["1006", "300041", "300042", "300043", "1007"]
    )
    manage(browser_stack, "staff", "grant", "--patreon-id", "1007", "--superuser")

    admin = staffer.page
    admin.goto(f"{API_ORIGIN}/admin/sessions/session/")
    admin.wait_for_selector("#result_list")
    # Every column fits the screen: nothing scrolls sideways.
    assert admin.evaluate("document.documentElement.scrollWidth") <= 1280
    results = admin.locator(".results")
    assert results.evaluate("e => e.scrollWidth <= e.clientWidth")
    assert "Mobile Safari 18 on iOS" in admin.inner_text("#result_list")
    if config_screenshots:
        admin.reload()  # past the "signed in" message
        admin.wait_for_selector("#result_list")
        admin.screenshot(path=config_screenshots / "admin-sessions.png")

    admin.fill("#searchbar", "1006")
    admin.press("#searchbar", "Enter")
    admin.wait_for_url(re.compile(r".*/admin/sessions/session/\?q=1006$"))
    rows = admin.locator("#result_list tbody tr")
    assert rows.count() == 1, admin.inner_text("#result_list")
    rows.first.locator("input.action-select").check()
    admin.select_option('select[name="action"]', "revoke_selected")
    admin.click('button[name="index"]')
    admin.wait_for_selector(".messagelist .success")
    assert "Revoked 1 session(s)." in admin.inner_text(".messagelist")

    assert refresh(victim.page) == "logged-out"
    assert open_frontend(victim.page) == "logged-out"
    assert open_frontend(staffer.context.new_page()) == "logged-in"


@host_only
def test_denying_consent_lands_on_a_friendly_page(people):
    [person] = people(1)
    page = person.page
    go_to_login_page(page)
    go_to_patreon(page)
    choose_patron(page, "1008")
    page.click('button[value="deny"]')
    page.wait_for_url(f"{API_ORIGIN}/**")
    page.wait_for_selector("h1")

    assert page.inner_text("h1") == "Login cancelled"
    landed = [
        r
        for r in person.responses
        if r.request.is_navigation_request() and r.url.startswith(API_ORIGIN)
    ][-1]
    assert landed.status == 200, landed.url
    assert page.locator("a", has_text="Back to the login page").count() == 1
    assert me_from(page)["status"] == 401
    assert open_frontend(page) == "logged-out"


# ENTITLEMENTS
# ------------------------------------------------------------------------------


def content_shown(page):
    """{entitlement: "unlocked" or "locked"} for the frontend's content list."""
    page.wait_for_selector("#content li")
    return {
        item.get_attribute("data-entitlement"): item.get_attribute("class")
        for item in page.query_selector_all("#content li")
    }


@host_only
def test_content_is_gated_by_entitlement(people, browser_stack, config_screenshots):
    """
    What each patron sees of the example's content: Grace (Patron and
    Benefactor tiers) everything, Ada (Supporter) the letter only, Alan
    (declined) nothing and why, and a patron whose membership was read too
    long ago a way to refresh it.
    """
    entitled, supporter, declined, stale = people(4)
    log_in_together(
        [entitled, supporter, declined, stale], ["1002", "1001", "1004", "1009"]
    )
    manage(
        browser_stack,
        "shell",
        "-c",
        "from datetime import timedelta; from django.utils import timezone;"
        " from accounts.models import PatreonMembership as M;"
        " M.objects.filter(patreon_id='1009')"
        ".update(synced_at=timezone.now() - timedelta(days=4))",
    )
    assert refresh(stale.page) == "logged-in"

    everything = {"supporter": "unlocked", "early-access": "unlocked"}
    assert content_shown(entitled.page) == everything
    assert content_shown(supporter.page) == {
        "supporter": "unlocked",
        "early-access": "locked",
    }
    assert "upgrade on Patreon" in supporter.page.inner_text("#content")
    assert supporter.page.is_hidden("#membership-notice")
    nothing = {"supporter": "locked", "early-access": "locked"}
    assert content_shown(declined.page) == nothing
    assert "declined" in declined.page.inner_text("#membership-notice")
    assert content_shown(stale.page) == nothing
    assert "Log in again" in stale.page.inner_text("#membership-notice")
    assert "log in again" in stale.page.inner_text("#content")
    assert stale.page.get_attribute("#content a", "href").startswith(
        f"{API_ORIGIN}/login?next="
    )
    if config_screenshots:
        for person, name in [
            (entitled, "entitled"),
            (supporter, "not-entitled"),
            (declined, "declined"),
            (stale, "stale"),
        ]:
            person.page.screenshot(path=config_screenshots / f"frontend-{name}.png")
