"""
Django's name for ``clear_expired_sessions``: its documentation and the cron
recipes built on it call ``manage.py clearsessions``, which would otherwise be
missing, django.contrib.sessions being replaced by this app.
"""

from sessions.management.commands.clear_expired_sessions import Command

__all__ = ["Command"]
