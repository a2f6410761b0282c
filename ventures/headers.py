"""
Security headers Django's SecurityMiddleware does not set.

A Content-Security-Policy chosen by what the response is: JSON may load and
run nothing at all; pages get a nonce for the scripts they mean to run and
may only send forms to us and to Patreon. Every response also refuses to be
framed or read cross-origin by no-cors embeds.
"""

import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.functional import SimpleLazyObject

JSON_POLICY = (
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def page_policy(nonce):
    """The policy for HTML pages, with this response's script nonce."""
    patreon = urlsplit(settings.PATREON_BASE_URL)
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self'",
            "img-src 'self' data: https:",
            "font-src 'self'",
            "connect-src 'self'",
            # A form's redirect counts too: the login button ends at Patreon.
            f"form-action 'self' {patreon.scheme}://{patreon.netloc}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        ]
    )


class SecurityHeadersMiddleware:
    """Content-Security-Policy per response type, and Cross-Origin-Resource-Policy."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Templates use {{ request.csp_nonce }}; most pages never ask for one.
        request.csp_nonce = SimpleLazyObject(lambda: secrets.token_urlsafe(16))
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            content_type = response.get("Content-Type", "")
            if content_type.startswith("text/html"):
                response["Content-Security-Policy"] = page_policy(request.csp_nonce)
            else:
                response["Content-Security-Policy"] = JSON_POLICY
        response.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        return response
