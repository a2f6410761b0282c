"""Staff inspect and revoke sessions in the Django admin, over real HTTP."""

import html
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from sessions.admin import SessionAdmin
from sessions.models import Session
from tests.conftest import SUPERUSER_PASSWORD
from tests.patreon import CSRF_INPUT, log_in, start_login

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:sessions_session_changelist"


def csrf(response):
    return CSRF_INPUT.search(response.content.decode())[1]


def me(client):
    return client.get("/api/auth/me")


def sessions_of(patreon_id):
    return Session.objects.filter(user__patreon__patreon_id=patreon_id)


def run_action(superuser, url, action, pks):
    page = superuser.get(url)
    return superuser.post(
        url,
        {
            "action": action,
            "_selected_action": [str(pk) for pk in pks],
            "csrfmiddlewaretoken": csrf(page),
        },
    )


def test_staff_revokes_one_users_session_and_it_dies_on_the_next_request(
    superuser, alice, bob
):
    url = reverse(CHANGELIST)
    [alice_session] = sessions_of("100001")
    response = run_action(superuser, url, "revoke_selected", [alice_session.pk])
    assert response.status_code == 302
    assert me(alice).status_code == 401
    assert me(bob).json()["patreon"]["id"] == "100002"


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
    assert me(alice).status_code == 401
    assert me(second).status_code == 401
    assert me(bob).status_code == 200
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


def test_revoke_all_sessions_from_the_user_admin(superuser, alice, bob):
    user = User.objects.get(patreon__patreon_id="100001")
    run_action(
        superuser,
        reverse("admin:accounts_user_changelist"),
        "revoke_sessions",
        [user.pk],
    )
    assert me(alice).status_code == 401
    assert me(bob).status_code == 200


def test_revoke_all_sessions_from_the_users_page(superuser, alice, bob):
    user = User.objects.get(patreon__patreon_id="100001")
    page = superuser.get(reverse("admin:accounts_user_change", args=[user.pk]))
    assert b"Revoke all sessions" in page.content
    response = superuser.post(
        reverse("admin:accounts_user_revoke_sessions", args=[user.pk]),
        {"csrfmiddlewaretoken": csrf(page)},
    )
    assert response.status_code == 302
    assert me(alice).status_code == 401
    assert me(bob).status_code == 200


def test_revoke_button_refuses_get(superuser, alice):
    user = User.objects.get(patreon__patreon_id="100001")
    response = superuser.get(
        reverse("admin:accounts_user_revoke_sessions", args=[user.pk])
    )
    assert response.status_code == 403
    assert me(alice).status_code == 200


def test_revoke_every_session_asks_first_then_logs_everyone_out(superuser, alice, bob):
    url = reverse("admin:sessions_session_revoke_everything")
    page = superuser.get(url)
    assert page.status_code == 200
    assert b"Yes, revoke every session" in page.content
    assert me(alice).status_code == 200  # nothing happened yet
    response = superuser.post(url, {"csrfmiddlewaretoken": csrf(page)})
    assert response.status_code == 302
    assert me(alice).status_code == 401
    assert me(bob).status_code == 401
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


CHROME_ON_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Safari/537.36"
)


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


T0 = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def at_t0(time_machine):
    """A frozen clock at T0, before any fixture logs in."""
    time_machine.move_to(T0, tick=False)
    return time_machine


def test_session_list_times_are_relative_with_the_exact_time_on_hover(
    at_t0, superuser, alice, settings
):
    at_t0.move_to(T0 + timedelta(minutes=5), tick=False)
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


def test_admin_is_only_for_staff(alice):
    response = alice.get(reverse(CHANGELIST))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_admin_login_page_offers_patreon(client):
    html = client.get(reverse("admin:login")).content.decode()
    assert "Log in with Patreon" in html
    assert re.search(r'action="/accounts/patreon/login/', html)


def test_staff_log_in_to_the_admin_through_patreon(client, fake_patreon):
    from django.core.management import call_command

    log_in(client, "1002")
    call_command("staff", "grant", "--patreon-id", "1002")
    assert client.get(reverse(CHANGELIST)).status_code == 200


def test_emergency_superuser_logs_in_with_a_password(client, django_user_model):
    django_user_model.objects.create_superuser("root", "root@example.test", "s3cret!pw")
    page = client.get(reverse("admin:login"))
    response = client.post(
        reverse("admin:login"),
        {
            "username": "root",
            "password": "s3cret!pw",
            "csrfmiddlewaretoken": re.findall(
                r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()
            )[-1],
            "next": reverse("admin:index"),
        },
    )
    assert response.status_code == 302
    assert client.get(reverse(CHANGELIST)).status_code == 200


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
    assert me(intruder).status_code == 401
    assert me(alice).status_code == 200


class FormFields(HTMLParser):
    """
    What a browser submits from the form ``form_id`` of a page: every named
    input, select and textarea, as the page fills them in.
    """

    def __init__(self, form_id):
        super().__init__()
        self.form_id, self.inside, self.fields = form_id, False, []
        self.select = self.textarea = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        if not self.inside or "disabled" in attrs:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            if kind not in ("submit", "button", "image", "file"):
                self.fields.append((name, attrs.get("value", "on")))
        elif tag == "select":
            self.select = name
        elif tag == "option" and self.select and "selected" in attrs:
            self.fields.append((self.select, attrs.get("value", "")))
        elif tag == "textarea":
            self.textarea = name
            self.fields.append((name, ""))

    def handle_data(self, data):
        if self.textarea:
            name, value = self.fields.pop()
            self.fields.append((name, value + data))

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None


def whole_form(browser, url, form_id="user_form"):
    """The form at ``url`` as a browser would post it, Save pressed."""
    page = browser.get(url)
    assert page.status_code == 200, page.status_code
    parser = FormFields(form_id)
    parser.feed(page.content.decode())
    form = {}
    for name, value in parser.fields:
        form.setdefault(name, []).append(value)
    assert "csrfmiddlewaretoken" in form
    return {**form, "_save": ["Save"]}


NEW_PASSWORD = "taken-0ver-by-staff"


def with_every_privilege(form):
    """The form plus every field that would raise a user, ticked or filled."""
    admins = Group.objects.create(name="Admins")
    admins.permissions.set(Permission.objects.all())
    return {
        **form,
        "is_superuser": ["on"],
        "is_staff": ["on"],
        "groups": [str(pk) for pk in Group.objects.values_list("pk", flat=True)],
        "user_permissions": [
            str(pk) for pk in Permission.objects.values_list("pk", flat=True)
        ],
        "password": [make_password(NEW_PASSWORD)],
        "password1": [NEW_PASSWORD],
        "password2": [NEW_PASSWORD],
        "usable_password": ["true"],
    }


def privileges(user):
    """Everything that decides what ``user`` may do, from the database."""
    user = User.objects.get(pk=user.pk)
    return {
        "is_superuser": user.is_superuser,
        "is_staff": user.is_staff,
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "user_permissions": list(user.user_permissions.all()),
        "password": user.password,
        "change_group": user.has_perm("auth.change_group"),
    }


def user_change(user):
    return reverse("admin:accounts_user_change", args=[user.pk])


def test_staff_cannot_make_themselves_superuser_with_a_whole_form(staff_member):
    me_user = staff_member.user
    before = privileges(me_user)
    form = with_every_privilege(whole_form(staff_member, user_change(me_user)))
    response = staff_member.post(user_change(me_user), form)
    assert response.status_code == 302  # saved: only what staff may change
    assert privileges(me_user) == before
    assert before["groups"] == ["Staff"]
    assert not before["is_superuser"]


def test_staff_deactivate_a_patron_but_raise_nothing_on_the_way(staff_member, alice):
    patron = User.objects.get(patreon__patreon_id="100001")
    before = privileges(patron)
    form = with_every_privilege(whole_form(staff_member, user_change(patron)))
    del form["is_active"]  # the box unticked
    response = staff_member.post(user_change(patron), form)
    assert response.status_code == 302
    assert privileges(patron) == before
    assert not User.objects.get(pk=patron.pk).is_active
    assert me(alice).status_code == 401  # a deactivated user's session stops


def test_staff_cannot_change_or_deactivate_a_superuser(staff_member, superuser, alice):
    patron = User.objects.get(patreon__patreon_id="100001")
    root = superuser.user
    before = privileges(root)
    form = with_every_privilege(whole_form(staff_member, user_change(patron)))
    del form["is_active"]
    assert staff_member.get(user_change(root)).status_code == 302  # "doesn't exist"
    response = staff_member.post(user_change(root), form)
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    assert privileges(root) == before
    assert User.objects.get(pk=root.pk).is_active
    revoke = reverse("admin:accounts_user_revoke_sessions", args=[root.pk])
    token = form["csrfmiddlewaretoken"]
    assert staff_member.post(revoke, {"csrfmiddlewaretoken": token}).status_code == 404
    assert me(superuser).status_code == 200


@pytest.mark.parametrize("whose", ["own", "patron", "superuser"])
def test_staff_cannot_set_a_password(staff_member, superuser, alice, whose):
    target = {
        "own": staff_member.user,
        "patron": User.objects.get(patreon__patreon_id="100001"),
        "superuser": superuser.user,
    }[whose]
    before = User.objects.get(pk=target.pk).password
    url = reverse("admin:auth_user_password_change", args=[target.pk])
    form = with_every_privilege(
        whole_form(staff_member, user_change(staff_member.user))
    )
    assert staff_member.get(url).status_code == 403
    assert staff_member.post(url, form).status_code == 403
    assert User.objects.get(pk=target.pk).password == before


def test_the_emergency_superusers_password_stays_its_own(staff_member, client):
    """Staff cannot set it, so the password that logs in is still the operator's."""
    root = User.objects.create_superuser("root2", "r@example.test", SUPERUSER_PASSWORD)
    form = with_every_privilege(
        whole_form(staff_member, user_change(staff_member.user))
    )
    url = reverse("admin:auth_user_password_change", args=[root.pk])
    staff_member.post(url, form)
    assert User.objects.get(pk=root.pk).check_password(SUPERUSER_PASSWORD)
    assert not User.objects.get(pk=root.pk).check_password(NEW_PASSWORD)


def test_staff_cannot_add_a_superuser(staff_member):
    form = with_every_privilege(
        whole_form(staff_member, user_change(staff_member.user))
    )
    form["username"] = ["backdoor"]
    response = staff_member.post(reverse("admin:accounts_user_add"), form)
    assert response.status_code == 403
    assert not User.objects.filter(username="backdoor").exists()


def test_staff_cannot_give_the_staff_group_more_permissions(staff_member):
    group = Group.objects.get(name="Staff")
    before = set(group.permissions.all())
    every = [str(pk) for pk in Permission.objects.values_list("pk", flat=True)]
    token = whole_form(staff_member, user_change(staff_member.user))
    form = {**token, "name": ["Staff"], "permissions": every}
    change = reverse("admin:auth_group_change", args=[group.pk])
    assert staff_member.post(change, form).status_code == 403
    assert staff_member.post(reverse("admin:auth_group_add"), form).status_code == 403
    assert set(group.permissions.all()) == before
    assert Group.objects.count() == 1


def test_staff_cannot_edit_a_session(staff_member, alice):
    [session] = sessions_of("100001")
    url = reverse("admin:sessions_session_change", args=[session.pk])
    form = whole_form(staff_member, user_change(staff_member.user))
    form.update(ip=["203.0.113.9"], user=[str(staff_member.user.pk)])
    assert staff_member.post(url, form).status_code == 403
    assert Session.objects.get(pk=session.pk).ip == "127.0.0.1"


def test_a_users_page_shows_staff_no_privileges_and_no_password(staff_member, alice):
    patron = User.objects.get(patreon__patreon_id="100001")
    html = staff_member.get(user_change(patron)).content.decode()
    fields = {name for name, _ in _fields(html)}
    assert fields & {"is_superuser", "is_staff", "groups", "user_permissions"} == set()
    assert {"is_active", "username"} & fields == {"is_active"}  # username: read-only
    assert "password" not in fields
    assert "/password/" not in html
    assert patron.password not in html


def test_staff_cannot_list_who_is_privileged(staff_member, superuser):
    url = reverse("admin:accounts_user_changelist")
    html = staff_member.get(url).content.decode()
    assert "patreon-200001" in html
    assert ">root<" not in html  # a superuser's row does not exist for staff
    group = Group.objects.get(name="Staff").pk
    for query in ({"is_superuser__exact": "1"}, {"groups__id__exact": group}):
        assert staff_member.get(url, query).status_code == 400


def test_a_superuser_grants_staff_in_the_admin(superuser, alice):
    from accounts.management.commands.staff import staff_group

    group = staff_group()
    patron = User.objects.get(patreon__patreon_id="100001")
    form = whole_form(superuser, user_change(patron))
    form.update(is_staff=["on"], groups=[str(group.pk)])
    response = superuser.post(user_change(patron), form)
    assert response.status_code == 302, response.context["errors"]
    patron = User.objects.get(pk=patron.pk)
    assert patron.is_staff
    assert not patron.is_superuser
    assert patron.has_perm("sessions.delete_session")


def _fields(html, form_id="user_form"):
    parser = FormFields(form_id)
    parser.feed(html)
    return parser.fields


def test_staff_cannot_give_themselves_a_password_through_the_site_form(staff_member):
    """The admin's password form asks for the old one; Patreon accounts have none."""
    url = reverse("admin:password_change")
    page = staff_member.get(url)
    response = staff_member.post(
        url,
        {
            "csrfmiddlewaretoken": csrf(page),
            "old_password": "",
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 200  # the form again, with its error
    assert not User.objects.get(pk=staff_member.user.pk).has_usable_password()
