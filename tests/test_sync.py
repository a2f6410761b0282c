"""
Memberships kept true between logins (accounts.patreon.sync): a changed
member re-read with the creator's token, and the full sync of the campaign,
against the fake Patreon's world; `manage.py patreon sync`.
"""

import io
import time
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from accounts.adapters import USER_AGENT_PRODUCT
from accounts.models import CreatorCredential, PatreonMembership, SyncRun
from accounts.patreon import memberships, sync, transport
from accounts.patreon.errors import PatreonUnavailable, Throttled
from tests.conftest import API_HOST
from tests.patreon import assert_never_logged, events, log_in
from tests.test_webhooks import deliver, signed

pytestmark = pytest.mark.django_db


def row(patreon_id):
    return PatreonMembership.objects.get(patreon_id=patreon_id)


def test_a_cancellation_is_re_read_and_served(patron, creator_token, fake_patreon):
    fake_patreon.act("1001", "cancel", webhook=False)
    memberships.mark_changed("1001", timezone.now())
    assert sync.reread("1001") == "updated"
    membership = patron.me().json()["patreon"]
    assert membership["patron_status"] == "former_patron"
    assert membership["tiers"] == []
    assert membership["source"] == "webhook"
    assert membership["stale"] is False
    assert row("1001").changed_at is None


def test_a_re_read_is_logged_never_a_token_or_the_webhook(
    patron, creator_token, fake_patreon, caplog
):
    delivery = signed(patron_status="former_patron", tiers=())
    assert deliver(Client(HTTP_HOST=API_HOST), delivery).status_code == 200
    fake_patreon.act("1001", "cancel", webhook=False)
    assert sync.reread("1001") == "updated"
    [event] = events(caplog, "patreon_member_refreshed")
    assert event["level"] == "INFO"
    assert (event["patreon_id"], event["outcome"], event["patron_status"]) == (
        "1001",
        "updated",
        "former_patron",
    )
    ada = fake_patreon.directory.patron("1001")
    assert_never_logged(
        caplog,
        [
            *fake_patreon.issued_tokens,
            delivery.body.decode(),
            delivery.signature,
            ada.full_name,
            ada.email,
        ],
    )


def test_a_read_that_started_before_a_newer_one_writes_nothing(
    patron, creator_token, fake_patreon
):
    """A re-read overtaken by a login never rolls the row back."""
    fake_patreon.act("1001", "cancel", webhook=False)
    later = timezone.now() + timedelta(seconds=5)
    PatreonMembership.objects.filter(patreon_id="1001").update(synced_at=later)
    assert sync.reread("1001") == "unchanged"
    assert row("1001").patron_status == "active_patron"


def test_a_deleted_member_is_no_member(client_factory, creator_token, fake_patreon):
    log_in(client_factory(), "1001")
    fake_patreon.act("1001", "delete", webhook=False)
    assert sync.reread("1001") == "updated"
    assert (row("1001").patron_status, row("1001").member_id) == ("", "")


def test_nobody_of_ours_is_not_read(creator_token, fake_patreon):
    assert sync.reread("1001") == "unknown"
    assert fake_patreon.requests == []


def test_a_429_makes_every_caller_wait_as_long_as_patreon_asked(
    patron, creator_token, fake_patreon
):
    fake_patreon.throttle.arm({"calls": 1, "retry_after": 42, "header": False})
    with pytest.raises(Throttled) as throttled:
        sync.reread("1001")
    assert throttled.value.seconds == 42  # from the body's retry_after_seconds
    calls = len(fake_patreon.requests)
    with pytest.raises(Throttled):  # another worker: no call at all
        sync.reread("1001")
    assert len(fake_patreon.requests) == calls
    until = CreatorCredential.objects.get().throttled_until
    assert timedelta(seconds=40) < until - timezone.now() <= timedelta(seconds=42)


def test_a_429_without_any_hint_waits_a_minute(patron, creator_token, fake_patreon):
    fake_patreon.throttle.arm({"calls": 1, "header": False, "body": False})
    with pytest.raises(Throttled) as throttled:
        sync.reread("1001")
    assert throttled.value.seconds == 60


def pending(patron_ids):
    for patreon_id in patron_ids:
        memberships.mark_changed(patreon_id, timezone.now())


def test_sync_pending_re_reads_every_marked_row_and_exits(
    client_factory, creator_token, fake_patreon
):
    for patreon_id in ("1001", "1002"):
        log_in(client_factory(), patreon_id)
    fake_patreon.act("1001", "decline", webhook=False)
    pending(["1001", "1002"])
    out = io.StringIO()
    call_command("patreon", "sync", "--pending", stdout=out)
    assert "Re-read 2 memberships (2 updated)" in out.getvalue()
    assert row("1001").patron_status == "declined_patron"
    assert sync.pending() == []


@pytest.fixture
def waits(monkeypatch, time_machine):
    """``time.sleep``'s waits, recorded, not slept: the clock moves on by each."""
    time_machine.move_to(timezone.now())
    waited = []

    def sleep(seconds):
        waited.append(seconds)
        time_machine.shift(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    return waited


def test_sync_pending_waits_as_long_as_a_429_says(
    client_factory, creator_token, fake_patreon, waits
):
    for patreon_id in ("1001", "1002"):
        log_in(client_factory(), patreon_id)
    fake_patreon.act("1001", "decline", webhook=False)
    pending(["1001", "1002"])
    fake_patreon.throttle.arm({"endpoint": "member", "retry_after": 7})
    out, err = io.StringIO(), io.StringIO()
    call_command("patreon", "sync", "--pending", stdout=out, stderr=err)
    assert waits == [7]
    assert "Throttled by Patreon: waiting 7 s." in err.getvalue()
    assert "Re-read 2 memberships (2 updated)" in out.getvalue()
    assert row("1001").patron_status == "declined_patron"
    assert sync.pending() == []


def test_sync_pending_gives_a_patron_up_after_five_429s(
    patron, creator_token, fake_patreon, waits
):
    pending(["1001"])
    fake_patreon.throttle.arm({"endpoint": "member", "retry_after": 3, "calls": 100})
    out, err = io.StringIO(), io.StringIO()
    call_command("patreon", "sync", "--pending", stdout=out, stderr=err)
    assert waits == [3, 3, 3, 3]
    assert "Patron 1001 not re-read: throttled for 3 s." in err.getvalue()
    assert "Re-read 1 memberships (1 failed)" in out.getvalue()
    assert sync.pending() == ["1001"]  # the next run, or the worker, tries again


def test_sync_pending_backs_off_while_patreon_fails(
    client_factory, creator_token, fake_patreon, monkeypatch
):
    for patreon_id in ("1001", "1002"):
        log_in(client_factory(), patreon_id)
    fake_patreon.act("1001", "decline", webhook=False)
    pending(["1001", "1002"])
    fake_patreon.set_fault("member", "server_error", status=502)
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        if len(waits) == 3:
            fake_patreon.clear_faults()  # Patreon is back

    monkeypatch.setattr(time, "sleep", sleep)
    out, err = io.StringIO(), io.StringIO()
    call_command("patreon", "sync", "--pending", stdout=out, stderr=err)
    assert waits == [1, 2, 4]
    assert err.getvalue() == ""
    assert "Re-read 2 memberships (2 updated)" in out.getvalue()
    assert row("1001").patron_status == "declined_patron"
    assert sync.pending() == []


def test_a_walk_is_cheaper_once_more_changes_wait_than_it_has_pages(
    client_factory, fake_patreon
):
    for patreon_id in ("1001", "1002", "1003"):
        log_in(client_factory(), patreon_id)
    pending(["1001", "1002", "1003"])
    assert not sync.walking_is_cheaper()  # no complete walk to go by
    now = timezone.now()
    SyncRun.objects.create(
        started_at=now, heartbeat_at=now, outcome=SyncRun.Outcome.COMPLETE, pages=3
    )
    assert not sync.walking_is_cheaper()  # three reads or three pages
    SyncRun.objects.create(
        started_at=now + timedelta(hours=6),
        heartbeat_at=now,
        outcome=SyncRun.Outcome.COMPLETE,
        pages=2,
    )
    assert sync.walking_is_cheaper()  # the last walk is what counts
    SyncRun.objects.create(
        started_at=now + timedelta(hours=7), heartbeat_at=now
    )  # running: the last that ended still counts
    assert sync.walking_is_cheaper()
    SyncRun.objects.filter(outcome=SyncRun.Outcome.RUNNING).update(
        outcome=SyncRun.Outcome.ABORTED
    )
    assert not sync.walking_is_cheaper()  # walks abort: read one by one


def test_sync_without_a_creator_token_says_what_to_do(patron, fake_patreon):
    pending(["1001"])
    with pytest.raises(CommandError, match="creator-token set"):
        call_command("patreon", "sync", "--pending", stdout=io.StringIO())


# The full sync


@pytest.fixture
def campaign(fake_patreon, creator_token):
    """The fake's campaign with 2,500 generated members besides the seeded ones."""
    fake_patreon.directory.resize(2500)
    return fake_patreon


def known(*patreon_ids, status="active_patron"):
    """Rows for patrons who logged in long ago (made directly: cheaper)."""
    from accounts.models import User

    long_ago = timezone.now() - timedelta(days=3)
    for patreon_id in patreon_ids:
        user = User.objects.create(username=f"patreon-{patreon_id}")
        PatreonMembership.objects.create(
            user=user,
            patreon_id=patreon_id,
            campaign_id="9000001",
            member_id=f"m-{patreon_id}",
            patron_status=status,
            synced_at=long_ago,
        )


def test_a_full_sync_updates_everyone_we_know_and_marks_the_gone(campaign, caplog):
    known("2000001", "2000002", "2002499", "7777777")  # the last left long ago
    campaign.act("2000002", "cancel", webhook=False)
    run = sync.full_sync(pace=0)
    assert run.outcome == "complete"
    assert run.pages == 3  # 2,500 generated + the seeded members, 1,000 a page
    total = run.members_seen
    assert [
        r.getMessage() for r in caplog.records if r.name == "accounts.patreon.sync"
    ] == [
        f"sync page 1: 1000 members, 1000 of {total} seen, 2 updated",
        f"sync page 2: 1000 members, 2000 of {total} seen, 2 updated",
        f"sync page 3: {total - 2000} members, {total} of {total} seen, 3 updated",
    ]
    assert run.updated == 3
    assert run.marked_gone == 1
    assert row("2000001").patron_status == "active_patron"
    assert row("2000001").source == "sync"
    assert row("2000002").patron_status == "former_patron"
    assert (row("7777777").patron_status, row("7777777").member_id) == ("", "")


def test_a_complete_sync_is_logged_with_its_figures(campaign, caplog):
    known("2000001", "2000002", "7777777")
    campaign.act("2000002", "cancel", webhook=False)
    run = sync.full_sync(pace=0)
    [event] = events(caplog, "patreon_sync_finished")
    assert event["level"] == "INFO"
    assert {
        name: event[name] for name in ("pages", "members", "updated", "marked_gone")
    } == {"pages": 3, "members": run.members_seen, "updated": 2, "marked_gone": 1}
    assert 0 <= event["seconds"] < 60
    assert events(caplog, "patreon_sync_failed") == []
    assert_never_logged(caplog, campaign.issued_tokens)


def test_an_aborted_sync_is_logged_as_an_error_saying_why(campaign, caplog):
    campaign.set_fault("members", "server_error", status=503)
    with pytest.raises(PatreonUnavailable):
        sync.full_sync(pace=0)
    [event] = events(caplog, "patreon_sync_failed")
    assert event["level"] == "ERROR"
    assert event["reason"] == "PatreonUnavailable: campaign_members: HTTP 503"
    assert events(caplog, "patreon_sync_finished") == []
    assert_never_logged(caplog, campaign.issued_tokens)


def test_every_call_with_the_creators_token_sends_our_user_agent(
    patron, creator_token, fake_patreon
):
    CreatorCredential.objects.update(expires_at=timezone.now() + timedelta(days=1))
    fake_patreon.clear_requests()  # the login's own: tests/test_memberships.py
    sync.full_sync(pace=0)
    sync.reread("1001")
    calls = fake_patreon.requests
    assert {transport.endpoint(r["path"]) for r in calls} == {
        "token",
        "campaigns",
        "campaign_members",
        "member",
    }
    assert {r["user_agent"] for r in calls} == {
        f"{USER_AGENT_PRODUCT} (+https://ventures.test)"
    }


def test_a_repeating_cursor_aborts_and_marks_nobody_gone(campaign):
    known("2000001", "7777777")
    campaign.bugs.set({"repeat_cursor": True})
    with pytest.raises(sync.SyncAborted, match="repeats"):
        sync.full_sync(pace=0)
    run = SyncRun.objects.get()
    assert run.outcome == "aborted"
    assert row("7777777").patron_status == "active_patron"


def test_an_ignored_page_size_still_completes(campaign):
    campaign.directory.resize(150)
    known("2000001", "7777777")
    campaign.bugs.set({"ignore_page_size": True})
    run = sync.full_sync(pace=0)
    assert run.outcome == "complete"
    assert run.pages > 5
    assert row("7777777").patron_status == ""


def test_a_suspicious_drop_marks_nobody_gone_run_after_run(campaign):
    known("2000001", "7777777")
    sync.full_sync(pace=0)
    known("2000005")
    campaign.directory.resize(1000)  # from 2,500: more than half gone at once
    for _ in range(2):  # the short run is no baseline for the next one
        run = sync.full_sync(pace=0)
        assert run.outcome == "complete"
        assert run.marked_gone == 0
        assert "fewer than half" in run.detail
        assert row("2000005").patron_status == "active_patron"


def test_an_interrupted_sync_marks_nobody_gone(campaign):
    known("2000001", "7777777")
    campaign.set_fault("members", "server_error", status=503)
    with pytest.raises(PatreonUnavailable):
        sync.full_sync(pace=0)
    assert SyncRun.objects.get().outcome == "aborted"
    assert row("7777777").patron_status == "active_patron"


def test_one_full_sync_at_a_time(campaign):
    now = timezone.now()
    SyncRun.objects.create(started_at=now, heartbeat_at=now)
    with pytest.raises(sync.SyncRunning):
        sync.full_sync(pace=0)
    # One that stopped sending heartbeats has died: the next one runs.
    SyncRun.objects.update(heartbeat_at=now - timedelta(hours=1))
    assert sync.full_sync(pace=0).outcome == "complete"
    assert SyncRun.objects.filter(outcome="aborted").count() == 1


def test_the_command_reports_the_run(campaign):
    known("2000001")
    out = io.StringIO()
    call_command("patreon", "sync", "--full", stdout=out)
    assert "Full sync complete: 3 pages" in out.getvalue()


def test_a_throttled_page_is_waited_out_not_the_end_of_the_run(campaign):
    known("2000001")
    campaign.throttle.arm({"calls": 1, "endpoint": "members", "retry_after": 1})
    run = sync.full_sync(pace=0)
    assert run.outcome == "complete"
    assert row("2000001").source == "sync"


def test_a_terminal_sees_a_progress_bar(campaign):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    call_command("patreon", "sync", "--full", stdout=out)
    assert "\r[" in out.getvalue()
    assert "members, page 3" in out.getvalue()


def test_a_configured_tier_the_campaign_lacks_is_warned_about(campaign, settings):
    settings.PATREON_ENTITLEMENTS = {"supporter": {"7001"}, "gold": {"7009"}}
    run = sync.full_sync(pace=0)
    assert run.outcome == "complete"
    assert "tier ids the campaign does not have: 7009" in run.detail


def test_a_page_never_overwrites_a_newer_read(campaign):
    known("2000001", "2000002")
    newer = timezone.now() + timedelta(minutes=1)
    PatreonMembership.objects.filter(patreon_id="2000002").update(
        synced_at=newer, patron_status="declined_patron", source="login"
    )
    run = sync.full_sync(pace=0)
    assert run.updated == 1
    assert (row("2000002").patron_status, row("2000002").source) == (
        "declined_patron",
        "login",
    )


@pytest.mark.parametrize("stale", ["announced", "stored"])
def test_a_re_read_tries_the_announced_member_id_then_the_stored_one(
    patron, creator_token, fake_patreon, stale
):
    """A membership deleted and made again has a new id: either may be stale."""
    from accounts.models import WebhookDelivery

    current = row("1001").member_id
    gone = "00000000-0000-4000-8000-000000000000"
    announced, stored = (gone, current) if stale == "announced" else (current, gone)
    PatreonMembership.objects.filter(patreon_id="1001").update(member_id=stored)
    WebhookDelivery.objects.create(
        key="k" * 64,
        event="members:create",
        received_at=timezone.now(),
        patreon_id="1001",
        member_id=announced,
        outcome="marked",
    )
    fake_patreon.act("1001", "cancel", webhook=False)
    assert sync.reread("1001") == "updated"
    assert (row("1001").patron_status, row("1001").member_id) == (
        "former_patron",
        current,
    )


def test_a_listing_that_loses_its_place_aborts(campaign):
    """Page 3 is page 1 again and the listing ends: nobody unlisted is gone."""
    known("2000001", "2002400")
    campaign.bugs.set({"lose_place": True})
    with pytest.raises(sync.SyncAborted, match="listed before"):
        sync.full_sync(pace=0)
    assert row("2002400").patron_status == "active_patron"


def test_a_declined_patron_keeps_the_tiers_paid_for_during_the_grace(
    patron, creator_token, fake_patreon
):
    """Patreon lists no tiers after a declined charge; the grace needs them."""
    paid = row("1001").tiers
    fake_patreon.act("1001", "decline", webhook=False)
    assert sync.reread("1001") == "updated"
    assert (row("1001").tiers, row("1001").paid_tiers) == ([], paid)
    assert "supporter" in patron.get("/api/auth/me").json()["entitlements"]
    fake_patreon.act("1001", "cancel", webhook=False)
    sync.reread("1001")
    assert row("1001").paid_tiers == []
    assert patron.get("/api/auth/me").json()["entitlements"] == []


def test_a_sync_page_keeps_a_declined_patrons_paid_tiers(campaign):
    known("2000001")
    paid = [{"id": "7002", "title": "Patron", "amount_cents": 1000}]
    PatreonMembership.objects.filter(patreon_id="2000001").update(
        tiers=paid, paid_tiers=paid
    )
    campaign.act("2000001", "decline", webhook=False)
    sync.full_sync(pace=0)
    assert (row("2000001").patron_status, row("2000001").tiers) == (
        "declined_patron",
        [],
    )
    assert row("2000001").paid_tiers == paid
