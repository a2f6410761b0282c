from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from accounts.patreon.provider import PatreonProvider

urlpatterns = default_urlpatterns(PatreonProvider)
