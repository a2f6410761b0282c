"""
Every test of the peers' suites that we override still names one of theirs
and points to its deviation in docs/peer-contracts.md: nothing is dropped
or replaced silently.
"""

from pathlib import Path

import pytest

from tests.peers import test_allauth_patreon, test_django_sessions

CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "peer-contracts.md"
OURS = [
    test_django_sessions.SessionStoreContractTests,
    test_django_sessions.SessionMiddlewareContractTests,
    test_allauth_patreon.PatreonProviderContractTests,
]


def overrides(cls):
    return [name for name in vars(cls) if name.startswith("test")]


@pytest.mark.parametrize("cls", OURS, ids=lambda cls: cls.__name__)
def test_each_override_replaces_a_peer_test_and_cites_its_deviation(cls):
    text = CONTRACTS.read_text()
    for name in overrides(cls):
        peer = cls.__mro__[1]
        assert hasattr(peer, name), f"{name} is not a test of {peer.__name__}"
        assert "docs/peer-contracts.md" in getattr(cls, name).__doc__, name
        assert f"`{name}`" in text, f"{name} is missing from {CONTRACTS.name}"
