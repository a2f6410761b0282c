"""
The admin site: Django's, with its password login limited.

Staff log in with Patreon; the password form serves the emergency
superuser only, and is exactly what a password guesser aims at. It gets the
Patreon login's limit per client IP and a limit per username
(``accounts.ratelimit.password_login_wait``). Installed as the default
site by ``accounts.apps.AdminConfig``, so ``admin.site`` is this one.
"""

import math

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from accounts import ratelimit

LOCKED_OUT = "locked_out"


class LimitedAuthenticationForm(AdminAuthenticationForm):
    """The admin's login form, refusing before it checks any password."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        # The same words for every refusal: whether the username exists, or
        # which limit was reached, is nobody's business.
        LOCKED_OUT: "Too many login attempts. Please wait %(minutes)s "
        "minute(s) and try again.",
    }

    def clean(self):
        self.retry_after = ratelimit.password_login_wait(
            self.request, self.cleaned_data.get("username")
        )
        if self.retry_after is not None:
            raise ValidationError(
                self.error_messages[LOCKED_OUT],
                code=LOCKED_OUT,
                params={"minutes": math.ceil(self.retry_after / 60)},
            )
        return super().clean()


class AdminSite(admin.AdminSite):
    login_form = LimitedAuthenticationForm

    def login(self, request, extra_context=None):
        """The login page; a refused attempt answers 429 with Retry-After."""
        response = super().login(request, extra_context)
        form = (getattr(response, "context_data", None) or {}).get("form")
        if form is not None and form.has_error(NON_FIELD_ERRORS, LOCKED_OUT):
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after)
        return response
