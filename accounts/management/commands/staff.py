from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError

from accounts import revocation
from accounts.models import User

STAFF_GROUP = "Staff"
# What staff need to inspect and revoke sessions and look after users.
STAFF_PERMISSIONS = [
    "view_session",
    "delete_session",
    "view_user",
    "change_user",
    "view_patreonmembership",
]


def staff_group():
    """The group holding the staff permissions, created on first use."""
    group, _ = Group.objects.get_or_create(name=STAFF_GROUP)
    group.permissions.set(
        Permission.objects.filter(
            content_type__app_label="accounts", codename__in=STAFF_PERMISSIONS
        )
    )
    return group


class Command(BaseCommand):
    help = (
        "Grant or remove admin access (the Staff group: inspect and revoke "
        "sessions, look after users) for a user who has logged in with Patreon, "
        "found by Patreon id or email. Removing access ends their sessions."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["grant", "remove"])
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--patreon-id")
        who.add_argument("--email")
        parser.add_argument(
            "--superuser", action="store_true", help="grant every permission too"
        )

    def handle(self, *args, action, patreon_id, email, superuser, **options):
        if patreon_id:
            users = User.objects.filter(patreon__patreon_id=patreon_id)
        else:
            users = User.objects.filter(email__iexact=email)
        users = list(users)
        if not users:
            raise CommandError("No user matches; they must log in with Patreon first.")
        if len(users) > 1:
            names = ", ".join(u.username for u in users)
            raise CommandError(
                f"Several users share that email ({names}): use --patreon-id."
            )
        [user] = users
        if action == "grant":
            user.is_staff = True
            user.is_superuser = user.is_superuser or superuser
        else:
            user.is_staff = user.is_superuser = False
        user.save(update_fields=["is_staff", "is_superuser"])
        if action == "grant":
            user.groups.add(staff_group())
        else:
            user.groups.remove(*Group.objects.filter(name=STAFF_GROUP))
            revocation.revoke_user_sessions([user], by="manage.py")
        self.stdout.write(
            self.style.SUCCESS(
                f"{user}: staff={user.is_staff}, superuser={user.is_superuser}."
            )
        )
