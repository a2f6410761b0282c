"""What can go wrong calling Patreon as the creator, and how long to wait."""

# Patreon's 429 without Retry-After or retry_after_seconds: wait this long.
DEFAULT_RETRY_AFTER = 60.0
# Nobody waits longer than this on Patreon's word (a bogus header).
MAX_RETRY_AFTER = 3600.0


class CredentialMissing(Exception):
    """No creator token is stored (manage.py patreon creator-token set)."""


class CredentialInvalid(Exception):
    """Patreon refused the creator's grant: an operator must store a new one."""


class PatreonUnavailable(Exception):
    """A 5xx, a timeout, or an answer we cannot read: try again later."""


class Throttled(PatreonUnavailable):
    """Patreon answered 429: every caller waits ``seconds``."""

    def __init__(self, seconds):
        super().__init__(f"throttled for {seconds:.0f} s")
        self.seconds = seconds


class Refused(Exception):
    """
    A 403, or a 401 that a fresh token does not cure: a missing scope, a
    campaign that is not the creator's, or a User-Agent Patreon drops.
    Retrying cannot help; an operator must look.
    """


def _seconds(value):
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if 0 <= seconds <= MAX_RETRY_AFTER else None


def retry_after(response):
    """
    How long a 429 asks us to wait: its Retry-After header (seconds), else
    the body's ``retry_after_seconds``, else DEFAULT_RETRY_AFTER.
    """
    seconds = _seconds(response.headers.get("Retry-After"))
    if seconds is not None:
        return seconds
    try:
        errors = response.json().get("errors")
        seconds = _seconds(errors[0].get("retry_after_seconds"))
    except (ValueError, AttributeError, TypeError, IndexError, KeyError):
        seconds = None
    return DEFAULT_RETRY_AFTER if seconds is None else seconds
