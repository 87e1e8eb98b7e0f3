"""Create the lounges: one per specialty plus the general doctors' lounge (rooms/lounges.py)."""

from django.db import migrations

from rooms.lounges import lounges_ensure


def forwards(apps, schema_editor):
    lounges_ensure(apps.get_model("rooms", "Room"), apps.get_model("physicians", "Specialty"))


class Migration(migrations.Migration):
    dependencies = [
        ("rooms", "0001_initial"),
        ("physicians", "0002_specialties"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
