"""CapSlot now belongs to lib (lib 0001): drop it from speech's state only;
its table stays, owned by lib.CapSlot."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("speech", "0002_capslot"),
        ("lib", "0001_capslot"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="CapSlot")],
            database_operations=[],
        ),
    ]
