"""The session commands: revoke_sessions, clear_expired_sessions."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import User
from sessions.models import Session

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_revoke_sessions_by_patreon_id(two_patrons):
    assert "Revoked 1 session(s)" in run("revoke_sessions", "--patreon-id", "100001")
    assert two_patrons["100001"].me().status_code == 401
    assert two_patrons["100002"].me().status_code == 200


def test_revoke_sessions_by_username(two_patrons):
    user = User.objects.get(patreon__patreon_id="100002")
    run("revoke_sessions", "--user", user.username)
    assert two_patrons["100002"].me().status_code == 401
    assert two_patrons["100001"].me().status_code == 200


def test_revoke_sessions_dry_run_revokes_nothing(two_patrons):
    assert "Would revoke 2 session(s)" in run("revoke_sessions", "--all", "--dry-run")
    assert Session.objects.count() == 2


def test_revoke_all_sessions(two_patrons):
    run("revoke_sessions", "--all")
    assert {b.me().status_code for b in two_patrons.values()} == {401}
    assert not Session.objects.exists()


def test_revoke_sessions_of_unknown_user_fails_clearly():
    with pytest.raises(CommandError, match="No user matches"):
        run("revoke_sessions", "--patreon-id", "999")


def test_clear_expired_sessions_deletes_only_expired_ones(two_patrons):
    Session.objects.filter(user__patreon__patreon_id="100001").update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    assert "Deleted 1 expired session(s)" in run(
        "clear_expired_sessions", "--batch-size", "1"
    )
    assert list(
        Session.objects.values_list("user__patreon__patreon_id", flat=True)
    ) == ["100002"]


class Terminal(StringIO):
    def isatty(self):
        return True


def test_clear_expired_sessions_shows_a_progress_bar_in_a_terminal():
    from sessions.store import SessionStore

    for _ in range(4):
        store = SessionStore()
        store.save()
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    out = Terminal()
    call_command("clear_expired_sessions", "--batch-size", "2", stdout=out)
    frames = out.getvalue().split("\r")
    assert "[###############---------------]  50% 2/4" in frames
    assert frames[-1].startswith("[##############################] 100% 4/4")
    assert "Deleted 4 expired session(s)." in frames[-1]
    assert "[" not in run("clear_expired_sessions")  # no bar in a log
