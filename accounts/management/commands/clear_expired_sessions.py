import sys

from django.core.management.base import BaseCommand

from accounts.session_store import SessionStore


class Command(BaseCommand):
    help = (
        "Delete expired sessions in bounded batches (each its own short "
        "transaction); shows progress when run in a terminal."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, batch_size, **options):
        progress = None
        if sys.stdout.isatty():

            def progress(deleted):
                self.stdout.write(f"\rDeleted {deleted} expired session(s)…", ending="")
                self.stdout.flush()

        deleted = SessionStore.clear_expired(batch_size=batch_size, progress=progress)
        if progress:
            self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Deleted {deleted} expired session(s)."))
