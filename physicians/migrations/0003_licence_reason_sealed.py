"""Licence decision reasons stored sealed under the physician's personal key
(``LicenceDecision.reason_sealed``). Rows that exist are sealed in place; an erased
physician's (no key left) lose theirs, as the rest of their personal data."""

from django.db import migrations, models

from crypto import personal


def _field(decision_id: int) -> str:
    return f"licence_reason:{decision_id}"  # physicians.models.licence_reason_field


def seal_existing(apps, schema_editor):
    LicenceDecision = apps.get_model("physicians", "LicenceDecision")
    User = apps.get_model("physicians", "User")
    for d in LicenceDecision.objects.exclude(reason="").iterator():
        owner = str(d.physician_id)
        wrapped = User.objects.filter(pk=owner).values_list("personal_key", flat=True).first()
        if wrapped is not None:
            key = personal.unwrap_personal_key(owner, bytes(wrapped))
            d.reason_sealed = personal.seal_field(key, owner, _field(d.pk), d.reason)
            d.save(update_fields=["reason_sealed"])


def open_existing(apps, schema_editor):
    LicenceDecision = apps.get_model("physicians", "LicenceDecision")
    User = apps.get_model("physicians", "User")
    for d in LicenceDecision.objects.exclude(reason_sealed=None).iterator():
        owner = str(d.physician_id)
        wrapped = User.objects.filter(pk=owner).values_list("personal_key", flat=True).first()
        if wrapped is not None:
            key = personal.unwrap_personal_key(owner, bytes(wrapped))
            d.reason = personal.open_field(key, owner, _field(d.pk), bytes(d.reason_sealed))
            d.save(update_fields=["reason"])


class Migration(migrations.Migration):

    dependencies = [
        ("physicians", "0002_specialties"),
    ]

    operations = [
        migrations.AddField(
            model_name="licencedecision",
            name="reason_sealed",
            field=models.BinaryField(blank=True, null=True),
        ),
        migrations.RunPython(seal_existing, open_existing),
        migrations.RemoveField(model_name="licencedecision", name="reason"),
    ]
