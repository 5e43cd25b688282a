"""Sun position from latitude/longitude (NOAA's fractional-year equations).

The fake service needs to know when the sun is down at a system's location to answer
``Moon Powered`` like PVOutput, and how high it is to make a plausible insolation
curve.  Accuracy of a minute or two is plenty for that; no ephemeris library needed.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta


def _terms(day_of_year: int, utc_hour: float) -> tuple[float, float]:
    """Equation of time (minutes) and solar declination (radians)."""
    g = 2 * math.pi / 365 * (day_of_year - 1 + (utc_hour - 12) / 24)
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(g)
        - 0.032077 * math.sin(g)
        - 0.014615 * math.cos(2 * g)
        - 0.040849 * math.sin(2 * g)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(g)
        + 0.070257 * math.sin(g)
        - 0.006758 * math.cos(2 * g)
        + 0.000907 * math.sin(2 * g)
        - 0.002697 * math.cos(3 * g)
        + 0.00148 * math.sin(3 * g)
    )
    return eqtime, decl


def sun_times(day: date, lat: float, lon: float) -> tuple[datetime, datetime] | None:
    """Sunrise and sunset (UTC) for a date at a place; None during polar night.

    During polar day the whole date (00:00 to 24:00 UTC around local noon) counts as daylight.
    """
    eqtime, decl = _terms(day.timetuple().tm_yday, 12.0)
    phi = math.radians(lat)
    cos_ha = math.cos(math.radians(90.833)) / (math.cos(phi) * math.cos(decl)) - math.tan(phi) * math.tan(decl)
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if cos_ha > 1:
        return None
    if cos_ha < -1:
        noon = 720 - 4 * lon - eqtime
        return (midnight + timedelta(minutes=noon - 720), midnight + timedelta(minutes=noon + 720))
    ha = math.degrees(math.acos(cos_ha))
    rise = 720 - 4 * (lon + ha) - eqtime
    sset = 720 - 4 * (lon - ha) - eqtime
    return midnight + timedelta(minutes=rise), midnight + timedelta(minutes=sset)


def elevation(when: datetime, lat: float, lon: float) -> float:
    """Solar elevation in degrees at an aware moment."""
    utc = when.astimezone(UTC)
    hour = utc.hour + utc.minute / 60 + utc.second / 3600
    eqtime, decl = _terms(utc.timetuple().tm_yday, hour)
    true_solar = hour * 60 + eqtime + 4 * lon
    ha = math.radians(true_solar / 4 - 180)
    phi = math.radians(lat)
    cos_zenith = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(ha)
    return 90 - math.degrees(math.acos(max(-1.0, min(1.0, cos_zenith))))


def is_daylight(when: datetime, lat: float, lon: float, margin: timedelta = timedelta(minutes=30)) -> bool:
    """Whether ``when`` (aware) lies between sunrise - margin and sunset + margin."""
    utc = when.astimezone(UTC)
    for day in (utc.date() - timedelta(days=1), utc.date(), utc.date() + timedelta(days=1)):
        times = sun_times(day, lat, lon)
        if times and times[0] - margin <= utc <= times[1] + margin:
            return True
    return False
