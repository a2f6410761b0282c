"""
The background work on procrastinate's queue (accounts.tasks), in
PostgreSQL: a webhook queues one re-read per patron, a real worker runs it,
and the retry strategy waits as long as Patreon asks.
"""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone
from procrastinate.contrib.django import app
from procrastinate.contrib.django.models import ProcrastinateJob
from procrastinate.jobs import Job

from accounts import health, tasks
from accounts.models import PatreonMembership
from accounts.patreon import memberships
from accounts.patreon.errors import PatreonUnavailable, Throttled
from tests.conftest import API_HOST
from tests.patreon import log_in
from tests.test_webhooks import deliver, signed

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.TASK_QUEUE,
        reason="the task queue lives in PostgreSQL (CI runs these there)",
    ),
]


@pytest.fixture(autouse=True)
def _empty_queue():
    """The queue's tables are procrastinate's, unmanaged: Django's flush skips them."""
    yield
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE procrastinate_jobs, procrastinate_events, "
            "procrastinate_workers, procrastinate_periodic_defers CASCADE"
        )


def jobs(**filters):
    return list(
        ProcrastinateJob.objects.filter(task_name="patreon.reread_member", **filters)
    )


def run_worker():
    """
    ``manage.py procrastinate worker``, as deploy/ runs it, on the test
    database, until the queue holds nothing it may run now.
    """
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    worker = subprocess.run(
        [sys.executable, "manage.py", "procrastinate", "worker", "--one-shot"],
        cwd=settings.BASE_DIR,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
            "DATABASE_URL": url,
            "PATREON_BASE_URL": settings.PATREON_BASE_URL,
            "PATREON_TOKEN_KEYS": ",".join(settings.PATREON_TOKEN_KEYS),
        },
        timeout=60,
        capture_output=True,
        text=True,
    )
    assert worker.returncode == 0, worker.stdout + worker.stderr


def test_a_webhook_queues_one_re_read_per_patron_and_the_worker_runs_it(
    client, creator_token, fake_patreon
):
    log_in(client, "1001")
    fake_patreon.act("1001", "cancel", webhook=False)
    patreon = Client(HTTP_HOST=API_HOST)
    assert deliver(patreon, signed(event="members:update")).status_code == 200
    assert deliver(patreon, signed(event="members:pledge:delete")).status_code == 200
    waiting = jobs(status="todo")
    assert len(waiting) == 1  # the second change is covered by the waiting job
    assert waiting[0].lock == "patron:1001"
    assert waiting[0].args == {"patreon_id": "1001"}
    run_worker()
    row = PatreonMembership.objects.get(patreon_id="1001")
    assert (row.patron_status, row.source, row.changed_at) == (
        "former_patron",
        "webhook",
        None,
    )
    assert jobs() == []  # succeeded jobs are not kept
    me = client.get("/api/auth/me").json()["patreon"]
    assert (me["patron_status"], me["stale"]) == ("former_patron", False)


def test_a_duplicate_delivery_queues_nothing_more(client, fake_patreon):
    log_in(client, "1001")
    patreon = Client(HTTP_HOST=API_HOST)
    delivery = signed()
    deliver(patreon, delivery)
    run_worker()  # no creator token: logged, the row stays marked
    assert deliver(patreon, delivery).json()["duplicate"] is True
    assert jobs(status="todo") == []


def member_reads(fake_patreon, since):
    """The paths of Patreon's single-member reads after request ``since``."""
    return [
        r["path"] for r in fake_patreon.requests[since:] if "/members/" in r["path"]
    ]


def test_a_change_a_newer_read_has_seen_is_not_read_again(
    client, creator_token, fake_patreon
):
    log_in(client, "1001")
    assert deliver(Client(HTTP_HOST=API_HOST), signed()).status_code == 200
    log_in(client, "1001")  # the login reads the membership afresh
    since = len(fake_patreon.requests)
    run_worker()
    assert member_reads(fake_patreon, since) == []
    assert jobs() == []


def test_a_burst_larger_than_a_walk_is_read_by_walking_the_campaign(
    client_factory, creator_token, fake_patreon
):
    patrons = ("1001", "1002", "1003")
    for patreon_id in patrons:
        log_in(client_factory(), patreon_id)
    tasks.full_sync(timestamp=0)  # the last complete walk: one page
    fake_patreon.act("1001", "cancel", webhook=False)
    fake_patreon.act("1002", "decline", webhook=False)
    patreon = Client(HTTP_HOST=API_HOST)
    for patreon_id in patrons:
        assert deliver(patreon, signed(patreon_id)).status_code == 200
    since = len(fake_patreon.requests)
    run_worker()
    # Three changes wait, more than the walk's one page: one walk reads them.
    assert member_reads(fake_patreon, since) == []
    walks = [r for r in fake_patreon.requests[since:] if r["path"].endswith("/members")]
    assert len(walks) == 1
    rows = PatreonMembership.objects.filter(patreon_id__in=patrons)
    assert {r.patreon_id: (r.patron_status, r.source, r.changed_at) for r in rows} == {
        "1001": ("former_patron", "sync", None),
        "1002": ("declined_patron", "sync", None),
        "1003": ("former_patron", "sync", None),  # as the fake seeds them
    }
    assert jobs() == []


def test_a_change_or_two_are_read_one_by_one(client, creator_token, fake_patreon):
    log_in(client, "1001")
    tasks.full_sync(timestamp=0)
    fake_patreon.act("1001", "cancel", webhook=False)
    assert deliver(Client(HTTP_HOST=API_HOST), signed()).status_code == 200
    since = len(fake_patreon.requests)
    run_worker()
    assert len(member_reads(fake_patreon, since)) == 1
    assert PatreonMembership.objects.get(patreon_id="1001").source == "webhook"


def test_a_throttled_re_read_is_retried_when_patreon_said(
    client, creator_token, fake_patreon
):
    log_in(client, "1001")
    memberships.mark_changed("1001", timezone.now())
    fake_patreon.throttle.arm({"calls": 1, "retry_after": 30})
    tasks.defer_reread("1001")
    run_worker()
    (job,) = jobs(status="todo")
    assert job.attempts == 1
    wait = (job.scheduled_at - timezone.now()).total_seconds()
    assert 15 < wait <= 30  # Retry-After: 30, less the worker's own run


def job(attempts):
    return Job(
        queue="default",
        lock=None,
        queueing_lock=None,
        task_name="patreon.reread_member",
        attempts=attempts,
    )


@pytest.mark.parametrize(
    ("error", "attempts", "seconds"),
    [
        (Throttled(9), 0, 9),
        (Throttled(120), 3, 120),
        (PatreonUnavailable("503"), 0, 2),
        (PatreonUnavailable("503"), 4, 32),
    ],
)
def test_the_retry_strategy(error, attempts, seconds):
    """Backoff on 5xx; after a 429, exactly Patreon's wait."""
    decision = tasks.RETRY.get_retry_decision(exception=error, job=job(attempts))
    assert abs((decision.retry_at - timezone.now()).total_seconds() - seconds) < 2


def test_errors_that_retrying_cannot_fix_are_not_retried():
    assert tasks.RETRY.get_retry_decision(exception=ValueError(), job=job(0)) is None
    assert tasks.RETRY.get_retry_decision(exception=Throttled(5), job=job(10)) is None


def test_readyz_reports_the_workers_heartbeat(client):
    assert client.get("/readyz").json()["reports"]["worker"] == "no worker"
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now())"
        )
    assert health.worker() == "ok"
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["reports"] == {
        "worker": "ok",
        "patreon_credential": "missing",
    }


def test_a_job_left_by_a_dead_worker_is_run_again(client, creator_token, fake_patreon):
    """A deploy killed the worker mid-job: the job would hold its lock forever."""
    log_in(client, "1001")
    fake_patreon.act("1001", "cancel", webhook=False)
    memberships.mark_changed("1001", timezone.now())
    tasks.defer_reread("1001")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO procrastinate_workers (last_heartbeat)"
            " VALUES (now() - interval '1 hour') RETURNING id"
        )
        (dead,) = cursor.fetchone()
        cursor.execute(
            "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s", [dead]
        )
    tasks.retry_stalled_jobs.defer(timestamp=0)
    run_worker()
    assert PatreonMembership.objects.get(patreon_id="1001").patron_status == (
        "former_patron"
    )


# The jobs' own code, run in this process (the worker runs the same).


def test_a_re_read_without_a_creator_token_is_a_warning_not_a_failure(
    patron, fake_patreon, caplog
):
    memberships.mark_changed("1001", timezone.now())
    tasks.reread_member(patreon_id="1001")
    assert "no usable creator token" in caplog.text


def test_a_refused_re_read_is_an_error(patron, creator_token, fake_patreon, caplog):
    fake_patreon.set_fault("member", "unauthorized")
    memberships.mark_changed("1001", timezone.now())
    tasks.reread_member(patreon_id="1001")
    assert any(
        r.levelname == "ERROR" and "Patreon refused" in r.getMessage()
        for r in caplog.records
    )


def test_the_schedule():
    """The safety nets' times (the suite's own workers run none of them)."""
    schedule = {
        periodic.task.name: periodic.cron
        for periodic in app.periodic_registry.periodic_tasks.values()
    }
    assert schedule == {
        "patreon.sync_pending": "*/5 * * * *",
        "patreon.full_sync": "0 */6 * * *",
        "patreon.purge_deliveries": "17 3 * * *",
        "procrastinate.retry_stalled_jobs": "*/5 * * * *",
    }


def test_sync_pending_queues_each_unread_change(patron, fake_patreon):
    memberships.mark_changed("1001", timezone.now())
    tasks.sync_pending(timestamp=0)
    assert [job.args for job in jobs(status="todo")] == [{"patreon_id": "1001"}]


def test_the_periodic_full_sync_never_fails_its_job(creator_token, fake_patreon):
    from accounts.models import SyncRun

    now = timezone.now()
    SyncRun.objects.create(started_at=now, heartbeat_at=now)
    tasks.full_sync(timestamp=0)  # another is running: skipped
    SyncRun.objects.all().delete()
    fake_patreon.set_fault("members", "server_error")
    with pytest.raises(PatreonUnavailable):  # retried by the queue
        tasks.full_sync(timestamp=0)
    fake_patreon.clear_faults()
    tasks.full_sync(timestamp=0)
    assert SyncRun.objects.filter(outcome="complete").count() == 1


def test_old_webhook_deliveries_are_forgotten():
    from datetime import timedelta

    from accounts.models import WebhookDelivery

    now = timezone.now()
    for key, age in (("a", 31), ("b", 29)):
        WebhookDelivery.objects.create(
            key=key * 64,
            event="members:update",
            received_at=now - timedelta(days=age),
            outcome="marked",
        )
    tasks.purge_deliveries(timestamp=0)
    assert list(WebhookDelivery.objects.values_list("key", flat=True)) == ["b" * 64]


def test_readyz_reports_a_silent_worker_and_none_without_a_queue(settings):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO procrastinate_workers (last_heartbeat)"
            " VALUES (now() - interval '2 minutes')"
        )
    assert health.worker().startswith("silent since ")
    settings.TASK_QUEUE = False
    assert health.worker() == "not configured"
