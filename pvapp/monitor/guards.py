"""Plausibility guards: the numbers the monitor refuses to record or publish, and why.

Peers poison Home Assistant's Energy dashboard and PVOutput with lifetime
counters that fall to zero at night, spike to millions of kWh on a mis-read
word, or carry yesterday's E-Today into the morning.  Every value goes through
these checks before it is stored; a refused value is stored as NULL with the
reason beside it (the raw reply frame is kept too), so nothing is hidden and
nothing wrong is passed on.

Rules:

* a raw word of all ones (0xFFFF / 0xFFFFFFFF) is the inverters' "not measured"
  sentinel, never a value;
* outside ``FieldDef.valid_min``/``valid_max``: refused;
* AC power above 1.25 x the rated power: refused (a spike, not sunshine);
* lifetime counters (``monotonic`` fields: E-Total, h-Total) never go below
  the last accepted value, are never a zero after a non-zero, and never grow
  faster than the inverter could produce (rated power x elapsed time, with a
  margin, plus one count of resolution);
* E-Today is refused while it is larger than what E-Total says was produced
  since the last reading of an earlier day (the CMS 2000 keeps yesterday's
  E-Today for up to 90 minutes after dawn, REFERENCE section 6), and within a
  day it never goes down.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pvgen.runtime.model import FieldDef, ProtocolSpec

POWER_MARGIN = 1.25
# E-Total has a resolution of 0.1 kWh while E-Today has 0.01: allow E-Today to run
# ahead of the coarser counter by up to two of its steps.
STALE_TODAY_TOLERANCE = 0.2


@dataclass
class _Counter:
    value: float | None = None
    time: datetime | None = None


class Guard:
    """The guard state of one inverter (last accepted counters)."""

    def __init__(
        self,
        spec: ProtocolSpec,
        *,
        rated_power: float | None,
        last_e_total: float | None = None,
        last_h_total: float | None = None,
        last_time: datetime | None = None,
        day_baseline: Callable[[date], float | None] | None = None,
        time_slack: float = 120.0,
    ) -> None:
        self.spec = spec
        # Readings are stamped when the reply has been read; a process that stalls
        # between reply and stamp makes the interval between two stamps look
        # shorter than the interval between the two values.  The spike rule
        # allows this much extra time (seconds) so a stall is not taken for a spike.
        self.time_slack = time_slack
        self.rated_power = rated_power
        self.fields: dict[str, FieldDef] = {f.id: f for f in spec.fields}
        self.counters: dict[str, _Counter] = {}
        if last_e_total is not None:
            self.counters["e_total"] = _Counter(last_e_total, last_time)
        if last_h_total is not None:
            self.counters["h_total"] = _Counter(last_h_total, last_time)
        self._day_baseline = day_baseline
        self._baseline_day: date | None = None
        self._baseline: float | None = None
        self._today_day: date | None = None
        self._today_last: float | None = None

    def check(
        self,
        values: Mapping[str, float | int | None],
        raw: Callable[[str], int | None],
        now: datetime,
        local_day: date,
    ) -> tuple[dict[str, float | int | None], dict[str, str]]:
        """Return the values to record (refused ones as None) and the reasons."""
        out: dict[str, float | int | None] = dict(values)
        rejected: dict[str, str] = {}
        for fid, value in values.items():
            fd = self.fields.get(fid)
            if fd is None:
                continue
            reason = self._sentinel(fd, raw(fid))
            if reason is None and value is not None:
                reason = self._range(fd, value)
            if reason is not None:
                out[fid] = None
                rejected[fid] = reason
        for fid in [f for f in out if self._is_counter(f)]:
            value = out[fid]
            if value is None:
                continue
            reason = self._counter(fid, float(value), now)
            if reason is not None:
                out[fid] = None
                rejected[fid] = reason
        if "e_today" in out and out["e_today"] is not None:
            reason = self._e_today(float(out["e_today"]), out.get("e_total"), local_day)
            if reason is not None:
                out["e_today"] = None
                rejected["e_today"] = reason
        # commit accepted counters only after every check passed
        for fid in [f for f in out if self._is_counter(f)]:
            v = out[fid]
            if v is not None:
                self.counters[fid] = _Counter(float(v), now)
        if out.get("e_today") is not None:
            self._today_day, self._today_last = local_day, float(out["e_today"])  # type: ignore[arg-type]
        return out, rejected

    # -- individual rules ------------------------------------------------------

    def _is_counter(self, fid: str) -> bool:
        fd = self.fields.get(fid)
        return fid in ("e_total", "h_total") or (fd is not None and fd.monotonic)

    @staticmethod
    def _sentinel(fd: FieldDef, raw: int | None) -> str | None:
        if raw is None or raw in fd.na_values:
            # the spec says this raw value means "not measured" (Zac on a CMS 2000):
            # decoding already made it None, and it is no fault worth a rejection
            return None
        ones = (1 << (16 * len(fd.codes))) - 1
        if raw == ones:
            return f"raw 0x{raw:0{4 * len(fd.codes)}X} is the 'not measured' sentinel"
        return None

    def _range(self, fd: FieldDef, value: float) -> str | None:
        unit = f" {fd.unit}" if fd.unit else ""
        if fd.valid_min is not None and value < fd.valid_min:
            return f"{value:g}{unit} below the plausible minimum {fd.valid_min:g}{unit}"
        if fd.valid_max is not None and value > fd.valid_max:
            return f"{value:g}{unit} above the plausible maximum {fd.valid_max:g}{unit}"
        if fd.id == "pac" and self.rated_power and value > self.rated_power * POWER_MARGIN:
            return f"{value:g} W is more than {POWER_MARGIN:g} x the rated {self.rated_power:g} W"
        return None

    def _counter(self, fid: str, value: float, now: datetime) -> str | None:
        last = self.counters.get(fid)
        if last is None or last.value is None:
            return None
        fd = self.fields.get(fid)
        unit = f" {fd.unit}" if fd and fd.unit else ""
        if value == 0 and last.value > 0:
            return f"zero after {last.value:g}{unit}: a lifetime counter is never reset by night"
        if value < last.value:
            return f"{value:g}{unit} is lower than the last good {last.value:g}{unit}"
        if last.time is not None:
            hours = max(0.0, (now - last.time).total_seconds() + self.time_slack) / 3600.0
            step = float(fd.scale) if fd else 0.1
            if fid == "h_total" or (fd is not None and fd.unit == "h"):
                limit = hours * 1.1 + 1 + step
            elif fd is not None and fd.unit in ("kWh", "Wh") and self.rated_power:
                per_hour = self.rated_power * POWER_MARGIN / (1000.0 if fd.unit == "kWh" else 1.0)
                limit = hours * per_hour + 2 * step
            else:
                return None
            if value - last.value > limit:
                return (
                    f"{value:g}{unit} jumps {value - last.value:g}{unit} from {last.value:g}{unit} in"
                    f" {(now - last.time).total_seconds() / 60:.0f} min: more than the inverter can do"
                )
        return None

    def _e_today(self, value: float, e_total: Any, day: date) -> str | None:
        if self._today_day == day and self._today_last is not None and value < self._today_last:
            return f"{value:g} kWh is lower than the {self._today_last:g} kWh already counted today"
        if self._day_baseline is None or not isinstance(e_total, int | float):
            return None
        if self._baseline_day != day:
            self._baseline_day, self._baseline = day, self._day_baseline(day)
        if self._baseline is None:
            return None
        produced = float(e_total) - self._baseline
        if value > produced + STALE_TODAY_TOLERANCE:
            return (
                f"{value:g} kWh is stale (yesterday's E-Today): E-Total grew only {max(produced, 0.0):.1f} kWh"
                " since the last reading before today"
            )
        return None
