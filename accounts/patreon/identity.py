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


def _refs(value):
    """The (type, id) pairs of a JSON:API relationship's data list."""
    if not isinstance(value, list):
        return []
    return [(_dig(ref, "type"), _dig(ref, "id")) for ref in value]


def user_data(document):
    """The document's user resource, or PatreonError if there is none."""
    data = _dig(document, "data")
    if not isinstance(data, dict) or not data.get("id") or data.get("type") != "user":
        raise PatreonError("identity answer has no user data")
    data["id"] = str(data["id"])
    if not isinstance(data.get("attributes"), dict):
        data["attributes"] = {}
    return data


def membership(document, campaign_id):
    """
    The user's membership in our campaign: status, entitled tiers and amount.

    Patreon lists memberships in no promised order, and with the
    ``identity.memberships`` scope it lists other creators' campaigns too, so
    the campaign is matched by id, never taken as the first one.
    """
    included = {
        (_dig(item, "type"), _dig(item, "id")): item
        for item in _dig(document, "included") or []
        if isinstance(item, dict)
    }
    for ref in _refs(_dig(document, "data", "relationships", "memberships", "data")):
        member = included.get(ref)
        if _dig(member, "relationships", "campaign", "data", "id") != campaign_id:
            continue
        attributes = _dig(member, "attributes") or {}
        tiers = []
        for tier_ref in _refs(
            _dig(member, "relationships", "currently_entitled_tiers", "data")
        ):
            tier = included.get(tier_ref) or {}
            tiers.append(
                {
                    "id": tier_ref[1],
                    "title": _dig(tier, "attributes", "title") or "",
                    "amount_cents": _dig(tier, "attributes", "amount_cents") or 0,
                }
            )
        return {
            "campaign_id": campaign_id,
            "patron_status": attributes.get("patron_status") or "",
            "entitled_amount_cents": attributes.get("currently_entitled_amount_cents")
            or 0,
            "tiers": tiers,
        }
    return {
        "campaign_id": campaign_id,
        "patron_status": "",
        "entitled_amount_cents": 0,
        "tiers": [],
    }
