"""
The fake's people: two campaigns, their tiers, and the patrons who can log in,
as they start out (``fake_patreon.world`` changes them).

Each seeded patron stands for one case the app must handle; patron 1000 is
our campaign's creator. Any id of six to fourteen digits is a valid patron
too, made up on demand, so that a test can log in hundreds of distinct people
without a fixture for each.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

# Six to fourteen digits, no leading zero: one spelling per dynamic patron,
# and few enough to fit in a member id (see Patron.member_id).
DYNAMIC_ID = re.compile(r"[1-9][0-9]{5,13}")
CREATOR_ID = "1000"
# Hides the patron id in a member id from the eye, not from the fake.
MEMBER_ID_MASK = 0x5EC2E7F00D15


@dataclass(frozen=True)
class Tier:
    id: str
    title: str
    amount_cents: int
    description: str

    @property
    def url(self):
        return f"https://www.patreon.com/checkout?rid={self.id}"


@dataclass(frozen=True)
class Campaign:
    id: str
    creation_name: str
    vanity: str
    summary: str
    created_at: str = "2019-03-01T12:00:00.000+00:00"
    published_at: str = "2019-03-02T12:00:00.000+00:00"
    is_monthly: bool = True

    @property
    def url(self):
        return f"https://www.patreon.com/{self.vanity}"


@dataclass(frozen=True)
class Membership:
    """A user's relationship with one campaign: Patreon's member resource."""

    campaign: Campaign
    patron_status: str | None
    tiers: tuple[Tier, ...] = ()
    currently_entitled_amount_cents: int = 0
    will_pay_amount_cents: int = 0
    last_charge_status: str | None = None
    last_charge_date: str | None = None
    next_charge_date: str | None = None
    pledge_relationship_start: str | None = None
    pledge_cadence: int | None = None
    is_free_trial: bool = False
    is_gifted: bool = False
    # Deprecated by Patreon: always false since free membership replaced it.
    is_follower: bool = False
    lifetime_support_cents: int = 0
    # The fake's own, never served: the tiers paid for, entitled again once
    # a charge goes through after a decline or the cycle-start blip.
    pledge: tuple[Tier, ...] = ()


@dataclass(frozen=True)
class Patron:
    """A Patreon user. ``note`` is the fake's own: the case this one covers."""

    id: str
    full_name: str
    email: str
    note: str
    is_email_verified: bool = True
    memberships: tuple[Membership, ...] = ()
    vanity: str | None = None
    created: str = "2016-04-01T09:30:00.000+00:00"

    def member_id(self, membership):
        """The member resource's id: a UUID, as Patreon's, stable, and telling."""
        return member_id(self.id, membership.campaign.id)


def member_id(patron_id, campaign_id):
    """
    A random-looking UUID whose last 48 bits hold ``patron_id``: the fake
    finds a member among a hundred thousand without an index.
    """
    digest = hashlib.sha256(f"member/{patron_id}/{campaign_id}".encode()).digest()
    tail = (int(patron_id) ^ MEMBER_ID_MASK).to_bytes(6)
    return str(uuid.UUID(bytes=digest[:10] + tail, version=4))


def patron_id_of(member, campaign_id):
    """The patron id in ``member``, a member id of ``campaign_id``, or None."""
    try:
        patron_id = str(int.from_bytes(uuid.UUID(member).bytes[10:]) ^ MEMBER_ID_MASK)
    except ValueError:
        return None
    return patron_id if member_id(patron_id, campaign_id) == member else None


# Every campaign has a Free tier, which cannot be disabled.
FREE_TIER = Tier("7000", "Free", 0, "Follow along, for free.")
OUR_TIERS = (
    Tier("7001", "Supporter", 300, "Our thanks, and the monthly letter."),
    Tier("7002", "Patron", 1000, "Early access to every venture."),
    Tier("7003", "Benefactor", 2500, "A seat at the quarterly call."),
)
OTHER_TIERS = (Tier("8001", "Reader", 500, "The weekly engine notes."),)
OTHER_CAMPAIGN = Campaign(
    "9000002", "Analytical Engines Weekly", "engines", "Notes on difference engines."
)


class Directory:
    """The patrons a fake can log in, for a client that owns ``campaign_id``."""

    def __init__(self, campaign_id):
        if campaign_id == OTHER_CAMPAIGN.id:
            raise ValueError(f"campaign_id {campaign_id} is the fake's other campaign.")
        self.campaign = Campaign(
            campaign_id, "Ventures", "ventures", "Small bets, shared openly."
        )
        self.seeded = {patron.id: patron for patron in _seeded_patrons(self.campaign)}

    def patron(self, patron_id):
        """Return the seeded or dynamic patron with ``patron_id``, or None."""
        if patron_id in self.seeded:
            return self.seeded[patron_id]
        if not DYNAMIC_ID.fullmatch(patron_id):
            return None
        tier = OUR_TIERS[int(patron_id) % len(OUR_TIERS)]
        return Patron(
            patron_id,
            f"Patron {patron_id}",
            f"patron{patron_id}@example.test",
            f"generated: active patron, {tier.title}",
            memberships=(_active(self.campaign, tier),),
        )


def _active(campaign, *tiers):
    """A paid-up membership entitled to ``tiers``."""
    amount = max(tier.amount_cents for tier in tiers)
    return Membership(
        campaign,
        "active_patron",
        tiers,
        currently_entitled_amount_cents=amount,
        will_pay_amount_cents=amount,
        last_charge_status="Paid",
        last_charge_date="2024-05-01T08:00:00.000+00:00",
        next_charge_date="2024-06-01T08:00:00.000+00:00",
        pledge_relationship_start="2023-01-15T10:00:00.000+00:00",
        pledge_cadence=1,
        lifetime_support_cents=17 * amount,
        pledge=tiers,
    )


def _seeded_patrons(ours):
    supporter, patron, benefactor = OUR_TIERS
    return (
        Patron(
            CREATOR_ID,
            "Vera Ventures",
            "vera@example.test",
            "the campaign's creator: every scope",
            vanity="ventures",
        ),
        Patron(
            "1001",
            "Ada Lovelace",
            "ada@example.test",
            "active patron, one tier",
            memberships=(_active(ours, supporter),),
            vanity="ada",
        ),
        Patron(
            "1002",
            "Grace Hopper",
            "grace@example.test",
            "active patron, two tiers",
            memberships=(_active(ours, patron, benefactor),),
        ),
        Patron(
            "1003",
            "Charles Babbage",
            "charles@example.test",
            "former patron",
            memberships=(
                Membership(
                    ours,
                    "former_patron",
                    last_charge_status="Paid",
                    last_charge_date="2023-11-01T08:00:00.000+00:00",
                    pledge_relationship_start="2022-06-01T10:00:00.000+00:00",
                ),
            ),
        ),
        Patron(
            "1004",
            "Alan Turing",
            "alan@example.test",
            "declined patron",
            memberships=(
                Membership(
                    ours,
                    "declined_patron",
                    will_pay_amount_cents=patron.amount_cents,
                    last_charge_status="Declined",
                    last_charge_date="2024-05-01T08:00:00.000+00:00",
                    # Patreon retries a declined charge.
                    next_charge_date="2024-05-08T08:00:00.000+00:00",
                    pledge_relationship_start="2023-09-01T10:00:00.000+00:00",
                    pledge=(patron,),
                ),
            ),
        ),
        Patron("1005", "Katherine Johnson", "katherine@example.test", "no membership"),
        Patron(
            "1006",
            "Hedy Lamarr",
            "hedy@example.test",
            "active patron, email not verified",
            is_email_verified=False,
            memberships=(_active(ours, supporter),),
        ),
        Patron(
            "1007",
            "Margaret Hamilton",
            "margaret@example.test",
            "patron of another campaign first, then of ours",
            memberships=(
                _active(OTHER_CAMPAIGN, *OTHER_TIERS),
                _active(ours, patron),
            ),
        ),
        Patron(
            "1008",
            "Mary Somerville",
            "mary@example.test",
            "follower who never paid: patron_status null",
            memberships=(Membership(ours, None, is_follower=True),),
        ),
        Patron(
            "1009",
            "Sophie Germain",
            "sophie@example.test",
            "free trial: entitled, not charged yet",
            memberships=(
                Membership(
                    ours,
                    "active_patron",
                    (patron,),
                    currently_entitled_amount_cents=patron.amount_cents,
                    will_pay_amount_cents=patron.amount_cents,
                    last_charge_status="Free Trial",
                    last_charge_date="2024-05-10T08:00:00.000+00:00",
                    next_charge_date="2024-05-17T08:00:00.000+00:00",
                    pledge_relationship_start="2024-05-10T08:00:00.000+00:00",
                    pledge_cadence=1,
                    is_free_trial=True,
                    pledge=(patron,),
                ),
            ),
        ),
        Patron(
            "1010",
            "Emmy Noether",
            "emmy@example.test",
            "gifted membership: entitled, never charged, nothing to renew",
            memberships=(
                Membership(
                    ours,
                    "active_patron",
                    (supporter,),
                    currently_entitled_amount_cents=supporter.amount_cents,
                    pledge_relationship_start="2024-04-20T08:00:00.000+00:00",
                    is_gifted=True,
                ),
            ),
        ),
        Patron(
            "1011",
            "Rosalind Franklin",
            "rosalind@example.test",
            "refunded: former patron whose last charge was refunded",
            memberships=(
                Membership(
                    ours,
                    "former_patron",
                    last_charge_status="Refunded",
                    last_charge_date="2024-05-01T08:00:00.000+00:00",
                    pledge_relationship_start="2024-04-01T08:00:00.000+00:00",
                ),
            ),
        ),
    )
