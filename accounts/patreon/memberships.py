"""
Patreon memberships as the app keeps them (a stand-in: the members branch
owns this module; only ``mark_changed`` is used by the webhooks).
"""

from accounts.models import PatreonMembership


def mark_changed(patreon_id, at):
    """Mark ``patreon_id``'s membership as changed at ``at``; the rows marked."""
    return PatreonMembership.objects.filter(patreon_id=patreon_id).update(changed_at=at)
