"""
Patreon's API v2 as the creator: one GET, with the creator's token, our
User-Agent, and Patreon's answers turned into outcomes a caller can act on.
"""

import logging
import time

import requests
from django.conf import settings

from accounts.patreon import creator, identity
from accounts.patreon.errors import (
    PatreonUnavailable,
    Refused,
    Throttled,
    retry_after,
)
from accounts.patreon.transport import patreon_session

logger = logging.getLogger(__name__)


def api_url(path):
    return f"{settings.PATREON_BASE_URL}/api/oauth2/v2/{path}"


def get(path, params, *, endpoint):
    """
    The JSON document at ``path`` (under /api/oauth2/v2/), or None if Patreon
    answers 404. ``endpoint`` names the call in logs and events.

    A 401 refreshes the creator's token once and tries again; a 429 makes
    every caller wait (creator.throttle) and raises Throttled; 5xx, timeouts
    and unreadable answers raise PatreonUnavailable; a 403, or a 401 a fresh
    token does not cure, raises Refused.
    """
    token = creator.access_token()
    response = _get(path, params, token, endpoint)
    if response.status_code == 401:
        fresh = creator.refresh(token)
        if fresh == token:  # no token call allowed yet: try again later
            raise PatreonUnavailable(f"{endpoint}: 401, no new token yet")
        response = _get(path, params, fresh, endpoint)
        if response.status_code == 401:
            raise Refused(f"{endpoint}: 401 with a fresh token")
    if response.status_code == 404:
        return None
    if response.status_code == 429:
        seconds = retry_after(response)
        creator.throttle(seconds, endpoint=endpoint)
        raise Throttled(seconds)
    if response.status_code == 403:
        raise Refused(f"{endpoint}: 403 {_error_code(response)}")
    if response.status_code != 200:
        raise PatreonUnavailable(f"{endpoint}: HTTP {response.status_code}")
    try:
        document = response.json()
    except ValueError as e:
        raise PatreonUnavailable(f"{endpoint}: the answer is not JSON") from e
    if not isinstance(document, dict):
        raise PatreonUnavailable(f"{endpoint}: the answer is not a JSON object")
    return document


def _get(path, params, token, endpoint):
    started = time.monotonic()
    try:
        with patreon_session() as session:
            response = session.get(
                api_url(path),
                params=params,
                headers={"Authorization": f"Bearer {token}"},
                timeout=settings.SOCIALACCOUNT_REQUESTS_TIMEOUT,
            )
    except requests.RequestException as e:
        raise PatreonUnavailable(f"{endpoint}: {type(e).__name__}") from e
    logger.debug(
        "patreon %s answered %s in %.0f ms",
        endpoint,
        response.status_code,
        (time.monotonic() - started) * 1000,
    )
    return response


def _error_code(response):
    """Patreon's JSON:API error code name, for the log (never the body)."""
    try:
        return str(response.json()["errors"][0].get("code_name", ""))[:50]
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return ""


def creator_of_campaign(token):
    """
    Check that ``token`` reads our campaign (``GET /campaigns``) and return
    the campaign creator's Patreon user id (None if Patreon does not say).
    Raises Refused if our campaign is not among the token's.
    """
    response = _get("campaigns", {"include": "creator"}, token, endpoint="campaigns")
    if response.status_code in (401, 403):
        raise Refused(f"campaigns: HTTP {response.status_code} {_error_code(response)}")
    if response.status_code != 200:
        raise PatreonUnavailable(f"campaigns: HTTP {response.status_code}")
    try:
        campaigns = response.json()["data"]
    except (ValueError, KeyError, TypeError) as e:
        raise PatreonUnavailable("campaigns: the answer has no data") from e
    for campaign in campaigns if isinstance(campaigns, list) else []:
        if (
            isinstance(campaign, dict)
            and str(campaign.get("id")) == settings.PATREON_CAMPAIGN_ID
        ):
            _check_reads_members(token)
            return identity.related_id(campaign, "creator")
    raise Refused(
        f"the token's campaigns do not include PATREON_CAMPAIGN_ID "
        f"({settings.PATREON_CAMPAIGN_ID})"
    )


def _check_reads_members(token):
    """Refused unless ``token`` may list our campaign's members (one row)."""
    path = f"campaigns/{settings.PATREON_CAMPAIGN_ID}/members"
    response = _get(path, {"page[count]": "1"}, token, endpoint="campaign_members")
    if response.status_code in (401, 403):
        raise Refused(
            f"campaign_members: HTTP {response.status_code} {_error_code(response)}"
            " (the token lacks the campaigns.members scope?)"
        )
    if response.status_code != 200:
        raise PatreonUnavailable(f"campaign_members: HTTP {response.status_code}")
