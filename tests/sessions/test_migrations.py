"""
sessions/migrations with accounts 0004: the Session model changes app, and a
database as the last deployment left it keeps every session working.
"""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accounts.models import User
from sessions.models import Session
from sessions.store import SessionStore, hash_key

# The schema of the deployment before the sessions app existed.
BEFORE = [("accounts", "0003_staff_group_permissions"), ("sessions", None)]


pytestmark = pytest.mark.usefixtures("latest_migrations_afterwards")


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor


def old_session(apps, key, user=None):
    """A row written by the accounts app's Session model, as it was deployed."""
    now = timezone.now()
    data = {}
    if user is not None:
        data = {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: "accounts.backends.AuthenticationBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
    apps.get_model("accounts", "Session").objects.create(
        session_key=hash_key(key),
        session_data=SessionStore().encode(data),
        expire_date=now + timedelta(hours=1),
        user_id=getattr(user, "pk", None),
        created_at=now,
        last_seen=now,
        ip="203.0.113.9",
        user_agent="Firefox",
    )


@pytest.mark.django_db(transaction=True)
def test_sessions_from_before_the_move_still_log_their_owners_in(client):
    migrate(BEFORE)
    old = MigrationExecutor(connection).loader.project_state(BEFORE[:1]).apps
    ada = User.objects.create_user("ada", "ada@example.test")
    old_session(old, "k" * 32, ada)
    old_session(old, "a" * 32)

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    assert Session.objects.count() == 2
    client.cookies[settings.SESSION_COOKIE_NAME] = "k" * 32
    response = client.get("/api/auth/me")
    assert response.status_code == 200
    assert response.json()["user"]["username"] == "ada"
    row = Session.objects.get(user=ada)
    assert (row.ip, row.user_agent) == ("203.0.113.9", "Firefox")


@pytest.mark.django_db(transaction=True)
def test_the_staff_groups_session_permissions_and_history_move_with_the_model():
    migrate(BEFORE)
    old_type = ContentType.objects.get(app_label="accounts", model="session")
    group = Group.objects.create(name="Staff")
    group.permissions.set(
        Permission.objects.filter(content_type=old_type, codename="view_session")
    )

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    new_type = ContentType.objects.get_for_model(Session)
    assert new_type.pk == old_type.pk
    assert new_type.app_label == "sessions"
    assert list(
        group.permissions.values_list("content_type__app_label", "codename")
    ) == [("sessions", "view_session")]


@pytest.mark.django_db(transaction=True)
def test_migrating_back_returns_the_model_to_accounts():
    session_type = ContentType.objects.get_for_model(Session)
    migrate(BEFORE)
    session_type.refresh_from_db()
    assert session_type.app_label == "accounts"
    assert "accounts_session" in connection.introspection.table_names()
