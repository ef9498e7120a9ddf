"""Time helpers. Everything is stored in UTC; the district's zone is for display and day boundaries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

CHINA_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    """Aware current time in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime, *, assume: ZoneInfo = CHINA_TZ) -> datetime:
    """Return ``value`` in UTC; a naive value is taken to be in ``assume`` (the district's zone)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=assume)
    return value.astimezone(UTC)


def local_day(value: datetime, tz: ZoneInfo = CHINA_TZ) -> date:
    """The calendar day of ``value`` in the district's zone."""
    return as_utc(value).astimezone(tz).date()


def day_bounds_utc(day: date, tz: ZoneInfo = CHINA_TZ) -> tuple[datetime, datetime]:
    """UTC start (inclusive) and end (exclusive) of a local calendar day."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)
