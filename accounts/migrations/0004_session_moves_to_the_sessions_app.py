from django.db import migrations


def content_type_to(app_label):
    """Move the session content type (and its permissions, admin history)."""

    def move(apps, schema_editor):
        ContentType = apps.get_model("contenttypes", "ContentType")
        other = "accounts" if app_label == "sessions" else "sessions"
        if ContentType.objects.filter(app_label=app_label, model="session").exists():
            return  # already there (created by a migrate since)
        ContentType.objects.filter(app_label=other, model="session").update(
            app_label=app_label
        )

    return move


class Migration(migrations.Migration):
    """
    The Session model now belongs to the sessions app (sessions 0001 adds it
    to that app's state). Its table, accounts_session, keeps its name and
    every row: only the state changes hands, and the content type moves, so
    the Staff group's session permissions and the admin history follow.
    """

    dependencies = [
        ("accounts", "0003_staff_group_permissions"),
        ("sessions", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Session")],
            database_operations=[],
        ),
        migrations.RunPython(content_type_to("sessions"), content_type_to("accounts")),
    ]
