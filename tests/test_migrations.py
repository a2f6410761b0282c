"""Data migrations, run forwards over a database as a deployment left it."""

from datetime import UTC, datetime
from importlib import import_module

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.models import User

# The Staff group as migration 0003 left it (permissions added since reach
# an existing group at the next `manage.py staff grant`).
CODENAMES = import_module(
    "accounts.migrations.0003_staff_group_permissions"
).STAFF_PERMISSIONS


def migrate(*target):
    """Migrate to ``(app, migration)``, forwards or backwards."""
    executor = MigrationExecutor(connection)
    executor.migrate([target])


pytestmark = pytest.mark.usefixtures("latest_migrations_afterwards")


@pytest.mark.django_db(transaction=True)
def test_an_existing_staff_group_loses_what_staff_should_not_have():
    """A group from before the role model, holding group and permission rights."""
    migrate("accounts", "0002_user_email_verified")
    group = Group.objects.create(name="Staff")
    group.permissions.set(
        Permission.objects.filter(codename__in=[*CODENAMES, "change_group", "add_user"])
    )
    migrate("accounts", "0003_staff_group_permissions")
    assert sorted(group.permissions.values_list("codename", flat=True)) == sorted(
        CODENAMES
    )


@pytest.mark.django_db(transaction=True)
def test_existing_users_keep_the_verification_allauth_recorded():
    migrate("accounts", "0001_initial")
    executor = MigrationExecutor(connection)
    old = executor.loader.project_state([("accounts", "0001_initial")]).apps
    for name, verified in (("ada", True), ("hedy", False)):
        user = old.get_model("accounts", "User").objects.create(
            username=name, email=f"{name.upper()}@example.test"
        )
        EmailAddress.objects.create(
            user_id=user.pk, email=f"{name}@example.test", verified=verified
        )
    migrate("accounts", "0002_user_email_verified")
    verified = dict(User.objects.values_list("username", "email_verified"))
    assert verified == {"ada": True, "hedy": False}


@pytest.mark.django_db(transaction=True)
def test_existing_memberships_keep_when_they_were_read_as_synced_at():
    migrate("accounts", "0004_session_moves_to_the_sessions_app")
    executor = MigrationExecutor(connection)
    old = executor.loader.project_state(
        [("accounts", "0004_session_moves_to_the_sessions_app")]
    ).apps
    user = old.get_model("accounts", "User").objects.create(username="patreon-1001")
    checked_at = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    old.get_model("accounts", "PatreonMembership").objects.create(
        user_id=user.pk,
        patreon_id="1001",
        patron_status="active_patron",
        checked_at=checked_at,
    )
    migrate("accounts", "0005_membership_snapshot")
    # Read as the schema is at that migration: later ones add columns.
    new = (
        MigrationExecutor(connection)
        .loader.project_state([("accounts", "0005_membership_snapshot")])
        .apps
    )
    row = new.get_model("accounts", "PatreonMembership").objects.get()
    assert (row.synced_at, row.source, row.changed_at) == (checked_at, "login", None)
    assert (row.patron_status, row.last_charge_status, row.is_gifted) == (
        "active_patron",
        "",
        False,
    )
