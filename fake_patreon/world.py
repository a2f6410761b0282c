"""
The fake's mutable world: the directory's patrons, whose memberships of our
campaign change (``fake_patreon.actions``), and a campaign of any size.

The campaign holds the seeded patrons who are members, ``size`` dynamic
patrons with ids from ``FIRST_MEMBER_ID`` on, and every other patron who
logged in or was acted on. Nothing is stored per member until it changes:
a change is an override of the patron's membership, so a hundred thousand
members cost a few bytes each only when touched. One lock guards it all, for
the threads of the server.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from heapq import merge
from itertools import islice

from fake_patreon.actions import apply
from fake_patreon.patrons import Directory, Membership, Patron, patron_id_of

FIRST_MEMBER_ID = 2_000_000
MAX_CAMPAIGN_SIZE = 10_000_000
# An override standing for "no membership of ours", deleted or never made.
NO_MEMBERSHIP = None


@dataclass(frozen=True)
class Change:
    """
    What an action did, as a webhook announces it: Patreon's trigger, and
    the patron with the membership after it (before it, for a deletion).
    """

    trigger: str
    patron: Patron
    membership: Membership


class UnknownPatron(LookupError):
    """No patron has that id."""


def checked_size(size):
    """``size`` if it is a valid campaign size, or ValueError."""
    if isinstance(size, bool) or not isinstance(size, int):
        raise ValueError(f"size must be an integer, not {size!r}.")
    if not 0 <= size <= MAX_CAMPAIGN_SIZE:
        raise ValueError(f"size must be between 0 and {MAX_CAMPAIGN_SIZE}.")
    return size


class World(Directory):
    """The patrons a fake can log in, as they are now, and our campaign's members."""

    def __init__(self, campaign_id, campaign_size=0):
        super().__init__(campaign_id)
        self._initial_size = checked_size(campaign_size)
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        """Forget every change: the world as it started."""
        with self._lock:
            self._size = self._initial_size
            self._overrides = {}
            self._known = set()

    @property
    def size(self):
        """How many dynamic members the campaign holds from FIRST_MEMBER_ID on."""
        with self._lock:
            return self._size

    def resize(self, size):
        """Make the campaign hold ``size`` dynamic members."""
        size = checked_size(size)
        with self._lock:
            self._size = size

    def patron(self, patron_id):
        """The patron with ``patron_id`` as the world has them now, or None."""
        with self._lock:
            return self._patron(patron_id)

    def _patron(self, patron_id):
        patron = super().patron(patron_id)
        if patron is None or patron_id not in self._overrides:
            return patron
        others = tuple(m for m in patron.memberships if m.campaign != self.campaign)
        ours = self._overrides[patron_id]
        return replace(patron, memberships=others + ((ours,) if ours else ()))

    def ours(self, patron):
        """``patron``'s membership of our campaign, or None."""
        return next(
            (m for m in patron.memberships if m.campaign == self.campaign), None
        )

    def logged_in(self, patron_id):
        """Note that ``patron_id`` logged in: a dynamic one joins the campaign list."""
        with self._lock:
            self._known.add(patron_id)

    def act(self, patron_id, action, options):
        """
        Apply ``action`` (see ``fake_patreon.actions``) to ``patron_id``'s
        membership of our campaign: a Change, or UnknownPatron, or
        ActionError for an action that cannot apply.
        """
        now = time.time()
        with self._lock:
            before = self._patron(patron_id)
            if before is None:
                raise UnknownPatron(f"No patron with id {patron_id!r}.")
            after, trigger = apply(
                action, self.ours(before), options, now, self.campaign
            )
            self._overrides[patron_id] = after or NO_MEMBERSHIP
            shown = before if after is NO_MEMBERSHIP else self._patron(patron_id)
            return Change(trigger, shown, self.ours(shown))

    def member(self, member_id):
        """The patron whose membership of ours has ``member_id``, or None."""
        patron_id = patron_id_of(member_id, self.campaign.id)
        with self._lock:
            patron = patron_id and self._in_world(patron_id) and self._patron(patron_id)
        return patron if patron and self.ours(patron) else None

    def _in_world(self, patron_id):
        """Whether the campaign list may hold ``patron_id`` (a member or not)."""
        return (
            patron_id in self.seeded
            or patron_id in self._overrides
            or patron_id in self._known
            or self._in_range(int(patron_id))
        )

    def _in_range(self, number):
        return FIRST_MEMBER_ID <= number < FIRST_MEMBER_ID + self._size

    def members(self, after, count):
        """
        Up to ``count`` patrons who are members of our campaign, by id, from
        the first id above ``after`` (an int), and the number of members.
        """
        with self._lock:
            candidates = merge(
                self._extras(after),
                range(max(after + 1, FIRST_MEMBER_ID), FIRST_MEMBER_ID + self._size),
            )
            patrons = (self._patron(str(number)) for number in candidates)
            page = list(islice((p for p in patrons if self.ours(p)), count))
            return page, self._total()

    def _extras(self, after):
        """The members' ids outside the dynamic range, above ``after``, sorted."""
        numbers = {int(i) for i in (*self.seeded, *self._overrides, *self._known)}
        return sorted(n for n in numbers if n > after and not self._in_range(n))

    def _total(self):
        gone = sum(
            1
            for patron_id, membership in self._overrides.items()
            if membership is NO_MEMBERSHIP and self._in_range(int(patron_id))
        )
        others = sum(1 for n in self._extras(-1) if self.ours(self._patron(str(n))))
        return self._size - gone + others
