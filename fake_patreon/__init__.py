"""
A fake Patreon for development and tests: OAuth2 and API v2, on loopback.

Run it with ``python -m fake_patreon``, or in tests::

    with FakePatreon() as fake:
        ...  # point PATREON_BASE_URL at fake.base_url
"""

from fake_patreon.server import FakePatreon

__all__ = ["FakePatreon"]
