"""One simulated inverter: its day, its counters, its registration, its faults.

The inverter knows nothing about frames or any particular spec.  It turns
simulated time into physical values (keyed by the spec's field ids) and
answers "what would you put in this reply" questions with the generated
module's own encoders, so the same class serves every spec, present and
future.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from pvgen.runtime.model import FieldDef, ModelDef, ProtocolSpec

from .weather import Sky

WAKE_ELEVATION = 1.0  # degrees: PV voltage reaches Vpv-start about when the sun clears the horizon
INVERTER_EFFICIENCY = 0.95
MAX_STEP = 5.0  # seconds of simulated time per integration step while the sun is up
NIGHT_STEP = 300.0  # seconds per step while the sun is well below the horizon
HISTORY_DAYS = 400  # days of hourly energy an inverter keeps (Samil TCP history)
PAST_DAYS = 31  # days before the simulator's start that the history makes up from the day model

_STRING_RE = re.compile(r"^(vpv|ipv|ppv)(\d)$")
_PHASE_RE = re.compile(r"^(vac|iac|fac)_l([23])$")


def _enum_value(spec: ProtocolSpec, field_id: str, *names: str) -> int | None:
    """The raw value of an enum member by name, so modes work whatever numbers a spec uses."""
    try:
        fdef = spec.field(field_id)
    except KeyError:
        return None
    if fdef.enum is None:
        return None
    for item in spec.enum(fdef.enum).values:
        if item.name.lower() in names or item.label.lower() in names:
            return item.value
    return None


def _bits(fdef: FieldDef) -> int:
    return 16 * len(fdef.codes)


def split_words(fdef: FieldDef, raw: int, codes: tuple[int, ...] | None = None) -> dict[int, int]:
    """A raw value of a (multi-word) field as code -> u16 word, high word first (``codes``: where it sits)."""
    words = {}
    codes = fdef.codes if codes is None else codes
    n = len(codes)
    for i, code in enumerate(codes):
        words[code] = (raw >> (16 * (n - 1 - i))) & 0xFFFF
    return words


def _floor_to(fdef: FieldDef, value: float) -> float:
    """Counters truncate, never round up: a real E-Total shows 1626.4 until 1626.5 is reached."""
    step = float(fdef.scale)
    return math.floor(value / step + 1e-9) * step


class SimInverter:
    """A simulated inverter of one model, on one bus, under one sky."""

    def __init__(
        self,
        module: Any,
        model: ModelDef,
        serial: str,
        *,
        sky: Sky,
        start: datetime,
        index: int = 0,
        e_total: float = 1500.0,
        h_total: float = 4000.0,
        stale_etoday_minutes: float = 0.0,
        always_awake: bool = False,
        nominal_vac: float | None = None,
        version_text: Mapping[str, str] | None = None,
    ) -> None:
        self.module = module
        self.spec: ProtocolSpec = module.SPEC
        self.model = model
        self.serial = serial
        self.index = index
        self.sky = sky
        self.rated = float(model.rated_power or 1000)
        self.always_awake = always_awake
        self.stale_etoday = timedelta(minutes=stale_etoday_minutes)
        self.nominal_vac = nominal_vac or self._guess_nominal_vac()
        self.switched_off = False
        self.version_text = dict(version_text or {})  # overrides of the model's version fields
        # faults and test overrides
        self.error_bits = 0
        self.wild: dict[str, int | None] = {}
        self._pinned: dict[str, float | int] | None = None
        self._pinned_raw: dict[int, int] = {}
        self.parameters = self._model_parameters()
        self._t_start_param = self._t_start_id()
        # protocol state
        self.registered = not self.spec.registration
        self.address = 0  # bus address; 0 until registered
        # energy state
        self.t = start
        self.e_total = e_total
        self.h_total = h_total
        self.e_today = 0.0
        self.e_yesterday = 0.0
        self.e_today_date = start.date()
        self.awake = self._sun_up(start)
        self.woke_at: datetime | None = None
        # hourly energy log (Samil TCP history): local day -> hour it starts (0..23) -> kWh
        self.hourly: dict[date, dict[int, float]] = {}
        self.started = start
        if self.awake:
            self.woke_at = self._dawn_before(start)
            self.e_today = self._energy_between(self.woke_at, start, log=True)
        self.wakes = 0

    # -- model data -------------------------------------------------------------
    def _model_parameters(self) -> dict[str, float | int]:
        raw_by_code = dict(self.model.parameters)
        values: dict[str, float | int] = {}
        for p in self.spec.parameters:
            if all(c in raw_by_code for c in p.codes):
                raw = 0
                for c in p.codes:
                    raw = raw << 16 | raw_by_code[c]
                values[p.id] = p.to_value(raw)
        return values

    def _t_start_id(self) -> str | None:
        """The parameter holding T-start (seconds before connecting), if the model has one."""
        for p in self.spec.parameters:
            if p.unit == "s" and p.id in self.parameters:
                return p.id
        return None

    @property
    def t_start(self) -> float:
        """Seconds in Wait mode after waking: the model's T-start parameter (it can be set), else 30 s."""
        if self._t_start_param is not None:
            return float(self.parameters[self._t_start_param])
        return 30.0

    def _guess_nominal_vac(self) -> float:
        vals = [
            v
            for p in self.spec.parameters
            if p.unit == "V" and "vac" in p.id and (v := self.parameters_raw_value(p)) is not None
        ]
        if len(vals) >= 2:
            return round((min(vals) + max(vals)) / 2 + 6.0, 1)  # grids run a little above the band's middle
        return 230.0

    def parameters_raw_value(self, p: FieldDef) -> float | None:
        raw_by_code = dict(self.model.parameters)
        if all(c in raw_by_code for c in p.codes):
            raw = 0
            for c in p.codes:
                raw = raw << 16 | raw_by_code[c]
            return p.to_value(raw)
        return None

    def version_fields(self) -> dict[str, str]:
        fields = dict(self.model.version)
        if "serial" in fields:
            fields["serial"] = self.serial
        fields.update(self.version_text)
        return fields

    # -- time and energy --------------------------------------------------------
    def _sun_up(self, when: datetime) -> bool:
        if self.switched_off:
            return False
        return self.always_awake or self.sky.sun_elevation(when) > WAKE_ELEVATION

    def _dawn_before(self, when: datetime) -> datetime:
        """When the unit woke today (for a simulator started in daylight); bounded to 24 h back."""
        t = when
        for _ in range(24 * 12):
            earlier = t - timedelta(minutes=5)
            if not self._sun_up(earlier) or earlier.date() != when.date():
                return t
            t = earlier
        return t

    def _energy_between(self, t0: datetime, t1: datetime, *, log: bool = False) -> float:
        """kWh produced between two instants of today, for a simulator that starts mid-day."""
        total, t = 0.0, t0
        p0 = self.pac_at(t)
        while t < t1:
            nxt = min(t1, t + timedelta(seconds=MAX_STEP * 6))
            p1 = self.pac_at(nxt)
            kwh = (p0 + p1) / 2.0 * (nxt - t).total_seconds() / 3_600_000.0
            total += kwh
            if log:
                self._log_energy(t, nxt, kwh)
            t, p0 = nxt, p1
        return total

    def _log_energy(self, t0: datetime, t1: datetime, kwh: float) -> None:
        """Book energy of a step to the local hour its middle falls in (the history's resolution)."""
        if kwh <= 0:
            return
        mid = t0 + (t1 - t0) / 2
        day = self.hourly.setdefault(mid.date(), {})
        day[mid.hour] = day.get(mid.hour, 0.0) + kwh
        if len(self.hourly) > HISTORY_DAYS:
            del self.hourly[min(self.hourly)]

    def history(self, first: date, last: date, now: datetime) -> dict[date, list[tuple[int, float]]]:
        """Hourly energy of the days ``first``..``last``: completed hours only, as (hour it ends, kWh).

        Days the simulator lived through come from its own log; up to
        ``PAST_DAYS`` days before its start are made up from the day model
        (clear of the morning wait), as the unit would have logged them.
        """
        out: dict[date, list[tuple[int, float]]] = {}
        oldest = self.started.date() - timedelta(days=PAST_DAYS)
        day = max(first, oldest)
        while day <= min(last, now.date()):
            hours = dict(self.hourly.get(day, {})) if day >= self.started.date() else self._model_day(day)
            done = [(h + 1, kwh) for h, kwh in sorted(hours.items()) if self._hour_end(day, h, now) <= now]
            if done:
                out[day] = done
            day += timedelta(days=1)
        return out

    def _hour_end(self, day: date, hour: int, now: datetime) -> datetime:
        return datetime.combine(day, time(hour), tzinfo=now.tzinfo) + timedelta(hours=1)

    def _model_day(self, day: date) -> dict[int, float]:
        """A day before the simulator started, from the sky alone (5-minute steps)."""
        tz = self.started.tzinfo
        hours: dict[int, float] = {}
        orientation = 1.0 - 0.04 * (self.index % 5)
        step = timedelta(minutes=5)
        t = datetime.combine(day, time(0), tzinfo=tz)
        while t.date() == day:
            mid = t + step / 2
            if self.sky.sun_elevation(mid) > WAKE_ELEVATION:
                watts = min(self.rated, self.rated * self.sky.irradiance(mid) * orientation)
                hours[t.hour] = hours.get(t.hour, 0.0) + watts * step.total_seconds() / 3_600_000.0
            t += step
        return hours

    def mode_name(self, when: datetime | None = None) -> str:
        when = when or self.t
        if not self.awake:
            return "off"
        if self.error_bits:
            return "fault"
        if self.woke_at is not None and (when - self.woke_at).total_seconds() < self.t_start:
            return "wait"
        return "normal"

    def pac_at(self, when: datetime) -> float:
        """AC power in W at ``when`` (assumes the awake/mode state of that instant)."""
        if not self.awake or self.mode_name(when) != "normal":
            return 0.0
        # Panels of each inverter face slightly differently: a small, fixed derating per unit.
        orientation = 1.0 - 0.04 * (self.index % 5)
        return min(self.rated, self.rated * self.sky.irradiance(when) * orientation)

    def advance(self, now: datetime) -> None:
        """Integrate energy and hours up to ``now``, sleeping and waking as the sun says."""
        if now <= self.t:
            return
        t = self.t
        p0 = self.pac_at(t)
        while t < now:
            deep_night = not self.always_awake and self.sky.sun_elevation(t) < -6.0
            step = NIGHT_STEP if deep_night and not self.awake else MAX_STEP
            t1 = min(now, t + timedelta(seconds=step))
            if self.awake and t1.date() != self.e_today_date and self.always_awake:
                self.e_yesterday, self.e_today, self.e_today_date = self.e_today, 0.0, t1.date()
            up = self._sun_up(t1)
            if up != self.awake:
                if up:
                    self._wake(t1)
                else:
                    self._sleep()
                p0 = 0.0
            dt = (t1 - t).total_seconds()
            p1 = self.pac_at(t1)
            if self.awake:
                kwh = (p0 + p1) / 2.0 * dt / 3_600_000.0
                self.e_total += kwh
                self.e_today += kwh
                self._log_energy(t, t1, kwh)
                if self.mode_name(t1) == "normal":
                    self.h_total += dt / 3600.0
            t, p0 = t1, p1
        self.t = now

    def _wake(self, when: datetime) -> None:
        """Dawn: the PV-powered electronics boot, unregistered, and a new day's E-Today begins."""
        self.awake = True
        self.woke_at = when
        self.wakes += 1
        self.registered = not self.spec.registration
        self.address = 0  # bus address; 0 until registered
        if when.date() != self.e_today_date:
            self.e_yesterday = self.e_today
            self.e_today = 0.0
            self.e_today_date = when.date()

    def _sleep(self) -> None:
        self.awake = False
        self.registered = not self.spec.registration
        self.address = 0  # bus address; 0 until registered

    def reported_e_today(self, when: datetime) -> float:
        """E-Today as the unit shows it: optionally yesterday's for a while after dawn (CMS 2000 habit)."""
        if self.stale_etoday and self.woke_at is not None and when - self.woke_at < self.stale_etoday:
            return self.e_yesterday
        return self.e_today

    # -- physical values --------------------------------------------------------
    def physics(self, when: datetime) -> dict[str, float]:
        """Mutually plausible electrical values for ``when`` (call after advance)."""
        pac = self.pac_at(when)
        light = self.sky.irradiance(when)
        vac = self.sky.grid_voltage(when, self.nominal_vac)
        fac = self.sky.grid_frequency(when)
        ambient = self.sky.ambient(when)
        temperature = ambient + 2.0 + 18.0 * pac / self.rated if self.awake else ambient
        # MPP voltage of a string sized for the inverter: drops as the cells heat up.
        vmpp = 300.0 * (0.9 + 0.1 * min(1.0, light * 2)) * (1.0 - 0.004 * (temperature + 10 - 25.0))
        vpv = vmpp if pac > 0 else (vmpp * 1.2 if self.awake else 0.0)
        ppv = pac / INVERTER_EFFICIENCY
        ipv = ppv / vpv if vpv > 0 else 0.0
        iac = pac / vac if vac > 0 else 0.0
        return {
            "pac": pac,
            "vpv": vpv,
            "ipv": ipv,
            "ppv": ppv,
            "iac": iac,
            "vac": vac if self.awake else 0.0,
            "fac": fac if self.awake else 0.0,
            "temperature": temperature,
        }

    def status_values(self, layout: tuple[int, ...], when: datetime) -> tuple[dict[str, float | int], dict[int, int]]:
        """Scaled values by field id plus raw word overrides by code, for ``encode_status``."""
        if self._pinned is not None:
            return dict(self._pinned), dict(self._pinned_raw)
        ph = self.physics(when)
        present = set(layout)
        fields = [f for f in self.spec.fields if f.codes_in(present) is not None]
        # a three-phase unit (canonical vac_l2 / vac_l3 in its layout) shares its power over the phases
        phases = 1 + sum(1 for f in fields if f.id in ("vac_l2", "vac_l3"))
        strings = sorted(
            {int(m.group(2)) for f in fields if (m := _STRING_RE.match(f.id)) and m.group(1) == "vpv"}
        ) or [1]
        used = strings[:2]  # captured multi-input units run two strings and leave the third at 0
        values: dict[str, float | int] = {}
        raw: dict[int, int] = {}
        mode = self.mode_name(when)
        for f in fields:
            fid = f.id
            m = _STRING_RE.match(fid)
            p = _PHASE_RE.match(fid)
            if fid == "pac":
                v: float = round(ph["pac"])
            elif fid == "iac":
                v = ph["iac"] / phases
            elif fid in ("vac", "fac", "temperature", "vpv") or fid in ("ipv", "ppv"):
                v = ph[fid]
            elif p:
                kind, n = p.group(1), int(p.group(2))
                if kind == "iac":
                    v = ph["iac"] / phases
                elif kind == "vac":
                    v = ph["vac"] * (1.0 + 0.004 * (n - 1))  # phases differ a little
                else:
                    v = ph["fac"]
            elif fid == "heatsink_temperature":
                v = ph["temperature"] + 4.0 if self.awake else ph["temperature"]
            elif m:
                kind, n = m.group(1), int(m.group(2))
                if n not in used:
                    v = 0.0
                elif kind == "vpv":
                    v = ph["vpv"] * (1.0 - 0.015 * used.index(n))
                else:
                    v = ph[kind] / len(used)
            elif fid == "e_total":
                v = _floor_to(f, self.e_total)
            elif fid == "e_today":
                v = _floor_to(f, self.reported_e_today(when))
            elif fid == "h_total":
                v = _floor_to(f, self.h_total)
            elif fid == "mode":
                code = _enum_value(self.spec, "mode", mode) if mode != "off" else None
                v = code if code is not None else 0
            elif fid == "error":
                v = self.error_bits
            elif f.na_values:
                raw.update(split_words(f, f.na_values[0], f.codes_in(present)))
                continue
            else:
                v = 0
            values[fid] = self._clamp(f, v)
        for fid, wild_raw in self.wild.items():
            try:
                f = self.spec.field(fid)
            except KeyError:
                continue
            codes = f.codes_in(present)
            if codes is not None:
                raw.update(split_words(f, (1 << _bits(f)) - 1 if wild_raw is None else wild_raw, codes))
        return values, raw

    @staticmethod
    def _clamp(f: FieldDef, v: float) -> float | int:
        """Keep a value inside what the field's words can carry."""
        step = float(f.scale)
        bits = _bits(f)
        if f.signed:
            lo, hi = -(1 << (bits - 1)) * step, ((1 << (bits - 1)) - 1) * step
        else:
            lo, hi = 0.0, ((1 << bits) - 1) * step
        v = min(hi, max(lo, v))
        return int(v) if f.scale == "1" else round(v, f.decimals)

    # -- test / fault controls -----------------------------------------------------
    def pin_status(self, values: Mapping[str, float | int], raw: Mapping[int, int] | None = None) -> None:
        """Serve exactly these values (and raw words) instead of the day model, e.g. to replay a capture."""
        self._pinned = dict(values)
        self._pinned_raw = dict(raw or {})

    def unpin_status(self) -> None:
        self._pinned = None
        self._pinned_raw = {}

    def set_error(self, bits: int) -> None:
        """Mode goes to Fault with these error bits set (0 clears: back to Normal)."""
        self.error_bits = bits

    def set_wild(self, field_id: str, raw: int | None = None) -> None:
        """Serve a wild raw value for a field: all ones (0xFFFF...) unless ``raw`` is given."""
        self.spec.field(field_id)  # KeyError names the spec and field if wrong
        self.wild[field_id] = raw

    def clear_wild(self) -> None:
        self.wild.clear()

    def power(self, on: bool, when: datetime | None = None) -> None:
        """Force the inverter awake or asleep now (as if the DC isolator were switched)."""
        when = when or self.t
        self.advance(when)
        self.switched_off = not on
        if not on and self.awake:
            self._sleep()
        elif on and not self.awake and self._sun_up(when):
            self._wake(when)
