"""
The membership admin (accounts/admin.py, PatreonMembershipAdmin): staff see
every snapshot with its freshness and filter by source and staleness; a
posted form changes nothing (tests/test_roles.py has every URL per role).
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import PatreonMembership
from tests.patreon import log_in

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:accounts_patreonmembership_changelist"


@pytest.fixture
def snapshots(client_factory, fake_patreon):
    """1001 fresh from a login, 1002 from a sync a week ago, 1004 changed."""
    for patron in ("1001", "1002", "1004"):
        log_in(client_factory(), patron)
    now = timezone.now()
    rows = PatreonMembership.objects
    rows.filter(patreon_id="1002").update(
        synced_at=now - timedelta(days=7), source="sync"
    )
    rows.filter(patreon_id="1004").update(changed_at=now - timedelta(minutes=30))


def listed(browser, **query):
    response = browser.get(reverse(CHANGELIST), query)
    assert response.status_code == 200
    return {row.patreon_id for row in response.context["cl"].result_list}


def test_staff_see_every_snapshot_with_its_freshness(staff_member, snapshots):
    response = staff_member.get(reverse(CHANGELIST))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Declined, 2024-05-01" in page  # 1004's last charge
    assert "stale, changed 30" in page
    assert "Supporter" in page


def test_staff_filter_by_staleness(staff_member, snapshots):
    assert listed(staff_member, stale="yes") == {"1002", "1004"}
    assert listed(staff_member, stale="no") == {"1001", "200001"}


def test_staff_filter_by_source(staff_member, snapshots):
    assert listed(staff_member, source="sync") == {"1002"}


def test_a_posted_change_form_changes_nothing(staff_member, superuser, snapshots):
    row = PatreonMembership.objects.get(patreon_id="1001")
    url = reverse("admin:accounts_patreonmembership_change", args=[row.pk])
    for browser in (staff_member, superuser):
        response = browser.post(
            url, {"patron_status": "active_patron", "tiers": "[]", "is_gifted": "on"}
        )
        assert response.status_code == 403
    row.refresh_from_db()
    assert (row.tiers[0]["id"], row.is_gifted) == ("7001", False)


def test_staff_do_not_see_a_superusers_snapshot(staff_member, superuser, snapshots):
    PatreonMembership.objects.filter(patreon_id="1001").update(user=superuser.user)
    assert "1001" not in listed(staff_member)
    assert "1001" in listed(superuser)


def test_the_superuser_is_offered_no_way_to_delete_a_snapshot(superuser, snapshots):
    row = PatreonMembership.objects.get(patreon_id="1001")
    page = superuser.get(
        reverse("admin:accounts_patreonmembership_change", args=[row.pk])
    )
    assert page.status_code == 200
    assert b"deletelink" not in page.content
    changelist = superuser.get(reverse(CHANGELIST))
    assert b'value="delete_selected"' not in changelist.content
