# The Session model moves here from accounts (its table stays): this
# migration only adds it to the sessions app's state; accounts 0004, which
# depends on it, removes it from the accounts app's state and hands over the
# content type (permissions, admin history).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Session",
                    fields=[
                        ("session_data", models.TextField(verbose_name="session data")),
                        ("expire_date", models.DateTimeField(db_index=True, verbose_name="expire date")),
                        ("session_key", models.CharField(max_length=64, primary_key=True, serialize=False, verbose_name="key hash")),
                        ("created_at", models.DateTimeField(db_index=True)),
                        ("last_seen", models.DateTimeField()),
                        ("ip", models.GenericIPAddressField(blank=True, null=True, verbose_name="IP address")),
                        ("user_agent", models.CharField(blank=True, max_length=255)),
                        ("user", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name="sessions", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "verbose_name": "session",
                        "verbose_name_plural": "sessions",
                        "db_table": "accounts_session",
                        "abstract": False,
                        "indexes": [models.Index(fields=["user", "-created_at"], name="accounts_se_user_id_0cb28c_idx")],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
