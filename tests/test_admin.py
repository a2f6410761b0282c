"""
accounts.admin: the user admin (roles, whole forms, revoking a user's sessions)
and the way into the admin, over real HTTP. The session list is in
tests/sessions/test_admin.py.
"""

import re
from html.parser import HTMLParser

import pytest
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from accounts.models import User
from sessions.models import Session
from tests.admin import csrf, run_action, sessions_of
from tests.conftest import SUPERUSER_PASSWORD
from tests.patreon import log_in

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:sessions_session_changelist"


def test_revoke_all_sessions_from_the_user_admin(superuser, alice, bob):
    user = User.objects.get(patreon__patreon_id="100001")
    run_action(
        superuser,
        reverse("admin:accounts_user_changelist"),
        "revoke_sessions",
        [user.pk],
    )
    assert alice.me().status_code == 401
    assert bob.me().status_code == 200


def test_revoke_all_sessions_from_the_users_page(superuser, alice, bob):
    user = User.objects.get(patreon__patreon_id="100001")
    page = superuser.get(reverse("admin:accounts_user_change", args=[user.pk]))
    assert b"Revoke all sessions" in page.content
    response = superuser.post(
        reverse("admin:accounts_user_revoke_sessions", args=[user.pk]),
        {"csrfmiddlewaretoken": csrf(page)},
    )
    assert response.status_code == 302
    assert alice.me().status_code == 401
    assert bob.me().status_code == 200


def test_revoke_button_refuses_get(superuser, alice):
    user = User.objects.get(patreon__patreon_id="100001")
    response = superuser.get(
        reverse("admin:accounts_user_revoke_sessions", args=[user.pk])
    )
    assert response.status_code == 403
    assert alice.me().status_code == 200


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
    assert alice.me().status_code == 401  # a deactivated user's session stops


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
    assert superuser.me().status_code == 200


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
