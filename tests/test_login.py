"""Log in with Patreon, end to end over real HTTP to the fake Patreon."""

import http.cookiejar
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from allauth.socialaccount.adapter import get_adapter as get_social_adapter
from allauth.socialaccount.models import SocialAccount
from django.db import connection

from accounts.models import PatreonMembership, User
from tests.conftest import API_HOST, FRONTEND_ORIGIN
from tests.patreon import CSRF_INPUT, consent, log_in, path_of, start_login

pytestmark = pytest.mark.django_db


def test_login_page_starts_the_flow_with_a_post(client):
    page = client.get("/login")
    assert b'method="post"' in page.content
    assert b"Log in with Patreon" in page.content
    # A GET must not start a login: another site could trigger it.
    assert client.get("/accounts/patreon/login/").status_code != 302


def test_authorize_request_asks_for_identity_only(client, fake_patreon):
    url = start_login(client)
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert url.startswith(f"{fake_patreon.base_url}/oauth2/authorize?")
    assert set(query["scope"][0].split()) == {"identity", "identity[email]"}
    assert query["redirect_uri"] == [
        "https://api.ventures.test/api/auth/patreon/callback"
    ]
    assert query["client_id"] == ["fake-client-id"]
    assert query["state"][0]


def test_whole_flow_shows_the_patrons_own_id_and_tiers(client, fake_patreon):
    response = log_in(client, "1001")
    assert response.status_code == 302
    assert response["Location"] == FRONTEND_ORIGIN
    body = client.me().json()
    assert body["authenticated"] is True
    assert body["patreon"]["id"] == "1001"
    assert body["patreon"]["patron_status"] == "active_patron"
    assert body["patreon"]["campaign_id"] == "9000001"
    assert body["patreon"]["tiers"]
    assert body["patreon"]["entitled_amount_cents"] > 0
    assert body["user"]["email"]


def test_identity_call_asks_for_exact_fields_and_includes(client, fake_patreon):
    log_in(client, "1001")
    [call] = [r for r in fake_patreon.requests if r["path"].endswith("/identity")]
    query = call["query"]

    def values(name):
        # Query values may come back as a string or a one-item list.
        value = query[name]
        return (value[0] if isinstance(value, list) else value).split(",")

    assert set(values("include")) == {
        "memberships.currently_entitled_tiers",
        "memberships.campaign",
    }
    assert "email" in values("fields[user]")
    assert "patron_status" in values("fields[member]")
    assert set(values("fields[tier]")) == {"title", "amount_cents"}


def test_membership_of_our_campaign_is_picked_not_the_first(
    client, fake_patreon, settings
):
    patron = "1007"  # a patron of another campaign too
    log_in(client, patron)
    body = client.me().json()
    assert body["patreon"]["campaign_id"] == settings.PATREON_CAMPAIGN_ID
    assert body["patreon"]["patron_status"] == "active_patron"


def test_membership_snapshot_is_stored(client, fake_patreon):
    log_in(client, "1001")
    snapshot = PatreonMembership.objects.get(patreon_id="1001")
    assert snapshot.patron_status == "active_patron"
    assert snapshot.tiers == client.me().json()["patreon"]["tiers"]
    assert snapshot.synced_at is not None


def test_unverified_email_is_not_trusted(client, fake_patreon):
    from allauth.account.models import EmailAddress

    patron = "1006"  # email not verified
    log_in(client, patron)
    user = User.objects.get(patreon__patreon_id=patron)
    assert not EmailAddress.objects.filter(user=user, verified=True).exists()


def test_same_patron_twice_gets_one_account(client, fake_patreon, client_factory):
    log_in(client, "1001")
    other = client_factory()
    log_in(other, "1001")
    assert User.objects.filter(patreon__patreon_id="1001").count() == 1
    assert client.me().json()["user"]["id"] == other.me().json()["user"]["id"]


def test_accounts_are_never_linked_by_email(client, fake_patreon, django_user_model):
    """A local user with the patron's email stays a different account."""
    django_user_model.objects.create(username="squatter", email="ada@example.test")
    log_in(client, "1001")
    assert client.me().json()["user"]["username"] != "squatter"


def test_two_patrons_interleaved_each_see_their_own_id(client_factory, fake_patreon):
    alice, bob = client_factory(), client_factory()
    alice_url, bob_url = start_login(alice), start_login(bob)
    bob_callback = consent(bob_url, "100002")
    alice_callback = consent(alice_url, "100001")
    alice.get(path_of(alice_callback))
    bob.get(path_of(bob_callback))
    assert alice.me().json()["patreon"]["id"] == "100001"
    assert bob.me().json()["patreon"]["id"] == "100002"


def test_next_is_honoured_for_a_frontend_page(client, fake_patreon):
    response = log_in(client, "1001", next_url=f"{FRONTEND_ORIGIN}/account?tab=1")
    assert response["Location"] == f"{FRONTEND_ORIGIN}/account?tab=1"


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "https://evil.ventures.test/",
        "http://ventures.test/",
        "javascript:alert(1)",
        "https://ventures.test.evil.example/",
    ],
)
def test_open_redirect_through_next_is_refused(client, fake_patreon, next_url):
    response = log_in(client, "1001", next_url=next_url)
    assert response["Location"] == FRONTEND_ORIGIN


def test_session_key_before_login_is_dead_after_it(client, fake_patreon, settings):
    start_login(client)  # the flow's state makes an anonymous session
    before = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert before
    log_in(client, "1001")
    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert after != before
    client.cookies[settings.SESSION_COOKIE_NAME] = before
    assert client.me().status_code == 401


def test_logout_then_replaying_the_old_cookie_gets_401(client, fake_patreon, settings):
    log_in(client, "1001")
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    token = client.csrf_token()
    response = client.post("/api/auth/logout", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    assert client.me().status_code == 401
    client.cookies[settings.SESSION_COOKIE_NAME] = cookie
    assert client.me().status_code == 401


def assert_friendly_failure(response):
    assert response.status_code in (200, 302, 401)
    if response.status_code != 302:
        assert b"<html" in response.content
        assert b"Traceback" not in response.content
        assert b"We could not log you in" in response.content


def test_tampered_state_is_refused(client, fake_patreon):
    callback = consent(start_login(client))
    response = client.get(path_of(callback.replace("state=", "state=x")))
    assert_friendly_failure(response)
    assert client.me().status_code == 401
    assert not User.objects.exists()


def test_replayed_state_and_code_are_refused(client, fake_patreon, client_factory):
    callback = consent(start_login(client))
    client.get(path_of(callback))
    assert client.me().status_code == 200
    # The same callback again, in the same browser and in another one.
    other = client_factory()
    for browser in (client, other):
        assert_friendly_failure(browser.get(path_of(callback)))
    assert other.me().status_code == 401


def test_replayed_code_is_refused_by_patreon(client, fake_patreon):
    """A code seen once (in a log, a Referer) cannot be redeemed again."""
    used = parse_qs(urlsplit(consent(start_login(client))).query)
    client.get(
        f"/api/auth/patreon/callback?code={used['code'][0]}&state={used['state'][0]}"
    )
    assert client.me().status_code == 200
    fresh = parse_qs(urlsplit(consent(start_login(client))).query)
    response = client.get(
        f"/api/auth/patreon/callback?code={used['code'][0]}&state={fresh['state'][0]}"
    )
    assert_friendly_failure(response)


def test_denied_consent_lands_on_a_friendly_page(client, fake_patreon):
    callback = consent(start_login(client), decision="deny")
    response = client.get(path_of(callback), follow=True)
    assert response.status_code == 200
    assert b"Login cancelled" in response.content
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("endpoint", "mode"),
    [
        ("token", "server_error"),
        ("token", "malformed"),
        ("token", "unauthorized"),
        ("token", "rate_limited"),
        ("identity", "server_error"),
        ("identity", "malformed"),
        ("identity", "nodata"),
        ("identity", "unauthorized"),
        ("identity", "rate_limited"),
    ],
)
def test_patreon_failure_lands_on_a_friendly_page(
    client, fake_patreon, caplog, endpoint, mode
):
    callback = consent(start_login(client))
    fake_patreon.set_fault(endpoint, mode)
    response = client.get(path_of(callback))
    assert response.status_code == 401
    assert_friendly_failure(response)
    assert client.me().status_code == 401
    assert not User.objects.exists()
    assert failure(caplog).reason == "patreon_error"


def test_patreon_timeout_lands_on_a_friendly_page(
    client, fake_patreon, settings, caplog
):
    settings.SOCIALACCOUNT_REQUESTS_TIMEOUT = 0.2
    callback = consent(start_login(client))
    fake_patreon.set_fault("identity", "slow", seconds=1)
    response = client.get(path_of(callback))
    assert_friendly_failure(response)
    assert not User.objects.exists()
    record = failure(caplog)
    assert record.reason == "patreon_timeout"
    assert "Timeout" in record.detail


def failure(caplog):
    """The one login_failed event logged."""
    [record] = [r for r in caplog.records if getattr(r, "event", "") == "login_failed"]
    return record


def test_denied_consent_is_a_login_failed_event(client, fake_patreon, caplog):
    client.get(path_of(consent(start_login(client), decision="deny")))
    assert failure(caplog).reason == "denied"


def test_a_callback_this_browser_did_not_start_is_a_state_mismatch(
    client, fake_patreon, client_factory, caplog
):
    callback = consent(start_login(client_factory()))
    assert_friendly_failure(client.get(path_of(callback)))
    assert failure(caplog).reason == "state_mismatch"


def test_no_token_reaches_a_response_the_database_or_the_log(
    client, fake_patreon, caplog
):
    from allauth.socialaccount.models import SocialAccount, SocialToken

    caplog.set_level("DEBUG")
    log_in(client, "1001")
    body = client.me().content.decode()
    tokens = fake_patreon.issued_tokens
    assert tokens
    stored = json.dumps(list(SocialAccount.objects.values("extra_data")))
    for token in tokens:
        assert token not in body
        assert token not in caplog.text
        assert token not in stored
    assert not SocialToken.objects.exists()


# Many patrons at once, over real HTTP to a live server.

LIVE_TIMEOUT = 10  # seconds for each HTTP call


class LoopbackCookiePolicy(http.cookiejar.DefaultCookiePolicy):
    """Send the Secure, __Host- cookies back over the live server's plain http."""

    def return_ok_secure(self, cookie, request):
        return True


class LiveBrowser(requests.Session):
    """One person's browser, at ``ip``, with its own cookies, through the proxy."""

    def __init__(self, ip):
        super().__init__()
        self.cookies.set_policy(LoopbackCookiePolicy())
        # What the proxy adds: people have their own addresses (and so their
        # own rate limits), and they spoke https to it.
        self.headers["X-Forwarded-For"] = ip
        self.headers["X-Forwarded-Proto"] = "https"

    def prepare_request(self, request):
        # requests copies the cookies into a jar with the default policy,
        # which keeps Secure cookies off http: ask our own jar instead.
        prepared = super().prepare_request(request)
        prepared.headers.pop("Cookie", None)
        prepared.prepare_cookies(self.cookies)
        return prepared


@pytest.fixture
def live(live_server, fake_patreon, settings):
    """The live server behind a TLS proxy on loopback, as browsers reach it."""
    settings.TRUSTED_PROXIES = ["127.0.0.1", "::1"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    host = urlsplit(live_server.url).hostname
    if host not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, host]
    settings.CSRF_TRUSTED_ORIGINS = [*settings.CSRF_TRUSTED_ORIGINS, live_server.url]
    return live_server.url


@pytest.fixture
def live_browser():
    """Make browsers; close them after the test, so the server's threads end."""
    browsers = []

    def make(ip):
        browsers.append(LiveBrowser(ip))
        return browsers[-1]

    yield make
    for browser in browsers:
        browser.close()


@pytest.fixture
def workers():
    """
    Requests at once. SQLite's in-memory test database is one connection
    shared by all the live server's threads, which cannot run queries side by
    side: there the flows still interleave, but one request at a time.
    """
    return 1 if connection.vendor == "sqlite" else 10


def live_start(browser, live_url):
    """Open the login page and press the button; return the authorize URL."""
    page = browser.get(f"{live_url}/login", timeout=LIVE_TIMEOUT)
    assert page.status_code == 200, page.status_code
    response = browser.post(
        f"{live_url}/accounts/patreon/login/",
        data={"csrfmiddlewaretoken": CSRF_INPUT.search(page.text)[1]},
        headers={"Origin": live_url, "Referer": f"{live_url}/login"},
        allow_redirects=False,
        timeout=LIVE_TIMEOUT,
    )
    assert response.status_code == 302, response.status_code
    return response.headers["Location"]


def live_finish(browser, live_url, callback):
    """Land on the callback (Patreon sends https://; the live server is http)."""
    response = browser.get(
        f"{live_url}{path_of(callback)}", allow_redirects=False, timeout=LIVE_TIMEOUT
    )
    assert response.status_code == 302, response.status_code
    assert response.headers["Location"] == FRONTEND_ORIGIN
    me = browser.get(f"{live_url}/api/auth/me", timeout=LIVE_TIMEOUT)
    assert me.status_code == 200, me.status_code
    return me.json()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_fifty_patrons_logging_in_at_once_each_see_their_own_id(
    live, live_browser, workers
):
    patrons = [str(n) for n in range(100100, 100150)]
    browsers = {p: live_browser(f"198.51.100.{n}") for n, p in enumerate(patrons, 1)}
    errors = {}

    def phase(order, step):
        """Run ``step(patron)`` for every patron still going, in ``order``."""

        def run(patron):
            if patron in errors:
                return None
            try:
                return step(patron)
            except Exception as error:
                errors[patron] = f"{step.__name__}: {error!r}"
                return None

        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {p: pool.submit(run, p) for p in order}
            return {p: future.result(timeout=120) for p, future in futures.items()}

    def start(patron):
        return live_start(browsers[patron], live)

    def allow(patron):
        return consent(authorize[patron], patron)

    def finish(patron):
        return live_finish(browsers[patron], live, callbacks[patron])

    began = time.monotonic()
    # All fifty flows are open at once, and each phase runs in another order.
    authorize = phase(patrons, start)
    callbacks = phase(patrons[::-1], allow)
    bodies = phase(random.sample(patrons, len(patrons)), finish)
    print(
        f"\n{len(patrons) - len(errors)}/{len(patrons)} logins, {workers} at once, "
        f"in {time.monotonic() - began:.1f}s, {len(errors)} errors {errors or ''}"
    )

    assert errors == {}
    assert {p: body["patreon"]["id"] for p, body in bodies.items()} == {
        p: p for p in patrons
    }
    assert len({body["user"]["id"] for body in bodies.values()}) == len(patrons)
    assert User.objects.filter(patreon__patreon_id__in=patrons).count() == len(patrons)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_same_patron_logging_in_twice_at_once_gets_one_account(
    live, live_browser, workers
):
    patron = "100200"
    browsers = [live_browser("203.0.113.1"), live_browser("203.0.113.2")]
    callbacks = [consent(live_start(b, live), patron) for b in browsers]
    # Both callbacks land at the same moment (one after the other on SQLite).
    at_once = min(workers, len(browsers))
    together = threading.Barrier(at_once, timeout=LIVE_TIMEOUT)

    def finish(browser, callback):
        together.wait()
        return live_finish(browser, live, callback)

    with ThreadPoolExecutor(max_workers=at_once) as pool:
        futures = [
            pool.submit(finish, b, c) for b, c in zip(browsers, callbacks, strict=True)
        ]
        bodies = [future.result(timeout=60) for future in futures]

    assert [body["patreon"]["id"] for body in bodies] == [patron, patron]
    assert bodies[0]["user"]["id"] == bodies[1]["user"]["id"]
    assert User.objects.count() == 1


# Identity is the Patreon id, for good (docs/security.md, "Identity").


def log_in_as(client, fake_patreon, patron, **attributes):
    """Log in as ``patron``, whose Patreon profile says ``attributes``."""
    fake_patreon.set_fault("identity", "attributes", attributes=attributes)
    try:
        return log_in(client, patron)
    finally:
        fake_patreon.clear_faults()


def press_login(client, **form):
    """POST the login page's form with ``form`` added, as a browser could."""
    page = client.get("/login").content.decode()
    form["csrfmiddlewaretoken"] = CSRF_INPUT.search(page)[1]
    return client.post("/accounts/patreon/login/", form)


def test_a_display_name_never_becomes_a_username(client_factory, fake_patreon):
    """Issue 12, point 7: a patron named "patreon-7777778 …" took that username."""
    mallory, victim = client_factory(), client_factory()
    log_in_as(
        mallory,
        fake_patreon,
        "1000001",
        full_name="patreon-7777778 x",
        first_name="patreon-7777778",
        last_name="x",
        email="patreon-7777778@example.test",
    )
    log_in(victim, "7777778")
    assert mallory.me().json()["user"]["username"] == "patreon-1000001"
    assert victim.me().json()["user"]["username"] == "patreon-7777778"


def test_connecting_another_patreon_account_is_refused(client, fake_patreon, caplog):
    log_in(client, "1000001")
    user_id = client.me().json()["user"]["id"]
    response = press_login(client, process="connect")
    assert response.status_code == 400
    assert b"cannot be connected" in response.content
    assert not fake_patreon.requests[-1]["path"].endswith("/authorize")
    record = failure(caplog)
    assert (record.reason, record.user_id) == ("connect_refused", user_id)
    assert client.me().json()["user"]["id"] == user_id  # still logged in, unchanged


@pytest.mark.parametrize("process", ["redirect", "x" * 1000])
def test_any_process_but_login_is_refused(client, fake_patreon, process):
    assert press_login(client, process=process).status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/3rdparty/",
        "/accounts/3rdparty/signup/",
        "/accounts/social/connections/",
        "/accounts/social/signup/",
    ],
)
def test_the_connections_pages_are_not_there(client, fake_patreon, path):
    log_in(client, "1000001")
    account = SocialAccount.objects.get()
    page = client.get("/login").content.decode()
    token = CSRF_INPUT.search(page)[1]
    assert client.get(path).status_code == 404
    # A disconnect as allauth's page takes it, with and without a CSRF token.
    form = {"account": account.pk, "action": "disconnect"}
    assert client.post(path, form).status_code == 404
    assert client.post(path, {**form, "csrfmiddlewaretoken": token}).status_code == 404
    assert SocialAccount.objects.get() == account


def test_a_patron_whose_social_account_row_is_gone_comes_back_to_their_user(
    client, fake_patreon, client_factory
):
    """
    Issue 12, point 8: after a disconnect (or a deletion in the admin) the
    next login made a second user and failed on the membership's patreon_id.
    """
    log_in(client, "1000001")
    user_id = client.me().json()["user"]["id"]
    SocialAccount.objects.all().delete()
    again = client_factory()
    assert log_in(again, "1000001").status_code == 302
    assert again.me().json()["user"]["id"] == user_id
    assert again.me().json()["user"]["username"] == "patreon-1000001"
    assert User.objects.count() == PatreonMembership.objects.count() == 1
    assert SocialAccount.objects.get().user_id == user_id


def test_a_login_that_loses_the_race_for_the_account_logs_in_to_the_winner(
    client, fake_patreon, rf
):
    """
    Two first logins of one patron at once (two tabs): allauth looked for the
    account before the other login made it. The loser logs in to that one
    instead of failing on the account's unique key.
    """
    log_in(client, "1000001")
    user = User.objects.get()
    SocialAccount.objects.all().delete()
    request = rf.get("/", secure=True, HTTP_HOST=API_HOST)
    provider = get_social_adapter().get_provider(request, "patreon")
    sociallogin = provider.sociallogin_from_response(
        request, {"id": "1000001", "attributes": {}, "membership": {}}
    )
    sociallogin.lookup()
    assert not sociallogin.is_existing
    winner = SocialAccount.objects.create(user=user, provider="patreon", uid="1000001")
    get_social_adapter().pre_social_login(request, sociallogin)
    assert (sociallogin.account.pk, sociallogin.user.pk) == (winner.pk, user.pk)
    assert SocialAccount.objects.get() == winner


def test_a_username_held_by_a_hand_made_account_refuses_the_login(
    client, fake_patreon, django_user_model, caplog
):
    django_user_model.objects.create(username="patreon-1000001")
    response = log_in(client, "1000001")
    assert response.status_code == 409
    assert b"held by another account" in response.content
    assert failure(caplog).reason == "identity_conflict"
    assert client.me().status_code == 401
    assert User.objects.count() == 1
    assert not SocialAccount.objects.exists()
    assert not PatreonMembership.objects.exists()


def test_a_deactivated_user_s_login_is_a_login_failed_event(
    client, fake_patreon, client_factory, caplog
):
    log_in(client_factory(), "1000001")
    User.objects.update(is_active=False)
    log_in(client, "1000001")
    assert client.me().status_code == 401
    assert failure(caplog).reason == "user_inactive"


# A login is one transaction: a step refused by the database for real.

REFUSE_MEMBERSHIP = {
    "sqlite": [
        "CREATE TRIGGER refuse_insert BEFORE INSERT ON accounts_patreonmembership "
        "BEGIN SELECT RAISE(ABORT, 'membership refused'); END",
        "CREATE TRIGGER refuse_update BEFORE UPDATE ON accounts_patreonmembership "
        "BEGIN SELECT RAISE(ABORT, 'membership refused'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_membership() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'membership refused' USING ERRCODE = 'check_violation'; "
        "END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_membership BEFORE INSERT OR UPDATE "
        "ON accounts_patreonmembership "
        "FOR EACH ROW EXECUTE FUNCTION refuse_membership()",
    ],
}


def refuse_memberships():
    """From now on (until the test's transaction ends) no membership is written."""
    with connection.cursor() as cursor:
        for statement in REFUSE_MEMBERSHIP[connection.vendor]:
            cursor.execute(statement)


def assert_database_failure(response, caplog, reason):
    assert response.status_code in (500, 503)
    assert b"We could not log you in" in response.content
    assert b"Nothing was changed" in response.content
    assert failure(caplog).reason == reason


def test_a_new_patron_whose_membership_cannot_be_written_leaves_nothing(
    client, fake_patreon, caplog
):
    from allauth.account.models import EmailAddress

    refuse_memberships()
    response = log_in(client, "1001")
    assert_database_failure(response, caplog, "database_error")
    assert client.me().status_code == 401
    assert not User.objects.exists()
    assert not SocialAccount.objects.exists()
    assert not EmailAddress.objects.exists()
    assert not PatreonMembership.objects.exists()


def test_a_returning_patron_whose_membership_cannot_be_written_changes_nothing(
    client, fake_patreon, client_factory, caplog
):
    log_in(client_factory(), "1001")
    before = User.objects.get()
    refuse_memberships()
    response = log_in_as(client, fake_patreon, "1001", full_name="Someone Else")
    assert_database_failure(response, caplog, "database_error")
    assert client.me().status_code == 401
    after = User.objects.get()
    assert (after.name, after.last_login) == (before.name, before.last_login)


@contextmanager
def membership_table_locked(readers_too=False):
    """
    Another connection holds a write lock on the membership table (that
    keeps out readers too if ``readers_too``): SQLite answers "database table
    is locked" at once, PostgreSQL waits for its lock_timeout (set short
    here) and gives up.
    """
    from django.db import connections

    other = connections.create_connection("default")
    raw = other.get_new_connection(other.get_connection_params())
    try:
        cursor = raw.cursor()
        if connection.vendor == "sqlite":
            raw.isolation_level = None
            cursor.execute("BEGIN IMMEDIATE")
            cursor.execute("DELETE FROM accounts_patreonmembership WHERE 0")
            # The test database is in memory, one cache shared by connections,
            # where a write lock blocks readers too; in a database file they
            # read on while a writer works (and only writers are refused).
            with connection.cursor() as ours:
                ours.execute(f"PRAGMA read_uncommitted = {int(not readers_too)}")
        else:
            mode = "ACCESS EXCLUSIVE" if readers_too else "SHARE"
            cursor.execute(f"LOCK TABLE accounts_patreonmembership IN {mode} MODE")
            with connection.cursor() as ours:
                ours.execute("SET lock_timeout = '200ms'")
        yield
    finally:
        raw.rollback()
        raw.close()
        with connection.cursor() as ours:
            if connection.vendor == "sqlite":
                ours.execute("PRAGMA read_uncommitted = 0")
            else:
                ours.execute("RESET lock_timeout")


@pytest.mark.django_db(transaction=True)
def test_a_busy_database_is_a_friendly_page_and_leaves_nothing(
    client, fake_patreon, caplog
):
    callback = consent(start_login(client), "1001")
    with membership_table_locked():
        response = client.get(path_of(callback))
    assert_database_failure(response, caplog, "database_busy")
    assert response.status_code == 503
    assert response["Retry-After"]
    assert client.me().status_code == 401
    assert not User.objects.exists()
    assert not SocialAccount.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_database_failing_before_the_callback_view_is_a_login_failed_event(
    client, fake_patreon, caplog
):
    """Loading the session (in a middleware) is the login's first query."""
    callback = consent(start_login(client), "1001")
    client.raise_request_exception = False
    with membership_table_locked(readers_too=True):
        response = client.get(path_of(callback))
    assert response.status_code == 503
    assert b"briefly unavailable" in response.content
    assert failure(caplog).reason == "database_busy"
    assert not User.objects.exists()


# Odd identities: whatever Patreon's profile holds, the login works.

ODD_ATTRIBUTES = {
    "a full name of 10,000 characters": {"full_name": "A" * 10_000},
    "a full name without a space, longer than first_name": {
        "full_name": "B" * 300,
        "first_name": None,
        "last_name": None,
    },
    "names of 10,000 characters": {
        "first_name": "C" * 10_000,
        "last_name": "D" * 10_000,
    },
    "a NUL in every string": {
        "full_name": "Ada\x00 Lovelace",
        "first_name": "Ada\x00",
        "last_name": "\x00",
        "email": "ada\x00@example.test",
        "thumb_url": "https://c8.patreon.com/\x00",
        "vanity": "\x00",
    },
    "right-to-left overrides": {"full_name": "\u202eecalevoL adA\u202c"},
    "markup": {"full_name": "<script>alert(1)</script>", "first_name": "<b id=odd>"},
    "numbers": {
        "full_name": 5,
        "first_name": 1,
        "last_name": 2.5,
        "email": 3,
        "thumb_url": 4,
        "image_url": 5,
        "vanity": 6,
        "is_email_verified": 1,
    },
    "objects": {
        "full_name": {"a": 1},
        "first_name": {},
        "last_name": {"b": [1]},
        "email": {"address": "ada@example.test"},
        "thumb_url": {"url": "https://c8.patreon.com/1"},
        "image_url": {},
        "is_email_verified": {"yes": True},
    },
    "lists": {"full_name": ["Ada"], "email": ["ada@example.test"], "thumb_url": []},
    "nulls": dict.fromkeys(
        ["full_name", "first_name", "last_name", "email", "thumb_url", "image_url"]
    ),
    "true and false": {"full_name": True, "email": False, "is_email_verified": "true"},
    "a thumb URL over 1,000 characters": {
        "thumb_url": "https://c8.patreon.com/" + "t" * 2000
    },
    "an email over the column": {"email": "a" * 300 + "@example.test"},
    "no email but markup in it": {"email": "<script>@example.test"},
    "a javascript: avatar": {"thumb_url": "javascript:alert(1)", "image_url": None},
}


@pytest.mark.parametrize(
    "attributes", ODD_ATTRIBUTES.values(), ids=ODD_ATTRIBUTES.keys()
)
def test_an_odd_patreon_profile_still_logs_the_patron_in(
    client, fake_patreon, superuser, attributes
):
    from allauth.account.models import EmailAddress

    response = log_in_as(client, fake_patreon, "1001", **attributes)
    assert response.status_code == 302, response.content[:500]
    body = client.me().json()
    assert body["patreon"]["id"] == "1001"
    assert body["user"]["username"] == "patreon-1001"
    user = User.objects.get(patreon__patreon_id="1001")
    for value in (user.name, user.first_name, user.last_name, user.email):
        assert "\x00" not in value
        assert "\u202e" not in value
    assert len(user.name) <= 255
    assert len(user.first_name) <= 150
    assert len(user.last_name) <= 150
    assert user.avatar_url == "" or user.avatar_url.startswith("https://")
    verified = attributes.get("is_email_verified", True) is True  # 1001's is
    for address in EmailAddress.objects.filter(user=user):
        assert address.email == user.email
        assert address.verified == verified
    # Shown escaped wherever shown: the login page and the admin.
    pages = [
        client.get("/login").content,
        superuser.get(f"/admin/accounts/user/{user.pk}/change/").content,
        superuser.get("/admin/accounts/user/").content,
    ]
    for page in pages:
        assert b"<script>alert" not in page
        assert b"<b id=odd>" not in page


def test_markup_in_a_name_is_shown_as_text(client, fake_patreon):
    log_in_as(client, fake_patreon, "1001", full_name="<i>Ada</i>")
    assert b"&lt;i&gt;Ada&lt;/i&gt;" in client.get("/login").content
    assert client.me().json()["user"]["name"] == "<i>Ada</i>"


def test_a_membership_left_on_another_user_by_the_old_connect_pages_moves(
    client, fake_patreon, client_factory, django_user_model
):
    """The old pages could move a social account away from its membership."""
    log_in(client_factory(), "1000001")
    other = django_user_model.objects.create(username="connected-it")
    SocialAccount.objects.update(user=other)
    assert log_in(client, "1000001").status_code == 302
    assert client.me().json()["user"]["id"] == other.pk
    assert PatreonMembership.objects.get(patreon_id="1000001").user_id == other.pk
    assert PatreonMembership.objects.count() == 1
