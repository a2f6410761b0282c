"""The JSON API the frontend calls."""

from django.http import JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def healthz(request):
    """The process is up; touches nothing else."""
    return JsonResponse({"status": "ok"})
