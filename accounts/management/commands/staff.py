from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from accounts.models import User

STAFF_GROUP = "Staff"
# What staff need to inspect and revoke sessions, view users, their
# memberships, Patreon's webhook deliveries and full syncs, and deactivate a user
# (change_user: accounts.admin.UserAdmin lets staff change is_active and
# nothing else), as "app_label.codename".
# Migration 0003_staff_group_permissions trims an existing group to this
# list (the session ones were accounts' then: accounts 0004 moved them);
# a permission added since reaches an existing group at the next grant.
STAFF_PERMISSIONS = [
    "sessions.view_session",
    "sessions.delete_session",
    "accounts.view_user",
    "accounts.change_user",
    "accounts.view_patreonmembership",
    "accounts.view_webhookdelivery",
    "accounts.view_syncrun",
]


def staff_group():
    """The group holding the staff permissions, created on first use."""
    group, _ = Group.objects.get_or_create(name=STAFF_GROUP)
    wanted = Q()
    for permission in STAFF_PERMISSIONS:
        app_label, codename = permission.split(".")
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    group.permissions.set(Permission.objects.filter(wanted))
    return group


def users_with_verified_email(email):
    """
    The users whose address ``email`` Patreon verified. An unverified address
    proves nothing: anyone can type someone else's into their Patreon profile.
    """
    verified = EmailAddress.objects.filter(email__iexact=email, verified=True)
    users = list(User.objects.filter(pk__in=verified.values("user")))
    if users:
        return users
    if User.objects.filter(email__iexact=email).exists() or (
        EmailAddress.objects.filter(email__iexact=email).exists()
    ):
        raise CommandError(
            f"Patreon has not verified {email}: it may not belong to whoever "
            "typed it. Grant by --patreon-id instead."
        )
    return []


class Command(BaseCommand):
    help = (
        "Grant or remove admin access (the Staff group: inspect and revoke "
        "sessions, view users, memberships and webhook deliveries, deactivate "
        "users) for a user who has logged in with Patreon, found by Patreon id "
        "or, for grant, by "
        "an email address Patreon verified. Removing access ends their "
        "sessions."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["grant", "remove"])
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--patreon-id")
        who.add_argument(
            "--email", help="for grant, only an address Patreon verified is accepted"
        )
        parser.add_argument(
            "--superuser", action="store_true", help="grant every permission too"
        )

    def handle(self, *args, action, patreon_id, email, superuser, **options):
        if patreon_id:
            users = list(User.objects.filter(patreon__patreon_id=patreon_id))
        elif action == "grant":
            users = users_with_verified_email(email)
        else:
            # Taking access away needs no proof of ownership, and the
            # emergency superuser has no Patreon id to be found by.
            users = list(User.objects.filter(email__iexact=email))
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
            user.sessions.all().revoke(by="manage.py", scope="users")
        self.stdout.write(
            self.style.SUCCESS(
                f"{user}: staff={user.is_staff}, superuser={user.is_superuser}."
            )
        )
