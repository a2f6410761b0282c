"""
The transport of every call to Patreon made through allauth's requests
session (``SocialAccountAdapter.get_requests_session``): each call is timed
and counted by endpoint (``ventures.metrics.observe_patreon_call``).

An endpoint is named from the URL's path, ids replaced, by ``ENDPOINTS``: a
fixed list, so the metric's labels stay few whatever Patreon's URLs carry.
A path not listed is counted as "other": add a row for a new call.
"""

import re
from urllib.parse import urlsplit

from allauth.socialaccount.adapter import get_adapter
from requests.adapters import HTTPAdapter

from ventures.metrics import observe_patreon_call

ENDPOINTS = {
    "/api/oauth2/token": "token",
    "/api/oauth2/v2/identity": "identity",
    "/api/oauth2/v2/campaigns": "campaigns",
    "/api/oauth2/v2/campaigns/{id}": "campaign",
    "/api/oauth2/v2/campaigns/{id}/members": "campaign_members",
    "/api/oauth2/v2/members/{id}": "member",
    "/api/oauth2/v2/webhooks": "webhooks",
    "/api/oauth2/v2/webhooks/{id}": "webhook",
}
OTHER = "other"
# Patreon's ids are numbers (users, campaigns) or UUIDs (members, webhooks).
_ID_SEGMENT = re.compile(
    r"/(?:[0-9]+|[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})(?=/|$)"
)


def endpoint(url):
    """The endpoint's name for ``url``, from ``ENDPOINTS`` (else "other")."""
    path = _ID_SEGMENT.sub("/{id}", urlsplit(url).path.rstrip("/"))
    return ENDPOINTS.get(path, OTHER)


class ObservedAdapter(HTTPAdapter):
    """requests' adapter, each call observed under its endpoint's name."""

    def send(self, request, **kwargs):
        with observe_patreon_call(endpoint(request.url)) as call:
            response = super().send(request, **kwargs)
            call.status = response.status_code
        return response


def patreon_session():
    """
    A requests session for calls to Patreon outside a login (the creator's
    token and API calls), as the login's own: our User-Agent, and each call
    observed (accounts.adapters.SocialAccountAdapter.get_requests_session).
    """
    return get_adapter().get_requests_session()
