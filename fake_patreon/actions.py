"""
What a patron can do to their membership of our campaign, and what Patreon
then says about it: each action maps the membership before (None when there
is none) to the one after (None when the member is gone), and names the
webhook trigger Patreon fires for it.

The rules are kept simple where Patreon's are fuzzy: a cancellation ends the
entitlement at once, a decline too; a refund leaves the entitlement in place
(Patreon's lags; the app must read ``last_charge_status``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from fake_patreon.patrons import FREE_TIER, OUR_TIERS, Membership

# Patreon retries a declined charge for about a week.
RETRY_AFTER_DECLINE = timedelta(days=7)
# The last charge statuses a refund may leave, as Patreon spells them.
REFUND_STATUSES = ("Refunded", "Refunded by Patreon", "Partially Refunded", "Fraud")
PAID_TIERS = {tier.id: tier for tier in OUR_TIERS}
# The statuses of a patron who was charged at least once.
CHARGED = {"active_patron", "declined_patron", "former_patron"}


class ActionError(ValueError):
    """An action that cannot apply: the message says why."""


def timestamp(moment):
    """``moment`` (a datetime) as Patreon writes dates."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000+00:00")


def _next_cycle(moment):
    """The first of next month, 08:00 UTC: when Patreon charges monthly pledges."""
    first = moment.replace(day=1, hour=8, minute=0, second=0, microsecond=0)
    return (first + timedelta(days=32)).replace(day=1)


def _tiers(options):
    ids = options.get("tiers")
    if not isinstance(ids, list) or not ids:
        raise ActionError("tiers must be a non-empty list of tier ids.")
    if unknown := [i for i in ids if i not in PAID_TIERS]:
        raise ActionError(
            f"Unknown paid tier(s) {unknown}: pick among {sorted(PAID_TIERS)} "
            f"(the Free tier {FREE_TIER.id} is the free_join action)."
        )
    return tuple(PAID_TIERS[i] for i in dict.fromkeys(ids))


def _require(membership, statuses, action):
    status = membership.patron_status if membership else "no membership"
    if status not in statuses:
        raise ActionError(
            f"Cannot {action} a patron whose status is {status!r}; "
            f"needs one of {sorted(statuses, key=str)}."
        )


def _charged(membership, tiers, now):
    """``membership`` entitled to ``tiers`` after a successful charge at ``now``."""
    amount = max(tier.amount_cents for tier in tiers)
    return replace(
        membership,
        patron_status="active_patron",
        tiers=tiers,
        pledge=tiers,
        currently_entitled_amount_cents=amount,
        will_pay_amount_cents=amount,
        last_charge_status="Paid",
        last_charge_date=timestamp(now),
        next_charge_date=timestamp(_next_cycle(now)),
        pledge_relationship_start=membership.pledge_relationship_start
        or timestamp(now),
        pledge_cadence=1,
        is_free_trial=False,
        lifetime_support_cents=membership.lifetime_support_cents + amount,
    )


def pledge(membership, options, now, campaign):
    """A new paid pledge to ``tiers``, charged at once."""
    _require(membership, {"no membership", None, "former_patron"}, "pledge for")
    fresh = Membership(campaign, None)
    start = {}
    if membership is not None and membership.patron_status is not None:
        start = {"lifetime_support_cents": membership.lifetime_support_cents}
    return _charged(replace(fresh, **start), _tiers(options), now)


def change_tiers(membership, options, now, campaign):
    """An active patron moves to ``tiers`` (Patreon prorates; the fake doesn't)."""
    _require(membership, {"active_patron"}, "change the tiers of")
    tiers = _tiers(options)
    amount = max(tier.amount_cents for tier in tiers)
    return replace(
        membership,
        tiers=tiers,
        pledge=tiers,
        currently_entitled_amount_cents=amount,
        will_pay_amount_cents=amount,
    )


def decline(membership, options, now, campaign):
    """The cycle's charge fails: no entitlement until a retry succeeds."""
    _require(membership, {"active_patron"}, "decline")
    return replace(
        membership,
        patron_status="declined_patron",
        tiers=(),
        currently_entitled_amount_cents=0,
        last_charge_status="Declined",
        last_charge_date=timestamp(now),
        next_charge_date=timestamp(now + RETRY_AFTER_DECLINE),
    )


def recover(membership, options, now, campaign):
    """A retried charge goes through (after a decline, or ending the blip)."""
    _require(membership, {"declined_patron", "active_patron"}, "recover")
    if not membership.pledge:
        raise ActionError("Nothing to recover: the patron pledges to no paid tier.")
    return _charged(membership, membership.pledge, now)


def cancel(membership, options, now, campaign):
    """The patron cancels: a former patron, entitled to nothing, at once."""
    _require(membership, {"active_patron", "declined_patron"}, "cancel")
    return replace(
        membership,
        patron_status="former_patron",
        tiers=(),
        pledge=(),
        currently_entitled_amount_cents=0,
        will_pay_amount_cents=0,
        next_charge_date=None,
        is_free_trial=False,
    )


def refund(membership, options, now, campaign):
    """The last charge is refunded (or found fraudulent); nothing else changes."""
    _require(membership, CHARGED, "refund")
    status = options.get("charge_status", "Refunded")
    if status not in REFUND_STATUSES:
        raise ActionError(f"charge_status must be one of {REFUND_STATUSES}.")
    return replace(membership, last_charge_status=status)


def delete(membership, options, now, campaign):
    """The member is gone: 404 on the member endpoint, absent from the list."""
    if membership is None:
        raise ActionError("Cannot delete a patron who has no membership.")


def free_join(membership, options, now, campaign):
    """The patron joins the Free tier: entitled to it, nothing paid."""
    _require(membership, {"no membership", None, "former_patron"}, "free_join")
    base = membership or Membership(campaign, None)
    return replace(
        base,
        tiers=(FREE_TIER,),
        pledge=(),
        currently_entitled_amount_cents=0,
        will_pay_amount_cents=0,
        next_charge_date=None,
    )


def blip(membership, options, now, campaign):
    """
    The start of a billing cycle as observed: still active, but entitled to
    nothing for a while (``recover`` ends it, as the charge going through).
    """
    _require(membership, {"active_patron"}, "blip")
    return replace(membership, tiers=(), currently_entitled_amount_cents=0)


# Each action: its function, the webhook trigger it fires, its options.
ACTIONS = {
    "pledge": (pledge, "members:pledge:create", {"tiers"}),
    "change_tiers": (change_tiers, "members:pledge:update", {"tiers"}),
    "decline": (decline, "members:update", set()),
    "recover": (recover, "members:update", set()),
    "cancel": (cancel, "members:pledge:delete", set()),
    "refund": (refund, "members:update", {"charge_status"}),
    "delete": (delete, "members:delete", set()),
    "free_join": (free_join, "members:create", set()),
    "blip": (blip, "members:update", set()),
}


def apply(action, membership, options, now, campaign):
    """
    ``(membership after, trigger)`` of ``action`` with ``options`` at
    ``now`` (seconds since the epoch), or ActionError.
    """
    if action not in ACTIONS:
        raise ActionError(f"action must be one of {tuple(ACTIONS)}, not {action!r}.")
    function, trigger, allowed = ACTIONS[action]
    if unknown := options.keys() - allowed:
        raise ActionError(f"{action} takes no option {', '.join(sorted(unknown))}.")
    moment = datetime.fromtimestamp(now, UTC)
    return function(membership, options, moment, campaign), trigger
