# A stand-in for the members branch's changed_at (replaced at merge).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_webhookdelivery"),
    ]

    operations = [
        migrations.AddField(
            model_name="patreonmembership",
            name="changed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
