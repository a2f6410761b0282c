"""
The creator logging in through our own OAuth client.

Patreon has answered such a login by issuing the creator a new token pair
and dropping the one we keep (discourse-patreon, issue 9), so the stored
credential would fail at its next refresh. The login's tokens are adopted in
its place when they can read our campaign; when they cannot (the login asked
for the patron scopes only), the stored pair is left to prove itself, and a
refusal then marks it as needing re-authorisation, with its ERROR event.
"""

import logging

from django.db import DatabaseError

from accounts.patreon import client, creator
from accounts.patreon.errors import PatreonUnavailable, Refused
from accounts.patreon.sealing import SealError
from ventures import events

logger = logging.getLogger(__name__)


def adopt(patreon_id, token_answer):
    """
    If ``patreon_id`` is the stored credential's creator, keep this login's
    ``token_answer`` (the token endpoint's JSON) as the credential, provided
    it reads our campaign; return whether it was adopted.
    """
    try:
        credential = creator.status()
    except DatabaseError:
        logger.exception("creator login of %s: credential not read", patreon_id)
        return False  # the login itself has succeeded: it stands
    if credential is None or credential.patreon_id != patreon_id:
        return False
    try:
        answer = creator.TokenAnswer.from_json(token_answer)
        client.creator_of_campaign(answer.access_token)
    except (ValueError, Refused, PatreonUnavailable) as e:
        events.emit(
            events.PATREON_TOKEN_REFRESHED,
            patreon_id=patreon_id,
            level=logging.WARNING,
            outcome="creator_login_not_adopted",
            reason=str(e)[:100],
        )
        return False
    try:
        creator.store(answer, patreon_id=patreon_id)
    except (DatabaseError, SealError):
        logger.exception("creator login of %s: its tokens not stored", patreon_id)
        return False  # the login itself has succeeded: it stands
    events.emit(
        events.PATREON_TOKEN_REFRESHED,
        patreon_id=patreon_id,
        outcome="creator_login_adopted",
    )
    return True
