from django.core.management.base import BaseCommand

from sessions.models import Session
from sessions.store import SessionStore

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Delete expired sessions in bounded batches (each its own short "
        "transaction); shows a progress bar when run in a terminal."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, batch_size, **options):
        progress = None
        if self.stdout.isatty():
            # Sessions expiring while this runs are deleted too: cap at 100%.
            total = Session.objects.expired().count()

            def progress(deleted):
                share = min(deleted / total, 1) if total else 1
                filled = round(share * BAR_WIDTH)
                bar = "#" * filled + "-" * (BAR_WIDTH - filled)
                self.stdout.write(
                    f"\r[{bar}] {share:4.0%} {deleted}/{total}", ending=""
                )
                self.stdout.flush()

        deleted = SessionStore.clear_expired(batch_size=batch_size, progress=progress)
        if progress:
            self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Deleted {deleted} expired session(s)."))
