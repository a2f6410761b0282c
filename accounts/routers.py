"""Where the task queue's tables may be created."""

from django.conf import settings


class TaskQueueRouter:
    """
    procrastinate's migrations are SQL for PostgreSQL: they run only where
    the task queue is on (settings.TASK_QUEUE); elsewhere nothing changes.
    """

    def allow_migrate(self, db, app_label, **hints):
        if app_label == "procrastinate" and not settings.TASK_QUEUE:
            return False
        return None
