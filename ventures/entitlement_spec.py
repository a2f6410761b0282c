"""
PATREON_ENTITLEMENTS, named entitlements by tier id: ``supporter:77,pro:78|79``.

Read once by ``ventures.settings`` (``parse``); ``ventures.checks`` refuses
to start on what ``faults`` finds (E090-E092). Names travel in a query
parameter and a comma-separated header (``X-Auth-Entitlements``), so they
are kept to characters neither needs to escape.
"""

import re

# Lowercase, so "Pro" and "pro" can never be two entitlements.
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# Patreon's tier ids are numbers.
TIER_ID = re.compile(r"[0-9]{1,32}")

BAD_FORMAT, EMPTY_NAME, DUPLICATE_NAME = "bad_format", "empty_name", "duplicate_name"


def _items(spec):
    return [item.strip() for item in spec.split(",") if item.strip()]


def _split(item):
    """(name, tier ids) of one ``name:id|id`` item, or None if it is malformed."""
    name, colon, ids = item.partition(":")
    tier_ids = [tier_id.strip() for tier_id in ids.split("|")]
    if not colon or not all(TIER_ID.fullmatch(t) for t in tier_ids):
        return None
    return name.strip(), frozenset(tier_ids)


def faults(spec):
    """
    Each fault of ``spec`` as (kind, item): BAD_FORMAT, EMPTY_NAME or
    DUPLICATE_NAME, in the order the items are written.
    """
    found, seen = [], set()
    for item in _items(spec):
        parsed = _split(item)
        if parsed is None:
            found.append((BAD_FORMAT, item))
        elif not parsed[0]:
            found.append((EMPTY_NAME, item))
        elif not NAME.fullmatch(parsed[0]):
            found.append((BAD_FORMAT, item))
        elif parsed[0] in seen:
            found.append((DUPLICATE_NAME, item))
        seen.add(parsed and parsed[0])
    return found


def parse(spec):
    """
    ``spec`` as {name: frozenset of tier ids}, in the order written. Faulty
    items are left out (the checks refuse to start while there are any).
    """
    entitlements = {}
    for item in _items(spec):
        parsed = _split(item)
        if parsed and NAME.fullmatch(parsed[0]) and parsed[0] not in entitlements:
            entitlements[parsed[0]] = parsed[1]
    return entitlements
