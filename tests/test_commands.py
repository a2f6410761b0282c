"""The staff command: grant and remove admin access."""

from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from django.core.management import CommandError, call_command

from accounts.models import User
from tests.patreon import log_in

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_staff_grant_and_remove_by_patreon_id(two_patrons):
    run("staff", "grant", "--patreon-id", "100001")
    user = User.objects.get(patreon__patreon_id="100001")
    assert user.is_staff
    assert user.has_perm("sessions.delete_session")
    run("staff", "remove", "--patreon-id", "100001")
    user = User.objects.get(pk=user.pk)
    assert not user.is_staff
    assert not user.has_perm("sessions.delete_session")
    # Access removed, sessions ended.
    assert two_patrons["100001"].me().status_code == 401


def test_staff_grant_by_email(two_patrons):
    run("staff", "grant", "--email", "PATRON100002@example.test")
    assert User.objects.get(patreon__patreon_id="100002").is_staff


def test_staff_refuses_an_email_two_users_verified(two_patrons):
    User.objects.update(email="shared@example.test")
    EmailAddress.objects.update(email="shared@example.test", verified=True)
    with pytest.raises(
        CommandError, match=r"Several users share that email.*--patreon-id"
    ):
        run("staff", "grant", "--email", "shared@example.test")
    assert not User.objects.filter(is_staff=True).exists()


def test_staff_grant_refuses_an_email_patreon_did_not_verify(client, fake_patreon):
    """Patron 1006's Patreon email is unverified: anyone could have typed it."""
    log_in(client, "1006")
    with pytest.raises(
        CommandError, match=r"Patreon has not verified hedy@.*--patreon-id"
    ):
        run("staff", "grant", "--email", "hedy@example.test")
    assert not User.objects.filter(is_staff=True).exists()


def test_an_unverified_squatter_does_not_make_a_verified_email_ambiguous(
    two_patrons, client_factory
):
    """Someone who typed 100002's address (unverified) is not granted."""
    log_in(client_factory(), "1006")
    squatter = User.objects.get(patreon__patreon_id="1006")
    squatter.email = "patron100002@example.test"
    squatter.save()
    EmailAddress.objects.filter(user=squatter).update(email=squatter.email)
    run("staff", "grant", "--email", "patron100002@example.test")
    assert list(User.objects.filter(is_staff=True)) == [
        User.objects.get(patreon__patreon_id="100002")
    ]


def test_staff_grant_by_email_needs_a_user_who_logged_in():
    with pytest.raises(CommandError, match="No user matches"):
        run("staff", "grant", "--email", "nobody@example.test")


def test_staff_remove_by_email_finds_the_emergency_superuser(django_user_model):
    """It has no Patreon id nor verified address; removing access needs neither."""
    django_user_model.objects.create_superuser("root", "root@example.test", "pw-123456")
    run("staff", "remove", "--email", "root@example.test")
    assert not User.objects.get(username="root").is_superuser
