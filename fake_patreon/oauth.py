"""
Patreon's OAuth2 side: the scopes a client may ask for, and the codes and
tokens the fake hands out (codes used up on first try, refresh tokens
rotated), kept in memory behind one lock.

A patron in ``Grants.evicting`` (the creator, by default) holds one grant at
a time: logging in again through the client revokes every earlier token, as
Patreon once did to creators (discourse-patreon issue 9).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, replace
from urllib.parse import urlencode, urlsplit, urlunsplit

CODE_LIFETIME = 10 * 60
TOKEN_LIFETIME = 31 * 24 * 60 * 60  # Patreon's expires_in: 2678400

# What the consent screen says each scope grants.
SCOPES = {
    "identity": "See your name, profile picture and account details",
    "identity[email]": "See your email address",
    "identity.memberships": "See every creator you support, not only this one",
    "campaigns": "See the campaigns you run",
    "campaigns.members": "See the members of your campaigns",
    "campaigns.members[email]": "See the email addresses of your campaigns' members",
    "campaigns.members.address": "See the mailing addresses of your campaigns' members",
    "campaigns.posts": "See the posts of your campaigns",
    "w:campaigns.webhook": "Manage webhooks on your campaigns",
}


def scopes(params):
    """The scopes ``params`` asks for, in order, without repeats."""
    # With no scope asked for, grant the least that still reads the identity.
    return tuple(dict.fromkeys(params.get("scope", "").split())) or ("identity",)


def add_query(url, params):
    """``url`` with ``params`` added to its query."""
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit(parts._replace(query=query))


def authorization_problem(params, client_id):
    """Why Patreon would refuse to show its consent screen, or None."""
    if params.get("response_type") != "code":
        return "response_type must be code."
    if params.get("client_id") != client_id:
        return "Unknown client_id."
    redirect_uri = urlsplit(params.get("redirect_uri", ""))
    if redirect_uri.scheme not in ("http", "https") or not redirect_uri.netloc:
        return "redirect_uri must be an absolute http(s) URL."
    if unknown := set(scopes(params)) - SCOPES.keys():
        return f"Unknown scope: {', '.join(sorted(unknown))}."
    return None


@dataclass(frozen=True)
class Grant:
    """What a code or token stands for."""

    patron_id: str
    scopes: tuple[str, ...]
    expires_at: float
    redirect_uri: str = ""


class Grants:
    """The codes and tokens issued so far, and what each stands for."""

    def __init__(self):
        self._lock = threading.Lock()
        # Patreon's expires_in, for tokens issued from now on.
        self.lifetime = TOKEN_LIFETIME
        self.evicting = set()
        self._codes = {}
        self._access_tokens = {}
        self._refresh_tokens = {}
        self._issued = []

    @property
    def issued(self):
        """Every access and refresh token issued, even revoked."""
        with self._lock:
            return list(self._issued)

    def issue_code(self, patron_id, scopes, redirect_uri):
        """A new code for ``patron_id``, good for one exchange."""
        code = secrets.token_urlsafe(32)
        grant = Grant(patron_id, scopes, time.time() + CODE_LIFETIME, redirect_uri)
        with self._lock:
            self._codes[code] = grant
        return code

    def exchange_code(self, code, redirect_uri):
        """The tokens for ``code``, or None for a used, unknown or expired one."""
        # The first attempt uses the code up, even a failed one.
        with self._lock:
            grant = self._codes.pop(code, None)
        if (
            grant is None
            or grant.redirect_uri != redirect_uri
            or grant.expires_at < time.time()
        ):
            return None
        if grant.patron_id in self.evicting:
            self.revoke(grant.patron_id)
        return self._issue_tokens(grant)

    def refresh(self, refresh_token):
        """New tokens for ``refresh_token``, or None for an unknown one."""
        # Rotation: the old refresh token and its access token die here.
        with self._lock:
            access_token, grant = self._refresh_tokens.pop(refresh_token, (None, None))
            self._access_tokens.pop(access_token, None)
        if grant is None:
            return None
        return self._issue_tokens(grant)

    def issue(self, patron_id, scopes):
        """A token endpoint's answer for ``patron_id`` with ``scopes``, no code."""
        return self._issue_tokens(Grant(patron_id, scopes, 0))

    def revoke(self, patron_id):
        """Make every token of ``patron_id``, access and refresh, unknown."""
        with self._lock:
            self._access_tokens = {
                token: grant
                for token, grant in self._access_tokens.items()
                if grant.patron_id != patron_id
            }
            self._refresh_tokens = {
                token: (access, grant)
                for token, (access, grant) in self._refresh_tokens.items()
                if grant.patron_id != patron_id
            }

    def expire(self, patron_id):
        """Expire every access token of ``patron_id``; its refresh tokens live on."""
        with self._lock:
            for token, grant in self._access_tokens.items():
                if grant.patron_id == patron_id:
                    self._access_tokens[token] = replace(grant, expires_at=0)

    def _issue_tokens(self, grant):
        access_token = secrets.token_urlsafe(32)
        refresh_token = secrets.token_urlsafe(32)
        with self._lock:
            lifetime = self.lifetime
            self._access_tokens[access_token] = replace(
                grant, expires_at=time.time() + lifetime
            )
            self._refresh_tokens[refresh_token] = (access_token, grant)
            self._issued += [access_token, refresh_token]
        return {
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_in": lifetime,
            "scope": " ".join(grant.scopes),
            "token_type": "Bearer",
            "version": "0.0.1",
        }

    def grant_for(self, access_token):
        """What ``access_token`` grants, or None if unknown or expired."""
        with self._lock:
            grant = self._access_tokens.get(access_token)
        if grant is None or grant.expires_at < time.time():
            return None
        return grant
