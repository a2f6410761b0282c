"""Pages people see in the browser."""

from django.conf import settings
from django.shortcuts import redirect, render

from accounts import redirects


def home(request):
    """
    ``/``, the address runserver prints: the frontend once one is configured
    (FRONTEND_ORIGINS, always in production), else the login page.
    """
    if settings.FRONTEND_ORIGINS:
        return redirect(settings.FRONTEND_ORIGINS[0].rstrip("/") + "/")
    return redirect("login")


def login_page(request):
    """
    The "Log in with Patreon" page the frontend sends people to.

    Its button POSTs (with a CSRF token) to start the OAuth flow: a GET could
    be triggered by any site and log people in as someone else.
    """
    next_url = request.GET.get("next", "")
    if not redirects.is_allowed_next(next_url):
        next_url = ""
    return render(
        request,
        "accounts/login.html",
        {"next": next_url, "user": request.user},
    )
