"""
Django 5.2's own session store contract (tests/sessions_tests in Django's
source archive), run against sessions.store: ``SessionTestsMixin`` through
``CustomDatabaseSessionTests`` (a store with its own model, as ours is), and
``SessionMiddlewareTests`` with our store as SESSION_ENGINE.

Every test the mixin has runs; the few whose expectation differs on purpose
are overridden below with our behaviour, each pointing to its entry in
docs/peer-contracts.md. Then the contract points this project chose to
honour, tested through the real middleware: set_expiry() shortens a session
but never lengthens it, Session.objects.save() works on our table, and
SESSION_COOKIE_AGE cannot silently diverge from the policy.
"""

from datetime import UTC, datetime, timedelta
from types import ModuleType

import pytest
import time_machine
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from sessions import checks, models
from sessions.models import Session
from sessions.store import SessionStore, hash_key
from tests.patreon import log_in
from tests.peers.sources import import_peer


def _module(name, **attributes):
    module = ModuleType(name)
    module.__dict__.update(attributes)
    return module


# tests.py imports Django's Session model and its own custom session model at
# module level; neither can be defined here (django.contrib.sessions is not
# installed: the sessions app has its label and its table), so both names
# stand for ours, the custom database session under test.
django_sessions_tests = import_peer(
    "sessions_tests.tests",
    stand_ins={
        "django.contrib.sessions.models": _module(
            "django.contrib.sessions.models", Session=Session
        ),
        "sessions_tests.models": _module(
            "sessions_tests.models", SessionStore=SessionStore
        ),
    },
)

T0 = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)
FIVE_MINUTES = 5 * 60


def frozen():
    return time_machine.travel(T0, tick=False)


class SessionStoreContractTests(django_sessions_tests.CustomDatabaseSessionTests):
    backend = SessionStore
    session_engine = "sessions.store"

    # Deviation 2 (policy expiry): a new session lives SESSION_ANONYMOUS_TIMEOUT.

    def _assert_policy_age(self, age):
        assert age == settings.SESSION_ANONYMOUS_TIMEOUT

    @frozen()
    def test_default_expiry(self):
        """docs/peer-contracts.md, deviation 2: the default age is the policy's."""
        self._assert_policy_age(self.session.get_expiry_age())
        self.session.set_expiry(0)
        self._assert_policy_age(self.session.get_expiry_age())

    @frozen()
    def test_default_expiry_async(self):
        """docs/peer-contracts.md, deviation 2: the default age is the policy's."""
        self._assert_policy_age(async_to_sync(self.session.aget_expiry_age)())
        async_to_sync(self.session.aset_expiry)(0)
        self._assert_policy_age(async_to_sync(self.session.aget_expiry_age)())

    @frozen()
    def test_custom_expiry_reset(self):
        """docs/peer-contracts.md, deviation 2: reset to the policy's age."""
        self.session.set_expiry(None)
        self.session.set_expiry(10)
        self.session.set_expiry(None)
        self._assert_policy_age(self.session.get_expiry_age())

    @frozen()
    def test_custom_expiry_reset_async(self):
        """docs/peer-contracts.md, deviation 2: reset to the policy's age."""
        async_to_sync(self.session.aset_expiry)(None)
        async_to_sync(self.session.aset_expiry)(10)
        async_to_sync(self.session.aset_expiry)(None)
        self._assert_policy_age(async_to_sync(self.session.aget_expiry_age)())

    # Deviation 1 (hashed keys): the row's key is a keyed hash of the cookie's.

    def _row(self):
        return self.model.objects.get(session_key=hash_key(self.session.session_key))

    def test_session_str(self):
        """docs/peer-contracts.md, deviation 1: a row reads as its key's hash."""
        self.session["x"] = 1
        self.session.save()
        row = self._row()
        assert str(row) == hash_key(self.session.session_key)
        assert self.session.session_key not in str(row)

    def test_session_get_decoded(self):
        """docs/peer-contracts.md, deviation 1: the row is found by the hash."""
        self.session["x"] = 1
        self.session.save()
        assert self._row().get_decoded() == {"x": 1}

    def test_sessionmanager_save(self):
        """
        docs/peer-contracts.md, deviation 1: Session.objects.save() takes
        the cookie's key (what the row's key would have been in Django).
        """
        self.session["y"] = 1
        self.session.save()
        row = self._row()
        self.model.objects.save(self.session.session_key, {"y": 2}, row.expire_date)
        del self.session._session_cache
        assert self.session["y"] == 2
        assert self._row().get_decoded() == {"y": 2}
        assert self.model.objects.count() == 1

    def test_extra_session_field(self):
        """
        docs/peer-contracts.md, deviation 3: the extra column is the owner,
        a foreign key, so the session names a real user.
        """
        user = get_user_model().objects.create(username="ada")
        self.session["_auth_user_id"] = str(user.pk)
        self.session.save()
        assert self._row().user_id == user.pk
        self.session.pop("_auth_user_id")
        self.session.save()
        assert self._row().user_id is None


class SessionMiddlewareContractTests(django_sessions_tests.SessionMiddlewareTests):
    # Deviation 4 (cookie names): our cookie is __Host-sessionid, and Django
    # marks the deletion of a prefixed cookie Secure.

    def _deleted_cookie(self, response, attributes):
        assert (
            str(response.cookies[settings.SESSION_COOKIE_NAME])
            == f'Set-Cookie: {settings.SESSION_COOKIE_NAME}=""; {attributes}; '
            f"Max-Age=0; Path={settings.SESSION_COOKIE_PATH}; "
            f"SameSite={settings.SESSION_COOKIE_SAMESITE}; Secure"
        )
        assert response.headers["Vary"] == "Cookie"

    def _ending_session(self):
        def response_ending_session(request):
            request.session.flush()
            return HttpResponse("Session test")

        request = self.request_factory.get("/")
        request.COOKIES[settings.SESSION_COOKIE_NAME] = "abc"
        return SessionMiddleware(response_ending_session)(request)

    def test_session_delete_on_end(self):
        """docs/peer-contracts.md, deviation 4: the deletion is Secure."""
        assert settings.SESSION_COOKIE_NAME == "__Host-sessionid"
        self._deleted_cookie(
            self._ending_session(), "expires=Thu, 01 Jan 1970 00:00:00 GMT"
        )

    @override_settings(
        SESSION_COOKIE_DOMAIN=".example.local",
        SESSION_COOKIE_PATH="/example/",
        # What ventures.settings names the cookie once it has a Domain.
        SESSION_COOKIE_NAME="__Secure-sessionid",
    )
    def test_session_delete_on_end_with_custom_domain_and_path(self):
        """docs/peer-contracts.md, deviation 4: the deletion is Secure."""
        self._deleted_cookie(
            self._ending_session(),
            "Domain=.example.local; expires=Thu, 01 Jan 1970 00:00:00 GMT",
        )

    def test_empty_session_saved(self):
        """
        docs/peer-contracts.md, deviations 1 and 4: the row is found by the
        key's hash, and the cookie is __Host-sessionid.
        """

        def response_set_session(request):
            request.session["foo"] = "bar"
            return HttpResponse("Session test")

        request = self.request_factory.get("/")
        middleware = SessionMiddleware(response_set_session)
        response = middleware(request)
        key = request.session.session_key
        assert f"Set-Cookie: __Host-sessionid={key}" in str(response.cookies)
        del request.session["foo"]
        response = middleware.process_response(request, HttpResponse("Session test"))
        assert Session.objects.get(pk=hash_key(key)).get_decoded() == {}
        assert f"Set-Cookie: __Host-sessionid={key}" in str(response.cookies)
        assert response.headers["Vary"] == "Cookie"

    def test_session_update_error_redirect(self):
        """
        docs/peer-contracts.md, deviation 5: the same test with our store,
        Django's own database store having no table here.
        """

        def response_delete_session(request):
            request.session = SessionStore()
            request.session.save(must_create=True)
            request.session.delete()
            return HttpResponse()

        request = self.request_factory.get("/foo/")
        with self.assertRaisesMessage(
            SessionInterrupted, "The request's session was deleted before"
        ):
            SessionMiddleware(response_delete_session)(request)


# OUR SIDE OF THE CONTRACT
# ------------------------------------------------------------------------------

pytestmark = pytest.mark.django_db


@pytest.fixture
def login_clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture
def cookie_key(client, fake_patreon, login_clock, settings):
    """The cookie key of patron 1001, logged in at T0."""
    log_in(client, "1001")
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def through_middleware(key, view):
    """One request carrying the session cookie ``key`` through Django's middleware."""
    request = RequestFactory().get("/")
    request.COOKIES[settings.SESSION_COOKIE_NAME] = key

    def respond(request):
        view(request.session)
        return HttpResponse()

    return SessionMiddleware(respond)(request).cookies[settings.SESSION_COOKIE_NAME]


def row_expiry(key):
    return Session.objects.get(pk=hash_key(key)).expire_date


@pytest.mark.parametrize(
    "asked",
    [FIVE_MINUTES, timedelta(minutes=5), T0 + timedelta(minutes=5)],
    ids=["seconds", "timedelta", "datetime"],
)
def test_a_five_minute_expiry_is_honoured_by_the_row_and_the_cookie(cookie_key, asked):
    cookie = through_middleware(cookie_key, lambda session: session.set_expiry(asked))
    assert cookie["max-age"] == FIVE_MINUTES
    assert row_expiry(cookie_key) == T0 + timedelta(minutes=5)


def test_a_five_minute_session_is_refused_after_five_minutes(
    client, cookie_key, login_clock
):
    through_middleware(cookie_key, lambda session: session.set_expiry(FIVE_MINUTES))
    login_clock.move_to(T0 + timedelta(seconds=FIVE_MINUTES - 1), tick=False)
    assert client.get("/api/auth/me").status_code == 200
    login_clock.move_to(T0 + timedelta(seconds=FIVE_MINUTES + 1), tick=False)
    assert client.get("/api/auth/me").status_code == 401


@pytest.mark.parametrize(
    "asked",
    [30 * 24 * 3600, timedelta(days=30), T0 + timedelta(days=30)],
    ids=["seconds", "timedelta", "datetime"],
)
def test_a_thirty_day_expiry_is_capped_at_the_policy(cookie_key, settings, asked):
    cookie = through_middleware(cookie_key, lambda session: session.set_expiry(asked))
    assert cookie["max-age"] == settings.SESSION_IDLE_TIMEOUT
    assert row_expiry(cookie_key) == T0 + timedelta(
        seconds=settings.SESSION_IDLE_TIMEOUT
    )


def test_an_expiry_of_zero_gives_a_browser_session_cookie_and_the_policy_row(
    cookie_key, settings
):
    cookie = through_middleware(cookie_key, lambda session: session.set_expiry(0))
    assert cookie.value == cookie_key
    assert not cookie["max-age"]
    assert not cookie["expires"]
    assert row_expiry(cookie_key) == T0 + timedelta(
        seconds=settings.SESSION_IDLE_TIMEOUT
    )


def test_the_managers_save_puts_the_encoded_data_under_the_keys_hash(cookie_key):
    row = Session.objects.get(pk=hash_key(cookie_key))
    data = {**row.get_decoded(), "theme": "dark"}
    Session.objects.save(cookie_key, data, T0 + timedelta(minutes=5))
    [saved] = Session.objects.all()
    assert saved.pk == hash_key(cookie_key)
    assert saved.get_decoded() == data
    assert saved.expire_date == T0 + timedelta(minutes=5)
    assert (saved.user_id, saved.created_at) == (row.user_id, row.created_at)


def test_the_managers_save_never_extends_a_session_past_the_policy(
    cookie_key, settings
):
    row = Session.objects.get(pk=hash_key(cookie_key))
    Session.objects.save(cookie_key, row.get_decoded(), T0 + timedelta(days=365))
    assert row_expiry(cookie_key) == row.expire_date


def test_the_managers_save_of_empty_data_ends_the_session(client, cookie_key):
    Session.objects.save(cookie_key, {}, T0 + timedelta(days=1))
    assert not Session.objects.exists()
    assert client.get("/api/auth/me").status_code == 401


def test_a_cookie_age_other_than_the_absolute_limit_is_refused(settings):
    settings.SESSION_COOKIE_AGE = settings.SESSION_ABSOLUTE_TIMEOUT + 1
    assert checks.check_cookie_age() == [checks.E004]
    with pytest.raises(SystemCheckError, match=r"sessions\.E004"):
        call_command("check")


def test_the_projects_cookie_age_is_the_absolute_limit():
    assert checks.check_cookie_age() == []
    assert models.Session.get_session_store_class() is SessionStore
