"""Signal receivers, connected in AccountsConfig.ready()."""

import logging

from allauth.account.models import EmailAddress

from accounts.models import PatreonMembership
from accounts.patreon import memberships
from ventures import events


def record_login(sender, request, user, sociallogin=None, **kwargs):
    """After a Patreon login: refresh the profile and membership snapshot."""
    if sociallogin is not None and sociallogin.account.provider == "patreon":
        data = sociallogin.account.extra_data
        attributes = data.get("attributes", {})
        user.name = attributes.get("full_name") or user.name
        user.avatar_url = (
            attributes.get("thumb_url") or attributes.get("image_url") or ""
        )
        user.save(update_fields=["name", "avatar_url"])
        # A snapshot of this Patreon id left on another user by allauth's old
        # connect and disconnect pages is stale: the social account decides.
        PatreonMembership.objects.filter(patreon_id=sociallogin.account.uid).exclude(
            user=user
        ).delete()
        if "membership" in data:
            snapshot, read_started_at = memberships.from_extra_data(data["membership"])
            memberships.apply(
                sociallogin.account.uid,
                snapshot,
                read_started_at=read_started_at,
                source=PatreonMembership.Source.LOGIN,
                user=user,
            )
        # The row as it now stands, newer read or not, for the rest of the login.
        user.patreon = PatreonMembership.objects.filter(user=user).first()


def record_login_succeeded(sender, request, user, **kwargs):
    """Every login, by Patreon or by password: one login_succeeded event."""
    # The Patreon account's uid is the Patreon id; a first login's
    # membership row is only written afterwards, by record_login.
    patreon_id = (
        user.socialaccount_set.filter(provider="patreon")
        .values_list("uid", flat=True)
        .first()
    )
    events.emit(events.LOGIN_SUCCEEDED, request, user=user, patreon_id=patreon_id)


def record_login_failed(sender, credentials, request=None, **kwargs):
    """
    A password login refused by every backend: one login_failed event.

    Django has already masked the password; the username is logged only as
    a digest, because people type their password into it too.
    """
    username = credentials.get("username") or ""
    events.emit(
        events.LOGIN_FAILED,
        request,
        level=logging.WARNING,
        reason="invalid_credentials",
        username_digest=events.username_digest(username) if username else None,
    )


def start_session_life(sender, request, user, **kwargs):
    """Every login, by Patreon or by password, restarts the session's clocks."""
    request.session.start_login(user)


def record_logout(sender, request, user, **kwargs):
    events.emit(events.LOGGED_OUT, request, user=user)


def record_email_verification(sender, request, user, sociallogin=None, **kwargs):
    """
    After a Patreon login: keep what Patreon now says about the user's email
    (allauth writes its EmailAddress rows only at signup), and copy it onto
    the user, where /api/auth/me reads it with the session at no extra query.
    """
    if sociallogin is None or sociallogin.account.provider != "patreon":
        return
    addresses = EmailAddress.objects.filter(user=user, email__iexact=user.email)
    for said in sociallogin.email_addresses:
        if user.email and said.email.lower() == user.email.lower():
            addresses.exclude(verified=said.verified).update(verified=said.verified)
    verified = bool(user.email) and addresses.filter(verified=True).exists()
    if verified != user.email_verified:
        user.email_verified = verified
        user.save(update_fields=["email_verified"])
