"""
Reading Patreon's API v2 identity document (JSON:API).

Patreon returns attributes only for the fields asked for, and relationships
only when included, so the request and the reading live side by side.
"""

import re
from datetime import UTC

from allauth.account.models import EmailAddress
from allauth.socialaccount.providers.base import ProviderException
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.utils.dateparse import parse_datetime

from accounts.models import PatreonMembership, User

IDENTITY_PARAMS = {
    "include": "memberships.currently_entitled_tiers,memberships.campaign",
    "fields[user]": (
        "full_name,first_name,last_name,email,is_email_verified,image_url,thumb_url"
    ),
    "fields[member]": (
        "patron_status,currently_entitled_amount_cents,last_charge_status,"
        "last_charge_date,next_charge_date,pledge_relationship_start,"
        "will_pay_amount_cents,is_free_trial,is_gifted"
    ),
    "fields[tier]": "title,amount_cents",
}


# Control characters (NUL first: PostgreSQL refuses it in text and JSON) and
# the bidirectional overrides and isolates that make a name read backwards.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
# Tier titles are stored in the membership's JSON: a generous bound.
TIER_TITLE_MAX_LENGTH = 255
_http_url = URLValidator(schemes=["http", "https"])


class PatreonError(ProviderException):
    """Patreon answered something we cannot log anyone in with."""


def username(uid):
    """
    A patron's username: from their Patreon id alone, so no display name or
    email can ever claim another patron's.
    """
    return f"patreon-{uid}"


def _column(model, field):
    return model._meta.get_field(field).max_length


def _text(value, max_length):
    """A printable string cut to its column, or None if ``value`` is no string."""
    if not isinstance(value, str):
        return None
    return _UNPRINTABLE.sub("", value)[:max_length]


def _valid(value, validator, max_length):
    """
    ``value`` if it is a printable string that fits and passes ``validator``,
    else None.
    """
    if (
        not isinstance(value, str)
        or len(value) > max_length
        or _UNPRINTABLE.search(value)
    ):
        return None
    try:
        validator(value)
    except ValidationError:
        return None
    return value


def profile(attributes):
    """
    The user attributes we keep, each of the right type and fitting its
    column; a value of the wrong type is left out as if Patreon had not sent
    it. Names are cut to their column; an email or URL that does not fit is
    left out, since a cut one would name someone or something else.
    """
    cleaned = {
        "full_name": _text(attributes.get("full_name"), _column(User, "name")),
        "first_name": _text(attributes.get("first_name"), _column(User, "first_name")),
        "last_name": _text(attributes.get("last_name"), _column(User, "last_name")),
        "email": _valid(
            attributes.get("email"), validate_email, _column(EmailAddress, "email")
        ),
        "thumb_url": _valid(
            attributes.get("thumb_url"), _http_url, _column(User, "avatar_url")
        ),
        "image_url": _valid(
            attributes.get("image_url"), _http_url, _column(User, "avatar_url")
        ),
    }
    if isinstance(attributes.get("is_email_verified"), bool):
        cleaned["is_email_verified"] = attributes["is_email_verified"]
    return {name: value for name, value in cleaned.items() if value is not None}


def _dig(value, *path):
    """value[path[0]][path[1]]..., or None as soon as the shape is wrong."""
    for key in path:
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, list) and isinstance(key, int) and key < len(value):
            value = value[key]
        else:
            return None
    return value


def _id(value):
    """A JSON:API id as a string, or None if it is not a string or a number."""
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


def _ref(resource):
    """A resource's (type, id) identity, usable as a dict key."""
    kind = _dig(resource, "type")
    return (kind if isinstance(kind, str) else None, _id(_dig(resource, "id")))


def _refs(value):
    """The (type, id) pairs of a JSON:API relationship's data list."""
    if not isinstance(value, list):
        return []
    return [_ref(ref) for ref in value]


def _attributes(resource):
    attributes = _dig(resource, "attributes")
    return attributes if isinstance(attributes, dict) else {}


# The largest value a PositiveIntegerField holds on every database.
_MAX_CENTS = 2_147_483_647
# "2024-05-01T08:00:00.000+00:00" is 29 characters: room for more digits.
_DATETIME_MAX_LENGTH = 40


def _cents(value):
    """A whole, non-negative number of cents that fits its column, or 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 0 <= value <= _MAX_CENTS
    ):
        return 0
    return value


def _flag(value):
    """``value`` if it is a boolean, else False (not said is not true)."""
    return value if isinstance(value, bool) else False


def _datetime(value):
    """
    An ISO 8601 string as an aware datetime (UTC if it names no offset:
    Patreon's are UTC), or None if it is no such string.
    """
    if not isinstance(value, str) or len(value) > _DATETIME_MAX_LENGTH:
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:  # well formed, but no such day or hour
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def user_data(document):
    """
    The document's user resource, its attributes cleaned (``profile``), or
    PatreonError if there is none.
    """
    data = _dig(document, "data")
    if not isinstance(data, dict) or data.get("type") != "user":
        raise PatreonError("identity answer has no user data")
    uid = _id(data.get("id"))
    if uid is None:
        raise PatreonError("identity answer has no user id")
    # Patreon's user ids are numbers; the id becomes a username and a column.
    if not (uid.isascii() and uid.isdigit()) or len(uid) > _column(
        PatreonMembership, "patreon_id"
    ):
        raise PatreonError("identity answer has a user id that is not a Patreon id")
    # Only the user's id and cleaned attributes go on: they are stored (the
    # social account's extra_data) and written to the user's columns.
    return {"type": "user", "id": uid, "attributes": profile(_attributes(data))}


def included_index(document):
    """A JSON:API document's ``included`` resources by (type, id)."""
    included = _dig(document, "included")
    return {
        _ref(item): item
        for item in (included if isinstance(included, list) else [])
        if isinstance(item, dict)
    }


def membership(document, campaign_id):
    """
    The user's membership in our campaign (a snapshot for
    ``memberships.apply``), from the identity document.

    Patreon lists memberships in no promised order, and with the
    ``identity.memberships`` scope it lists other creators' campaigns too, so
    the campaign is matched by id, never taken as the first one.
    """
    included = included_index(document)
    for ref in _refs(_dig(document, "data", "relationships", "memberships", "data")):
        member = included.get(ref)
        if _id(_dig(member, "relationships", "campaign", "data", "id")) != campaign_id:
            continue
        return member_snapshot(member, included, campaign_id)
    return {**NO_MEMBERSHIP, "campaign_id": campaign_id}


def resource_id(resource):
    """A JSON:API resource's id as a string, or None."""
    return _id(_dig(resource, "id"))


def related_id(resource, relationship):
    """The id of a resource's to-one ``relationship``, or None."""
    return _id(_dig(resource, "relationships", relationship, "data", "id"))


def related_ids(resource, relationship):
    """The (type, id) pairs of a resource's to-many ``relationship``."""
    return _refs(_dig(resource, "relationships", relationship, "data"))


def member_user_id(member):
    """The Patreon user id of a member resource, or None."""
    return _id(_dig(member, "relationships", "user", "data", "id"))


def member_snapshot(member, included, campaign_id):
    """
    One member resource of our campaign as a snapshot: status, entitled
    tiers (their titles and amounts from ``included``) and amount, the last
    and next charge, and how the membership is paid. A value of the wrong
    type is read as absent.
    """
    attributes = _attributes(member)
    tiers = []
    for tier_ref in _refs(
        _dig(member, "relationships", "currently_entitled_tiers", "data")
    ):
        tier = _attributes(included.get(tier_ref))
        tiers.append(
            {
                "id": tier_ref[1],
                "title": _text(tier.get("title"), TIER_TITLE_MAX_LENGTH) or "",
                "amount_cents": _cents(tier.get("amount_cents")),
            }
        )
    status = _text(
        attributes.get("patron_status"), _column(PatreonMembership, "patron_status")
    )
    # Kept as Patreon words it, statuses it adds later too, cut to fit.
    charge_status = _text(
        attributes.get("last_charge_status"),
        _column(PatreonMembership, "last_charge_status"),
    )
    member_id = resource_id(member) or ""
    return {
        **NO_MEMBERSHIP,
        "campaign_id": campaign_id,
        "member_id": (
            member_id
            if len(member_id) <= _column(PatreonMembership, "member_id")
            else ""
        ),
        "patron_status": status or "",
        "entitled_amount_cents": _cents(
            attributes.get("currently_entitled_amount_cents")
        ),
        "tiers": tiers,
        "last_charge_status": charge_status or "",
        "last_charge_date": _datetime(attributes.get("last_charge_date")),
        "next_charge_date": _datetime(attributes.get("next_charge_date")),
        "pledge_relationship_start": _datetime(
            attributes.get("pledge_relationship_start")
        ),
        "will_pay_amount_cents": _cents(attributes.get("will_pay_amount_cents")),
        "is_free_trial": _flag(attributes.get("is_free_trial")),
        "is_gifted": _flag(attributes.get("is_gifted")),
    }


# What a membership snapshot says of someone who is no member of our campaign.
NO_MEMBERSHIP = {
    "campaign_id": "",
    "member_id": "",
    "patron_status": "",
    "entitled_amount_cents": 0,
    "tiers": [],
    "last_charge_status": "",
    "last_charge_date": None,
    "next_charge_date": None,
    "pledge_relationship_start": None,
    "will_pay_amount_cents": 0,
    "is_free_trial": False,
    "is_gifted": False,
}
