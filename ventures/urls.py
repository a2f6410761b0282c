from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from ventures import health, metrics
from ventures.errors import not_offered

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.scrape, name="metrics"),
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

handler400 = "ventures.errors.bad_request"
handler403 = "ventures.errors.permission_denied"
handler404 = "ventures.errors.page_not_found"
handler500 = "ventures.errors.server_error"
