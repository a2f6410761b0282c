from django.urls import path

from accounts import api

urlpatterns = [
    path("healthz", api.healthz, name="healthz"),
]
