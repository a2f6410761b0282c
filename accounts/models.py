from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person, known to us through their Patreon account."""

    name = models.CharField(max_length=255, blank=True)
    avatar_url = models.URLField(max_length=1000, blank=True)
    # Whether Patreon verified ``email``, copied from allauth's EmailAddress
    # rows at each Patreon login so /api/auth/me reads it without a query.
    # A database default too: rows written by SQL (bench/) start unverified.
    email_verified = models.BooleanField(default=False, db_default=False)


class PatreonMembership(models.Model):
    """
    What Patreon's identity call said about a user and our campaign at their
    last login: one row per user, replaced on each login.
    """

    user = models.OneToOneField(
        User, primary_key=True, on_delete=models.CASCADE, related_name="patreon"
    )
    patreon_id = models.CharField("Patreon id", max_length=64, unique=True)
    campaign_id = models.CharField(max_length=64, blank=True)
    # "active_patron", "former_patron", "declined_patron", or "" when the
    # user has never pledged to our campaign.
    patron_status = models.CharField(max_length=32, blank=True)
    entitled_amount_cents = models.PositiveIntegerField(default=0)
    tiers = models.JSONField(default=list)  # [{"id", "title", "amount_cents"}]
    checked_at = models.DateTimeField()
    # When a webhook last said this membership changed (a stand-in for the
    # members branch's field: accounts.patreon.memberships.mark_changed).
    changed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Patreon {self.patreon_id}"


class WebhookDelivery(models.Model):
    """
    One verified webhook from Patreon, recorded once (``key``), with the ids it
    named and what we did with it. Never its body or signature: a webhook is a
    signal that a membership changed, and the state is re-read from Patreon.
    """

    # SHA-256 (hex) of the event name and the raw body: Patreon documents no
    # delivery id, and a retried delivery is byte for byte the same.
    key = models.CharField(max_length=64, unique=True)
    event = models.CharField(max_length=64)
    received_at = models.DateTimeField(db_index=True)
    patreon_id = models.CharField("Patreon id", max_length=64, blank=True)
    member_id = models.CharField(max_length=64, blank=True)
    campaign_id = models.CharField(max_length=64, blank=True)
    # "marked", or "ignored:<reason>" (accounts.patreon.webhooks).
    outcome = models.CharField(max_length=64)

    class Meta:
        verbose_name_plural = "webhook deliveries"

    def __str__(self):
        return f"{self.event} at {self.received_at:%Y-%m-%d %H:%M:%S}"
