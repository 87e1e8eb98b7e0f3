from django.db import migrations


def forwards(apps, schema_editor):
    from rooms.lounges import lounges_ensure

    lounges_ensure(apps.get_model("rooms", "Room"), apps.get_model("consult", "Specialty"))


class Migration(migrations.Migration):
    dependencies = [
        ("rooms", "0001_initial"),
        ("consult", "0002_specialties"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
