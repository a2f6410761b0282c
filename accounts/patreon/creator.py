"""
The creator's credential: the one Patreon token pair we keep, to read the
campaign's members (webhook re-reads and the full sync).

Patreon's refresh tokens are single use and the token endpoint is rate
limited, so refreshing is serialised on the credential's row: whoever holds
``SELECT ... FOR UPDATE`` calls the token endpoint, and whoever waited finds
a token other than the one that failed them and uses it. A refused refresh
token (``invalid_grant``) marks the credential as needing re-authorisation
and stops every token call until an operator stores a new pair; a 429, a 5xx
or a timeout never does.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import CreatorCredential
from accounts.patreon import sealing
from accounts.patreon.errors import (
    CredentialInvalid,
    CredentialMissing,
    PatreonUnavailable,
    Throttled,
    retry_after,
)
from accounts.patreon.transport import patreon_session
from ventures import events

logger = logging.getLogger(__name__)

CREDENTIAL_ID = 1
# Refreshed when less than this is left, or half of its lifetime.
REFRESH_AHEAD = timedelta(days=7)
# At most one token call per this long, whatever answers come back.
REFRESH_AT_MOST_EVERY = timedelta(minutes=5)
# The token endpoint's answers that mean the refresh token is dead.
DEAD_GRANT_ERRORS = ("invalid_grant", "access_denied")


def token_url():
    return f"{settings.PATREON_BASE_URL}/api/oauth2/token"


@dataclass(frozen=True)
class TokenAnswer:
    """A token endpoint's answer, checked."""

    access_token: str
    refresh_token: str
    expires_in: int

    @classmethod
    def from_json(cls, data):
        """The answer's tokens, or ValueError naming what is missing or wrong."""
        if not isinstance(data, dict):
            raise ValueError("the token answer is not a JSON object")
        for name in ("access_token", "refresh_token"):
            if not isinstance(data.get(name), str) or not data[name].strip():
                raise ValueError(f"the token answer has no {name}")
        expires_in = data.get("expires_in")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int):
            raise ValueError("the token answer has no expires_in (seconds)")
        if expires_in <= 0:
            raise ValueError("the token answer's expires_in is not positive")
        return cls(data["access_token"], data["refresh_token"], expires_in)


def _write(credential, answer, now):
    credential.access_token = sealing.seal(answer.access_token)
    credential.refresh_token = sealing.seal(answer.refresh_token)
    credential.expires_at = now + timedelta(seconds=answer.expires_in)
    credential.lifetime_seconds = answer.expires_in
    credential.refreshed_at = now
    credential.state = CreatorCredential.State.VALID
    credential.error = ""


def store(answer, *, patreon_id="", now=None):
    """Keep ``answer`` (a TokenAnswer) as the credential, valid from ``now``."""
    now = now or timezone.now()
    with transaction.atomic():
        credential = locked() or CreatorCredential(pk=CREDENTIAL_ID)
        _write(credential, answer, now)
        # A new pair owes nothing to the last token call; Patreon's 429 wait
        # is for the client and stays.
        credential.token_call_at = None
        credential.patreon_id = patreon_id or credential.patreon_id
        credential.save()
    return credential


def locked():
    """The credential's row, locked until the transaction ends; or None."""
    return (
        CreatorCredential.objects.select_for_update().filter(pk=CREDENTIAL_ID).first()
    )


def status():
    """The credential's row (its tokens still sealed), or None."""
    return CreatorCredential.objects.filter(pk=CREDENTIAL_ID).first()


def refresh_due(credential, now):
    """Whether ``credential`` should be refreshed before it is used at ``now``."""
    ahead = min(REFRESH_AHEAD, timedelta(seconds=credential.lifetime_seconds / 2))
    return credential.expires_at - now < ahead


def _usable(credential, now):
    if credential is None:
        raise CredentialMissing
    if credential.state != CreatorCredential.State.VALID:
        raise CredentialInvalid(credential.error)
    if credential.throttled_until and credential.throttled_until > now:
        raise Throttled((credential.throttled_until - now).total_seconds())


def access_token(now=None):
    """
    The access token to call Patreon with, refreshed first when it is close
    to expiry. Raises CredentialMissing, CredentialInvalid, or Throttled
    while Patreon has asked every caller to wait.
    """
    now = now or timezone.now()
    credential = status()
    _usable(credential, now)
    token = sealing.unseal(credential.access_token)
    if refresh_due(credential, now):
        return refresh(token, now=now)
    return token


def refresh(used_token, *, now=None):
    """
    A fresh access token in place of ``used_token`` (which Patreon refused,
    or which is about to expire). One caller at a time calls the token
    endpoint; one that waited gets the token the other stored.
    """
    now = now or timezone.now()
    with transaction.atomic():
        credential = locked()
        _usable(credential, now)
        current = sealing.unseal(credential.access_token)
        if current != used_token:
            return current  # refreshed by someone else while we waited
        last_call = credential.token_call_at
        if last_call and now - last_call < REFRESH_AT_MOST_EVERY:
            # At most one token call per interval, whatever it answered: the
            # caller goes on with the token it has (client.get retries later
            # if Patreon refuses it).
            return current
        refresh_token = sealing.unseal(credential.refresh_token)
        # Counted against the minimum interval whatever the outcome.
        credential.token_call_at = now
        failure = None
        try:
            answer = _call_token_endpoint(refresh_token)
        except CredentialInvalid as invalid:
            credential.state = CreatorCredential.State.NEEDS_REAUTH
            credential.error = str(invalid)[:200]
            credential.save(update_fields=["state", "error", "token_call_at"])
            failure = invalid
        except PatreonUnavailable as unavailable:  # a 429 too: not the grant's fault
            credential.save(update_fields=["token_call_at"])
            failure = unavailable
        else:
            _write(credential, answer, now)
            credential.save()
    # Raised after the block, so what the refusal taught us is committed.
    if isinstance(failure, CredentialInvalid):
        events.emit(
            events.PATREON_TOKEN_INVALID, level=logging.ERROR, reason=str(failure)
        )
    elif isinstance(failure, Throttled):
        throttle(failure.seconds, now=now, endpoint="token")
    if failure is not None:
        raise failure
    events.emit(
        events.PATREON_TOKEN_REFRESHED, expires_at=credential.expires_at.isoformat()
    )
    return answer.access_token


def _call_token_endpoint(refresh_token):
    try:
        with patreon_session() as session:
            response = session.post(
                token_url(),
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": refresh_token,
                    "client_id": settings.PATREON_CLIENT_ID,
                    "client_secret": settings.PATREON_CLIENT_SECRET,
                },
                timeout=settings.SOCIALACCOUNT_REQUESTS_TIMEOUT,
            )
    except requests.RequestException as e:
        raise PatreonUnavailable(f"token endpoint: {type(e).__name__}") from e
    if response.status_code == 429:
        raise Throttled(retry_after(response))
    if response.status_code >= 500:
        raise PatreonUnavailable(f"token endpoint answered {response.status_code}")
    try:
        data = response.json()
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if response.status_code in (400, 401) and error in DEAD_GRANT_ERRORS:
        raise CredentialInvalid(error)
    if response.status_code != 200:
        raise PatreonUnavailable(
            f"token endpoint answered {response.status_code} {str(error)[:50]}"
        )
    try:
        return TokenAnswer.from_json(data)
    except ValueError as e:
        raise PatreonUnavailable(f"token endpoint: {e}") from e


def throttle(seconds, *, now=None, endpoint=""):
    """Make every caller wait ``seconds`` (Patreon answered 429)."""
    now = now or timezone.now()
    until = now + timedelta(seconds=seconds)
    CreatorCredential.objects.filter(pk=CREDENTIAL_ID).filter(
        Q(throttled_until__isnull=True) | Q(throttled_until__lt=until)
    ).update(throttled_until=until)
    events.emit(
        events.PATREON_THROTTLED,
        level=logging.WARNING,
        endpoint=endpoint,
        retry_after=round(seconds, 1),
    )
