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


def client_ip(request):
    """The client's IP address, behind the proxies in TRUSTED_PROXIES."""
    return client_address(
        request.META.get("REMOTE_ADDR", ""),
        request.META.get("HTTP_X_FORWARDED_FOR", ""),
        settings.TRUSTED_PROXIES,
    )
