from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from sessions.models import Session


class Command(BaseCommand):
    help = "Revoke the sessions of one user (by username or Patreon id), or everyone's."

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--user", help="username")
        who.add_argument("--patreon-id", help="Patreon user id")
        who.add_argument("--all", action="store_true", help="log everyone out")
        parser.add_argument(
            "--dry-run", action="store_true", help="count, revoke nothing"
        )

    def handle(self, *args, **options):
        if options["all"]:
            sessions, who, scope = Session.objects.all(), "everyone", "everyone"
        else:
            lookup = (
                {"username": options["user"]}
                if options["user"]
                else {"patreon__patreon_id": options["patreon_id"]}
            )
            try:
                user = get_user_model()._default_manager.get(**lookup)
            except get_user_model().DoesNotExist:
                raise CommandError(f"No user matches {lookup}.") from None
            sessions, who, scope = Session.objects.filter(user=user), user, "users"
        if options["dry_run"]:
            self.stdout.write(f"Would revoke {sessions.count()} session(s) of {who}.")
            return
        count = sessions.revoke(by="manage.py", scope=scope)
        self.stdout.write(self.style.SUCCESS(f"Revoked {count} session(s) of {who}."))
