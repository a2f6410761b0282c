"""Who is on the other end of a request, behind the proxies we trust."""

import ipaddress

from django.conf import settings


def _trusted(address, networks):
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(peer, forwarded_for, trusted_proxies):
    """
    The client's IP address, given the connection's ``peer``, the
    ``X-Forwarded-For`` header and the trusted proxies' addresses (or CIDRs).

    The header is believed only when the peer is a trusted proxy, and read
    from the right, skipping our own proxies: the left part is whatever the
    client chose to send. gunicorn's access log uses this too.
    """
    networks = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
    if not _trusted(peer, networks):
        return peer or None
    hops = forwarded_for.split(",")
    for hop in reversed([h.strip() for h in hops if h.strip()]):
        if not _trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer


def in_networks(address, addresses):
    """Whether ``address`` is one of ``addresses`` (addresses or CIDRs)."""
    networks = [ipaddress.ip_network(a, strict=False) for a in addresses]
    return _trusted(address, networks)


def is_trusted_proxy(peer, trusted_proxies):
    """Whether the connection's ``peer`` is one of the trusted proxies (or CIDRs)."""
    return in_networks(peer, trusted_proxies)


def client_ip(request):
    """The client's IP address, behind the proxies in TRUSTED_PROXIES."""
    return client_address(
        request.META.get("REMOTE_ADDR", ""),
        request.META.get("HTTP_X_FORWARDED_FOR", ""),
        settings.TRUSTED_PROXIES,
    )


class TrustedProxyMiddleware:
    """
    X-Forwarded-Proto from trusted proxies only, by the peer check of
    ``client_address``.

    Django's SECURE_PROXY_SSL_HEADER believes the header from whoever sends
    it; this drops it unless the peer is in TRUSTED_PROXIES, before anything
    reads the scheme. It comes first in MIDDLEWARE, so the HTTPS redirect,
    HSTS, secure cookies and CSRF's origin check all see the real scheme,
    under gunicorn and runserver alike.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "HTTP_X_FORWARDED_PROTO" in request.META and not is_trusted_proxy(
            request.META.get("REMOTE_ADDR", ""), settings.TRUSTED_PROXIES
        ):
            del request.META["HTTP_X_FORWARDED_PROTO"]
        return self.get_response(request)
