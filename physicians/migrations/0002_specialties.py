"""Load the specialty taxonomy (physicians/taxonomy.py) into ``Specialty``.

Upserts by slug, so it is safe on a database that already has some of the rows. Reversing
is a no-op: physicians point at specialties with ``on_delete=PROTECT``, and unloading the
taxonomy is never what rolling back a deploy means.
"""

from django.db import migrations

from physicians.taxonomy import load_specialties


def load(apps, schema_editor):
    load_specialties(apps.get_model("physicians", "Specialty"))


class Migration(migrations.Migration):
    dependencies = [("physicians", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
