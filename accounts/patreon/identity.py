"""
Reading Patreon's API v2 identity document (JSON:API).

Patreon returns attributes only for the fields asked for, and relationships
only when included, so the request and the reading live side by side.
"""

from allauth.socialaccount.providers.base import ProviderException

IDENTITY_PARAMS = {
    "include": "memberships.currently_entitled_tiers,memberships.campaign",
    "fields[user]": (
        "full_name,first_name,last_name,email,is_email_verified,"
        "image_url,thumb_url,vanity"
    ),
    "fields[member]": "patron_status,currently_entitled_amount_cents",
    "fields[tier]": "title,amount_cents",
}


class PatreonError(ProviderException):
    """Patreon answered something we cannot log anyone in with."""


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


def _cents(value):
    """A whole, non-negative number of cents, or 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value


def user_data(document):
    """The document's user resource, or PatreonError if there is none."""
    data = _dig(document, "data")
    if not isinstance(data, dict) or data.get("type") != "user":
        raise PatreonError("identity answer has no user data")
    uid = _id(data.get("id"))
    if uid is None:
        raise PatreonError("identity answer has no user id")
    data["id"] = uid
    data["attributes"] = _attributes(data)
    return data


def membership(document, campaign_id):
    """
    The user's membership in our campaign: status, entitled tiers and amount.

    Patreon lists memberships in no promised order, and with the
    ``identity.memberships`` scope it lists other creators' campaigns too, so
    the campaign is matched by id, never taken as the first one.
    """
    included = _dig(document, "included")
    included = {
        _ref(item): item
        for item in (included if isinstance(included, list) else [])
        if isinstance(item, dict)
    }
    for ref in _refs(_dig(document, "data", "relationships", "memberships", "data")):
        member = included.get(ref)
        if _id(_dig(member, "relationships", "campaign", "data", "id")) != campaign_id:
            continue
        attributes = _attributes(member)
        tiers = []
        for tier_ref in _refs(
            _dig(member, "relationships", "currently_entitled_tiers", "data")
        ):
            tier = _attributes(included.get(tier_ref))
            title = tier.get("title")
            tiers.append(
                {
                    "id": tier_ref[1],
                    "title": title if isinstance(title, str) else "",
                    "amount_cents": _cents(tier.get("amount_cents")),
                }
            )
        status = attributes.get("patron_status")
        return {
            "campaign_id": campaign_id,
            "patron_status": status if isinstance(status, str) else "",
            "entitled_amount_cents": _cents(
                attributes.get("currently_entitled_amount_cents")
            ),
            "tiers": tiers,
        }
    return {
        "campaign_id": campaign_id,
        "patron_status": "",
        "entitled_amount_cents": 0,
        "tiers": [],
    }
