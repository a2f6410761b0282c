from django.db import migrations, models
from django.db.models import Exists, OuterRef


def copy_verification(apps, schema_editor):
    """Existing users start with what their EmailAddress rows already say."""
    User = apps.get_model("accounts", "User")
    EmailAddress = apps.get_model("account", "EmailAddress")
    verified = EmailAddress.objects.filter(
        user=OuterRef("pk"), email__iexact=OuterRef("email"), verified=True
    )
    User.objects.exclude(email="").filter(Exists(verified)).update(email_verified=True)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("account", "0009_emailaddress_unique_primary_email"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="email_verified",
            field=models.BooleanField(default=False, db_default=False),
        ),
        migrations.RunPython(copy_verification, migrations.RunPython.noop),
    ]
