"""CapSlot moves from speech to lib: lib takes over the model in Django's
state only. The table (speech_capslot) was created by speech 0002 and stays."""

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("speech", "0002_capslot"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="CapSlot",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("name", models.CharField(max_length=60)),
                        ("slot", models.PositiveSmallIntegerField()),
                        ("holder", models.CharField(blank=True, max_length=100)),
                        ("expires_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        "db_table": "speech_capslot",
                        "constraints": [models.UniqueConstraint(fields=("name", "slot"), name="capslot_name_slot_unique")],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
