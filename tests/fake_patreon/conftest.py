"""The fake Patreon's tests: each gets a fresh fake of its own."""

import pytest

from fake_patreon import FakePatreon


@pytest.fixture
def fake():
    """A fake Patreon on a free loopback port, stopped after the test."""
    with FakePatreon() as fake:
        yield fake
