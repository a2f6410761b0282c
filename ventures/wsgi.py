"""WSGI entry point for gunicorn; refuses to serve a broken production policy."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ventures.settings")

application = get_wsgi_application()

from ventures.checks import refuse_to_serve_unsafely  # noqa: E402 (needs apps loaded)
from ventures.logs import log_effective_policy  # noqa: E402

refuse_to_serve_unsafely()
log_effective_policy()
