import json
import sys
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.patreon import client, creator, sealing, sync
from accounts.patreon.errors import (
    CredentialInvalid,
    CredentialMissing,
    PatreonUnavailable,
    Refused,
    Throttled,
)

# sync --pending: tries per patron, waiting as long as a 429 asks, or 1, 2,
# 4... s after a 5xx or a timeout.
PENDING_TRIES = 5


class Command(BaseCommand):
    help = (
        "The creator's Patreon credential (creator-token set | status | reseal) "
        "and membership syncs (sync --pending | --full)."
    )

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="command", required=True)
        token = commands.add_parser(
            "creator-token", help="Store, show or reseal the creator's token."
        )
        token.add_argument("action", choices=["set", "status", "reseal"])
        run = commands.add_parser("sync", help="Re-read memberships from Patreon.")
        which = run.add_mutually_exclusive_group(required=True)
        which.add_argument(
            "--pending",
            action="store_true",
            help="Re-read every membership a webhook announced changed.",
        )
        which.add_argument(
            "--full",
            action="store_true",
            help="Walk every member of the campaign.",
        )

    def handle(self, *args, command, **options):
        try:
            if command == "creator-token":
                getattr(self, f"token_{options['action']}")()
            elif options["pending"]:
                self.sync_pending()
            else:
                self.sync_full()
        except CredentialMissing as e:
            raise CommandError(
                "No creator token is stored: run `manage.py patreon "
                'creator-token set` (README, "The creator\'s token").'
            ) from e
        except CredentialInvalid as e:
            raise CommandError(
                f"Patreon refused the creator's grant ({e}): store a new token "
                "with `manage.py patreon creator-token set`."
            ) from e
        except (Refused, sealing.SealError, sync.SyncAborted, sync.SyncRunning) as e:
            raise CommandError(str(e)) from e

    # creator-token
    # --------------------------------------------------------------------------

    def token_set(self):
        """Read the token endpoint's JSON answer on stdin, check it, store it."""
        if sys.stdin.isatty():
            self.stderr.write(
                "Paste the token endpoint's JSON answer (access_token, "
                "refresh_token, expires_in), then Ctrl-D:"
            )
        try:
            answer = creator.TokenAnswer.from_json(json.loads(sys.stdin.read()))
        except ValueError as e:  # JSONDecodeError too
            raise CommandError(f"Not a token answer: {e}.") from None
        try:
            creator_id = client.creator_of_campaign(answer.access_token)
        except (PatreonUnavailable, Refused) as e:
            raise CommandError(
                f"Patreon did not accept the token for our campaign: {e}. "
                "Nothing was stored."
            ) from None
        creator.store(answer, patreon_id=creator_id or "")
        self.stdout.write("Stored the creator's token.")
        self.token_status()

    def token_status(self):
        """The credential's state and expiry, never a token."""
        credential = creator.status()
        if credential is None:
            self.stdout.write("state: missing (manage.py patreon creator-token set)")
            return
        lines = {
            "state": credential.state,
            "creator": credential.patreon_id or "unknown",
            "expires_at": credential.expires_at.isoformat(),
            "refreshed_at": credential.refreshed_at.isoformat(),
        }
        if credential.throttled_until:
            lines["throttled_until"] = credential.throttled_until.isoformat()
        if credential.error:
            lines["error"] = credential.error
        for name, value in lines.items():
            self.stdout.write(f"{name}: {value}")

    def token_reseal(self):
        """Seal the stored tokens under the first key of PATREON_TOKEN_KEYS."""
        with transaction.atomic():
            credential = creator.locked()
            if credential is None:
                raise CredentialMissing
            credential.access_token = sealing.reseal(credential.access_token)
            credential.refresh_token = sealing.reseal(credential.refresh_token)
            credential.save(update_fields=["access_token", "refresh_token"])
        self.stdout.write("Resealed the creator's token under the first key.")

    # sync
    # --------------------------------------------------------------------------

    def sync_pending(self):
        """Re-read every membership announced changed, then exit."""
        patreon_ids = sync.pending()
        outcomes = {}
        for patreon_id in patreon_ids:
            outcome = self._reread(patreon_id)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        summary = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
        self.stdout.write(
            f"Re-read {len(patreon_ids)} memberships ({summary or 'none'})."
        )

    def _reread(self, patreon_id):
        """``patreon_id`` re-read, waiting out 429s and 5xx: its outcome."""
        attempt = 0
        while True:
            try:
                return sync.reread(patreon_id)
            except PatreonUnavailable as e:
                attempt += 1
                if attempt == PENDING_TRIES:
                    self.stderr.write(f"Patron {patreon_id} not re-read: {e}.")
                    return "failed"
                if isinstance(e, Throttled):
                    # Every worker waits as long: the wait is on the credential.
                    self.stderr.write(
                        f"Throttled by Patreon: waiting {e.seconds:.0f} s."
                    )
                    time.sleep(e.seconds)
                else:
                    time.sleep(2 ** (attempt - 1))

    def sync_full(self):
        """Walk the campaign's members, with a progress bar on a terminal."""
        progress = _ProgressBar(self.stdout) if self.stdout.isatty() else None
        run = sync.full_sync(progress=progress)
        if progress:
            progress.done()
        self.stdout.write(
            f"Full sync complete: {run.pages} pages, {run.members_seen} members, "
            f"{run.updated} updated, {run.marked_gone} no longer members."
            + (f" {run.detail}." if run.detail else "")
        )


class _ProgressBar:
    """One line, redrawn after each page: pages, members, and a bar."""

    WIDTH = 30

    def __init__(self, out):
        self.out = out

    def __call__(self, run, total):
        share = min(run.members_seen / total, 1) if total else 0
        filled = int(share * self.WIDTH)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.out.write(
            f"\r[{bar}] {run.members_seen}/{total or '?'} members, page {run.pages}",
            ending="",
        )
        self.out.flush()

    def done(self):
        self.out.write("")
