"""
The entitlement gates for Django views (accounts/access.py), on views this
module serves beside the project's URLs, reached by real logins.
"""

from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import JsonResponse
from django.urls import path
from django.utils import timezone
from django.views import View

from accounts.access import EntitlementRequiredMixin, require_entitlement
from accounts.models import PatreonMembership
from tests.patreon import log_in
from ventures.urls import urlpatterns as project_urlpatterns

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

LOGIN_URL = "https://api.ventures.test/login"


@require_entitlement("early-access")
def early_access(request):
    return JsonResponse({"content": "early access"})


@require_entitlement("supporter")
def supporters(request):
    return JsonResponse({"content": "for supporters"})


@require_entitlement("platinum")
def misconfigured(request):
    return JsonResponse({"content": "nobody"})


class SupportersView(EntitlementRequiredMixin, View):
    entitlement = "supporter"

    def get(self, request):
        return JsonResponse({"content": "for supporters, class-based"})


class ForgotTheEntitlement(EntitlementRequiredMixin, View):
    def get(self, request):
        return JsonResponse({"content": "nobody"})


urlpatterns = [
    *project_urlpatterns,
    path("api/early-access", early_access),
    path("api/supporters", supporters),
    path("api/misconfigured", misconfigured),
    path("api/supporters-cbv", SupportersView.as_view()),
    path("api/forgot", ForgotTheEntitlement.as_view()),
]

GATED = ["/api/supporters", "/api/supporters-cbv"]


def refused(reason, entitlement="supporter", detail=None):
    return {
        "error": "entitlement_required",
        "entitlement": entitlement,
        "reason": reason,
        "detail": detail,
        "login_url": LOGIN_URL,
    }


def update_membership(**changes):
    PatreonMembership.objects.filter(patreon_id="1001").update(**changes)


@pytest.mark.parametrize("url", GATED)
def test_nobody_logged_in_gets_the_apis_401(client, url):
    response = client.get(url)
    assert response.status_code == 401
    assert response.json() == {"authenticated": False, "login_url": LOGIN_URL}
    assert response["Cache-Control"] == "no-store, private"


@pytest.mark.parametrize("url", GATED)
def test_an_entitled_patron_gets_the_view(patron, url):
    response = patron.get(url)
    assert response.status_code == 200
    assert response.json()["content"].startswith("for supporters")


@pytest.mark.parametrize("url", GATED)
def test_the_gate_adds_no_query(patron, url, django_assert_num_queries):
    """The session lookup loads the membership with the user: one query in all."""
    with django_assert_num_queries(1):
        assert patron.get(url).status_code == 200


def test_another_tier_is_refused_with_the_envelope(patron):
    """Patron 1001 is a Supporter; early access needs Patron or Benefactor."""
    response = patron.get("/api/early-access")
    assert response.status_code == 403
    body = response.json()
    assert body == refused("not_entitled", "early-access", body["detail"])
    assert body["detail"] == "Your Patreon tier does not include this."
    assert response["Cache-Control"] == "no-store, private"


@pytest.mark.parametrize("url", GATED)
def test_a_stale_membership_is_refused_with_where_to_log_in_again(patron, url):
    update_membership(synced_at=timezone.now() - timedelta(days=4))
    response = patron.get(url)
    assert response.status_code == 403
    body = response.json()
    assert body == refused("membership_stale", detail=body["detail"])
    assert "log in again" in body["detail"]


def test_logging_in_again_refreshes_a_stale_membership(patron):
    update_membership(synced_at=timezone.now() - timedelta(days=4))
    assert patron.get("/api/supporters").status_code == 403
    log_in(patron, "1001")
    assert patron.get("/api/supporters").status_code == 200


def test_a_declined_patron_keeps_access_within_the_grace(patron):
    update_membership(
        patron_status="declined_patron",
        last_charge_status="Declined",
        last_charge_date=timezone.now() - timedelta(days=2),
    )
    assert patron.get("/api/supporters").status_code == 200
    update_membership(last_charge_date=timezone.now() - timedelta(days=8))
    response = patron.get("/api/supporters")
    assert response.status_code == 403
    assert response.json()["reason"] == "declined_past_grace"


def test_a_refunded_patron_is_refused(patron):
    update_membership(last_charge_status="Refunded")
    assert patron.get("/api/supporters").json()["reason"] == "refunded"


def test_someone_without_a_membership_is_not_a_member(superuser):
    response = superuser.get("/api/supporters")
    assert response.status_code == 403
    assert response.json()["reason"] == "not_member"


def test_a_name_nobody_configured_fails_closed_and_loud(patron):
    with pytest.raises(ImproperlyConfigured, match="'platinum' is not in"):
        patron.get("/api/misconfigured")


def test_a_mixin_without_its_entitlement_fails_closed_and_loud(patron):
    with pytest.raises(ImproperlyConfigured, match="missing the entitlement"):
        patron.get("/api/forgot")
