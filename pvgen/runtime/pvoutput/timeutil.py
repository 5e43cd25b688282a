"""Local wall-clock time for PVOutput, which only understands the system's local time.

Sending UTC from a host in UTC+10 gets ``Moon Powered`` every morning (gw2pvo PR#33),
so nothing here ever defaults to UTC: the default is the host's own zone, and a
system zone can be given explicitly.
"""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def local_zone() -> tzinfo:
    """The host's zone as a DST-aware ZoneInfo when it can be named, else its current offset."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    link = Path("/etc/localtime")
    try:
        target = str(link.resolve())
        if "zoneinfo/" in target:
            return ZoneInfo(target.split("zoneinfo/", 1)[1])
    except (OSError, ZoneInfoNotFoundError, ValueError):
        pass
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone


def as_zone(tz: tzinfo | str | None) -> tzinfo:
    if tz is None:
        return local_zone()
    if isinstance(tz, str):
        try:
            return ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {tz!r}") from None
    return tz


def align(t: time, interval: int) -> time:
    """Floor a wall-clock time to the status interval (5, 10 or 15 minutes)."""
    minutes = (t.hour * 60 + t.minute) // interval * interval
    return time(minutes // 60, minutes % 60)


def slot(when: datetime, tz: tzinfo, interval: int) -> tuple[date, time]:
    """The (date, time) PVOutput files a moment under: local to the system, aligned."""
    local = when.astimezone(tz) if when.tzinfo is not None else when
    return local.date(), align(local.time(), interval)


def next_hour(epoch: float) -> datetime:
    """Top of the next UTC hour: when PVOutput's hourly bucket refills."""
    now = datetime.fromtimestamp(epoch, ZoneInfo("UTC"))
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
