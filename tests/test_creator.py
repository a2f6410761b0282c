"""
The creator's credential (accounts.patreon.creator): sealed at rest,
refreshed once by whoever holds the lock, dead after invalid_grant, never
dead after a 429 or a 5xx; and `manage.py patreon creator-token`.
"""

import io
import json
import threading
from datetime import timedelta

import pytest
import requests
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from accounts.models import CreatorCredential
from accounts.patreon import client, creator, creator_login, sealing
from accounts.patreon.errors import CredentialInvalid, PatreonUnavailable, Throttled
from tests.patreon import assert_never_logged, events, log_in

pytestmark = pytest.mark.django_db


def token_calls(fake):
    return [r for r in fake.requests if r["path"] == "/api/oauth2/token"]


def refresh_at_patreon(fake, refresh_token):
    """The token endpoint's answer to ``refresh_token``, asked directly."""
    return requests.post(
        f"{fake.base_url}/api/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": "fake-client-id",
            "client_secret": "fake-client-secret",
        },
        timeout=10,
    )


def near_expiry(days=1):
    CreatorCredential.objects.update(
        expires_at=timezone.now() + timedelta(days=days),
    )


def test_the_tokens_are_sealed_at_rest_and_never_shown(creator_token, capsys):
    raw = CreatorCredential.objects.values("access_token", "refresh_token").get()
    assert creator_token["access_token"] not in raw["access_token"]
    assert creator_token["refresh_token"] not in raw["refresh_token"]
    assert creator.access_token() == creator_token["access_token"]
    out = io.StringIO()
    call_command("patreon", "creator-token", "status", stdout=out)
    assert "state: valid" in out.getvalue()
    assert "creator: 1000" in out.getvalue()
    assert creator_token["access_token"] not in out.getvalue()
    assert creator_token["refresh_token"] not in out.getvalue()


def test_a_token_close_to_expiry_is_refreshed_once_and_rotated(
    creator_token, fake_patreon
):
    near_expiry()
    fresh = creator.access_token()
    assert fresh != creator_token["access_token"]
    assert creator.access_token() == fresh  # stored: no second call
    assert len(token_calls(fake_patreon)) == 1
    credential = creator.status()
    assert credential.expires_at > timezone.now() + timedelta(days=30)
    # Patreon's refresh tokens are single use: the old one is dead now.
    assert (
        refresh_at_patreon(fake_patreon, creator_token["refresh_token"]).status_code
        == 401
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_make_exactly_one_token_call(creator_token, fake_patreon):
    """Eight workers find the token refused at once: one refreshes, all use it."""
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises writers by itself; covered on PostgreSQL")
    used = creator_token["access_token"]
    near_expiry(days=20)  # due only after a 401: the refresh is reactive
    barrier, results = threading.Barrier(8), []

    def worker():
        barrier.wait()
        try:
            results.append(creator.refresh(used))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 8
    assert len(set(results)) == 1
    assert used not in results
    assert len(token_calls(fake_patreon)) == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, "invalid_grant"),  # Patreon's answer to a used or revoked one
        (400, "invalid_grant"),  # OAuth2's
        (401, "access_denied"),
        (400, "access_denied"),
    ],
)
def test_a_dead_grant_stops_every_token_call_and_says_so(
    creator_token, fake_patreon, caplog, status, error
):
    fake_patreon.revoke_creator()
    fake_patreon.set_fault("token", "refused", status=status, error=error)
    near_expiry()
    with pytest.raises(CredentialInvalid):
        creator.access_token()
    assert creator.status().state == "needs_reauth"
    [event] = events(caplog, "patreon_token_invalid")
    assert (event["level"], event["reason"]) == ("ERROR", error)
    calls = len(token_calls(fake_patreon))
    for _ in range(3):
        with pytest.raises(CredentialInvalid):
            creator.access_token()
        with pytest.raises(CredentialInvalid):
            client.get("members/x", {}, endpoint="member")
    assert len(token_calls(fake_patreon)) == calls == 1
    assert_never_logged(caplog, fake_patreon.issued_tokens)


def test_a_refresh_is_logged_with_its_expiry_never_a_token(
    creator_token, fake_patreon, caplog
):
    near_expiry()
    creator.access_token()
    [event] = events(caplog, "patreon_token_refreshed")
    assert event["level"] == "INFO"
    assert event["expires_at"] == creator.status().expires_at.isoformat()
    assert_never_logged(caplog, fake_patreon.issued_tokens)


@pytest.mark.parametrize("endpoint", ["token", "member"])
def test_a_429_is_logged_with_the_wait_patreon_asked_for(
    creator_token, fake_patreon, caplog, endpoint
):
    """Whether the token endpoint or the API throttles the creator's call."""
    fake_patreon.throttle.arm({"endpoint": endpoint, "retry_after": 42})
    near_expiry()  # refreshed before the call
    with pytest.raises(Throttled):
        client.get("members/x", {}, endpoint="member")
    [event] = events(caplog, "patreon_throttled")
    assert event["level"] == "WARNING"
    assert (event["endpoint"], event["retry_after"]) == (endpoint, 42)
    assert_never_logged(caplog, fake_patreon.issued_tokens)


@pytest.mark.parametrize(
    ("mode", "options", "error"),
    [
        ("rate_limited", {}, Throttled),
        ("server_error", {"status": 503}, PatreonUnavailable),
    ],
)
def test_a_429_or_a_5xx_never_kills_the_credential(
    creator_token, fake_patreon, mode, options, error
):
    fake_patreon.set_fault("token", mode, **options)
    near_expiry(days=0.001)
    with pytest.raises(error):
        creator.refresh(creator_token["access_token"])
    assert creator.status().state == "valid"
    if error is Throttled:
        # Every caller waits as long as Patreon asked, then goes on.
        assert creator.status().throttled_until > timezone.now()
        with pytest.raises(Throttled):
            creator.access_token()
        CreatorCredential.objects.update(throttled_until=None)
    fake_patreon.clear_faults()
    # Within five minutes of that try nobody calls again; after, one does.
    assert (
        creator.refresh(creator_token["access_token"]) == creator_token["access_token"]
    )
    CreatorCredential.objects.update(
        token_call_at=timezone.now() - timedelta(minutes=6)
    )
    assert (
        creator.refresh(creator_token["access_token"]) != creator_token["access_token"]
    )


def test_a_401_refreshes_once_and_the_call_goes_through(creator_token, fake_patreon):
    fake_patreon.expire_creator()
    document = client.get("campaigns", {}, endpoint="campaigns")
    assert document["data"][0]["id"] == "9000001"
    assert len(token_calls(fake_patreon)) == 1


def test_a_key_rotation_keeps_the_credential(creator_token, settings):
    old = settings.PATREON_TOKEN_KEYS
    settings.PATREON_TOKEN_KEYS = [Fernet.generate_key().decode(), *old]
    call_command("patreon", "creator-token", "reseal", stdout=io.StringIO())
    settings.PATREON_TOKEN_KEYS = settings.PATREON_TOKEN_KEYS[:1]
    assert creator.access_token() == creator_token["access_token"]


def set_token(monkeypatch, text):
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    out = io.StringIO()
    call_command("patreon", "creator-token", "set", stdout=out)
    return out.getvalue()


def test_set_reads_the_answer_on_stdin_and_checks_it(fake_patreon, monkeypatch):
    answer = fake_patreon.creator_token()
    out = set_token(monkeypatch, json.dumps(answer))
    assert "Stored the creator's token." in out
    assert "state: valid" in out
    assert creator.access_token() == answer["access_token"]
    assert creator.status().patreon_id == "1000"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Not a token answer"),
        ("not json", "Not a token answer"),
        ('{"access_token": "a", "expires_in": 60}', "no refresh_token"),
        (
            '{"access_token": "a", "refresh_token": "r", "expires_in": "soon"}',
            "expires_in",
        ),
    ],
)
def test_set_refuses_what_is_no_token_answer(fake_patreon, monkeypatch, text, message):
    with pytest.raises(CommandError, match=message):
        set_token(monkeypatch, text)
    assert creator.status() is None


def test_set_refuses_a_token_that_cannot_read_our_campaign(
    fake_patreon, monkeypatch, client_factory
):
    """A patron's own token (identity scopes only) is no creator token."""
    answer = {"access_token": "made-up", "refresh_token": "made-up", "expires_in": 60}
    with pytest.raises(CommandError, match="did not accept"):
        set_token(monkeypatch, json.dumps(answer))
    assert creator.status() is None


def test_the_creators_own_login_hands_its_tokens_over(
    creator_token, fake_patreon, client_factory, caplog
):
    """
    Patreon drops the stored pair when the creator logs in through our
    client (the fake does too): the login's pair becomes the credential.
    """
    log_in(client_factory(), "1000")
    [event] = events(caplog, "patreon_token_refreshed")
    assert (event["level"], event["patreon_id"], event["outcome"]) == (
        "INFO",
        "1000",
        "creator_login_adopted",
    )
    assert_never_logged(caplog, fake_patreon.issued_tokens)
    assert creator.access_token() != creator_token["access_token"]
    assert client.get("campaigns", {}, endpoint="campaigns")["data"]
    # What was stored before is dead at Patreon.
    assert (
        refresh_at_patreon(fake_patreon, creator_token["refresh_token"]).status_code
        == 401
    )


def test_someone_elses_login_leaves_the_credential_alone(creator_token, client_factory):
    log_in(client_factory(), "1001")
    assert creator.access_token() == creator_token["access_token"]
    assert not creator_login.adopt("1001", {"access_token": "x"})


def test_a_creator_login_whose_tokens_cannot_read_the_campaign_is_not_adopted(
    creator_token, fake_patreon, client_factory, caplog
):
    fake_patreon.set_creator(relogin_evicts=False)
    fake_patreon.set_fault("campaigns", "server_error")
    log_in(client_factory(), "1000")  # the login itself succeeds
    assert creator.access_token() == creator_token["access_token"]
    [event] = events(caplog, "patreon_token_refreshed")
    assert (event["level"], event["patreon_id"], event["outcome"]) == (
        "WARNING",
        "1000",
        "creator_login_not_adopted",
    )
    assert event["reason"] == "campaigns: HTTP 503"
    fake_patreon.clear_faults()
    assert client.get("campaigns", {}, endpoint="campaigns")["data"]
    assert_never_logged(caplog, fake_patreon.issued_tokens)


def test_a_stored_pair_a_creator_login_evicted_turns_needs_reauth_when_used(
    creator_token, fake_patreon, client_factory, caplog
):
    """
    The login's tokens are not adopted (they cannot be checked) and Patreon
    drops the stored pair (the fake's default): the pair is refused at its
    next use, and the credential asks for re-authorisation, with its event.
    """
    fake_patreon.set_fault("campaigns", "server_error")
    log_in(client_factory(), "1000")
    assert creator.access_token() == creator_token["access_token"]  # left
    fake_patreon.clear_faults()
    with pytest.raises(CredentialInvalid):
        client.get("campaigns", {}, endpoint="campaigns")
    assert creator.status().state == "needs_reauth"
    [not_adopted] = events(caplog, "patreon_token_refreshed")
    assert not_adopted["outcome"] == "creator_login_not_adopted"
    [invalid] = events(caplog, "patreon_token_invalid")
    assert (invalid["level"], invalid["reason"]) == ("ERROR", "invalid_grant")
    assert_never_logged(caplog, fake_patreon.issued_tokens)


def test_tokens_sealed_under_keys_since_removed_are_refused_clearly(
    creator_token, settings
):
    settings.PATREON_TOKEN_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(sealing.SealError, match="no key"):
        creator.access_token()
    with pytest.raises(CommandError, match="no key"):
        call_command("patreon", "creator-token", "reseal", stdout=io.StringIO())
    settings.PATREON_TOKEN_KEYS = []
    with pytest.raises(sealing.SealError, match="not set"):
        sealing.seal("a token")


def test_resealing_without_a_credential_says_what_to_do(db):
    with pytest.raises(CommandError, match="creator-token set"):
        call_command("patreon", "creator-token", "reseal", stdout=io.StringIO())


def test_readyz_reports_the_credentials_state(creator_token, fake_patreon, client):
    def reported():
        return client.get("/readyz").json()["reports"]["patreon_credential"]

    assert reported() == "valid"
    CreatorCredential.objects.update(expires_at=timezone.now() - timedelta(hours=1))
    assert reported() == "expired"
    CreatorCredential.objects.update(state="needs_reauth")
    assert reported() == "needs_reauth"
