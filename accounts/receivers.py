"""Signal receivers, connected in AccountsConfig.ready()."""

from allauth.account.models import EmailAddress
from django.utils import timezone

from accounts import events
from accounts.models import PatreonMembership


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
        membership = data.get("membership", {})
        user.patreon, _ = PatreonMembership.objects.update_or_create(
            user=user,
            defaults={
                "patreon_id": sociallogin.account.uid,
                "campaign_id": membership.get("campaign_id", ""),
                "patron_status": membership.get("patron_status", ""),
                "entitled_amount_cents": membership.get("entitled_amount_cents", 0),
                "tiers": membership.get("tiers", []),
                "checked_at": timezone.now(),
            },
        )
    events.emit(events.LOGIN_SUCCEEDED, request, user=user)


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
