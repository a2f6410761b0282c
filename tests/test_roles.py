"""
Who may do what: every admin URL, every admin action and every endpoint of
ours, for each role (docs/security.md, "Roles and authorization"), with real
logins.

- anonymous: no session.
- patron: logged in with Patreon (patron 100001, whose rows the admin rows
  below open).
- staff: logged in with Patreon, made staff by `manage.py staff grant` (the
  real Staff group, not a superuser).
- superuser: the emergency account (is_superuser, a password).

An outcome is an HTTP status, or "→<url name>" for a redirect: ``LOGIN`` is
the admin's login page (not for this role), ``GONE`` the admin index with
"doesn't exist" (the row is outside the role's queryset), ``CHANGE`` the
model's change page. Actions are posted through their changelist as the
admin's own form does, and the admin's buttons that POST as their forms do;
``RAN`` means the database shows their effect, ``REFUSED`` that it does not.

The lists of admin URLs, admin actions and our endpoints come from the admin
site and the URL resolver, so one added without a row here fails
``test_every_admin_url_has_a_row``, ``test_every_admin_action_has_a_row`` or
``test_every_endpoint_has_a_row``.
"""

# The tables are tables: one row a line, columns aligned, wider than 88.
# ruff: noqa: E501

import re
from dataclasses import dataclass
from io import StringIO
from urllib.parse import urlsplit

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.urls import URLResolver, get_resolver, resolve, reverse
from django.urls.exceptions import Resolver404
from django.utils import timezone

from accounts.models import SyncRun, User, WebhookDelivery
from sessions.models import Session
from tests.patreon import log_in

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "patron", "staff", "superuser")
LOGIN = "→admin:login"
INDEX = "→admin:index"
GONE = INDEX  # where Django sends a row outside the role's queryset
FRONTEND = "→https://ventures.test/"  # FRONTEND_ORIGINS[0] in tests/settings.py
CHANGE = "→change"  # the model's change page (the old URL form redirects)
RAN = "ran"
REFUSED = "refused"

# fmt: off
# Admin URLs: the URL's name in the admin (or its route, if it has none),
# whose row it opens, then what each role gets from a GET (POST for logout).
ADMIN_URLS = [
    # name or route                          target        anonymous patron  staff   superuser
    ("index",                                None,         LOGIN,    LOGIN,  200,    200),
    ("login",                                None,         200,      200,    INDEX,  INDEX),
    ("logout",                               None,         INDEX,    INDEX,  200,    200),
    # One's own password: a Patreon account has none usable, so for staff
    # the form (which asks for the old one) can never succeed.
    ("password_change",                      None,         LOGIN,    LOGIN,  200,    200),
    ("password_change_done",                 None,         LOGIN,    LOGIN,  200,    200),
    ("autocomplete",                         None,         LOGIN,    LOGIN,  403,    403),
    ("jsi18n",                               None,         LOGIN,    LOGIN,  200,    200),
    ("view_on_site",                         "patron",     LOGIN,    LOGIN,  404,    404),
    ("app_list",                             "accounts",   LOGIN,    LOGIN,  200,    200),
    ("app_list",                             "auth",       LOGIN,    LOGIN,  404,    200),
    ("app_list",                             "account",    LOGIN,    LOGIN,  404,    200),
    ("app_list",                             "socialaccount", LOGIN, LOGIN,  404,    200),
    ("(?P<url>.*)$",                         None,         LOGIN,    LOGIN,  404,    404),
    # Users: staff see patrons and staff, never a superuser; passwords are
    # the superuser's alone.
    ("accounts_user_changelist",             None,         LOGIN,    LOGIN,  200,    200),
    ("accounts_user_add",                    None,         LOGIN,    LOGIN,  403,    200),
    ("accounts_user_change",                 "patron",     LOGIN,    LOGIN,  200,    200),
    ("accounts_user_change",                 "superuser",  LOGIN,    LOGIN,  GONE,   200),
    ("accounts_user_history",                "patron",     LOGIN,    LOGIN,  200,    200),
    ("accounts_user_history",                "superuser",  LOGIN,    LOGIN,  GONE,   200),
    ("accounts_user_delete",                 "patron",     LOGIN,    LOGIN,  403,    200),
    ("accounts_user_delete",                 "superuser",  LOGIN,    LOGIN,  403,    200),
    ("accounts/user/<path:object_id>/",      "patron",     LOGIN,    LOGIN,  CHANGE, CHANGE),
    ("auth_user_password_change",            "patron",     LOGIN,    LOGIN,  403,    200),
    ("auth_user_password_change",            "superuser",  LOGIN,    LOGIN,  403,    200),
    ("auth_user_password_change",            "staff",      LOGIN,    LOGIN,  403,    200),
    ("accounts_user_revoke_sessions",        "patron",     LOGIN,    LOGIN,  403,    403),  # POST only
    # Memberships: snapshots of what Patreon said; viewed, never edited.
    ("accounts_patreonmembership_changelist", None,        LOGIN,    LOGIN,  200,    200),
    ("accounts_patreonmembership_add",       None,         LOGIN,    LOGIN,  403,    403),
    ("accounts_patreonmembership_change",    "patron",     LOGIN,    LOGIN,  200,    200),
    ("accounts_patreonmembership_history",   "patron",     LOGIN,    LOGIN,  200,    200),
    ("accounts_patreonmembership_delete",    "patron",     LOGIN,    LOGIN,  403,    403),
    ("accounts/patreonmembership/<path:object_id>/", "patron", LOGIN, LOGIN, CHANGE, CHANGE),
    # Sessions: staff inspect and revoke; nobody edits or adds one.
    ("sessions_session_changelist",          None,         LOGIN,    LOGIN,  200,    200),
    ("sessions_session_add",                 None,         LOGIN,    LOGIN,  403,    403),
    ("sessions_session_change",              "patron",     LOGIN,    LOGIN,  200,    200),
    ("sessions_session_history",             "patron",     LOGIN,    LOGIN,  200,    200),
    ("sessions_session_delete",              "patron",     LOGIN,    LOGIN,  200,    200),
    ("sessions/session/<path:object_id>/",   "patron",     LOGIN,    LOGIN,  CHANGE, CHANGE),
    ("sessions_session_revoke_everything",   None,         LOGIN,    LOGIN,  200,    200),
    # Patreon's webhook deliveries: a record, read-only for everyone.
    ("accounts_webhookdelivery_changelist",  None,         LOGIN,    LOGIN,  200,    200),
    ("accounts_webhookdelivery_add",         None,         LOGIN,    LOGIN,  403,    403),
    ("accounts_webhookdelivery_change",      "delivery",   LOGIN,    LOGIN,  200,    200),
    ("accounts_webhookdelivery_history",     "delivery",   LOGIN,    LOGIN,  200,    200),
    ("accounts_webhookdelivery_delete",      "delivery",   LOGIN,    LOGIN,  403,    403),
    ("accounts/webhookdelivery/<path:object_id>/", "delivery", LOGIN, LOGIN, CHANGE, CHANGE),
    # Full syncs: a record too.
    ("accounts_syncrun_changelist",          None,         LOGIN,    LOGIN,  200,    200),
    ("accounts_syncrun_add",                 None,         LOGIN,    LOGIN,  403,    403),
    ("accounts_syncrun_change",              "sync",       LOGIN,    LOGIN,  200,    200),
    ("accounts_syncrun_history",             "sync",       LOGIN,    LOGIN,  200,    200),
    ("accounts_syncrun_delete",              "sync",       LOGIN,    LOGIN,  403,    403),
    ("accounts/syncrun/<path:object_id>/",   "sync",       LOGIN,    LOGIN,  CHANGE, CHANGE),
    # Groups carry permissions: the superuser's alone.
    ("auth_group_changelist",                None,         LOGIN,    LOGIN,  403,    200),
    ("auth_group_add",                       None,         LOGIN,    LOGIN,  403,    200),
    ("auth_group_change",                    "staff",      LOGIN,    LOGIN,  403,    200),
    ("auth_group_history",                   "staff",      LOGIN,    LOGIN,  403,    200),
    ("auth_group_delete",                    "staff",      LOGIN,    LOGIN,  403,    200),
    ("auth/group/<path:object_id>/",         "staff",      LOGIN,    LOGIN,  CHANGE, CHANGE),
    # allauth's models: identity links and verification, the superuser's.
    ("account_emailaddress_changelist",      None,         LOGIN,    LOGIN,  403,    200),
    ("account_emailaddress_add",             None,         LOGIN,    LOGIN,  403,    200),
    ("account_emailaddress_change",          "patron",     LOGIN,    LOGIN,  403,    200),
    ("account_emailaddress_history",         "patron",     LOGIN,    LOGIN,  403,    200),
    ("account_emailaddress_delete",          "patron",     LOGIN,    LOGIN,  403,    200),
    ("account/emailaddress/<path:object_id>/", "patron",   LOGIN,    LOGIN,  CHANGE, CHANGE),
    ("socialaccount_socialaccount_changelist", None,       LOGIN,    LOGIN,  403,    200),
    ("socialaccount_socialaccount_add",      None,         LOGIN,    LOGIN,  403,    200),
    ("socialaccount_socialaccount_change",   "patron",     LOGIN,    LOGIN,  403,    200),
    ("socialaccount_socialaccount_history",  "patron",     LOGIN,    LOGIN,  403,    200),
    ("socialaccount_socialaccount_delete",   "patron",     LOGIN,    LOGIN,  403,    200),
    ("socialaccount/socialaccount/<path:object_id>/", "patron", LOGIN, LOGIN, CHANGE, CHANGE),
    ("socialaccount_socialapp_changelist",   None,         LOGIN,    LOGIN,  403,    200),
    ("socialaccount_socialapp_add",          None,         LOGIN,    LOGIN,  403,    200),
    ("socialaccount_socialapp_change",       "app",        LOGIN,    LOGIN,  403,    200),
    ("socialaccount_socialapp_history",      "app",        LOGIN,    LOGIN,  403,    200),
    ("socialaccount_socialapp_delete",       "app",        LOGIN,    LOGIN,  403,    200),
    ("socialaccount/socialapp/<path:object_id>/", "app",   LOGIN,    LOGIN,  CHANGE, CHANGE),
    ("socialaccount_socialtoken_changelist", None,         LOGIN,    LOGIN,  403,    200),
    ("socialaccount_socialtoken_add",        None,         LOGIN,    LOGIN,  403,    200),
    ("socialaccount_socialtoken_change",     "patron",     LOGIN,    LOGIN,  403,    200),
    ("socialaccount_socialtoken_history",    "patron",     LOGIN,    LOGIN,  403,    200),
    ("socialaccount_socialtoken_delete",     "patron",     LOGIN,    LOGIN,  403,    200),
    ("socialaccount/socialtoken/<path:object_id>/", "patron", LOGIN, LOGIN,  CHANGE, CHANGE),
]

# The admin's own buttons that POST (a GET of them is in the table above).
ADMIN_POSTS = [
    # name                                   target        anonymous patron  staff   superuser
    ("accounts_user_revoke_sessions",        "patron",     LOGIN,    LOGIN,  RAN,    RAN),
    ("accounts_user_revoke_sessions",        "superuser",  LOGIN,    LOGIN,  404,    RAN),
    ("sessions_session_revoke_everything",   None,         LOGIN,    LOGIN,  RAN,    RAN),
]

# Admin actions, posted through their changelist with the target selected.
ADMIN_ACTIONS = [
    # model                       action                 target       anonymous patron staff    superuser
    ("sessions.session",          "revoke_selected",     "patron",    LOGIN,    LOGIN, RAN,     RAN),
    ("sessions.session",          "revoke_all_of_users", "patron",    LOGIN,    LOGIN, RAN,     RAN),
    ("sessions.session",          "delete_selected",     "patron",    LOGIN,    LOGIN, REFUSED, REFUSED),
    ("accounts.user",             "revoke_sessions",     "patron",    LOGIN,    LOGIN, RAN,     RAN),
    ("accounts.user",             "revoke_sessions",     "superuser", LOGIN,    LOGIN, REFUSED, RAN),
    ("accounts.user",             "delete_selected",     "patron",    LOGIN,    LOGIN, REFUSED, RAN),
    ("accounts.patreonmembership", "delete_selected",    "patron",    LOGIN,    LOGIN, REFUSED, REFUSED),
    ("accounts.webhookdelivery",  "delete_selected",     "delivery",  LOGIN,    LOGIN, REFUSED, REFUSED),
    ("accounts.syncrun",          "delete_selected",     "sync",      LOGIN,    LOGIN, REFUSED, REFUSED),
    ("auth.group",                "delete_selected",     "staff",     LOGIN,    LOGIN, 403,     RAN),
    ("account.emailaddress",      "make_verified",       "patron",    LOGIN,    LOGIN, 403,     RAN),
    ("account.emailaddress",      "delete_selected",     "patron",    LOGIN,    LOGIN, 403,     RAN),
    ("socialaccount.socialaccount", "delete_selected",   "patron",    LOGIN,    LOGIN, 403,     RAN),
    ("socialaccount.socialapp",   "delete_selected",     "app",       LOGIN,    LOGIN, 403,     RAN),
    ("socialaccount.socialtoken", "delete_selected",     "patron",    LOGIN,    LOGIN, 403,     RAN),
]

# Our endpoints outside the admin (allauth's own pages under /accounts/ are
# its flows, tested with the login). "own" is the caller's session, "patron's"
# patron 100001's; a target starting with "?" is the query string.
ENDPOINTS = [
    # method   route                                   target       anonymous patron staff superuser
    ("GET",    "",                                     None,        FRONTEND, FRONTEND, FRONTEND, FRONTEND),
    ("GET",    "healthz",                              None,        200,      200,   200,  200),
    ("GET",    "readyz",                               None,        200,      200,   200,  200),
    ("GET",    "metrics",                              None,        404,      404,   404,  404),  # by address only: none allowed
    ("GET",    "login",                                None,        200,      200,   200,  200),
    ("GET",    "api/openapi.json",                     None,        200,      200,   200,  200),
    ("GET",    "api/auth/me",                          None,        401,      200,   200,  200),
    ("GET",    "api/auth/csrf",                        None,        200,      200,   200,  200),
    # Forward auth: patron 100001 is a Benefactor, staff 200001 a Supporter,
    # the superuser no patron at all.
    ("GET",    "api/auth/check",                       None,        401,      204,   204,  204),
    ("GET",    "api/auth/check",                       "?entitlement=supporter", 401, 204, 204, 403),
    ("GET",    "api/auth/check",                       "?entitlement=early-access", 401, 204, 403, 403),
    ("POST",   "api/auth/logout",                      None,        200,      200,   200,  200),
    ("GET",    "api/auth/sessions",                    None,        401,      200,   200,  200),
    ("POST",   "api/auth/sessions/revoke-others",      None,        401,      200,   200,  200),
    ("DELETE", "api/auth/sessions/<str:public_id>",    "own",       401,      200,   200,  200),
    ("DELETE", "api/auth/sessions/<str:public_id>",    "patron's",  401,      200,   404,  404),
    ("GET",    "api/auth/patreon/callback",            None,        401,      401,   401,  401),  # no state
    ("POST",   "api/patreon/webhook",                  None,        403,      403,   403,  403),  # unsigned
]
# fmt: on


@dataclass
class World:
    """The three accounts, logged in, and the rows the tables open."""

    browsers: dict
    patron: User
    staff: User
    superuser: User

    def pk(self, model, target):
        """The primary key of ``model``'s row named ``target``."""
        if model is User:
            return getattr(self, target).pk
        if model is Group:
            return Group.objects.get(name="Staff").pk
        if model is SocialApp:
            return SocialApp.objects.get().pk
        if model is SocialToken:
            return SocialToken.objects.get(account__user=self.patron).pk
        if model in (WebhookDelivery, SyncRun):
            return model.objects.get().pk
        # The patron's own row: their session, email address, Patreon link.
        return model.objects.get(user=self.patron).pk


@pytest.fixture
def world(client_factory, fake_patreon):
    """A patron, a staff member and a superuser, each in their own browser."""
    patron, staff = client_factory(), client_factory()
    log_in(patron, "100001")
    log_in(staff, "200001")
    call_command("staff", "grant", "--patreon-id", "200001", stdout=StringIO())
    root = User.objects.create_superuser("root", "root@example.test", "pw-8c1d2e")
    superuser = client_factory()
    superuser.force_login(root)
    # Rows allauth keeps that no login of ours writes: an app configured in
    # the database (after the logins: ours is in the settings) and a token.
    app = SocialApp.objects.create(provider="other", name="Other", client_id="x")
    SocialToken.objects.create(
        app=app, account=SocialAccount.objects.get(uid="100001"), token="t"
    )
    EmailAddress.objects.filter(user__username="patreon-100001").update(verified=False)
    WebhookDelivery.objects.create(
        key="0" * 64,
        event="members:update",
        received_at=timezone.now(),
        outcome="marked",
    )
    now = timezone.now()
    SyncRun.objects.create(
        started_at=now, heartbeat_at=now, finished_at=now, outcome="complete"
    )
    return World(
        browsers={
            "anonymous": client_factory(),
            "patron": patron,
            "staff": staff,
            "superuser": superuser,
        },
        patron=User.objects.get(patreon__patreon_id="100001"),
        staff=User.objects.get(patreon__patreon_id="200001"),
        superuser=root,
    )


def walk(patterns, prefix=""):
    """(name or route, route) of every URL under ``patterns``."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, route)
        else:
            yield pattern.name or route, route


def admin_routes():
    """Every admin URL by name (or route, if unnamed), from the admin site."""
    return dict(walk(admin.site.get_urls()))


def model_of(key):
    """The registered model whose admin serves the URL ``key``, or None."""
    if key == "auth_user_password_change":  # UserAdmin keeps Django's name
        return User
    for model in admin.site._registry:
        label = f"{model._meta.app_label}_{model._meta.model_name}"
        route = f"{model._meta.app_label}/{model._meta.model_name}/"
        if key.startswith((f"{label}_", route)):
            return model
    return None


def admin_url(key, target, world):
    """The URL a browser would open for the table's row."""
    route = admin_routes()[key]
    if key == "app_list":
        route = f"{target}/"
    elif key == "(?P<url>.*)$":
        route = "no-such-page/"
    elif key == "view_on_site":
        content_type = ContentType.objects.get_for_model(User).pk
        route = f"r/{content_type}/{world.pk(User, target)}/"
    elif target is not None:
        pk = str(world.pk(model_of(key), target))
        route = re.sub(r"<(?:\w+:)?(?:object_id|id|user_id)>", pk, route)
    return reverse("admin:index") + route


def outcome(response):
    """
    A status, or "→<url name>" for a redirect to one of our pages, or
    "→<url>" for a redirect elsewhere (the frontend).
    """
    if response.status_code != 302:
        return response.status_code
    if urlsplit(response["Location"]).netloc:
        return f"→{response['Location']}"
    try:
        match = resolve(urlsplit(response["Location"]).path)
    except Resolver404:
        return f"→{response['Location']}"
    return f"→{match.view_name}"


def cases(rows, lead_columns):
    """The table's rows as pytest params: the leading columns, then per role."""
    params = []
    for row in rows:
        lead, per_role = row[:lead_columns], row[lead_columns:]
        name = " ".join(str(part) for part in lead if part is not None)
        params.append(
            pytest.param(*lead, dict(zip(ROLES, per_role, strict=True)), id=name)
        )
    return params


@pytest.mark.parametrize(("key", "target", "expected"), cases(ADMIN_URLS, 2))
def test_admin_url(world, key, target, expected):
    """Opening an admin URL changes nothing, so one world serves all roles."""
    url = admin_url(key, target, world)
    got = {}
    for role, browser in world.browsers.items():
        if key == "logout":  # a GET is refused (405); logging out is a POST
            token = browser.csrf_token()
            response = browser.post(url, {"csrfmiddlewaretoken": token})
        else:
            response = browser.get(url)
        got[role] = outcome(response)
    model = model_of(key)
    change = model and f"→admin:{model._meta.app_label}_{model._meta.model_name}_change"
    assert got == {role: change if e == CHANGE else e for role, e in expected.items()}


def test_every_admin_url_has_a_row():
    assert set(admin_routes()) == {key for key, *_ in ADMIN_URLS}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("key", "target", "expected"), cases(ADMIN_POSTS, 2))
def test_admin_post(world, role, key, target, expected):
    browser = world.browsers[role]
    url = admin_url(key, target, world)
    response = browser.post(url, {"csrfmiddlewaretoken": browser.csrf_token()})
    got = outcome(response)
    if response.status_code == 302 and got != LOGIN:
        owner = getattr(world, target or "patron")
        got = REFUSED if Session.objects.filter(user=owner).exists() else RAN
    assert got == expected[role]


def took_effect(model, action, pk, world):
    """Whether the database shows that ``action`` ran on row ``pk``."""
    if action == "make_verified":
        return EmailAddress.objects.filter(pk=pk, verified=True).exists()
    if action == "revoke_sessions":
        return not Session.objects.filter(user=pk).exists()
    if action == "revoke_all_of_users":
        return not Session.objects.filter(user=world.patron).exists()
    return not model.objects.filter(pk=pk).exists()  # deleted or revoked


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("label", "action", "target", "expected"), cases(ADMIN_ACTIONS, 3)
)
def test_admin_action(world, role, label, action, target, expected):
    """Posted as the changelist's own form posts it, confirmation included."""
    model = next(m for m in admin.site._registry if m._meta.label_lower == label)
    pk = world.pk(model, target)
    browser = world.browsers[role]
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = browser.post(
        url,
        {
            "action": action,
            "_selected_action": [str(pk)],
            "index": "0",
            "post": "yes",  # delete_selected's "Yes, I'm sure"
            "csrfmiddlewaretoken": browser.csrf_token(),
        },
    )
    got = outcome(response)
    if response.status_code in (200, 302) and got != LOGIN:
        got = RAN if took_effect(model, action, pk, world) else REFUSED
    assert got == expected[role]


def test_every_admin_action_has_a_row():
    registered = {
        (model._meta.label_lower, name)
        for model, model_admin in admin.site._registry.items()
        for _, name, _ in model_admin._get_base_actions()
    }
    assert registered == {(label, action) for label, action, *_ in ADMIN_ACTIONS}


def endpoint_url(route, target, world, browser):
    if target == "own":
        sessions = browser.get(reverse("api-sessions"))
        public_id = (
            sessions.json()["sessions"][0]["id"]
            if sessions.status_code == 200
            else "0" * 20
        )
        return "/" + route.replace("<str:public_id>", public_id)
    if target == "patron's":
        row = Session.objects.get(user=world.patron)
        return "/" + route.replace("<str:public_id>", row.public_id)
    if target and target.startswith("?"):
        return "/" + route + target
    return "/" + route


def our_routes():
    """Every route outside the admin and allauth's pages."""
    return {
        route
        for _, route in walk(get_resolver().url_patterns)
        if not route.startswith((reverse("admin:index")[1:], "accounts/"))
    }


@pytest.mark.parametrize(("method", "route", "target", "expected"), cases(ENDPOINTS, 3))
def test_endpoint(world, method, route, target, expected):
    """
    A call changes at most the caller's own sessions, so one world serves
    all roles; the patron goes last, so the others try patron 100001's
    session while it is still alive.
    """
    got = {}
    for role in ("anonymous", "staff", "superuser", "patron"):
        browser = world.browsers[role]
        url = endpoint_url(route, target, world, browser)
        headers = {}
        if method != "GET":
            headers["HTTP_X_CSRFTOKEN"] = browser.csrf_token()
        got[role] = outcome(browser.generic(method, url, **headers))
    assert got == expected


def test_every_endpoint_has_a_row():
    assert our_routes() == {route for _, route, *_ in ENDPOINTS}
