"""
The real URLconf plus reference views that bound what /api/auth/me can cost.

Each sits under /api/ like /api/auth/me, so it goes through exactly the same
middleware (CORS included). Requested without a session cookie, none of them
loads a session:

- ``/api/bench/bare``: a JSON answer and nothing else, the ceiling.
- ``/api/bench/select1``: one raw ``SELECT 1`` through Django's connection,
  the cost of one database round trip (and of the ``SELECT 1`` health check
  Django's own PostgreSQL backend runs before the first query of a request).
- ``/api/bench/cache-get``: one ``cache.get``, the cost of a Redis round trip
  when REDIS_URL is set (a local-memory lookup otherwise).
"""

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.urls import path

from ventures.urls import handler400, handler403, handler404, handler500
from ventures.urls import urlpatterns as real_urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


def bare(request):
    return JsonResponse({"ok": True})


def select_one(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        (value,) = cursor.fetchone()
    return JsonResponse({"ok": value == 1})


def cache_get(request):
    return JsonResponse({"ok": cache.get("bench:missing") is None})


urlpatterns = [
    path("api/bench/bare", bare, name="bench-bare"),
    path("api/bench/select1", select_one, name="bench-select1"),
    path("api/bench/cache-get", cache_get, name="bench-cache-get"),
    *real_urlpatterns,
]
