"""Durable routing state: one row per urgent case being routed.

The pure state machine (presence/routing.py) runs on the row's JSON under the row's lock, so
accepts, declines and expiries from any process are serialized per case: exactly one accept
wins, and two drivers that find the same due deadline cannot both escalate (the second sees
an already-advanced state and does nothing). A restart loses nothing: the deadline is a
column every driver polls.
"""

from __future__ import annotations

from django.db import models


class Routing(models.Model):
    case_id = models.CharField(max_length=64, primary_key=True)
    state = models.JSONField()
    # Epoch seconds of the earliest open offer's expiry; NULL when nothing is due.
    next_deadline = models.FloatField(null=True, blank=True)
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["active", "next_deadline"])]
