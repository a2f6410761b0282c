from importlib import import_module

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models

USER_AGENT_MAX_LENGTH = 255
PUBLIC_ID_LENGTH = 20


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


class Session(AbstractBaseSession):
    """
    A login session: Django's session row, plus who owns it and what staff
    need to recognise it.

    ``session_key`` holds a keyed hash of the cookie's key, never the key
    itself, so a database dump, a log line or an admin URL hands nobody a
    live session (see ``accounts.session_store``).
    """

    session_key = models.CharField("key hash", max_length=64, primary_key=True)
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="sessions"
    )
    created_at = models.DateTimeField(db_index=True)
    last_seen = models.DateTimeField()
    ip = models.GenericIPAddressField("IP address", null=True, blank=True)
    user_agent = models.CharField(max_length=USER_AGENT_MAX_LENGTH, blank=True)

    class Meta(AbstractBaseSession.Meta):
        indexes = [models.Index(fields=["user", "-created_at"])]

    @classmethod
    def get_session_store_class(cls):
        # Found through the setting, as Django's SessionMiddleware does: the
        # store imports this model, so an import back would be a cycle.
        return import_module(settings.SESSION_ENGINE).SessionStore

    @property
    def public_id(self):
        """An opaque id to show the owner: a prefix of the (already useless) hash."""
        return self.session_key[:PUBLIC_ID_LENGTH]
