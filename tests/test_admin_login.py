"""
The admin's password login (the emergency superuser), tried as a password
guesser would: limited per client IP and per username, the lockout the same
for names that exist and names that don't, and every attempt logged.
"""

import html
import logging
import re

import pytest
from django.urls import reverse

from tests.patreon import log_in

pytestmark = pytest.mark.django_db

PASSWORD = "s3cret!pw-for-the-emergency"
EDGE = 1_800_000_000  # a multiple of 15 minutes
LOCKED = "Too many login attempts. Please wait 15 minute(s) and try again."
WRONG = (
    "Please enter the correct username and password for a staff account. "
    "Note that both fields may be case-sensitive."
)


@pytest.fixture
def limits(settings):
    """The production limits: 20 per IP per minute, 5 per username per 15 min."""
    settings.RATELIMITS = {
        "login": (20, 60),
        "callback": (20, 60),
        "login_username": (5, 900),
    }
    settings.TRUSTED_PROXIES = ["127.0.0.1"]


@pytest.fixture
def clock_at_edge(time_machine):
    """A stopped clock on a 15-minute window's edge; move it by hand."""
    time_machine.move_to(EDGE, tick=False)
    return time_machine


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser(
        "root", "root@example.test", PASSWORD
    )


def attempt(client, username, password, ip="203.0.113.7"):
    """One POST of the admin's password form, from ``ip`` behind our proxy."""
    page = client.get(reverse("admin:login"))
    token = re.findall(
        r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()
    )[-1]
    return client.post(
        reverse("admin:login"),
        {
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": token,
            "next": reverse("admin:index"),
        },
        HTTP_X_FORWARDED_FOR=ip,
    )


def message(response):
    """The error the page shows, as people read it."""
    errors = re.search(
        r'<p class="errornote">\s*(.*?)\s*</p>', response.content.decode(), re.S
    )
    return html.unescape(errors[1]) if errors else None


def events(caplog, name):
    return [r for r in caplog.records if getattr(r, "event", "") == name]


def test_60_wrong_passwords_from_one_client_get_5_tries(
    client, root, limits, clock_at_edge, caplog
):
    responses = [attempt(client, "root", f"guess-{i}") for i in range(60)]
    assert [r.status_code for r in responses] == [200] * 5 + [429] * 55
    assert {message(r) for r in responses[:5]} == {WRONG}
    # The username's lockout first; from the 21st try, the address's too.
    assert {(message(r), r["Retry-After"]) for r in responses[5:20]} == {
        (LOCKED, "900")
    }
    assert {(message(r), r["Retry-After"]) for r in responses[20:]} == {
        (LOCKED.replace("15", "1"), "60")
    }
    assert len(events(caplog, "login_failed")) == 5
    assert len(events(caplog, "rate_limited")) == 55


def test_the_right_password_after_the_lockout_waits_for_the_window(
    client, root, limits, clock_at_edge
):
    for i in range(6):
        attempt(client, "root", f"guess-{i}")
    assert attempt(client, "root", PASSWORD).status_code == 429
    clock_at_edge.move_to(EDGE + 10 * 60, tick=False)
    assert attempt(client, "root", PASSWORD).status_code == 429
    clock_at_edge.move_to(EDGE + 2 * 900, tick=False)
    response = attempt(client, "root", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")


def test_another_address_is_locked_out_of_the_same_username(
    client_factory, root, limits, clock_at_edge
):
    attacker, owner = client_factory(), client_factory()
    for i in range(6):
        attempt(attacker, "root", f"guess-{i}", ip="203.0.113.7")
    response = attempt(owner, "root", PASSWORD, ip="198.51.100.20")
    assert response.status_code == 429
    assert message(response) == LOCKED


def test_the_username_is_counted_whatever_its_case(client, root, limits, clock_at_edge):
    for i, name in enumerate(["root", "ROOT", "Root", "rOOt", "roOT"]):
        attempt(client, name, f"guess-{i}")
    assert attempt(client, "root", PASSWORD).status_code == 429


def test_the_lockout_does_not_tell_whether_the_username_exists(
    client_factory, root, limits, clock_at_edge
):
    def lock_out(username):
        browser = client_factory()
        return [
            (r.status_code, message(r), r.get("Retry-After"))
            for r in (attempt(browser, username, f"g{i}") for i in range(7))
        ]

    assert lock_out("root") == lock_out("nobody-by-this-name")


def test_one_address_is_limited_across_usernames(client, limits, clock_at_edge):
    statuses = [attempt(client, f"user{i}", "guess").status_code for i in range(25)]
    assert statuses == [200] * 20 + [429] * 5


def test_other_usernames_and_addresses_are_not_locked_out(
    client_factory, root, limits, clock_at_edge
):
    for i in range(6):
        attempt(client_factory(), "someone-else", f"guess-{i}")
    assert attempt(client_factory(), "root", PASSWORD).status_code == 302


def test_looking_at_the_login_page_counts_nothing(client, root, limits, clock_at_edge):
    for _ in range(30):
        assert client.get(reverse("admin:login")).status_code == 200
    assert attempt(client, "root", PASSWORD).status_code == 302


def test_a_failed_password_is_logged_without_what_was_typed(
    client, root, limits, clock_at_edge, caplog
):
    attempt(client, "my-password-typed-as-username", PASSWORD)
    [event] = events(caplog, "login_failed")
    assert event.levelno == logging.WARNING
    assert event.reason == "invalid_credentials"
    assert event.ip == "203.0.113.7"
    assert len(event.username_digest) == 16
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "my-password-typed-as-username" not in logged
    assert PASSWORD not in logged


def test_attempts_on_one_username_share_one_digest(
    client, root, limits, clock_at_edge, caplog
):
    attempt(client, "root", "a")
    attempt(client, "ROOT", "b")
    attempt(client, "other", "c")
    digests = [r.username_digest for r in events(caplog, "login_failed")]
    assert digests[0] == digests[1] != digests[2]


def test_a_password_login_is_logged_once(client, root, limits, clock_at_edge, caplog):
    attempt(client, "root", PASSWORD)
    [event] = events(caplog, "login_succeeded")
    assert event.user_id == root.pk
    assert event.ip == "203.0.113.7"
    assert events(caplog, "login_failed") == []


def test_a_patreon_login_is_logged_once(client, fake_patreon, caplog):
    log_in(client, "1001")
    [event] = events(caplog, "login_succeeded")
    assert event.patreon_id == "1001"


def test_while_redis_is_down_the_password_login_goes_on_and_says_so(
    client, root, limits, settings, caplog
):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    assert attempt(client, "root", PASSWORD).status_code == 302
    buckets = {r.bucket for r in events(caplog, "ratelimit_unavailable")}
    assert buckets == {"login", "login_username"}
