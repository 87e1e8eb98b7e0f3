"""Adverse drug event reports, the de-identified facts they are counted from, signals and
the pharmacovigilance role's alerts.

``Report`` keeps everything the reporter wrote sealed in one blob (crypto.envelope, under the
``adverse`` scope's key and the reporter's author key) and, in the clear, only the reporter's
pseudonym in that scope (``crypto.pseudonyms.pseudonym_id``) and when it was filed: "my
reports" and the hourly limit need them. No user id, no country, no drug names.

``Fact`` is what counting needs and nothing more: one row per (suspect ingredient ×
reaction code) of a report, with the report's week and whether it was serious. Rows of one
report share a random ``group`` that no other table stores in the clear (it is inside the
sealed report), so counts are of *reports*, yet a fact row leads to no report and no
reporter. docs/adverse.md says what the table still gives away.
"""

from __future__ import annotations

import uuid

from django.db import models

from physicians.models import User


class Report(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # HMAC pseudonym of the reporter in the ``adverse`` scope (crypto/pseudonyms.py).
    reporter = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    # crypto.envelope.Sealed.packed(): epoch, key id and the AES-GCM blob of the JSON report.
    sealed = models.BinaryField()

    class Meta:
        indexes = [models.Index(fields=["reporter", "created_at"])]


class Fact(models.Model):
    # Random per report; equal only between the facts of one report.
    group = models.UUIDField()
    drug = models.CharField(max_length=120)  # an ingredient of adverse/data/drugs.json, or "unknown"
    reaction = models.CharField(max_length=64)  # a code of adverse/data/reactions.json, or "unknown"
    week = models.DateField()  # the Monday of the ISO week the report was filed
    serious = models.BooleanField()

    class Meta:
        indexes = [models.Index(fields=["drug", "reaction"]), models.Index(fields=["group"])]


class Signal(models.Model):
    """A pair the first time it met the Evans criteria (first_week: that ISO week's Monday);
    its statistics at that moment. Current statistics are computed from ``Fact``."""

    drug = models.CharField(max_length=120)
    reaction = models.CharField(max_length=64)
    detected_at = models.DateTimeField()
    first_week = models.DateField()
    stats = models.JSONField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["drug", "reaction"], name="signal_pair")]
        indexes = [models.Index(fields=["first_week"])]


class Officer(models.Model):
    """A member of the pharmacovigilance role: sees statistics, signals, exports, alerts.
    Granted and revoked with ``manage.py adverse_officer`` (adverse.services)."""

    user = models.OneToOneField(User, primary_key=True, on_delete=models.CASCADE,
                                related_name="pharmacovigilance")
    granted_at = models.DateTimeField()


class Alert(models.Model):
    """A stored notification: a new signal, for one officer (also e-mailed and sent live)."""

    officer = models.ForeignKey(Officer, on_delete=models.CASCADE, related_name="alerts")
    signal = models.ForeignKey(Signal, on_delete=models.CASCADE, related_name="alerts")
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["officer", "signal"], name="alert_once")]
        indexes = [models.Index(fields=["officer", "created_at"])]


class ScanLock(models.Model):
    """One row; signal scans lock it so two reports filed at once do not both announce the
    same new signal (the unique pair would refuse the second, but after its alerts)."""

    id = models.PositiveSmallIntegerField(primary_key=True)
