"""Moderation reasons stored sealed (rooms/reasons.py): report reasons and resolution notes,
hide reasons, and a ``Ban`` row per ban holding its reason (which used to live only in the
audit log). Rows that exist are sealed in place, so nothing already written becomes
unreadable; the clear columns then go. Audit entries written before this keep what they
hold: the chain cannot be edited.
"""

import uuid

import django.db.models.deletion
from django.db import migrations, models

from rooms import reasons


def seal_existing(apps, schema_editor):
    Report = apps.get_model("rooms", "Report")
    Message = apps.get_model("rooms", "Message")
    for r in Report.objects.all().iterator():
        r.reason_sealed = reasons.reason_seal(
            room_id=r.room_id, label=reasons.report_label(r.seq, r.reporter), text=r.reason,
            author=r.reporter)
        r.resolution_sealed = reasons.reason_seal(
            room_id=r.room_id, label=reasons.resolution_label(r.pk),
            text=r.resolution) if r.resolution else None
        r.save(update_fields=["reason_sealed", "resolution_sealed"])
    for m in Message.objects.filter(hidden_at__isnull=False).exclude(hidden_reason="").iterator():
        m.hidden_reason_sealed = reasons.reason_seal(
            room_id=m.room_id, label=reasons.hide_label(str(m.id)), text=m.hidden_reason)
        m.save(update_fields=["hidden_reason_sealed"])


def open_existing(apps, schema_editor):
    Report = apps.get_model("rooms", "Report")
    Message = apps.get_model("rooms", "Message")
    for r in Report.objects.all().iterator():
        r.reason = (reasons.reason_open(
            room_id=r.room_id, label=reasons.report_label(r.seq, r.reporter),
            packed=r.reason_sealed, author=r.reporter) or "")[:500]
        r.resolution = (reasons.reason_open(
            room_id=r.room_id, label=reasons.resolution_label(r.pk),
            packed=r.resolution_sealed) or "")[:500]
        r.save(update_fields=["reason", "resolution"])
    for m in Message.objects.exclude(hidden_reason_sealed=None).iterator():
        m.hidden_reason = (reasons.reason_open(
            room_id=m.room_id, label=reasons.hide_label(str(m.id)),
            packed=m.hidden_reason_sealed) or "")[:200]
        m.save(update_fields=["hidden_reason"])


class Migration(migrations.Migration):

    dependencies = [
        ("crypto", "0001_initial"),
        ("rooms", "0002_lounges"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="hidden_reason_sealed",
            field=models.BinaryField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="report",
            name="reason_sealed",
            field=models.BinaryField(default=b""),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="report",
            name="resolution_sealed",
            field=models.BinaryField(blank=True, null=True),
        ),
        # A default, so that migrating back can add the clear column again to existing rows.
        migrations.AlterField(
            model_name="report",
            name="reason",
            field=models.CharField(default="", max_length=500),
        ),
        migrations.RunPython(seal_existing, open_existing),
        migrations.RemoveField(model_name="message", name="hidden_reason"),
        migrations.RemoveField(model_name="report", name="reason"),
        migrations.RemoveField(model_name="report", name="resolution"),
        migrations.CreateModel(
            name="Ban",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True,
                                        serialize=False)),
                ("pseudonym", models.CharField(max_length=64)),
                ("scope", models.CharField(choices=[("room", "Room"), ("network", "Network")],
                                           max_length=16)),
                ("reason_sealed", models.BinaryField()),
                ("banned_at", models.DateTimeField()),
                ("room", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                           related_name="bans", to="rooms.room")),
            ],
            options={
                "indexes": [models.Index(fields=["room", "pseudonym"],
                                         name="rooms_ban_room_id_ff4dfc_idx")],
            },
        ),
    ]
