"""
The creator's endpoints of API v2, as Patreon answers them: the campaigns,
one campaign's members page by page, and one member.

Pages follow Patreon's: ``page[count]`` members (20 unless asked, 1000 at
most), ``page[cursor]`` an opaque cursor from the previous page's
``meta.pagination.cursors.next`` (null on the last page), and
``meta.pagination.total``. Two reported bugs can be switched on (``Bugs``):
a next cursor that repeats forever, and a page size that is ignored.
"""

from __future__ import annotations

import base64
import binascii
import threading
from urllib.parse import urlencode

from fake_patreon.documents import (
    InvalidParameter,
    campaign_resource,
    identifier,
    member_attributes,
    requested_fields,
    requested_includes,
    resource,
    tier_resource,
    user_attributes,
)
from fake_patreon.patrons import CREATOR_ID, FREE_TIER, OUR_TIERS

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 1000
MEMBER_INCLUDES = {"address", "campaign", "currently_entitled_tiers", "user"}
CAMPAIGN_INCLUDES = {"creator", "tiers"}
EMAIL_SCOPE = "campaigns.members[email]"


class Bugs:
    """Patreon's reported pagination bugs, each off until switched on."""

    # lose_place: every cursor but the first is lost, and its page is the
    # first page again, with no next cursor (the listing ends early).
    NAMES = ("repeat_cursor", "ignore_page_size", "lose_place")

    def __init__(self):
        self._lock = threading.Lock()
        self._on = set()

    def set(self, switches):
        """Switch bugs on or off: ``switches`` maps names to booleans."""
        if not isinstance(switches, dict):
            raise ValueError("The body must be an object of booleans.")
        if unknown := switches.keys() - set(self.NAMES):
            raise ValueError(
                f"Unknown bug(s) {sorted(unknown)}: pick among {self.NAMES}."
            )
        if not all(isinstance(value, bool) for value in switches.values()):
            raise ValueError("Each bug is switched with true or false.")
        with self._lock:
            self._on |= {name for name, on in switches.items() if on}
            self._on -= {name for name, on in switches.items() if not on}

    def reset(self):
        with self._lock:
            self._on.clear()

    def __contains__(self, name):
        with self._lock:
            return name in self._on

    def state(self):
        with self._lock:
            return {name: name in self._on for name in self.NAMES}


def encode_cursor(after):
    return base64.urlsafe_b64encode(f"after:{after}".encode()).decode().rstrip("=")


def decode_cursor(cursor):
    """The patron id after which a page starts, or InvalidParameter."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, after = text.partition(":")
        if prefix == "after" and after.isdigit():
            return int(after)
    except (binascii.Error, UnicodeDecodeError):
        pass
    raise InvalidParameter("page[cursor]", "Invalid cursor.")


def page_size(query, bugs):
    if "ignore_page_size" in bugs:
        return DEFAULT_PAGE_SIZE
    count = query.get("page[count]", str(DEFAULT_PAGE_SIZE))
    if not count.isdigit() or int(count) < 1:
        raise InvalidParameter("page[count]", "page[count] must be a positive integer.")
    return min(int(count), MAX_PAGE_SIZE)


def campaigns_document(world, query, api_url):
    """The body of GET /campaigns: the one campaign the creator runs."""
    fields = requested_fields(query)
    include = requested_includes(query, CAMPAIGN_INCLUDES)
    campaign = world.campaign
    data = campaign_resource(campaign, fields, patron_count=world.members(-1, 0)[1])
    included = []
    relationships = {}
    if "tiers" in include:
        tiers = [tier_resource(tier, fields) for tier in (FREE_TIER, *OUR_TIERS)]
        relationships["tiers"] = {"data": [identifier(t) for t in tiers]}
        included += tiers
    if "creator" in include:
        creator = world.patron(CREATOR_ID)
        user = resource("user", creator.id, user_attributes(creator, False), fields)
        relationships["creator"] = {
            "data": identifier(user),
            "links": {"related": f"{api_url}/user/{creator.id}"},
        }
        included.append(user)
    if relationships:
        data["relationships"] = relationships
    document = {
        "data": [data],
        "meta": {"pagination": {"cursors": {"next": None}, "total": 1}},
    }
    if include:
        document["included"] = included
    return document


def _member(world, patron, fields, include, email, included, api_url):
    """``patron``'s member resource, adding what ``include`` asks to ``included``."""
    membership = world.ours(patron)
    member = resource(
        "member",
        patron.member_id(membership),
        member_attributes(patron, membership, email),
        fields,
    )
    relationships = {}
    if "address" in include:
        relationships["address"] = {"data": None}
    if "campaign" in include:
        campaign = campaign_resource(world.campaign, fields)
        relationships["campaign"] = {
            "data": identifier(campaign),
            "links": {"related": f"{api_url}/campaigns/{world.campaign.id}"},
        }
        included["campaign", campaign["id"]] = campaign
    if "currently_entitled_tiers" in include:
        tiers = [tier_resource(tier, fields) for tier in membership.tiers]
        relationships["currently_entitled_tiers"] = {
            "data": [identifier(tier) for tier in tiers]
        }
        included |= {("tier", tier["id"]): tier for tier in tiers}
    if "user" in include:
        user = resource("user", patron.id, user_attributes(patron, email), fields)
        relationships["user"] = {
            "data": identifier(user),
            "links": {"related": f"{api_url}/user/{patron.id}"},
        }
        included["user", patron.id] = user
    if relationships:
        member["relationships"] = relationships
    return member


def members_document(world, query, scopes, bugs, api_url):
    """The body of GET /campaigns/{id}/members: one page of the campaign's members."""
    fields = requested_fields(query)
    include = requested_includes(query, MEMBER_INCLUDES)
    count = page_size(query, bugs)
    cursor = query.get("page[cursor]")
    after = decode_cursor(cursor) if cursor else -1
    lost = False
    if cursor and "lose_place" in bugs:
        first_page, _ = world.members(-1, count)
        lost = bool(first_page) and after != int(first_page[-1].id)
        after = -1 if lost else after
    patrons, total = world.members(after, count)
    # Keyed by (type, id): JSON:API includes each resource once.
    included = {}
    email = EMAIL_SCOPE in scopes
    data = [
        _member(world, patron, fields, include, email, included, api_url)
        for patron in patrons
    ]
    next_cursor = None
    if len(patrons) == count and world.members(int(patrons[-1].id), 1)[0]:
        next_cursor = encode_cursor(patrons[-1].id)
    if next_cursor and cursor and "repeat_cursor" in bugs:
        next_cursor = cursor
    if lost:
        next_cursor = None
    document = {
        "data": data,
        "meta": {"pagination": {"cursors": {"next": next_cursor}, "total": total}},
    }
    if include:
        document["included"] = list(included.values())
    if next_cursor:
        url = f"{api_url}/campaigns/{world.campaign.id}/members"
        document["links"] = {
            "next": f"{url}?{urlencode({**query, 'page[cursor]': next_cursor})}"
        }
    return document


def member_document(world, patron, query, scopes, api_url):
    """The body of GET /members/{id} for ``patron``'s membership of ours."""
    fields = requested_fields(query)
    include = requested_includes(query, MEMBER_INCLUDES)
    included = {}
    member = _member(
        world, patron, fields, include, EMAIL_SCOPE in scopes, included, api_url
    )
    document = {"data": member, "links": {"self": f"{api_url}/members/{member['id']}"}}
    if include:
        document["included"] = list(included.values())
    return document
