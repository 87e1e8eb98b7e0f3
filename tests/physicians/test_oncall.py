"""On-call schedules: local wall-clock windows, midnight crossing, DST in two zones."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from physicians.oncall import (
    MAX_WINDOWS,
    ScheduleError,
    next_change,
    on_call_at,
    parse_schedule,
    parse_timezone,
    schedule_to_json,
)

NEW_YORK = parse_timezone("America/New_York")
MADRID = parse_timezone("Europe/Madrid")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_night_window_crosses_midnight():
    # 2026-06-01 is a Monday; New York is UTC-4 in June.
    night = parse_schedule([["mon", "18:00", "08:00"]])
    assert not on_call_at(night, NEW_YORK, utc(2026, 6, 1, 21, 59))  # Mon 17:59
    assert on_call_at(night, NEW_YORK, utc(2026, 6, 1, 22, 0))  # Mon 18:00
    assert on_call_at(night, NEW_YORK, utc(2026, 6, 2, 4, 0))  # Tue 00:00
    assert on_call_at(night, NEW_YORK, utc(2026, 6, 2, 11, 59))  # Tue 07:59
    assert not on_call_at(night, NEW_YORK, utc(2026, 6, 2, 12, 0))  # Tue 08:00
    # Only Mondays: Tuesday evening is off.
    assert not on_call_at(night, NEW_YORK, utc(2026, 6, 2, 23, 0))


def test_sunday_night_wraps_into_monday():
    schedule = parse_schedule([{"day": "sun", "start": "22:00", "end": "06:00"}])
    # 2026-06-08 is a Monday; Madrid is UTC+2 in June: Mon 05:00 local = 03:00 UTC.
    assert on_call_at(schedule, MADRID, utc(2026, 6, 8, 3, 0))
    assert not on_call_at(schedule, MADRID, utc(2026, 6, 8, 4, 0))


def test_full_day_window_when_start_equals_end():
    schedule = parse_schedule([["wed", "08:00", "08:00"]])
    # 2026-06-03 is a Wednesday: Wed 08:00 to Thu 08:00 Madrid (UTC+2).
    assert on_call_at(schedule, MADRID, utc(2026, 6, 3, 6, 0))
    assert on_call_at(schedule, MADRID, utc(2026, 6, 4, 5, 59))
    assert not on_call_at(schedule, MADRID, utc(2026, 6, 4, 6, 0))


def test_new_york_spring_forward_night_shift_ends_at_local_eight():
    # DST starts Sun 2026-03-08 02:00 in New York. Sat 18:00 EST = 23:00 UTC;
    # Sun 08:00 EDT = 12:00 UTC (a fixed -5 offset would wrongly say 13:00 UTC).
    night = parse_schedule([["sat", "18:00", "08:00"]])
    assert not on_call_at(night, NEW_YORK, utc(2026, 3, 7, 22, 59))
    assert on_call_at(night, NEW_YORK, utc(2026, 3, 7, 23, 0))
    assert on_call_at(night, NEW_YORK, utc(2026, 3, 8, 11, 59))
    assert not on_call_at(night, NEW_YORK, utc(2026, 3, 8, 12, 30))


def test_madrid_fall_back_night_shift_ends_at_local_eight():
    # DST ends Sun 2026-10-25 03:00 in Madrid. Sat 20:00 CEST = 18:00 UTC;
    # Sun 08:00 CET = 07:00 UTC (a fixed +2 offset would wrongly say 06:00 UTC).
    night = parse_schedule([["sat", "20:00", "08:00"]])
    assert on_call_at(night, MADRID, utc(2026, 10, 24, 18, 0))
    assert on_call_at(night, MADRID, utc(2026, 10, 25, 6, 30))
    assert not on_call_at(night, MADRID, utc(2026, 10, 25, 7, 0))


def test_weekday_window_follows_local_time_across_seasons():
    day = parse_schedule([["mon", "09:00", "17:00"]])
    # Summer (CEST, UTC+2): 09:00 local = 07:00 UTC. Winter (CET, UTC+1): 08:00 UTC.
    assert on_call_at(day, MADRID, utc(2026, 6, 1, 7, 0))
    assert not on_call_at(day, MADRID, utc(2026, 11, 2, 7, 30))
    assert on_call_at(day, MADRID, utc(2026, 11, 2, 8, 0))


def test_next_change_lands_on_the_local_edges():
    night = parse_schedule([["sat", "18:00", "08:00"]])
    # From Friday: the next change is the Saturday 18:00 EST start.
    assert next_change(night, NEW_YORK, utc(2026, 3, 6, 12, 0)) == utc(2026, 3, 7, 23, 0)
    # Inside the shift across spring-forward: it ends at 08:00 EDT.
    assert next_change(night, NEW_YORK, utc(2026, 3, 8, 3, 0)) == utc(2026, 3, 8, 12, 0)
    assert next_change((), NEW_YORK, utc(2026, 3, 8, 3, 0)) is None


def test_schedule_round_trips_through_json():
    schedule = parse_schedule(json.loads('[["mon", "18:00", "08:00"], ["fri", "00:00", "23:59"]]'))
    assert parse_schedule(schedule_to_json(schedule)) == schedule


@pytest.mark.parametrize(
    "bad",
    [
        {"mon": "18:00"},
        [["monday", "18:00", "08:00"]],
        [["mon", "24:00", "08:00"]],
        [["mon", "18:60", "08:00"]],
        [["mon", "8:00", "09:00"]],
        [["mon", 1800, "08:00"]],
        [["mon", "18:00"]],
        [{"day": "mon", "start": "18:00"}],
        [{"day": "mon", "start": "18:00", "end": "08:00", "extra": 1}],
        [["mon", "18:00", "08:00"]] * (MAX_WINDOWS + 1),
    ],
)
def test_invalid_schedules_are_rejected(bad):
    with pytest.raises(ScheduleError):
        parse_schedule(bad)


@pytest.mark.parametrize("bad", ["Mars/Olympus", "", None, "../etc/passwd"])
def test_invalid_time_zones_are_rejected(bad):
    with pytest.raises(ScheduleError):
        parse_timezone(bad)


def test_naive_now_is_refused():
    with pytest.raises(ValueError):
        on_call_at((), MADRID, datetime(2026, 6, 1, 12, 0))
