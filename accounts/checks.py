"""
The policy for the creator's stored token: a key to seal it with
(production), and every key a Fernet key (always). The ventures.* rules
are the project's (ventures.checks); these read accounts' settings.
"""

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Warning

W001 = Warning(
    "PATREON_TOKEN_KEYS is not set: the creator's token cannot be stored, so "
    "memberships are re-read only when their patron logs in.",
    hint='Generate a key (README, "The creator\'s token") and set '
    "PATREON_TOKEN_KEYS to it.",
    id="accounts.W001",
)
E002 = Error(
    "PATREON_TOKEN_KEYS item %d is not a Fernet key (32 bytes, URL-safe base64).",
    hint="Generate one with: python -c 'from cryptography.fernet import Fernet; "
    "print(Fernet.generate_key().decode())'",
    id="accounts.E002",
)


def check_token_keys(app_configs, **kwargs):
    """W001: in production, the creator's token can be stored, sealed."""
    if settings.DEBUG or settings.PATREON_TOKEN_KEYS:
        return []
    return [W001]


def check_token_key_format(app_configs, **kwargs):
    """E002: every key in PATREON_TOKEN_KEYS is a Fernet key, in any mode."""
    errors = []
    for number, key in enumerate(settings.PATREON_TOKEN_KEYS, start=1):
        try:
            Fernet(key)
        except ValueError:
            errors.append(Error(E002.msg % number, hint=E002.hint, id=E002.id))
    return errors
