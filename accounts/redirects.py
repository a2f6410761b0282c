"""Where people may be sent after logging in: no open redirects."""

from urllib.parse import urlsplit

from django.conf import settings
from django.utils.http import url_has_allowed_host_and_scheme


def _origin(url):
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def is_allowed_next(url):
    """
    Whether ``url`` is a safe post-login destination: a path on this API, or
    a URL on exactly one of FRONTEND_ORIGINS (scheme, host and port all
    equal; a sibling subdomain that is not listed does not count).
    """
    if not url or not isinstance(url, str):
        return False
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        # Browsers strip tabs and newlines from URLs, so "/\t/evil" can land
        # elsewhere than it reads; a real destination never needs them.
        return False
    if url.startswith("/"):
        # Django's check refuses "//evil", "/\\evil" and schemes hidden
        # behind them.
        return url_has_allowed_host_and_scheme(url, allowed_hosts=None)
    try:
        origin = _origin(url)
    except ValueError:  # "https://[", NFKC tricks: not a URL we would send to
        return False
    allowed = {o.lower().rstrip("/") for o in settings.FRONTEND_ORIGINS}
    return origin in allowed and url_has_allowed_host_and_scheme(
        url,
        allowed_hosts={urlsplit(url).netloc},
        require_https=origin.startswith("https://"),
    )


def default_next():
    """Where people land when no (valid) ``next`` was given."""
    return settings.LOGIN_REDIRECT_URL
