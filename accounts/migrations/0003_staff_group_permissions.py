from django.db import migrations

# The Staff group's permissions as of this migration (a copy: migrations do
# not follow later edits of accounts/management/commands/staff.py).
STAFF_PERMISSIONS = [
    "view_session",
    "delete_session",
    "view_user",
    "change_user",
    "view_patreonmembership",
]


def trim_staff_group(apps, schema_editor):
    """
    An existing Staff group keeps only the staff permissions: anything added
    by hand (groups, permissions, other apps' models) goes. A fresh database
    has no group yet; `manage.py staff grant` creates it.
    """
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name="Staff").first()
    if group is None:
        return
    group.permissions.set(
        Permission.objects.filter(
            content_type__app_label="accounts", codename__in=STAFF_PERMISSIONS
        )
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_user_email_verified"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(trim_staff_group, migrations.RunPython.noop)]
