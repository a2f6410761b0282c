"""
Patreon's webhooks: signals that a patron's membership changed.

Patreon signs the raw body with HMAC-MD5 under the webhook's secret
(``X-Patreon-Signature``, hex) and signs nothing else: no timestamp, nonce or
delivery id. So a delivery is verified before anything reads it, recorded
once under a digest of what was signed, and never applied as state: a
verified ``members:*`` event only marks the patron's membership as changed,
and the membership is re-read from Patreon's API (by the sync worker). A
stale, replayed, reordered or test-shaped payload then grants or removes
nothing by itself.
"""

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, replace

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import tasks
from accounts.models import WebhookDelivery
from accounts.patreon import identity, memberships

# Larger bodies are refused unread (413): a member payload is a few KiB.
MAX_BODY_BYTES = 1024 * 1024

MARKED = "marked"
# Why a verified delivery changed nothing; recorded as "ignored:<reason>".
NOT_A_MEMBER_EVENT = "not_a_member_event"  # posts:*, anything new
LEGACY_EVENT = "legacy_event"  # API v1's pledges:*
MALFORMED = "malformed"  # not a JSON object
NO_MEMBER = "no_member"  # no member resource, or the portal's test ("id": null)
OTHER_CAMPAIGN = "other_campaign"
NO_PATRON = "no_patron"  # no user id to mark
UNKNOWN_PATRON = "unknown_patron"  # nobody here has logged in with that id
# A read that started after the delivery came has already written the row.
ALREADY_CURRENT = "already_current"

# Ids as Patreon spells them: numbers for users and campaigns, UUIDs for
# members. Anything else is not stored.
_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
# Event names are Patreon's ("members:pledge:update"); what is not one is
# stored cut and cleaned, so the admin shows what came.
_EVENT_UNSAFE = re.compile(r"[^A-Za-z0-9:_.-]")
EVENT_MAX_LENGTH = WebhookDelivery._meta.get_field("event").max_length


def ignored(reason):
    return f"ignored:{reason}"


def signature_matches(body, signature, secrets):
    """
    Whether ``signature`` (the header's hex, either case) is the HMAC-MD5 of
    the raw ``body`` under one of ``secrets``, compared in constant time.
    """
    if not signature:
        return False
    given = signature.strip().lower().encode("latin-1", "replace")
    matched = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, hashlib.md5).hexdigest().encode()
        # Every secret is tried, so the time taken says nothing about which.
        matched |= hmac.compare_digest(expected, given)
    return matched


def event_name(header):
    """The ``X-Patreon-Event`` header as stored: cleaned and cut."""
    return _EVENT_UNSAFE.sub("", header or "")[:EVENT_MAX_LENGTH]


def delivery_key(event, body):
    """The idempotency key: one delivery, however often Patreon retries it."""
    return hashlib.sha256(event.encode() + b"\n" + body).hexdigest()


def _id(value):
    """``value`` (identity's reading of a JSON:API id) if Patreon could spell it."""
    return value if value and _ID.fullmatch(value) else ""


@dataclass(frozen=True)
class Reading:
    """What a verified body names, and why it would be ignored ("" if not)."""

    patreon_id: str = ""
    member_id: str = ""
    campaign_id: str = ""
    reason: str = ""


def read(event, body):
    """The ids a verified delivery names: the member, its user and campaign."""
    if event.startswith("pledges:"):
        return Reading(reason=LEGACY_EVENT)
    if not event.startswith("members:"):
        return Reading(reason=NOT_A_MEMBER_EVENT)
    try:
        document = json.loads(body)
    except ValueError:
        return Reading(reason=MALFORMED)
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict) or data.get("type") != "member":
        return Reading(reason=NO_MEMBER)
    reading = Reading(
        patreon_id=_id(identity.related_id(data, "user")),
        member_id=_id(identity.resource_id(data)),
        campaign_id=_id(identity.related_id(data, "campaign")),
    )
    if not reading.member_id:  # the portal's "Send test" has "id": null
        reason = NO_MEMBER
    elif reading.campaign_id != settings.PATREON_CAMPAIGN_ID:
        reason = OTHER_CAMPAIGN
    elif not reading.patreon_id:
        reason = NO_PATRON
    else:
        reason = ""
    return replace(reading, reason=reason)


@dataclass(frozen=True)
class Receipt:
    """A recorded delivery, and whether it had been recorded before."""

    delivery: WebhookDelivery
    duplicate: bool


def receive(event, body):
    """
    Record a verified delivery once and mark the patron it names as changed.

    The same delivery again (Patreon retries, or a replay) finds its row and
    marks nothing. Raises DatabaseError if the database fails: nothing is
    then recorded, and Patreon delivers again later.
    """
    key = delivery_key(event, body)
    reading = read(event, body)
    now = timezone.now()
    try:
        with transaction.atomic():
            outcome = ignored(reading.reason) if reading.reason else MARKED
            if outcome == MARKED and not memberships.mark_changed(
                reading.patreon_id, now
            ):
                known = memberships.exists(reading.patreon_id)
                outcome = ignored(ALREADY_CURRENT if known else UNKNOWN_PATRON)
            if outcome == MARKED:
                tasks.defer_reread(reading.patreon_id)
            delivery = WebhookDelivery.objects.create(
                key=key,
                event=event,
                received_at=now,
                patreon_id=reading.patreon_id,
                member_id=reading.member_id,
                campaign_id=reading.campaign_id,
                outcome=outcome,
            )
    except IntegrityError:
        # Recorded before (or just now, by a concurrent retry): the mark
        # above is rolled back with the duplicate row.
        return Receipt(WebhookDelivery.objects.get(key=key), duplicate=True)
    return Receipt(delivery, duplicate=False)
