"""
sessions.admin: staff inspect and revoke sessions in the Django admin (the
session list, its filters, search and actions), over real HTTP.
"""

import html
import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from sessions.admin import SessionAdmin
from sessions.models import Session
from tests.admin import csrf, run_action, sessions_of
from tests.patreon import log_in, start_login
from tests.sessions.conftest import T0

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:sessions_session_changelist"
CHROME_ON_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Safari/537.36"
)


def test_staff_revokes_one_users_session_and_it_dies_on_the_next_request(
    superuser, alice, bob
):
    url = reverse(CHANGELIST)
    [alice_session] = sessions_of("100001")
    response = run_action(superuser, url, "revoke_selected", [alice_session.pk])
    assert response.status_code == 302
    assert alice.me().status_code == 401
    assert bob.me().json()["patreon"]["id"] == "100002"


def test_revocation_is_in_the_admin_history(superuser, alice):
    [session] = sessions_of("100001")
    run_action(superuser, reverse(CHANGELIST), "revoke_selected", [session.pk])
    entry = LogEntry.objects.get(object_id=str(session.user_id))
    assert entry.user == superuser.user
    assert "Revoked 1 session(s)" in entry.get_change_message()


def test_revoke_all_of_a_users_sessions_from_the_session_list(
    superuser, alice, client_factory, bob
):
    second = client_factory()
    log_in(second, "100001")
    [first, *_] = sessions_of("100001")
    run_action(superuser, reverse(CHANGELIST), "revoke_all_of_users", [first.pk])
    assert alice.me().status_code == 401
    assert second.me().status_code == 401
    assert bob.me().status_code == 200
    assert not sessions_of("100001").exists()


def test_each_users_history_gets_their_own_count_not_the_total(
    superuser, alice, client_factory, bob
):
    log_in(client_factory(), "100001")  # alice's second session
    picked = [sessions_of("100001").first().pk, sessions_of("100002").get().pk]
    run_action(superuser, reverse(CHANGELIST), "revoke_all_of_users", picked)
    said = {
        entry.object_id: entry.get_change_message()
        for entry in LogEntry.objects.filter(change_message__startswith="Revoked")
    }
    alice_id, bob_id = (
        str(User.objects.get(patreon__patreon_id=p).pk) for p in ("100001", "100002")
    )
    assert said[alice_id].startswith("Revoked 2 session(s)")
    assert said[bob_id].startswith("Revoked 1 session(s)")


def test_revoke_every_session_asks_first_then_logs_everyone_out(superuser, alice, bob):
    url = reverse("admin:sessions_session_revoke_everything")
    page = superuser.get(url)
    assert page.status_code == 200
    assert b"Yes, revoke every session" in page.content
    assert alice.me().status_code == 200  # nothing happened yet
    response = superuser.post(url, {"csrfmiddlewaretoken": csrf(page)})
    assert response.status_code == 302
    assert alice.me().status_code == 401
    assert bob.me().status_code == 401
    assert not Session.objects.exists()
    assert LogEntry.objects.filter(object_repr="every session").exists()


def test_session_list_shows_what_staff_need_and_never_session_data(superuser, alice):
    response = superuser.get(reverse(CHANGELIST))
    html = response.content.decode()
    [session] = sessions_of("100001")
    assert "100001" in html
    assert "127.0.0.1" in html
    assert "session_data" not in html
    assert session.session_data not in html


def browser_with(client_factory, user_agent):
    browser = client_factory()
    browser.defaults["HTTP_USER_AGENT"] = user_agent
    return browser


def test_session_list_names_the_browser_with_the_raw_user_agent_on_hover(
    superuser, client_factory, fake_patreon
):
    log_in(browser_with(client_factory, CHROME_ON_LINUX), "100001")
    page = superuser.get(reverse(CHANGELIST)).content.decode()
    assert f'<span title="{CHROME_ON_LINUX}">Chrome 131 on Linux</span>' in page


def test_a_hostile_user_agent_is_shown_escaped(superuser, client_factory, fake_patreon):
    hostile = '"><script>alert(1)</script>'
    log_in(browser_with(client_factory, hostile), "100001")
    page = superuser.get(reverse(CHANGELIST)).content.decode()
    assert "<script>alert(1)" not in page
    assert html.escape(hostile) in page


def test_session_list_times_are_relative_with_the_exact_time_on_hover(
    clock, superuser, alice, settings
):
    clock(minutes=5)
    page = superuser.get(reverse(CHANGELIST)).content.decode()
    # Alice logged in 5 minutes ago; her idle limit runs from then.
    assert '<time datetime="2031-03-04T09:00:00+00:00"' in page
    assert 'title="2031-03-04 09:00:00 UTC">5\xa0minutes ago</time>' in page
    expires = T0 + timedelta(seconds=settings.SESSION_IDLE_TIMEOUT)
    assert f'title="{expires:%Y-%m-%d %H:%M:%S} UTC">in 23\xa0hours</time>' in page


@pytest.fixture
def abandoned_login(client_factory, fake_patreon):
    """Someone pressed "Log in with Patreon" and never came back."""
    start_login(browser_with(client_factory, "curl/8.5.0"))
    [row] = Session.objects.filter(user=None)
    return row


@pytest.mark.parametrize(
    ("query", "shows_alice", "shows_abandoned"),
    [
        ({}, True, False),
        ({"owner": "anonymous"}, False, True),
        ({"owner": "all"}, True, True),
        ({"owner": "nonsense"}, True, False),
    ],
)
def test_anonymous_rows_are_hidden_unless_asked_for(
    superuser, alice, abandoned_login, query, shows_alice, shows_abandoned
):
    page = superuser.get(reverse(CHANGELIST), query).content.decode()
    assert ("100001" in page) is shows_alice
    assert ("curl 8" in page) is shows_abandoned


def test_the_owner_filter_offers_the_hidden_rows(superuser, alice, abandoned_login):
    page = superuser.get(reverse(CHANGELIST)).content.decode()
    assert re.search(r'<li class="selected">\s*<a href="\?">Logged in</a>', page)
    assert '<a href="?owner=anonymous">Logins in progress</a>' in page
    assert '<a href="?owner=all">All</a>' in page


def test_session_list_sorts_by_expiry(superuser, alice, bob):
    now = timezone.now()
    sessions_of("100002").update(expire_date=now + timedelta(minutes=5))
    expires = list(SessionAdmin.list_display).index("expires") + 1
    soonest_first = superuser.get(reverse(CHANGELIST), {"o": str(expires)})
    page = soonest_first.content.decode()
    assert page.index("100002") < page.index("100001")
    page = superuser.get(reverse(CHANGELIST), {"o": f"-{expires}"}).content.decode()
    assert page.index("100001") < page.index("100002")


def test_session_detail_is_read_only_without_session_data(superuser, alice):
    [session] = sessions_of("100001")
    response = superuser.get(
        reverse("admin:sessions_session_change", args=[session.pk])
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert session.session_data not in html
    assert 'name="ip"' not in html  # shown, not editable


def test_no_add_page_for_sessions(superuser):
    assert superuser.get(reverse("admin:sessions_session_add")).status_code == 403


@pytest.mark.parametrize("term", ["100001", "patron100001@example.test", "127.0"])
def test_session_search_finds_by_patreon_id_email_and_ip(superuser, alice, bob, term):
    html = superuser.get(reverse(CHANGELIST), {"q": term}).content.decode()
    assert "100001" in html


def test_session_search_by_patreon_id_excludes_others(superuser, alice, bob):
    html = superuser.get(reverse(CHANGELIST), {"q": "100001"}).content.decode()
    assert "100002" not in html


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ({"state": "active"}, "100001", "100002"),
        ({"state": "expired"}, "100002", "100001"),
        ({"age": "1h"}, "100001", "100002"),
        ({"age": "1d"}, "100001", "100002"),
        ({"age": "older"}, "100002", "100001"),
    ],
)
def test_session_filters_pick_the_right_rows(
    superuser, alice, bob, query, shown, hidden
):
    """Alice logged in just now; Bob's session began 8 days ago and has expired."""
    now = timezone.now()
    sessions_of("100002").update(
        created_at=now - timedelta(days=8), expire_date=now - timedelta(days=1)
    )
    response = superuser.get(reverse(CHANGELIST), query)
    assert response.status_code == 200
    html = response.content.decode()
    assert shown in html
    assert hidden not in html


def test_session_list_query_count_does_not_grow_with_rows(
    superuser, client_factory, fake_patreon, django_assert_max_num_queries
):
    def queries_for_list():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            assert superuser.get(reverse(CHANGELIST)).status_code == 200
        return len(captured)

    log_in(client_factory(), "100001")
    few = queries_for_list()
    for n in range(100002, 100012):
        log_in(client_factory(), str(n))
    assert queries_for_list() == few


def test_nothing_in_the_admin_hands_staff_a_live_session_key(
    superuser, alice, settings
):
    """Pages, links and URLs show the key's hash; the cookie's key is nowhere."""
    key = alice.cookies[settings.SESSION_COOKIE_NAME].value
    [session] = sessions_of("100001")
    change = reverse("admin:sessions_session_change", args=[session.pk])
    pages = [superuser.get(reverse(CHANGELIST)), superuser.get(change)]
    pages.append(superuser.get(reverse(CHANGELIST), {"q": "100001"}))
    for page in pages:
        assert page.status_code == 200
        assert key not in page.content.decode()
    assert key not in change
    # Presenting what the admin does show, as a cookie, logs nobody in.
    intruder = type(alice)()
    intruder.cookies[settings.SESSION_COOKIE_NAME] = session.pk
    assert intruder.me().status_code == 401
    assert alice.me().status_code == 200
