"""
The background work, on procrastinate's queue in PostgreSQL
(``manage.py procrastinate worker``, deploy/systemd/ventures-worker.service).

A webhook defers ``reread_member`` for its patron; the queue keeps one
waiting job per patron and never runs two for the same patron at once. A
burst of changes is read by walking the campaign instead, when that costs
Patreon fewer calls. The periodic tasks are the safety nets: anything a lost
job left marked, the full sync every six hours, and the webhook log's
retention.
"""

import contextlib
import logging
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from procrastinate import RetryDecision, RetryStrategy
from procrastinate.contrib.django import app
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException

from accounts.models import WebhookDelivery
from accounts.patreon import sync
from accounts.patreon.errors import (
    CredentialInvalid,
    CredentialMissing,
    PatreonUnavailable,
    Refused,
    Throttled,
)

logger = logging.getLogger(__name__)

# Webhook deliveries are kept this long, for the admin and for the member
# id of a patron who joined after logging in.
DELIVERY_RETENTION = timedelta(days=30)


class PatreonRetry(RetryStrategy):
    """
    Exponential backoff (2, 4, 8... seconds, 10 tries) for 5xx and
    timeouts; after a 429, exactly as long as Patreon asked.
    """

    def get_retry_decision(self, *, exception, job):
        if isinstance(exception, Throttled) and (
            self.max_attempts is None or job.attempts < self.max_attempts
        ):
            return RetryDecision(retry_in={"seconds": exception.seconds})
        return super().get_retry_decision(exception=exception, job=job)


RETRY = PatreonRetry(
    max_attempts=10,
    exponential_wait=2,
    retry_exceptions=[PatreonUnavailable],
)


@app.task(name="patreon.reread_member", retry=RETRY)
def reread_member(patreon_id):
    """
    Re-read one patron's membership from Patreon, unless a read since the
    announcement has (a login, a walk), or a walk of the campaign costs
    fewer calls than the changes waiting (sync.walking_is_cheaper).
    """
    if not sync.is_pending(patreon_id):
        return
    if sync.walking_is_cheaper():
        defer_walk()
        return
    try:
        sync.reread(patreon_id)
    except (CredentialMissing, CredentialInvalid) as e:
        # Nothing to retry with: the row stays marked, /me reports it stale,
        # and /readyz and the credential's event say why.
        logger.warning(
            "patron %s not re-read: no usable creator token (%r)", patreon_id, e
        )
    except Refused as e:
        logger.error("patron %s not re-read: Patreon refused (%s)", patreon_id, e)


def defer_reread(patreon_id):
    """
    Queue a re-read of ``patreon_id``, in the caller's transaction. A job
    already waiting for them covers this change too (it reads after it
    starts); one running now is followed by this one, never overlapped.
    """
    if not settings.TASK_QUEUE:
        return
    lock = f"patron:{patreon_id}"
    try:
        with transaction.atomic():  # a refused insert must not end the caller's
            reread_member.configure(lock=lock, queueing_lock=lock).defer(
                patreon_id=patreon_id
            )
    except AlreadyEnqueued:
        pass
    except ConnectorException as e:
        # procrastinate's name for the database failing: the caller's
        # (the webhook answers 503, and Patreon delivers again).
        raise DatabaseError(str(e)) from e


def defer_walk():
    """
    Queue a full sync to read a burst of changes. One waits at most, and it
    runs after the one running now (their lock), so that it reads what was
    announced after that one had passed.
    """
    # A walk already waiting starts after this change: it reads it.
    with contextlib.suppress(AlreadyEnqueued):
        full_sync.defer(timestamp=int(timezone.now().timestamp()))


@app.periodic(cron="*/5 * * * *")
@app.task(name="patreon.sync_pending", queueing_lock="patreon.sync_pending")
def sync_pending(timestamp):
    """Queue a re-read of every change still unread (a lost job's)."""
    for patreon_id in sync.pending():
        defer_reread(patreon_id)


# One full sync at a time is the SyncRun table's rule (across workers and
# `manage.py patreon sync --full`). The queue's lock only orders the jobs: a
# walk queued while another runs starts after it, and reads what that one
# had passed. A lock held by a job whose worker died is let go when
# retry_stalled_jobs runs the job again.
@app.periodic(cron="0 */6 * * *")
@app.task(
    name="patreon.full_sync",
    lock="patreon.full_sync",
    queueing_lock="patreon.full_sync",
    retry=RETRY,
)
def full_sync(timestamp):
    """The full sync: every six hours, and when a burst of changes asks."""
    try:
        sync.full_sync()
    except sync.SyncRunning:
        logger.info("full sync skipped: another one is running")
    except (CredentialMissing, CredentialInvalid, Refused, sync.SyncAborted):
        pass  # recorded as an aborted run, with its event


@app.periodic(cron="17 3 * * *")
@app.task(name="patreon.purge_deliveries", queueing_lock="patreon.purge_deliveries")
def purge_deliveries(timestamp):
    """Forget webhook deliveries older than DELIVERY_RETENTION."""
    deleted, _ = WebhookDelivery.objects.filter(
        received_at__lt=timezone.now() - DELIVERY_RETENTION
    ).delete()
    logger.info("purged %d webhook deliveries", deleted)


@app.periodic(cron="*/5 * * * *")
@app.task(
    name="procrastinate.retry_stalled_jobs",
    queueing_lock="retry_stalled",
    pass_context=True,
)
async def retry_stalled_jobs(context, timestamp):
    """
    Run again the jobs of workers that died mid-job (killed by a deploy, a
    crash): procrastinate leaves them "doing", holding their patron's lock,
    until someone retries them. A worker silent for 5 minutes is dead.
    """
    manager = context.app.job_manager
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=300):
        logger.warning("retrying job %s (%s): its worker died", job.id, job.task_name)
        await manager.retry_job(job)
