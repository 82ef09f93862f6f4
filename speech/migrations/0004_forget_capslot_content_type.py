"""Databases made before CapSlot moved to lib still have a content type (and
permissions) for speech.capslot; nothing refers to it any more."""

from django.db import migrations


def forget_stale_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="speech", model="capslot").delete()


class Migration(migrations.Migration):

    dependencies = [
        ("speech", "0003_capslot_moved_to_lib"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(forget_stale_content_type, migrations.RunPython.noop)]
