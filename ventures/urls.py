from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from accounts.errors import not_offered
from ventures import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path(settings.ADMIN_URL, admin.site.urls),
    # allauth's connections pages and social signup form are not offered: a
    # user is one Patreon id, never linked to or unlinked from another.
    *(
        path(f"accounts/{page}", not_offered)
        for page in (
            "3rdparty/",
            "3rdparty/signup/",
            "social/connections/",
            "social/signup/",
        )
    ),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
]

handler400 = "accounts.errors.bad_request"
handler403 = "accounts.errors.permission_denied"
handler404 = "accounts.errors.page_not_found"
handler500 = "accounts.errors.server_error"
