"""
Sealing the creator's tokens at rest: Fernet (AES-128-CBC with an HMAC),
under PATREON_TOKEN_KEYS. The first key seals, every key opens, so a key is
rotated by putting the new one first and resealing.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SealError(Exception):
    """No key, or none that opens what is stored (the keys changed without a reseal)."""


def _keys():
    if not settings.PATREON_TOKEN_KEYS:
        raise SealError("PATREON_TOKEN_KEYS is not set: no key to seal the token")
    return MultiFernet([Fernet(key) for key in settings.PATREON_TOKEN_KEYS])


def seal(text):
    """``text`` sealed under the first key, as ASCII."""
    return _keys().encrypt(text.encode()).decode()


def unseal(sealed):
    """The text of ``sealed``, opened with whichever key sealed it."""
    try:
        return _keys().decrypt(sealed.encode()).decode()
    except InvalidToken as e:
        raise SealError("no key in PATREON_TOKEN_KEYS opens the stored token") from e


def reseal(sealed):
    """``sealed`` sealed again under the first key (after a rotation)."""
    try:
        return _keys().rotate(sealed.encode()).decode()
    except InvalidToken as e:
        raise SealError("no key in PATREON_TOKEN_KEYS opens the stored token") from e
