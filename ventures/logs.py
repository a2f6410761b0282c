"""
Logging: JSON lines on stdout, each carrying the request's id.

nginx names each request (``X-Request-ID: $request_id``); the id is kept for
the request's whole life, added to every log record and echoed back in the
response, so one line in a user's bug report finds all the others.
"""

import hashlib
import json
import logging
import re
import time
import uuid
from contextvars import ContextVar

from django.conf import settings
from django.db import connection
from django.utils.log import log_response

REQUEST_ID_HEADER = "X-Request-ID"
# Accept a proxy's id only if it looks like one: it ends up in every log line.
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")

request_id = ContextVar("request_id", default=None)

# LogRecord attributes that are not extra fields.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class RequestIdFilter(logging.Filter):
    """Stamp each record with the id of the request it was logged in."""

    def filter(self, record):
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, extra fields."""

    converter = time.gmtime

    def format(self, record):
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S")
            + f".{record.msecs:03.0f}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            (k, v)
            for k, v in record.__dict__.items()
            if k not in _STANDARD and k != "request"
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class RequestIdMiddleware:
    """Name the request (from the proxy or anew) for its logs and its response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        rid = incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        try:
            response = self.get_response(request)
            # Django logs a 4xx once every middleware has returned, when the
            # id is gone: log it here instead (log_response marks it logged).
            if response.status_code >= 400:
                log_response(
                    "%s: %s",
                    response.reason_phrase,
                    request.path,
                    response=response,
                    request=request,
                )
        finally:
            request_id.reset(token)
        response[REQUEST_ID_HEADER] = rid
        return response


def secret_fingerprint(secret):
    """A short, one-way name for a secret, to tell two deployments' keys apart."""
    digest = hashlib.sha256(b"ventures.fingerprint:" + secret.encode()).hexdigest()
    return digest[:12]


def log_effective_policy():
    """
    One line at startup stating the policy in force, the line the old app's
    write-up told operators to look for ("Session Configuration"), now read
    from the settings actually loaded rather than printed by hand.
    """
    logging.getLogger("ventures.policy").info(
        "Session configuration",
        extra={
            "event": "effective_policy",
            "mode": "development" if settings.DEBUG else "production",
            "session_cookie_name": settings.SESSION_COOKIE_NAME,
            "session_cookie_domain": settings.SESSION_COOKIE_DOMAIN or "(host-only)",
            "session_cookie_samesite": settings.SESSION_COOKIE_SAMESITE,
            "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
            "session_cookie_httponly": settings.SESSION_COOKIE_HTTPONLY,
            "allowed_origins": settings.CORS_ALLOWED_ORIGINS,
            "allowed_hosts": settings.ALLOWED_HOSTS,
            "session_engine": settings.SESSION_ENGINE,
            "database_vendor": connection.vendor,
            "cache": "redis" if settings.REDIS_URL else "local memory",
            "secret_key_fingerprint": secret_fingerprint(settings.SECRET_KEY),
            "secret_key_fallbacks": len(settings.SECRET_KEY_FALLBACKS),
        },
    )
