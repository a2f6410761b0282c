from django.urls import path

from accounts import api, forward_auth, views
from accounts.patreon.views import oauth2_callback, webhook

urlpatterns = [
    path("", views.home, name="home"),
    path("login", views.login_page, name="login"),
    path("api/openapi.json", api.OpenApiView.as_view(), name="api-openapi"),
    path("api/auth/me", api.MeView.as_view(), name="api-me"),
    path("api/auth/check", forward_auth.check, name="api-auth-check"),
    path("api/auth/csrf", api.CsrfView.as_view(), name="api-csrf"),
    path("api/auth/logout", api.LogoutView.as_view(), name="api-logout"),
    path("api/auth/sessions", api.SessionsView.as_view(), name="api-sessions"),
    path(
        "api/auth/sessions/revoke-others",
        api.RevokeOthersView.as_view(),
        name="api-sessions-revoke-others",
    ),
    path(
        "api/auth/sessions/<str:public_id>",
        api.SessionView.as_view(),
        name="api-session",
    ),
    # The redirect URI registered with Patreon for the existing client.
    path("api/auth/patreon/callback", oauth2_callback, name="patreon-api-callback"),
    path("api/patreon/webhook", webhook, name="patreon-webhook"),
]
