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
    What Patreon last said about a user and our campaign: one row per user,
    overwritten only by a newer read (accounts.patreon.memberships.apply).
    """

    class Source(models.TextChoices):
        LOGIN = "login", "login"
        WEBHOOK = "webhook", "webhook re-read"
        SYNC = "sync", "full sync"

    user = models.OneToOneField(
        User, primary_key=True, on_delete=models.CASCADE, related_name="patreon"
    )
    patreon_id = models.CharField("Patreon id", max_length=64, unique=True)
    campaign_id = models.CharField(max_length=64, blank=True)
    # Patreon's member resource id (a UUID), "" when not a member.
    # Database defaults on the new columns: rows written by SQL (bench/)
    # name only the columns they know.
    member_id = models.CharField(max_length=64, blank=True, db_default="")
    # "active_patron", "former_patron", "declined_patron", or "" when the
    # user has never pledged to our campaign.
    patron_status = models.CharField(max_length=32, blank=True)
    entitled_amount_cents = models.PositiveIntegerField(default=0)
    tiers = models.JSONField(default=list)  # [{"id", "title", "amount_cents"}]
    # The tiers of the last read that listed any, kept while the patron is
    # declined: Patreon stops listing the tiers of a declined charge's
    # period, and the decline grace (accounts.entitlements) needs what was
    # paid for. Emptied when they end any other way.
    paid_tiers = models.JSONField(default=list)
    # "Paid", "Declined", "Refunded", ... as Patreon words it (statuses it
    # adds later are kept, cut to the column), "" if never charged.
    last_charge_status = models.CharField(max_length=32, blank=True, db_default="")
    last_charge_date = models.DateTimeField(null=True, blank=True)
    next_charge_date = models.DateTimeField(null=True, blank=True)
    pledge_relationship_start = models.DateTimeField(null=True, blank=True)
    will_pay_amount_cents = models.PositiveIntegerField(default=0, db_default=0)
    is_free_trial = models.BooleanField(default=False, db_default=False)
    is_gifted = models.BooleanField(default=False, db_default=False)
    # When the read that wrote this row started: a read that started
    # earlier never overwrites it.
    synced_at = models.DateTimeField()
    source = models.CharField(
        max_length=16, choices=Source, default=Source.LOGIN, db_default=Source.LOGIN
    )
    # When a webhook announced a change that no read started since has seen.
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The changes waiting for a read, a few rows of many: what the
            # worker and `sync --pending` look for (accounts.patreon.sync).
            models.Index(
                fields=["changed_at"],
                condition=models.Q(changed_at__isnull=False),
                name="membership_changed",
            )
        ]

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


class CreatorCredential(models.Model):
    """
    The campaign creator's OAuth token pair, the one Patreon token we keep:
    it reads members for the webhook re-reads and the full sync
    (accounts.patreon.creator). One row; the tokens sealed with
    PATREON_TOKEN_KEYS, never shown.
    """

    class State(models.TextChoices):
        VALID = "valid", "valid"
        # Patreon refused the refresh token (invalid_grant): an operator must
        # store a new one (manage.py patreon creator-token set).
        NEEDS_REAUTH = "needs_reauth", "needs re-authorisation"

    access_token = models.TextField()  # sealed
    refresh_token = models.TextField()  # sealed
    expires_at = models.DateTimeField()
    # How long the last token Patreon issued lived: refreshed at half of it.
    lifetime_seconds = models.PositiveIntegerField()
    refreshed_at = models.DateTimeField()
    # When we last called the token endpoint, whatever it answered: at most
    # once per creator.REFRESH_AT_MOST_EVERY.
    token_call_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State, default=State.VALID)
    # The last refusal's reason, e.g. "invalid_grant" (never a token).
    error = models.CharField(max_length=200, blank=True)
    # Patreon said 429: no call until then, by any worker.
    throttled_until = models.DateTimeField(null=True, blank=True)
    # The creator's Patreon user id: their own login through our client
    # makes Patreon issue a new pair and drop this one.
    patreon_id = models.CharField("Patreon id", max_length=64, blank=True)

    def __str__(self):
        return f"creator credential ({self.state})"


class SyncRun(models.Model):
    """One full sync of the campaign's members (accounts.patreon.sync)."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "running"
        COMPLETE = "complete", "complete"
        ABORTED = "aborted", "aborted"

    started_at = models.DateTimeField(db_index=True)
    # Written after every page: a running sync silent for long has died.
    heartbeat_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome, default=Outcome.RUNNING)
    # Why it aborted, or why nobody was marked gone (never a token).
    detail = models.CharField(max_length=300, blank=True)
    pages = models.PositiveIntegerField(default=0)
    members_seen = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    marked_gone = models.PositiveIntegerField(default=0)
    # A complete walk that marked the unlisted: its count is the baseline the
    # next runs are held to (a run that saw too few is not one).
    baseline = models.BooleanField(default=False)

    class Meta:
        constraints = [
            # One full sync at a time, across every instance.
            models.UniqueConstraint(
                fields=["outcome"],
                condition=models.Q(outcome="running"),
                name="one_running_sync",
            )
        ]

    def __str__(self):
        return f"sync at {self.started_at:%Y-%m-%d %H:%M:%S} ({self.outcome})"
