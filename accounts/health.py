"""
What /readyz reports of the membership sync (ventures.health.REPORTS): the
task worker's heartbeat and the creator's credential.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateWorker

from accounts.patreon import creator

# procrastinate's workers write a heartbeat every 10 s.
WORKER_SILENT_AFTER = timedelta(minutes=1)


def worker():
    """Whether a worker wrote its heartbeat within a minute: "ok", or why not."""
    if not settings.TASK_QUEUE:
        return "not configured"
    last = (
        ProcrastinateWorker.objects.order_by("-last_heartbeat")
        .values_list("last_heartbeat", flat=True)
        .first()
    )
    if last is None:
        return "no worker"
    if timezone.now() - last > WORKER_SILENT_AFTER:
        return f"silent since {last.isoformat()}"
    return "ok"


def creator_credential():
    """The creator's credential: "valid", "needs_reauth", "missing"..."""
    credential = creator.status()
    if credential is None:
        return "missing"
    if credential.state != credential.State.VALID:
        return credential.state
    if credential.expires_at <= timezone.now():
        return "expired"
    return "valid"
