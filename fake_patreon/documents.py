"""
The JSON:API documents of Patreon's API v2, as the identity endpoint answers
them: sparse fieldsets (``fields[type]``), ``include`` paths, and errors
worded as Patreon words them. The creator's endpoints build on them
(``fake_patreon.api``).
"""

from __future__ import annotations

import re
import uuid

JSON = "application/json; charset=utf-8"

# The attributes each resource type offers through fields[type].
FIELDS = {
    "user": {
        "about",
        "created",
        "email",
        "first_name",
        "full_name",
        "image_url",
        "is_email_verified",
        "last_name",
        "social_connections",
        "thumb_url",
        "url",
        "vanity",
    },
    "member": {
        "campaign_lifetime_support_cents",
        "currently_entitled_amount_cents",
        "email",
        "full_name",
        "is_follower",
        "is_free_trial",
        "is_gifted",
        "last_charge_date",
        "last_charge_status",
        "lifetime_support_cents",
        "next_charge_date",
        "note",
        "patron_status",
        "pledge_cadence",
        "pledge_relationship_start",
        "will_pay_amount_cents",
    },
    "tier": {"amount_cents", "description", "title", "url"},
    "campaign": {
        "created_at",
        "creation_name",
        "is_monthly",
        "patron_count",
        "published_at",
        "summary",
        "url",
        "vanity",
    },
}
FIELDS_PARAMETER = re.compile(r"fields\[(.*)\]")
INCLUDES = {
    "memberships",
    "memberships.campaign",
    "memberships.currently_entitled_tiers",
}

SOCIAL_NETWORKS = ("discord", "facebook", "google", "reddit", "twitch", "twitter")


class InvalidParameter(ValueError):
    """A fields or include parameter asking for what Patreon doesn't offer."""

    def __init__(self, parameter, detail):
        super().__init__(detail)
        self.document = error_document(
            400,
            3,
            "ParameterInvalidOnType",
            "Invalid parameter for resource type.",
            detail,
            source={"parameter": parameter},
        )


def error_document(status, code, code_name, title, detail="", **extra):
    """A JSON:API error document, as Patreon words them."""
    error = {
        "code": code,
        "code_name": code_name,
        "detail": detail,
        "id": str(uuid.uuid4()),
        "status": str(status),
        "title": title,
    }
    return {"errors": [{**error, **extra}]}


def unauthorized():
    return error_document(
        401,
        1,
        "Unauthorized",
        "Unauthorized",
        "The server could not verify that you are authorized to access the URL "
        "requested. You either supplied the wrong credentials (e.g. a bad password), "
        "or your browser doesn't understand how to supply the credentials required.",
    )


def requested_fields(query):
    """Map each resource type to the attributes ``query`` asks for."""
    fields = {resource_type: set() for resource_type in FIELDS}
    for parameter, value in query.items():
        if match := FIELDS_PARAMETER.fullmatch(parameter):
            resource_type = match[1]
            if resource_type not in FIELDS:
                raise InvalidParameter(parameter, f"No {resource_type} resources here.")
            names = set(filter(None, value.split(",")))
            if unknown := names - FIELDS[resource_type]:
                raise InvalidParameter(
                    parameter,
                    f"Unknown {resource_type} field: {', '.join(sorted(unknown))}.",
                )
            fields[resource_type] = names
    return fields


def requested_includes(query, offered=INCLUDES):
    """The include paths ``query`` asks for, among those ``offered``."""
    include = set(filter(None, query.get("include", "").split(",")))
    if unknown := include - offered:
        raise InvalidParameter(
            "include", f"Cannot include {', '.join(sorted(unknown))}."
        )
    # JSON:API: including a path includes every resource along it.
    return include | {path.partition(".")[0] for path in include}


def user_attributes(patron, email):
    """Every attribute of ``patron``'s user resource; ``email`` if granted."""
    first_name, _, last_name = patron.full_name.partition(" ")
    return {
        "about": None,
        "created": patron.created,
        "first_name": first_name,
        "full_name": patron.full_name,
        "image_url": f"https://c8.patreon.com/3/200/{patron.id}",
        "is_email_verified": patron.is_email_verified,
        "last_name": last_name,
        "social_connections": dict.fromkeys(SOCIAL_NETWORKS),
        "thumb_url": f"https://c8.patreon.com/3/100/{patron.id}",
        "url": f"https://www.patreon.com/user?u={patron.id}",
        "vanity": patron.vanity,
        **({"email": patron.email} if email else {}),
    }


def member_attributes(patron, membership, email):
    """Every attribute of ``patron``'s member resource; ``email`` if granted."""
    return {
        **vars(membership),
        "campaign_lifetime_support_cents": membership.lifetime_support_cents,
        "full_name": patron.full_name,
        "note": "",
        **({"email": patron.email} if email else {}),
    }


def tier_resource(tier, fields):
    return resource("tier", tier.id, {**vars(tier), "url": tier.url}, fields)


def campaign_resource(campaign, fields, **attributes):
    return resource(
        "campaign",
        campaign.id,
        {**vars(campaign), "url": campaign.url, **attributes},
        fields,
    )


def resource(resource_type, resource_id, attributes, fields):
    """A resource object, with only the attributes ``fields`` asks for."""
    requested = fields[resource_type] & attributes.keys()
    return {
        "attributes": {name: attributes[name] for name in sorted(requested)},
        "id": resource_id,
        "type": resource_type,
    }


def identifier(resource):
    return {"id": resource["id"], "type": resource["type"]}


def identity_document(server, patron, scopes, query, odd_attributes=None):
    """
    The body of GET /api/oauth2/v2/identity, for ``patron``, with
    ``odd_attributes`` replacing the user's own.
    """
    fields = requested_fields(query)
    include = requested_includes(query)
    api_url = f"{server.base_url}/api/oauth2/v2"
    # Without identity[email], Patreon leaves the email out, silently.
    email = "identity[email]" in scopes
    attributes = {**user_attributes(patron, email), **(odd_attributes or {})}
    user = resource("user", patron.id, attributes, fields)
    document = {"data": user, "links": {"self": f"{api_url}/user/{patron.id}"}}
    if not include:
        return document

    # Without identity.memberships, only the membership in the client's own
    # campaign shows.
    memberships = [
        membership
        for membership in patron.memberships
        if "identity.memberships" in scopes
        or membership.campaign == server.directory.campaign
    ]
    members = [
        resource(
            "member",
            patron.member_id(membership),
            member_attributes(patron, membership, email),
            fields,
        )
        for membership in memberships
    ]
    user["relationships"] = {"memberships": {"data": [identifier(m) for m in members]}}
    # Keyed by (type, id): JSON:API includes each resource once.
    included = {}
    for membership, member in zip(memberships, members, strict=True):
        included["member", member["id"]] = member
        relationships = {}
        if "memberships.currently_entitled_tiers" in include:
            tiers = [tier_resource(tier, fields) for tier in membership.tiers]
            relationships["currently_entitled_tiers"] = {
                "data": [identifier(tier) for tier in tiers]
            }
            included |= {("tier", tier["id"]): tier for tier in tiers}
        if "memberships.campaign" in include:
            c = membership.campaign
            campaign = campaign_resource(c, fields)
            relationships["campaign"] = {
                "data": identifier(campaign),
                "links": {"related": f"{api_url}/campaigns/{c.id}"},
            }
            included["campaign", c.id] = campaign
        if relationships:
            member["relationships"] = relationships
    document["included"] = list(included.values())
    return document
