"""The fake Patreon's tests: each gets a fresh fake of its own."""

import pytest

from fake_patreon import FakePatreon
from tests.fake_patreon.calls import creator_token


@pytest.fixture
def fake():
    """A fake Patreon on a free loopback port, stopped after the test."""
    with FakePatreon() as fake:
        yield fake


@pytest.fixture
def token(fake):
    """The creator's access token on ``fake``."""
    return creator_token(fake)
