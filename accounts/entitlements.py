"""
Entitlements: may this patron use this? Decided in one place, from the
membership snapshot alone (no query, no Patreon call), for /api/auth/me,
Django views (accounts.access) and other services (/api/auth/check).

An entitlement is a name and the tier ids of our campaign that grant it
(PATREON_ENTITLEMENTS). The decision, first match wins (README,
"Entitlements", has it as a table, each row tested):

1. no membership of our campaign: ``not_member``
2. read longer ago than PATREON_ENTITLEMENT_MAX_AGE: ``membership_stale``
3. none of the entitlement's tiers among the entitled ones (for a declined
   patron whom Patreon lists no tiers for, the tiers paid for last):
   ``not_entitled``
4. last charge refunded: ``refunded``; fraud: ``fraud``
5. declined, last charge attempt more than PATREON_DECLINE_GRACE ago (or
   never): ``declined_past_grace``; within it: allowed, ``declined_in_grace``
6. otherwise allowed: ``entitled``

Patreon's entitled tiers already cover "a current pledge, or payment that
covers the current payment period" (so a former patron keeps them until
their paid period ends, and a free trial or a gift has them), and a Free
tier is one more tier id: it counts only when PATREON_ENTITLEMENTS lists it.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings

NOT_MEMBER = "not_member"
MEMBERSHIP_STALE = "membership_stale"
NOT_ENTITLED = "not_entitled"
REFUNDED = "refunded"
FRAUD = "fraud"
DECLINED_PAST_GRACE = "declined_past_grace"
DECLINED_IN_GRACE = "declined_in_grace"
ENTITLED = "entitled"

# Patreon's last_charge_status values that take the payment back.
REFUNDED_CHARGES = frozenset({"Refunded", "Refunded by Patreon"})
FRAUD_CHARGES = frozenset({"Fraud"})


@dataclass(frozen=True)
class Decision:
    """Whether access is allowed, and the reason (one of the names above)."""

    allowed: bool
    reason: str


def known():
    """The configured entitlement names, in PATREON_ENTITLEMENTS' order."""
    return list(settings.PATREON_ENTITLEMENTS)


def _is_member(membership):
    return (
        membership is not None
        and bool(membership.campaign_id)
        and membership.campaign_id == settings.PATREON_CAMPAIGN_ID
    )


def _is_declined(membership):
    return (
        membership.patron_status == "declined_patron"
        or membership.last_charge_status == "Declined"
    )


def decide(membership, tier_ids, now):
    """
    The Decision for ``membership`` (a PatreonMembership, or None) and an
    entitlement granted by ``tier_ids``, at ``now``.
    """
    if not _is_member(membership):
        return Decision(False, NOT_MEMBER)
    max_age = timedelta(seconds=settings.PATREON_ENTITLEMENT_MAX_AGE)
    if now - membership.synced_at > max_age:
        return Decision(False, MEMBERSHIP_STALE)
    tiers = membership.tiers
    if not tiers and _is_declined(membership):
        # Patreon lists no tiers once a charge is declined: the grace is for
        # the tiers paid for last.
        tiers = membership.paid_tiers
    if not tier_ids & {str(tier.get("id")) for tier in tiers}:
        return Decision(False, NOT_ENTITLED)
    if membership.last_charge_status in REFUNDED_CHARGES:
        return Decision(False, REFUNDED)
    if membership.last_charge_status in FRAUD_CHARGES:
        return Decision(False, FRAUD)
    if _is_declined(membership):
        grace = timedelta(seconds=settings.PATREON_DECLINE_GRACE)
        attempt = membership.last_charge_date
        if attempt is None or now - attempt > grace:
            return Decision(False, DECLINED_PAST_GRACE)
        return Decision(True, DECLINED_IN_GRACE)
    return Decision(True, ENTITLED)


def decide_for(user, name, now):
    """The Decision for ``user`` (logged in) and the configured entitlement ``name``."""
    membership = getattr(user, "patreon", None)
    return decide(membership, settings.PATREON_ENTITLEMENTS[name], now)


def decisions(user, now):
    """{name: Decision} for every configured entitlement, for ``user``."""
    membership = getattr(user, "patreon", None)
    return {
        name: decide(membership, tier_ids, now)
        for name, tier_ids in settings.PATREON_ENTITLEMENTS.items()
    }


def granted(user, now):
    """The names of the entitlements ``user`` has at ``now``, in configured order."""
    return [name for name, d in decisions(user, now).items() if d.allowed]


def unknown_tier_ids(campaign_tier_ids):
    """
    The configured tier ids that are not among ``campaign_tier_ids`` (the
    campaign's tiers, as the full sync reads them), sorted: an entitlement
    naming one of them can never be granted, so the sync warns.
    """
    configured = set().union(*settings.PATREON_ENTITLEMENTS.values())
    return sorted(configured - {str(tier_id) for tier_id in campaign_tier_ids})
