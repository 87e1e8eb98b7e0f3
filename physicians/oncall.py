"""Weekly on-call schedules in the physician's own time zone.

A schedule is a list of windows ``(day, start, end)`` in local wall-clock time, e.g.
``("mon", "18:00", "08:00")``: from Monday 18:00 to Tuesday 08:00 where the physician
lives. An end at or before the start crosses midnight into the next day; ``start == end`` is
a full 24-hour shift. Windows follow the wall clock, so across a DST change a night shift
is an hour shorter or longer in real time, which is what the hospital rota means.

Local times that do not exist (the spring-forward gap) or occur twice (fall-back) resolve
the way ``zoneinfo`` does with ``fold=0``: a start in the gap begins an hour later in local
time; an ambiguous time means its first occurrence.

Everything is pure: the caller passes ``now_utc``; nothing reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A week of windows never needs more; a bound keeps a hostile schedule from costing much.
MAX_WINDOWS = 64


class ScheduleError(ValueError):
    """A schedule or time zone that cannot be used; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Window:
    day: str  # one of DAYS: the local day the window starts
    start: time
    end: time  # at or before ``start``: ends on the next day

    def instants(self, on: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The window that starts on local date ``on``, as UTC instants."""
        start = datetime.combine(on, self.start, tzinfo=tz)
        end_day = on if self.end > self.start else on + timedelta(days=1)
        end = datetime.combine(end_day, self.end, tzinfo=tz)
        # Compare in UTC: aware datetimes sharing one tzinfo compare by wall time, which
        # is wrong across a DST change.
        return start.astimezone(UTC), end.astimezone(UTC)


Schedule = tuple[Window, ...]


def parse_timezone(name: object) -> ZoneInfo:
    """Raises: ScheduleError for anything but a known IANA zone name."""
    if not isinstance(name, str) or not name or len(name) > 64:
        raise ScheduleError("time zone must be an IANA name such as 'Europe/Madrid'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown time zone {name!r}") from exc


def _parse_time(value: object, where: str) -> time:
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        raise ScheduleError(f"{where}: time must be 'HH:MM', got {value!r}")
    hh, mm = value[:2], value[3:]
    if not (hh.isdigit() and mm.isdigit()) or int(hh) > 23 or int(mm) > 59:
        raise ScheduleError(f"{where}: time must be 'HH:MM' from 00:00 to 23:59, got {value!r}")
    return time(int(hh), int(mm))


def parse_schedule(data: object) -> Schedule:
    """A schedule from JSON: a list of ``[day, "HH:MM", "HH:MM"]`` or
    ``{"day": ..., "start": ..., "end": ...}``.

    Raises:
        ScheduleError: the shape, a day name or a time is invalid, or too many windows.
    """
    if not isinstance(data, list):
        raise ScheduleError("schedule must be a list of windows")
    if len(data) > MAX_WINDOWS:
        raise ScheduleError(f"schedule has more than {MAX_WINDOWS} windows")
    windows = []
    for i, item in enumerate(data):
        where = f"window {i}"
        if isinstance(item, dict):
            if set(item) != {"day", "start", "end"}:
                raise ScheduleError(f"{where}: needs exactly 'day', 'start' and 'end'")
            day, start, end = item["day"], item["start"], item["end"]
        elif isinstance(item, list | tuple) and len(item) == 3:
            day, start, end = item
        else:
            raise ScheduleError(f"{where}: must be [day, start, end]")
        if day not in DAYS:
            raise ScheduleError(f"{where}: day must be one of {', '.join(DAYS)}, got {day!r}")
        windows.append(Window(day, _parse_time(start, where), _parse_time(end, where)))
    return tuple(windows)


def schedule_to_json(schedule: Schedule) -> list[list[str]]:
    return [[w.day, w.start.strftime("%H:%M"), w.end.strftime("%H:%M")] for w in schedule]


def _aware(now_utc: datetime) -> datetime:
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware")
    return now_utc.astimezone(UTC)


def on_call_at(schedule: Schedule, tz: ZoneInfo, now_utc: datetime) -> bool:
    """Whether any window covers ``now_utc``. Windows last at most 24 h, so only those
    starting on the local day before or the local day of ``now`` can.

    Raises:
        ValueError: ``now_utc`` is naive.
    """
    now = _aware(now_utc)
    today = now.astimezone(tz).date()
    for on in (today - timedelta(days=1), today):
        day = DAYS[on.weekday()]
        for w in schedule:
            if w.day == day:
                start, end = w.instants(on, tz)
                if start <= now < end:
                    return True
    return False


def next_change(schedule: Schedule, tz: ZoneInfo, now_utc: datetime) -> datetime | None:
    """The first instant after ``now_utc`` at which ``on_call_at`` changes, or None (never:
    an empty schedule or one covering the whole week). Lets a driver set one timer.

    Raises:
        ValueError: ``now_utc`` is naive.
    """
    now = _aware(now_utc)
    today = now.astimezone(tz).date()
    edges: set[datetime] = set()
    for offset in range(-1, 9):
        on = today + timedelta(days=offset)
        for w in schedule:
            if w.day == DAYS[on.weekday()]:
                edges.update(w.instants(on, tz))
    current = on_call_at(schedule, tz, now)
    for edge in sorted(e for e in edges if e > now):
        if on_call_at(schedule, tz, edge) != current:
            return edge
    return None
