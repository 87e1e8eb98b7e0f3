"""The lounges: one per specialty plus the general doctors' lounge, open to every verified
physician. ``lounges_ensure`` is idempotent; the data migration and ``seed_demo`` call it."""

from __future__ import annotations

from typing import Any

GENERAL_LOUNGE = "lounge-general"


def lounge_id(specialty_slug: str) -> str:
    return f"lounge-{specialty_slug}"


def lounges_ensure(room_model: Any, specialty_model: Any) -> int:
    """Create missing lounges; returns how many were created. Model classes are passed in
    so a migration can hand over its historical models."""
    existing = set(room_model.objects.filter(kind="lounge").values_list("id", flat=True))
    rows = []
    if GENERAL_LOUNGE not in existing:
        rows.append(room_model(id=GENERAL_LOUNGE, kind="lounge", title="Doctors' lounge"))
    for s in specialty_model.objects.all():
        if lounge_id(s.slug) not in existing:
            rows.append(room_model(id=lounge_id(s.slug), kind="lounge", title=s.name_en,
                                   specialty=s))
    room_model.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)
