"""What every operation of the local PVOutput service stands on: the clock, the systems, shared rules.

Reads and writes are separate mixins (``reads.py``, ``writes.py``); both need a
system's local time, its statuses by day and what ``getoutput`` derives from
them, and the per-parameter limits, which live here once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any

from pvgen.runtime.pvoutput.model import ParamDef
from pvgen.runtime.pvoutput.values import format_decimal

from .records import Fault, System, err


class ServiceState:
    """The state the operation mixins share; ``PVOutputService`` fills it in."""

    clock: Callable[[], float]
    systems: dict[int, System]
    _faults: list[Fault]

    @staticmethod
    def _check_limits(p: ParamDef, value: Any, system: System, params: dict[str, str]) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return
        caps = [p.max]
        if not params.get("c1"):  # PVOutput lifts the v3/v4 caps for cumulative uploads (yaleman#276)
            caps.append(p.max_donation if system.donation else p.max_free)
        for cap in caps:
            if cap is not None and value > cap:
                raise err("value_too_high", key=p.key, limit=f"{int(cap):,}", value=format_decimal(value))
        if p.min is not None and value < p.min:
            raise err("could_not_read", key=p.key)

    def _now(self, system: System) -> datetime:
        return datetime.fromtimestamp(self.clock(), system.zone)

    def _day(self, system: System, d: date) -> list[tuple[time, dict[str, Any]]]:
        return sorted((t, s) for (sd, t), s in system.statuses.items() if sd == d)

    def _output(self, system: System, d: date) -> dict[str, Any]:
        """getoutput's view of a day: explicit add-output fields over what statuses imply."""
        day = self._day(system, d)
        derived: dict[str, Any] = {"date": d}
        gens = [s["v1"] for _, s in day if s.get("v1") is not None]
        powers = [(s["v2"], t) for t, s in day if s.get("v2") is not None]
        cons = [s["v3"] for _, s in day if s.get("v3") is not None]
        if gens:
            derived["generated"] = max(gens)
        if powers:
            peak = max(powers)
            derived["peak_power"], derived["peak_time"] = peak
        if cons:
            derived["consumed"] = max(cons)
        names = {
            "g": "generated",
            "e": "exported",
            "pp": "peak_power",
            "pt": "peak_time",
            "cd": "condition",
            "tm": "temperature_min",
            "tx": "temperature_max",
            "ip": "import_peak",
            "io": "import_off_peak",
            "is": "import_shoulder",
            "ih": "import_high_shoulder",
            "c": "consumed",
            "ep": "export_peak",
            "eo": "export_off_peak",
            "es": "export_shoulder",
            "eh": "export_high_shoulder",
            "cm": "comments",
        }
        for k, val in system.outputs.get(d, {}).items():
            derived[names.get(k, k)] = val
        if derived.get("generated") is not None:
            derived["efficiency"] = round(derived["generated"] / system.size, 3)
        return derived

    def _days(self, system: System, v: dict[str, Any]) -> list[date]:
        days = set(system.outputs) | {d for d, _ in system.statuses}
        lo: date = v.get("df", date.min)
        hi: date = v.get("dt", date.max)
        return sorted((d for d in days if lo <= d <= hi), reverse=True)

    def _ignore_write(self) -> bool:
        fault = self._take_fault_kind("ignore_write")
        return fault is not None

    def _take_fault_kind(self, kind: str) -> Fault | None:
        for fault in self._faults:
            if fault.kind == kind and fault.times > 0:
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return fault
        return None
