"""The sky over the simulated array: sun position, clouds, grid and ambient noise.

Every quantity here is a pure function of (seed, simulated time).  That is
what makes the simulator reproducible and lets the energy counters be
integrated at any step size: asking twice for the same instant gives the same
power, whether a client polled at that instant or not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

_MASK64 = (1 << 64) - 1


def _hash01(*keys: int) -> float:
    """A deterministic uniform number in [0, 1) from integer keys (splitmix64)."""
    x = 0x9E3779B97F4A7C15
    for k in keys:
        x = (x ^ (k & _MASK64)) & _MASK64
        x = (x + 0x9E3779B97F4A7C15) & _MASK64
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        x = z ^ (z >> 31)
    return (x >> 11) / float(1 << 53)


def value_noise(seed: int, channel: int, t: float, period: float) -> float:
    """Smooth noise in [0, 1]: random knots every ``period`` seconds, cosine-interpolated."""
    k = math.floor(t / period)
    frac = t / period - k
    a = _hash01(seed, channel, k)
    b = _hash01(seed, channel, k + 1)
    w = (1 - math.cos(math.pi * frac)) / 2
    return a + (b - a) * w


def epoch_seconds(when: datetime) -> float:
    """Local wall-clock seconds (offset applied) since 1970; the sky follows local time."""
    offset = when.utcoffset()
    return when.timestamp() + (offset.total_seconds() if offset else 0.0)


@dataclass(frozen=True, slots=True)
class Sky:
    """Sun and clouds at one site.  ``clouds`` 0 = clear sky every day, 1 = heavy, changeable cloud."""

    latitude: float = -33.87  # Sydney: the CMS 2000 / Orion were sold in Australia
    clouds: float = 0.4
    seed: int = 0

    def sun_elevation(self, when: datetime) -> float:
        """Solar elevation in degrees, with local clock time taken as solar time.

        The simple declination formula is good to about a degree, plenty for a
        plausible production curve; longitude and the equation of time are
        ignored on purpose so that noon is at 12:00 on the simulated clock.
        """
        t = epoch_seconds(when)
        day_of_year = when.timetuple().tm_yday  # of the site's local date
        decl = math.radians(23.44) * math.sin(2 * math.pi * (284 + day_of_year) / 365)
        lat = math.radians(self.latitude)
        hour_angle = math.radians(15.0 * ((t % 86400) / 3600.0 - 12.0))
        sin_e = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(hour_angle)
        return math.degrees(math.asin(max(-1.0, min(1.0, sin_e))))

    def clear_sky(self, when: datetime) -> float:
        """Fraction of the array's rating available under a clear sky (0..~0.95)."""
        elev = self.sun_elevation(when)
        if elev <= 0:
            return 0.0
        sin_e = math.sin(math.radians(elev))
        # Air mass dims the low sun; a tilted array catches a bit more than a flat one.
        return min(0.95, 1.05 * sin_e**1.25)

    def cloud_factor(self, when: datetime) -> float:
        """Share of clear-sky light getting through the clouds (1 = no cloud)."""
        if self.clouds <= 0:
            return 1.0
        t = epoch_seconds(when)
        day = int(t // 86400)
        cloudy_day = _hash01(self.seed, 7, day)  # some days are sunnier than others
        slow = value_noise(self.seed, 1, t, 1800.0)  # cloud banks, tens of minutes
        fast = value_noise(self.seed, 2, t, 120.0)  # single clouds passing
        cover = self.clouds * (0.3 + 0.7 * cloudy_day) * slow * (0.4 + 0.6 * fast)
        return max(0.05, 1.0 - 0.85 * min(1.0, cover * 1.6))

    def irradiance(self, when: datetime) -> float:
        """Fraction of rated power the array could deliver now."""
        return self.clear_sky(when) * self.cloud_factor(when)

    def ambient(self, when: datetime) -> float:
        """Air temperature in degC: cool at dawn, warmest mid-afternoon, warmer in summer."""
        t = epoch_seconds(when)
        hours = (t % 86400) / 3600.0
        noon_elev = self.sun_elevation(when.replace(hour=12, minute=0, second=0, microsecond=0))
        seasonal = 8.0 + 18.0 * max(0.0, math.sin(math.radians(noon_elev)))
        daily = 5.0 * math.sin(2 * math.pi * (hours - 9.0) / 24.0)
        return seasonal + daily + 1.5 * (value_noise(self.seed, 3, t, 3600.0) - 0.5)

    def grid_voltage(self, when: datetime, nominal: float) -> float:
        """Grid voltage wanders a few volts around nominal (local load changes)."""
        t = epoch_seconds(when)
        return nominal * (1.0 + 0.03 * (value_noise(self.seed, 4, t, 900.0) - 0.5)) + 1.5 * (
            value_noise(self.seed, 5, t, 30.0) - 0.5
        )

    def grid_frequency(self, when: datetime, nominal: float = 50.0) -> float:
        t = epoch_seconds(when)
        return nominal + 0.08 * (value_noise(self.seed, 6, t, 60.0) - 0.5)
