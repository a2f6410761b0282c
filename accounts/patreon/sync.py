"""
Keeping memberships true between logins: re-reading the members a webhook
announced changed, and walking the whole campaign (the full sync).

Every read carries the time its request started and is written through
``memberships.apply``, so a slow read never overwrites a newer one, whoever
made it (a login, a re-read, a sync page).
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import entitlements
from accounts.models import PatreonMembership, SyncRun, WebhookDelivery
from accounts.patreon import client, identity, memberships
from accounts.patreon.errors import Throttled
from ventures import events

logger = logging.getLogger(__name__)

MEMBER_PARAMS = {
    "include": "currently_entitled_tiers,user,campaign",
    "fields[member]": identity.IDENTITY_PARAMS["fields[member]"],
    "fields[tier]": "title,amount_cents",
}
# A re-read tries at most this many member ids the webhooks named.
ANNOUNCED_IDS_TRIED = 3
# Patreon's largest page.
PAGE_SIZE = 1000
# Patreon allows a token 100 calls a minute (and a client 100 per 2 s): the
# full sync asks for a page at most this often, leaving the rest for re-reads.
PAGE_INTERVAL = 60 / 50
# A page refused with 429 is asked for again after Patreon's wait, this often,
# if the wait is no longer than MAX_WAIT (a sync silent for longer than
# SYNC_HEARTBEAT_TIMEOUT is taken for dead); a longer one aborts the run.
THROTTLED_TRIES = 4
MAX_WAIT = 5 * 60
MEMBERS_PARAMS = {
    "include": "currently_entitled_tiers,user",
    "fields[member]": identity.IDENTITY_PARAMS["fields[member]"],
    "fields[tier]": "title,amount_cents",
    "page[count]": str(PAGE_SIZE),
}
# A complete run that saw fewer than this share of the last complete run's
# members marks nobody gone: a campaign does not halve in six hours, an API
# that answers short pages does.
SUSPICIOUS_DROP = 0.5
# A walk that listed fewer than this share of the total Patreon reported at
# its start is not complete.
COMPLETE_SHARE = 0.9
# A running sync that has not finished a page for this long has died.
SYNC_HEARTBEAT_TIMEOUT = timedelta(minutes=15)


class SyncAborted(Exception):
    """The walk cannot be trusted to be complete; nobody is marked gone."""


class SyncRunning(Exception):
    """Another full sync is running (one at a time, across instances)."""


# Re-reading one member
# ------------------------------------------------------------------------------


def _member_ids_of(patreon_id):
    """
    Where to re-read ``patreon_id``: the member ids the last webhooks named,
    newest first (a patron who joined after logging in, or whose membership
    was deleted and made again: deliveries may come in any order), then
    their row's.
    """
    announced = (
        WebhookDelivery.objects.filter(patreon_id=patreon_id)
        .exclude(member_id="")
        .order_by("-received_at")
        .values_list("member_id", flat=True)[:ANNOUNCED_IDS_TRIED]
    )
    stored = (
        PatreonMembership.objects.filter(patreon_id=patreon_id)
        .values_list("member_id", flat=True)
        .first()
    )
    return list(dict.fromkeys(filter(None, [*announced, stored])))


def _read_member(patreon_id, member_id, campaign_id):
    """The snapshot Patreon gives of ``member_id``, if it is this patron's
    membership of our campaign; else None (404, someone else's, elsewhere)."""
    document = client.get(f"members/{member_id}", MEMBER_PARAMS, endpoint="member")
    member = document and document.get("data")
    if not isinstance(member, dict):
        return None
    if identity.member_user_id(member) != patreon_id:
        return None
    if identity.related_id(member, "campaign") != campaign_id:
        return None
    return identity.member_snapshot(
        member, identity.included_index(document), campaign_id
    )


def reread(patreon_id):
    """
    Read ``patreon_id``'s membership from Patreon and write it if nothing
    newer has been; return what happened: "updated", "unchanged" (a newer
    read was there), "unknown" (nobody of ours), or "no_member_id" (nothing
    to re-read by: the full sync will). Raises client's errors.
    """
    if not memberships.exists(patreon_id):
        return "unknown"
    member_ids = _member_ids_of(patreon_id)
    if not member_ids:
        return "no_member_id"
    campaign_id = settings.PATREON_CAMPAIGN_ID
    read_started_at = timezone.now()
    for member_id in member_ids:
        snapshot = _read_member(patreon_id, member_id, campaign_id)
        if snapshot is not None:
            break
    else:
        # Deleted (never paid), or every id now names someone else or
        # another campaign: this patron is no member of ours.
        snapshot = {**identity.NO_MEMBERSHIP, "campaign_id": campaign_id}
    written = memberships.apply(
        patreon_id,
        snapshot,
        read_started_at=read_started_at,
        source=PatreonMembership.Source.WEBHOOK,
    )
    outcome = "updated" if written else "unchanged"
    events.emit(
        events.PATREON_MEMBER_REFRESHED,
        patreon_id=patreon_id,
        outcome=outcome,
        patron_status=snapshot["patron_status"] or None,
    )
    return outcome


def pending():
    """The Patreon ids whose change a webhook announced and no read has seen."""
    return list(
        PatreonMembership.objects.filter(changed_at__isnull=False)
        .order_by("changed_at")
        .values_list("patreon_id", flat=True)
    )


def is_pending(patreon_id):
    """Whether ``patreon_id``'s announced change is still unread."""
    return PatreonMembership.objects.filter(
        patreon_id=patreon_id, changed_at__isnull=False
    ).exists()


def walking_is_cheaper():
    """
    Whether one walk of the campaign (the full sync) reads every change
    waiting in fewer calls than a read each: more changes wait than the last
    complete walk had pages. Patreon allows a token 100 calls a minute, so a
    burst of 1,000 announcements (a paused webhook's queue flushed, a tier's
    price changed) takes ten minutes one by one, and a walk of a 50,000
    member campaign one minute. False before any complete walk, and while
    the last walk that ended did not complete: walks that abort (a broken
    pagination, a dead grant) must not hold every change back.
    """
    last = (
        SyncRun.objects.exclude(outcome=SyncRun.Outcome.RUNNING)
        .order_by("-started_at")
        .values_list("outcome", "pages")
        .first()
    )
    if last is None or last[0] != SyncRun.Outcome.COMPLETE or not last[1]:
        return False
    pages = last[1]
    waiting = PatreonMembership.objects.filter(changed_at__isnull=False)
    return waiting[: pages + 1].count() > pages


# The full sync
# ------------------------------------------------------------------------------


def _start_run(now):
    """A SyncRun for this run; SyncRunning if another one is alive."""
    SyncRun.objects.filter(
        outcome=SyncRun.Outcome.RUNNING, heartbeat_at__lt=now - SYNC_HEARTBEAT_TIMEOUT
    ).update(
        outcome=SyncRun.Outcome.ABORTED,
        finished_at=now,
        detail="stopped without finishing (no page for 15 minutes)",
    )
    try:
        with transaction.atomic():
            return SyncRun.objects.create(started_at=now, heartbeat_at=now)
    except IntegrityError as e:
        raise SyncRunning("another full sync is running") from e


def _page(document, campaign_id):
    """
    How many members a members page lists, and (patreon_id, snapshot) for
    each of them that names its user.
    """
    included = identity.included_index(document)
    data = document.get("data")
    data = (
        [item for item in data if isinstance(item, dict)]
        if isinstance(data, list)
        else []
    )
    members = []
    for member in data:
        patreon_id = identity.member_user_id(member)
        if patreon_id:
            members.append(
                (patreon_id, identity.member_snapshot(member, included, campaign_id))
            )
    return len(data), members


def _pagination(document):
    """(total, next cursor) of a members page."""
    pagination = document.get("meta", {})
    pagination = pagination.get("pagination") if isinstance(pagination, dict) else {}
    pagination = pagination if isinstance(pagination, dict) else {}
    total = pagination.get("total")
    cursors = pagination.get("cursors")
    cursor = cursors.get("next") if isinstance(cursors, dict) else None
    return (
        total if isinstance(total, int) and not isinstance(total, bool) else None,
        cursor if isinstance(cursor, str) and cursor else None,
    )


def _known(members):
    """The Patreon ids on a page that are patrons we know."""
    return set(
        PatreonMembership.objects.filter(
            patreon_id__in=[patreon_id for patreon_id, _ in members]
        ).values_list("patreon_id", flat=True)
    )


def _write_page(members, read_started_at):
    """Write a page's snapshots of patrons we know; return how many changed."""
    return memberships.apply_many(
        dict(members),
        read_started_at=read_started_at,
        source=PatreonMembership.Source.SYNC,
    )


def full_sync(progress=None, pace=PAGE_INTERVAL):
    """
    Walk every member of our campaign, write what Patreon says of each
    patron we know, and, after a complete walk, mark the members we know
    that Patreon no longer lists as no longer members. Return the SyncRun.

    Pages are asked for at most every ``pace`` seconds, and a 429 is waited
    out (as long as Patreon says, a few times) rather than ending the run.
    ``progress(run, total)`` is called after each page. Raises SyncRunning
    if another sync is alive; client's errors and SyncAborted end the run
    as aborted (recorded) and are raised again.
    """
    campaign_id = settings.PATREON_CAMPAIGN_ID
    run = _start_run(timezone.now())
    try:
        _check_entitled_tiers(run, campaign_id)
        _walk(run, campaign_id, progress, pace)
        _mark_gone(run, campaign_id)
    except Exception as e:
        run.detail = f"{type(e).__name__}: {e}"[:300]
        _finish(run, SyncRun.Outcome.ABORTED)
        events.emit(
            events.PATREON_SYNC_FAILED,
            level=logging.ERROR,
            reason=run.detail,
            pages=run.pages,
            members=run.members_seen,
        )
        raise
    _finish(run, SyncRun.Outcome.COMPLETE)
    events.emit(
        events.PATREON_SYNC_FINISHED,
        pages=run.pages,
        members=run.members_seen,
        updated=run.updated,
        marked_gone=run.marked_gone,
        seconds=round((run.finished_at - run.started_at).total_seconds(), 1),
    )
    return run


def _still_running(run):
    """Whether no other sync has taken ``run`` for dead (SYNC_HEARTBEAT_TIMEOUT)."""
    return SyncRun.objects.filter(pk=run.pk, outcome=SyncRun.Outcome.RUNNING).exists()


def _finish(run, outcome):
    """Record how ``run`` ended, unless another sync has taken it for dead."""
    run.outcome, run.finished_at = outcome, timezone.now()
    fields = ["outcome", "finished_at", "detail", "pages", "members_seen"]
    fields += ["updated", "marked_gone", "baseline"]
    SyncRun.objects.filter(pk=run.pk, outcome=SyncRun.Outcome.RUNNING).update(
        **{name: getattr(run, name) for name in fields}
    )


def campaign_tier_ids(campaign_id):
    """The ids of our campaign's tiers (``GET /campaigns?include=tiers``)."""
    document = client.get(
        "campaigns",
        {"include": "tiers", "fields[tier]": "title"},
        endpoint="campaigns",
    )
    for campaign in (document or {}).get("data") or []:
        if isinstance(campaign, dict) and str(campaign.get("id")) == campaign_id:
            tiers = identity.related_ids(campaign, "tiers")
            return [tier_id for kind, tier_id in tiers if kind == "tier"]
    raise SyncAborted(f"campaign {campaign_id} is not among the creator's")


def _check_entitled_tiers(run, campaign_id):
    """Warn when PATREON_ENTITLEMENTS names a tier our campaign does not have."""
    unknown = entitlements.unknown_tier_ids(campaign_tier_ids(campaign_id))
    if unknown:
        run.detail = (
            f"PATREON_ENTITLEMENTS names tier ids the campaign does not have: "
            f"{', '.join(unknown)}"
        )[:300]
        logger.warning("sync: %s", run.detail)


def _members_page(campaign_id, params, pace, last_call):
    """One members page, asked for no sooner than ``pace`` after ``last_call``."""
    for attempt in range(THROTTLED_TRIES):
        time.sleep(max(0.0, last_call + pace - time.monotonic()))
        last_call = time.monotonic()
        read_started_at = timezone.now()
        try:
            document = client.get(
                f"campaigns/{campaign_id}/members", params, endpoint="campaign_members"
            )
        except Throttled as throttled:
            if attempt + 1 == THROTTLED_TRIES or throttled.seconds > MAX_WAIT:
                raise
            logger.warning("sync throttled: waiting %.0f s", throttled.seconds)
            time.sleep(throttled.seconds)
            continue
        return document, read_started_at, last_call
    raise AssertionError("unreachable")  # pragma: no cover


def _walk(run, campaign_id, progress, pace):
    params = dict(MEMBERS_PARAMS)
    cursors, previous_ids, total, smallest_page = set(), None, None, PAGE_SIZE
    # The patrons we know seen so far (bounded by our users, not the campaign).
    known = set()
    last_call = -pace
    while True:
        document, read_started_at, last_call = _members_page(
            campaign_id, params, pace, last_call
        )
        if document is None:
            raise SyncAborted(f"campaign {campaign_id} not found")
        listed, members = _page(document, campaign_id)
        page_known = _known(members)
        if page_known & known:
            raise SyncAborted(f"page {run.pages + 1} lists members listed before")
        known |= page_known
        page_total, cursor = _pagination(document)
        total = page_total if total is None else total
        ids = {patreon_id for patreon_id, _ in members}
        # Guards against Patreon's reported pagination bugs: a cursor that
        # repeats forever, a page served again, more pages than members.
        if members and ids == previous_ids:
            raise SyncAborted(f"page {run.pages + 1} repeats the previous page")
        if cursor is not None and cursor in cursors:
            raise SyncAborted(f"page {run.pages + 1} repeats a cursor")
        run.pages += 1
        run.members_seen += listed
        run.updated += _write_page(members, read_started_at)
        run.heartbeat_at = timezone.now()
        run.save(update_fields=["pages", "members_seen", "updated", "heartbeat_at"])
        logger.info(
            "sync page %d: %d members, %d of %s seen, %d updated",
            run.pages,
            len(members),
            run.members_seen,
            total,
            run.updated,
        )
        if progress:
            progress(run, total)
        if cursor is None:
            break
        smallest_page = min(smallest_page, listed or 1)
        if total is not None and run.pages > total // smallest_page + 1:
            raise SyncAborted(f"{run.pages} pages for {total} members")
        cursors.add(cursor)
        previous_ids = ids
        params["page[cursor]"] = cursor
    # Members join and leave during a walk: only a large shortfall is a fault.
    if total is not None and run.members_seen < total * COMPLETE_SHARE:
        raise SyncAborted(f"saw {run.members_seen} of {total} members")


def _mark_gone(run, campaign_id):
    """
    After a complete walk: every patron we know whose row no read has
    written since the run started was not listed, so is no member now.
    """
    last = SyncRun.objects.filter(baseline=True).order_by("-started_at").first()
    if last and run.members_seen < last.members_seen * SUSPICIOUS_DROP:
        drop = (
            f"saw {run.members_seen} members, fewer than half of the last "
            f"complete run's {last.members_seen}: nobody marked gone"
        )
        run.detail = "; ".join(filter(None, [run.detail, drop]))[:300]
        logger.warning("sync: %s", run.detail)
        return
    if not _still_running(run):
        raise SyncAborted("taken for dead by another sync: nobody marked gone")
    run.baseline = True
    unlisted = PatreonMembership.objects.filter(synced_at__lt=run.started_at)
    gone = {**identity.NO_MEMBERSHIP, "campaign_id": campaign_id}
    # Conditional UPDATEs: a login that lands meanwhile keeps its row. Those
    # who were no members are written too: now known to be none.
    run.marked_gone = memberships.apply_to(
        unlisted.exclude(member_id="", patron_status=""),
        gone,
        read_started_at=run.started_at,
        source=PatreonMembership.Source.SYNC,
    )
    memberships.apply_to(
        unlisted,
        gone,
        read_started_at=run.started_at,
        source=PatreonMembership.Source.SYNC,
    )
