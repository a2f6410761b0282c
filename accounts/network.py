"""Who is on the other end of a request, behind the proxies we trust."""

import ipaddress

from django.conf import settings


def _trusted(address, networks):
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(request):
    """
    The client's IP address.

    ``X-Forwarded-For`` is believed only when the peer is one of
    TRUSTED_PROXIES, and read from the right, skipping our own proxies: the
    left part is whatever the client chose to send.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    networks = [ipaddress.ip_network(p, strict=False) for p in settings.TRUSTED_PROXIES]
    if not _trusted(remote, networks):
        return remote or None
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    for hop in reversed([h.strip() for h in hops if h.strip()]):
        if not _trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote
    return remote
