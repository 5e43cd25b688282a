"""Running `pv` as if the local wall clock showed midnight or noon.

A subprocess gets a fixed-offset time zone (``TZ=Etc/GMT-N``) chosen so that the
real time now is in the wanted local hour: the simulator's default start, the
demo's 07:00 and the one-shot commands all read the same local clock a newcomer
would have, and nothing is faked inside ``pv``.
"""

from __future__ import annotations

import time


def zone_at(local_hour: int) -> str:
    """A TZ value under which the current local hour is ``local_hour`` (offset within -12..+14)."""
    utc_hour = time.gmtime().tm_hour
    offset = (local_hour - utc_hour) % 24  # 0..23 hours east of UTC
    if offset > 14:
        offset -= 24
    # POSIX-style Etc zones have the sign inverted: Etc/GMT-10 is UTC+10
    return "Etc/UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def local_hour(tz: str) -> int:
    import datetime
    from zoneinfo import ZoneInfo

    return datetime.datetime.now(ZoneInfo(tz)).hour
