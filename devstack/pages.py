"""The example frontend's pages, as a person uses them in Chromium."""

from __future__ import annotations

from devstack.hosts import (
    API_ORIGIN,
    FRONTEND_URL,
)
from fake_patreon.patrons import Directory

# The fake's patrons, to know what each person's page must show.
PATRONS = Directory("9000001")


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
