"""
Where a cookie goes: its name's prefix, the site a host belongs to, and the
hosts a ``Domain`` attribute reaches, by the Public Suffix List.

``ventures.settings`` names the cookies with :func:`cookie_name`;
``ventures.checks`` judges SameSite and SESSION_COOKIE_DOMAIN with the rest.
"""

import ipaddress
from functools import cache

from publicsuffixlist import PublicSuffixList


@cache
def _psl():
    return PublicSuffixList()


def is_ip_address(host):
    """Whether ``host`` is an IPv4 or IPv6 address (brackets allowed)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def registrable_domain(host):
    """
    The site a host belongs to: its registrable domain ("eTLD+1") by the Public
    Suffix List, or the host itself for IP addresses and bare suffixes.
    """
    host = host.lower().rstrip(".")
    if is_ip_address(host):
        return host
    return _psl().privatesuffix(host) or host


def is_public_suffix(domain):
    """True for domains under which anyone can register: ``app``, ``co.uk``."""
    domain = domain.lower().strip(".")
    return _psl().is_public(domain) or _psl().privatesuffix(domain) is None


def same_site(host_a, host_b):
    """Whether two hosts are the same site in the SameSite-cookie sense."""
    return registrable_domain(host_a) == registrable_domain(host_b)


def domain_covers(domain, host):
    """Whether a cookie set with ``Domain=domain`` is sent to ``host``."""
    domain = domain.lower().strip(".")
    host = host.lower().rstrip(".")
    return host == domain or host.endswith("." + domain)


def cookie_name(base, *, secure, domain):
    """
    Name a cookie with the strongest prefix its attributes allow.

    ``__Host-`` (Secure, no Domain, Path=/) cannot be overwritten from a sibling
    subdomain; ``__Secure-`` at least proves it was set over HTTPS. Browsers
    reject prefixed cookies without Secure, so development over plain HTTP
    gets the bare name.
    """
    if not secure:
        return base
    return f"__Secure-{base}" if domain else f"__Host-{base}"
