"""
sessions.store: Django's store contract, keyed hashes, owners,
timeouts and cleanup, as a user (or someone holding a stolen cookie, a
database dump or a log) would see them.
"""

import json
import math
import random
import string
from collections import Counter
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.contrib.auth import alogin
from django.contrib.sessions.backends.base import UpdateError
from django.core.management.utils import get_random_secret_key
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from sessions.models import Session
from sessions.store import SessionStore, hash_key
from tests.conftest import API_HOST
from tests.patreon import consent, log_in, path_of, start_login
from tests.sessions.conftest import T0

pytestmark = pytest.mark.django_db

HOUR = 3600


def run(coroutine_function, *args):
    """Run an async store method from a test, on the test's database connection."""
    return async_to_sync(coroutine_function)(*args)


def saved(**data):
    """A session saved with ``data``; return its cookie key."""
    store = SessionStore()
    store.update(data)
    store.save()
    return store.session_key


def row_for(key):
    return Session.objects.get(pk=hash_key(key))


def cookie(client, settings):
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def ada():
    return User.objects.get(patreon__patreon_id="1001")


# THE STORE CONTRACT
# ------------------------------------------------------------------------------
# A compact version of Django's own SessionTestsMixin.


def test_a_new_session_has_no_key_and_no_data():
    store = SessionStore()
    assert store.session_key is None
    assert not store.modified
    assert not store.accessed
    assert dict(store.items()) == {}


def test_saved_data_loads_back_from_the_key():
    key = saved(name="Ada", tiers=[1, 2])
    assert SessionStore(key).load() == {"name": "Ada", "tiers": [1, 2]}


def test_the_store_reads_and_writes_like_a_dict():
    store = SessionStore()
    store["a"] = 1
    store.update({"b": 2})
    assert store.setdefault("c", 3) == 3
    assert store.setdefault("a", 9) == 1
    assert store.pop("b") == 2
    assert store.pop("missing", "default") == "default"
    assert sorted(store.keys()) == ["a", "c"]
    assert "a" in store
    del store["a"]
    assert store.get("a") is None


def test_reading_marks_the_session_accessed_not_modified():
    store = SessionStore(saved(name="Ada"))
    assert store.get("name") == "Ada"
    assert store.accessed
    assert not store.modified


def test_writing_marks_the_session_modified():
    store = SessionStore(saved(name="Ada"))
    store["name"] = "Grace"
    assert store.accessed
    assert store.modified


def test_popping_a_missing_key_does_not_mark_the_session_modified():
    store = SessionStore(saved(name="Ada"))
    store.pop("missing", None)
    assert not store.modified


def test_cycle_key_keeps_the_data_under_a_new_key():
    old = saved(name="Ada")
    store = SessionStore(old)
    store.cycle_key()
    assert store.session_key != old
    assert SessionStore(store.session_key).load() == {"name": "Ada"}


def test_cycle_key_kills_the_old_key():
    old = saved(name="Ada")
    SessionStore(old).cycle_key()
    assert SessionStore(old).load() == {}
    assert Session.objects.count() == 1


def test_flush_deletes_the_row_and_forgets_the_key():
    key = saved(name="Ada")
    store = SessionStore(key)
    store.flush()
    assert store.session_key is None
    assert dict(store.items()) == {}
    assert not Session.objects.exists()
    assert SessionStore(key).load() == {}


def test_exists_is_true_only_for_a_saved_key():
    key = saved(name="Ada")
    assert SessionStore().exists(key)
    assert not SessionStore().exists(key[::-1])


def test_delete_by_key_ends_that_session_only():
    doomed, kept = saved(name="Ada"), saved(name="Grace")
    SessionStore().delete(doomed)
    assert SessionStore(doomed).load() == {}
    assert SessionStore(kept).load() == {"name": "Grace"}


def test_delete_without_a_key_ends_the_stores_own_session():
    key = saved(name="Ada")
    SessionStore(key).delete()
    assert not SessionStore().exists(key)


def test_delete_of_an_unsaved_session_does_nothing():
    saved(name="Ada")
    SessionStore().delete()
    assert Session.objects.count() == 1


def test_clear_empties_the_data_and_marks_it_modified():
    key = saved(name="Ada")
    store = SessionStore(key)
    store.clear()
    assert store.modified
    store.save()
    assert SessionStore(key).load() == {}


def test_loading_an_unknown_key_gives_an_empty_session_and_a_new_key_on_save():
    chosen = "attackerchosenkey0123456789abcdef"
    store = SessionStore(chosen)
    assert store.load() == {}
    assert store.session_key is None
    store["name"] = "Ada"
    store.save()
    assert store.session_key != chosen
    assert not SessionStore().exists(chosen)


def test_loading_an_unknown_key_creates_no_row():
    SessionStore("neversavedkey0123456789abcdef").load()
    assert not Session.objects.exists()


def test_a_save_does_not_resurrect_a_session_deleted_elsewhere():
    """A logout in another request is not undone by this one finishing."""
    key = saved(name="Ada")
    store = SessionStore(key)
    store["cart"] = 1
    SessionStore(key).delete()
    with pytest.raises(UpdateError):
        store.save()
    assert not Session.objects.exists()


def test_a_tampered_row_loads_as_an_empty_session():
    key = saved(user="1")
    Session.objects.filter(pk=hash_key(key)).update(session_data="tampered:data")
    assert SessionStore(key).load() == {}


def test_async_save_and_load_round_trip():
    store = SessionStore()
    run(store.aset, "name", "Ada")
    run(store.asave)
    assert run(SessionStore(store.session_key).aload) == {"name": "Ada"}


def test_async_cycle_key_keeps_the_data_and_kills_the_old_key():
    old = saved(name="Ada")
    store = SessionStore(old)
    run(store.acycle_key)
    assert run(SessionStore(store.session_key).aload) == {"name": "Ada"}
    assert run(SessionStore(old).aload) == {}


def test_async_exists_is_true_only_for_a_saved_key():
    key = saved(name="Ada")
    assert run(SessionStore().aexists, key)
    assert not run(SessionStore().aexists, key[::-1])


def test_async_delete_ends_the_session():
    key = saved(name="Ada")
    run(SessionStore(key).adelete)
    assert not Session.objects.exists()


def test_async_flush_deletes_the_row_and_forgets_the_key():
    store = SessionStore(saved(name="Ada"))
    run(store.aflush)
    assert store.session_key is None
    assert not Session.objects.exists()


def test_async_load_of_an_unknown_key_gives_an_empty_session():
    store = SessionStore("neversavedkey0123456789abcdef")
    assert run(store.aload) == {}
    assert store.session_key is None


@pytest.mark.parametrize("method", ["get_expiry_date", "get_expiry_age"])
def test_the_async_expiry_follows_the_same_policy_as_the_sync_one(clock, method):
    key = saved(name="Ada")
    clock(hours=1)
    store = SessionStore(key)
    store.load()
    assert run(getattr(store, f"a{method}")) == getattr(store, method)()


# KEYED HASHES
# ------------------------------------------------------------------------------


def test_the_rows_primary_key_is_never_the_cookie_key(patron, settings):
    key = cookie(patron, settings)
    [row] = Session.objects.all()
    assert row.pk != key
    assert row.pk == hash_key(key)


def test_a_rows_primary_key_presented_as_a_cookie_is_refused(patron, settings):
    """Whoever reads the table cannot present what they read."""
    [row] = Session.objects.all()
    patron.cookies[settings.SESSION_COOKIE_NAME] = row.pk
    assert patron.me().status_code == 401


def test_the_raw_key_appears_in_no_column_of_any_row(client, fake_patreon, settings):
    start_login(client)
    keys = [cookie(client, settings)]
    log_in(client, "1001")
    keys.append(cookie(client, settings))
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_session")
        cells = [str(cell) for row in cursor.fetchall() for cell in row]
    decoded = [json.dumps(row.get_decoded()) for row in Session.objects.all()]
    assert cells
    for key in keys:
        assert not [cell for cell in cells + decoded if key in cell]


def test_the_raw_key_appears_in_no_log_record(client, fake_patreon, settings, caplog):
    caplog.set_level("DEBUG")
    # Capturing queries makes Django log every SQL statement with its params.
    with CaptureQueriesContext(connection) as queries:
        start_login(client)
        keys = [cookie(client, settings)]
        log_in(client, "1001")
        keys.append(cookie(client, settings))
        assert client.me().status_code == 200
    assert caplog.records
    assert queries.captured_queries
    for key in keys:
        assert key not in caplog.text
        assert not [r for r in caplog.records if key in repr(vars(r))]
        assert not [q for q in queries.captured_queries if key in q["sql"]]


def rotate(settings):
    """Rotate SECRET_KEY, keeping the old one as a fallback; return the new one."""
    new = get_random_secret_key()
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = new
    return new


def test_a_key_hashed_under_a_fallback_secret_is_still_found(settings):
    key = saved(name="Ada")
    rotate(settings)
    assert SessionStore(key).load() == {"name": "Ada"}


def test_a_key_found_under_a_fallback_secret_is_rekeyed_under_the_new_one(settings):
    old = settings.SECRET_KEY
    key = saved(name="Ada")
    new = rotate(settings)
    SessionStore(key).load()
    assert list(Session.objects.values_list("pk", flat=True)) == [hash_key(key, new)]
    assert hash_key(key, new) != hash_key(key, old)


def test_async_load_finds_and_rekeys_a_key_hashed_under_a_fallback_secret(settings):
    key = saved(name="Ada")
    new = rotate(settings)
    assert run(SessionStore(key).aload) == {"name": "Ada"}
    assert list(Session.objects.values_list("pk", flat=True)) == [hash_key(key, new)]


def test_a_logged_in_person_stays_logged_in_across_a_key_rotation(patron, settings):
    rotate(settings)
    assert patron.me().status_code == 200
    assert patron.me().status_code == 200
    [row] = Session.objects.all()
    assert row.pk == hash_key(cookie(patron, settings))


def test_a_key_is_not_found_once_its_secret_leaves_the_fallbacks(settings):
    key = saved(name="Ada")
    rotate(settings)
    settings.SECRET_KEY_FALLBACKS = []
    store = SessionStore(key)
    assert store.load() == {}
    assert store.session_key is None


def test_a_cookie_is_refused_once_its_secret_leaves_the_fallbacks(patron, settings):
    rotate(settings)
    settings.SECRET_KEY_FALLBACKS = []
    assert patron.me().status_code == 401


def test_a_key_rotation_does_not_restart_the_absolute_limit(
    client, fake_patreon, clock, settings
):
    settings.SESSION_ABSOLUTE_TIMEOUT = 2 * HOUR
    settings.SESSION_IDLE_TIMEOUT = HOUR
    log_in(client, "1001")
    clock(minutes=30)
    rotate(settings)
    assert client.me().status_code == 200
    clock(minutes=80)
    assert client.me().status_code == 200
    clock(hours=2, seconds=1)
    assert client.me().status_code == 401


def test_a_key_rotation_keeps_the_sessions_creation_time(patron, settings):
    created_at = patron.get("/api/auth/me").json()["session"]["created_at"]
    rotate(settings)
    assert patron.get("/api/auth/me").json()["session"]["created_at"] == created_at


def test_random_cookies_create_no_session_and_are_refused(client, settings):
    rng = random.Random(20310304)
    alphabets = [
        string.ascii_lowercase + string.digits,  # the real keys' alphabet
        string.hexdigits,
        string.ascii_letters + string.digits + "-_",
        string.ascii_letters + string.digits + string.punctuation + " ",
        string.printable.strip() + "éÿ\x7f",
    ]
    statuses = set()
    for n in range(1000):
        alphabet = alphabets[n % len(alphabets)]
        length = rng.choice([0, 1, 7, 8, 31, 32, 33, 40, 64, 65, 128, 500])
        value = "".join(rng.choice(alphabet) for _ in range(length))
        client.cookies[settings.SESSION_COOKIE_NAME] = value
        statuses.add(client.me().status_code)
    assert statuses == {401}
    assert not Session.objects.exists()


# OWNERS
# ------------------------------------------------------------------------------


def test_a_patreon_login_records_its_owner_on_the_row(patron, settings):
    assert row_for(cookie(patron, settings)).user_id == ada().pk


def test_an_anonymous_session_has_no_owner():
    assert row_for(saved(name="Ada")).user_id is None


def test_alogin_records_the_owner_too(django_user_model):
    user = django_user_model.objects.create(username="grace")
    request = RequestFactory().get("/")
    request.session = SessionStore()

    async def log_in_async():
        await alogin(request, user, "accounts.backends.AuthenticationBackend")
        await request.session.asave()

    run(log_in_async)
    assert row_for(request.session.session_key).user_id == user.pk


EXTRA_COLUMNS = ["user_id", "created_at", "last_seen", "ip", "user_agent"]


@pytest.fixture
def seen_patron(client_factory, fake_patreon, settings):
    """Patron 1001 logged in from a browser with a user agent; its cookie key."""
    browser = client_factory()
    browser.defaults["HTTP_USER_AGENT"] = "Firefox/140.0"
    log_in(browser, "1001")
    key = cookie(browser, settings)
    row = row_for(key)
    assert row.user_id
    assert row.ip
    assert row.user_agent
    return key


@pytest.mark.parametrize("column", EXTRA_COLUMNS)
def test_an_extra_column_survives_a_resave_with_new_data(seen_patron, column):
    before = row_for(seen_patron)
    store = SessionStore(seen_patron)
    store["cart"] = ["book"]
    store.save()
    after = row_for(seen_patron)
    assert after.get_decoded()["cart"] == ["book"]
    assert getattr(after, column) == getattr(before, column)


@pytest.mark.parametrize("column", EXTRA_COLUMNS)
def test_an_extra_column_survives_an_async_resave_with_new_data(seen_patron, column):
    before = row_for(seen_patron)
    store = SessionStore(seen_patron)
    run(store.aset, "cart", ["book"])
    run(store.asave)
    after = row_for(seen_patron)
    assert after.get_decoded()["cart"] == ["book"]
    assert getattr(after, column) == getattr(before, column)


# TIMEOUTS
# ------------------------------------------------------------------------------


def test_a_persons_session_works_a_second_before_the_idle_limit(
    client, fake_patreon, clock, settings
):
    log_in(client, "1001")
    clock(hours=1)
    assert client.me().status_code == 200  # the last recorded activity
    clock(hours=1, seconds=settings.SESSION_IDLE_TIMEOUT - 1)
    assert client.me().status_code == 200


def test_a_persons_session_is_refused_a_second_after_the_idle_limit(
    client, fake_patreon, clock, settings
):
    log_in(client, "1001")
    clock(hours=1)
    assert client.me().status_code == 200  # the last recorded activity
    clock(hours=1, seconds=settings.SESSION_IDLE_TIMEOUT + 1)
    assert client.me().status_code == 401


def test_the_limit_is_enforced_by_the_server_not_the_cookie(clock, patron, settings):
    """A client that ignores Max-Age and replays the cookie gets nothing."""
    replayed = Client(HTTP_HOST=API_HOST)
    replayed.cookies[settings.SESSION_COOKIE_NAME] = cookie(patron, settings)
    clock(days=2)
    assert replayed.get("/api/auth/me", secure=True).status_code == 401


def keep_busy(client, clock, until, every):
    """Use the session every ``every`` seconds up to ``until`` seconds after T0."""
    for second in range(every, until, every):
        clock(seconds=second)
        assert client.me().status_code == 200, f"refused at T0 + {second}s"


def test_activity_never_extends_a_persons_session_past_its_absolute_limit(
    client, fake_patreon, clock, settings
):
    absolute = settings.SESSION_ABSOLUTE_TIMEOUT
    log_in(client, "1001")
    keep_busy(client, clock, until=absolute - 2 * HOUR, every=12 * HOUR)
    for second in range(absolute - 2 * HOUR, absolute, 4 * 60):
        clock(seconds=second)
        assert client.me().status_code == 200
    clock(seconds=absolute - 1)
    assert client.me().status_code == 200
    clock(seconds=absolute + 1)
    assert client.me().status_code == 401


@pytest.fixture
def staff_patron(client, fake_patreon, clock):
    """The client, logged in at T0 as patron 1001, who is staff."""
    log_in(client, "1001")
    User.objects.filter(pk=ada().pk).update(is_staff=True)
    return client


def test_a_staff_session_works_a_second_before_30_minutes_idle(staff_patron, clock):
    clock(minutes=30, seconds=-1)
    assert staff_patron.me().status_code == 200


def test_a_staff_session_is_refused_a_second_after_30_minutes_idle(staff_patron, clock):
    clock(minutes=30, seconds=1)
    assert staff_patron.me().status_code == 401


def test_a_busy_staff_session_still_ends_after_12_hours(staff_patron, clock):
    keep_busy(staff_patron, clock, until=12 * HOUR - 1, every=25 * 60)
    clock(hours=12, seconds=-1)
    assert staff_patron.me().status_code == 200
    clock(hours=12, seconds=1)
    assert staff_patron.me().status_code == 401


def test_a_staff_logins_row_expires_at_the_staff_idle_limit(
    client_factory, fake_patreon, clock, settings
):
    """What clear_expired and the session lists read must match what is enforced."""
    log_in(client_factory(), "1001")
    User.objects.filter(pk=ada().pk).update(is_staff=True)
    browser = client_factory()
    log_in(browser, "1001")
    assert row_for(cookie(browser, settings)).expire_date == T0 + timedelta(minutes=30)


@pytest.mark.parametrize(
    ("setting", "is_staff"),
    [
        ("SESSION_IDLE_TIMEOUT", False),
        ("SESSION_ABSOLUTE_TIMEOUT", False),
        ("STAFF_SESSION_IDLE_TIMEOUT", True),
        ("STAFF_SESSION_ABSOLUTE_TIMEOUT", True),
    ],
)
@pytest.mark.parametrize(("offset", "status"), [(-1, 200), (1, 401)])
def test_each_limit_follows_its_setting(
    client, fake_patreon, clock, settings, setting, is_staff, offset, status
):
    setattr(settings, setting, 600)
    log_in(client, "1001")
    User.objects.filter(pk=ada().pk).update(is_staff=is_staff)
    clock(seconds=600 + offset)
    assert client.me().status_code == status


def test_an_abandoned_logins_session_dies_after_the_anonymous_limit(
    client, fake_patreon, clock, settings
):
    """Before a login completes, the session only carries the OAuth state."""
    authorize_url = start_login(client)
    [row] = Session.objects.all()
    assert row.user_id is None
    assert row.expire_date == T0 + timedelta(seconds=settings.SESSION_ANONYMOUS_TIMEOUT)
    clock(seconds=settings.SESSION_ANONYMOUS_TIMEOUT + 1)
    callback = consent(authorize_url, "1001")
    client.get(path_of(callback))
    assert client.me().status_code == 401
    assert not Session.objects.filter(user__isnull=False).exists()


def test_a_login_that_takes_5_minutes_gets_the_persons_limits(
    client, fake_patreon, clock, settings
):
    authorize_url = start_login(client)
    clock(minutes=5)
    client.get(path_of(consent(authorize_url, "1001")))
    assert client.me().status_code == 200
    row = row_for(cookie(client, settings))
    assert row.user_id == ada().pk
    idle = timedelta(seconds=settings.SESSION_IDLE_TIMEOUT)
    assert row.expire_date == T0 + timedelta(minutes=5) + idle
    clock(minutes=5, seconds=settings.SESSION_ANONYMOUS_TIMEOUT + 1)
    assert client.me().status_code == 200


@pytest.mark.parametrize(("offset", "data"), [(-1, {"state": "s"}), (1, {})])
def test_an_anonymous_session_follows_its_setting(clock, settings, offset, data):
    settings.SESSION_ANONYMOUS_TIMEOUT = 600
    key = saved(state="s")
    assert row_for(key).expire_date == T0 + timedelta(seconds=600)
    clock(seconds=600 + offset)
    assert SessionStore(key).load() == data


def test_a_logged_in_session_resaved_outside_a_request_keeps_its_expiry(
    clock, patron, settings
):
    """A shell or a command has no middleware to set the owner's limits."""
    key = cookie(patron, settings)
    before = row_for(key).expire_date
    clock(minutes=5)
    store = SessionStore(key)
    store["cart"] = ["book"]
    store.save()
    assert row_for(key).expire_date == before
    clock(seconds=settings.SESSION_ANONYMOUS_TIMEOUT + 1)
    assert patron.me().status_code == 200


def test_a_lowered_idle_limit_ends_sessions_that_already_outlived_it(
    client, fake_patreon, clock, settings
):
    log_in(client, "1001")
    settings.SESSION_IDLE_TIMEOUT = 600
    clock(seconds=601)
    assert client.me().status_code == 401


# OWNERS WHO CHANGE
# ------------------------------------------------------------------------------


def test_a_deactivated_users_session_stops_working_on_the_next_request(patron):
    User.objects.filter(pk=ada().pk).update(is_active=False)
    assert patron.me().status_code == 401


def test_reactivating_a_user_does_not_revive_their_old_session(patron):
    User.objects.filter(pk=ada().pk).update(is_active=False)
    patron.me()  # the inactive owner's session ends here
    User.objects.filter(pk=ada().pk).update(is_active=True)
    assert patron.me().status_code == 401


def test_deleting_a_user_deletes_all_their_session_rows(client_factory, fake_patreon):
    laptop, phone, other = client_factory(), client_factory(), client_factory()
    log_in(laptop, "1001")
    log_in(phone, "1001")
    log_in(other, "1002")
    user = ada()
    user.delete()
    assert not Session.objects.filter(user_id=user.pk).exists()
    assert Session.objects.count() == 1
    assert laptop.me().status_code == 401
    assert phone.me().status_code == 401
    assert other.me().status_code == 200


# CLEANUP
# ------------------------------------------------------------------------------


@pytest.fixture
def five_expired_two_live(clock, settings):
    """
    Seven anonymous sessions, five of them past their limit at the clock's
    time; return the two live ones' keys.
    """
    for n in range(5):
        saved(n=n)
    clock(seconds=settings.SESSION_ANONYMOUS_TIMEOUT - 60)
    live = [saved(n=n) for n in range(2)]
    clock(seconds=settings.SESSION_ANONYMOUS_TIMEOUT + 1)
    return live


def test_clear_expired_deletes_only_expired_rows(five_expired_two_live):
    live = five_expired_two_live
    SessionStore.clear_expired()
    remaining = set(Session.objects.values_list("pk", flat=True))
    assert remaining == {hash_key(key) for key in live}
    assert [SessionStore(key).load() for key in live] == [{"n": 0}, {"n": 1}]


def test_clear_expired_returns_how_many_it_deleted(five_expired_two_live):
    assert SessionStore.clear_expired(batch_size=2) == 5


def test_clear_expired_works_in_batches_and_reports_progress(five_expired_two_live):
    progress = []
    SessionStore.clear_expired(batch_size=2, progress=progress.append)
    assert progress == [2, 4, 5]


def test_clear_expired_with_nothing_expired_deletes_nothing_and_reports_nothing(
    clock,
):
    saved(name="Ada")
    progress = []
    assert SessionStore.clear_expired(batch_size=2, progress=progress.append) == 0
    assert progress == []
    assert Session.objects.count() == 1


def test_clear_expired_removes_abandoned_logins_but_not_logged_in_sessions(
    client_factory, fake_patreon, clock, settings
):
    start_login(client_factory())
    browser = client_factory()
    log_in(browser, "1001")
    clock(seconds=settings.SESSION_ANONYMOUS_TIMEOUT + 1)
    assert SessionStore.clear_expired() == 1
    assert list(Session.objects.values_list("user_id", flat=True)) == [ada().pk]
    assert browser.me().status_code == 200


SESSION_KEY_ALPHABET = set("abcdefghijklmnopqrstuvwxyz0123456789")
# THE KEY ITSELF (WSTG-SESS-01)
# ------------------------------------------------------------------------------


_KEYS = []


@pytest.fixture
def keys(client_factory, fake_patreon):
    """
    200 real session keys from login flows, gathered once per run: 180 made
    when a login starts (the OAuth state needs a session) and 20 made by
    completed Patreon logins.
    """
    if not _KEYS:
        for _ in range(180):
            browser = client_factory()
            start_login(browser)
            _KEYS.append(cookie(browser, django_settings))
        for n in range(20):
            browser = client_factory()
            log_in(browser, str(100_000 + n))
            _KEYS.append(cookie(browser, django_settings))
    return _KEYS


class TestSessionToken:
    def test_wstg_sess_01_session_keys_never_repeat(self, keys):
        assert len(keys) == 200
        assert len(set(keys)) == len(keys)

    def test_wstg_sess_01_session_key_format_is_32_lowercase_letters_and_digits(
        self, keys
    ):
        for key in keys:
            assert len(key) == 32
            assert set(key) <= SESSION_KEY_ALPHABET

    def test_wstg_sess_01_session_token_has_enough_entropy(self, keys):
        """
        32 characters drawn uniformly from 36 carry 32 * log2(36) = 165 bits;
        the sample must look uniform for that to hold. ASVS asks for 128.
        """
        characters = Counter("".join(keys))
        total = sum(characters.values())
        shannon = -sum(n / total * math.log2(n / total) for n in characters.values())
        assert set(characters) == SESSION_KEY_ALPHABET
        assert shannon > 5.1  # bits per character; log2(36) = 5.17
        assert shannon * 32 >= 128
        expected = total / 36
        chi_square = sum((n - expected) ** 2 / expected for n in characters.values())
        assert chi_square < 70  # 35 degrees of freedom, p < 0.0005

    def test_wstg_sess_01_no_position_of_the_key_is_predictable(self, keys):
        for position in range(32):
            assert len({key[position] for key in keys}) >= 20, position

    def test_wstg_sess_01_the_key_carries_nothing_about_the_person(
        self, patron, second_browser
    ):
        first, second = (
            cookie(patron, django_settings),
            cookie(second_browser, django_settings),
        )
        user = User.objects.get(patreon__patreon_id="1001")
        for key in (first, second):
            for fact in ("1001", user.username, user.email):
                assert fact not in key
        common = next(
            (i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b),
            32,
        )
        assert common < 6
