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

    def __str__(self):
        return f"Patreon {self.patreon_id}"
