"""Driving the Django admin in tests as staff's browser does."""

from sessions.models import Session
from tests.patreon import CSRF_INPUT


def csrf(page):
    """The CSRF token of the form on an admin ``page`` (a response)."""
    return CSRF_INPUT.search(page.content.decode())[1]


def run_action(browser, url, action, pks):
    """Run a changelist ``action`` on the rows ``pks``, as its form posts it."""
    page = browser.get(url)
    return browser.post(
        url,
        {
            "action": action,
            "_selected_action": [str(pk) for pk in pks],
            "csrfmiddlewaretoken": csrf(page),
        },
    )


def sessions_of(patreon_id):
    """The session rows of the patron with ``patreon_id``."""
    return Session.objects.filter(user__patreon__patreon_id=patreon_id)
