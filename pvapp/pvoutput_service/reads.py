"""The read operations of the local PVOutput service, in PVOutput's reply formats."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pv.pvoutput import SERVICE

from pvgen.runtime.pvoutput.model import OperationDef
from pvgen.runtime.pvoutput.timeutil import align
from pvgen.runtime.pvoutput.values import format_date, format_row, format_time

from .records import System, err
from .solar import elevation
from .state import ServiceState


class ReadOps(ServiceState):
    """get status (and history, day statistics), output, missing, extended, statistic, system, insolation, search."""

    def _op_get_status(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        row = SERVICE.row(op.reply.row)
        found: tuple[date, time, dict[str, Any]] | None = None
        if "d" in v and "t" in v:
            t = align(v["t"], system.status_interval)
            if (v["d"], t) in system.statuses:
                found = (v["d"], t, system.statuses[(v["d"], t)])
        elif "d" in v:
            day = self._day(system, v["d"])
            if day:
                found = (v["d"], day[-1][0], day[-1][1])
        else:
            since = self._now(system).date() - timedelta(days=7)
            recent = sorted(k for k in system.statuses if k[0] >= since)
            if recent:
                found = (*recent[-1], system.statuses[recent[-1]])
        if found is None:
            raise err("no_status")
        d, t, s = found
        values = {
            "date": d,
            "time": t,
            "energy_generation": s.get("v1"),
            "power_generation": s.get("v2"),
            "energy_consumption": s.get("v3"),
            "power_consumption": s.get("v4"),
            "normalised_output": round(s["v2"] / system.size, 3) if s.get("v2") is not None else None,
            "temperature": s.get("v5"),
            "voltage": s.get("v6"),
        }
        columns = row.columns[:9]
        if v.get("ext"):
            columns = row.columns
            values.update({f"extended_{i}": s.get(f"v{i + 6}") for i in range(1, 7)})
        return format_row(columns, values)

    def _op_get_status_history(
        self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]
    ) -> str:
        row = SERVICE.row(op.reply.row)
        d = v.get("d", self._now(system).date())
        day = self._day(system, d)
        out: list[dict[str, Any]] = []
        previous: int | None = None
        for t, s in day:
            energy = s.get("v1")
            avg = None
            if energy is not None and previous is not None:
                avg = round((energy - previous) * 60 / system.status_interval)
            previous = energy if energy is not None else previous
            out.append(
                {
                    "date": d,
                    "time": t,
                    "energy_generation": energy,
                    "energy_efficiency": round(energy / system.size, 3) if energy is not None else None,
                    "instantaneous_power": s.get("v2"),
                    "average_power": avg,
                    "normalised_output": round(s["v2"] / system.size, 3) if s.get("v2") is not None else None,
                    "energy_consumption": s.get("v3"),
                    "power_consumption": s.get("v4"),
                    "temperature": s.get("v5"),
                    "voltage": s.get("v6"),
                    **{f"extended_{i}": s.get(f"v{i + 6}") for i in range(1, 7)},
                }
            )
        if "t" in v:
            out = [r for r in out if r["time"] > v["t"]]
        if "from" in v:
            out = [r for r in out if r["time"] >= v["from"]]
        if "to" in v:
            out = [r for r in out if r["time"] <= v["to"]]
        if not v.get("asc"):
            out.reverse()
        out = out[: v.get("limit", 30)]
        if not out:
            raise err("no_status")
        columns = row.columns if v.get("ext") else row.columns[:11]
        return ";".join(format_row(columns, r) for r in out)

    def _op_get_day_statistics(
        self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]
    ) -> str:
        row = SERVICE.row(op.reply.row)
        d = v.get("d", self._now(system).date())
        day = [(t, s) for t, s in self._day(system, d) if v.get("from", time(0)) <= t <= v.get("to", time(23, 59))]
        if not day:
            raise err("no_status")

        def series(k: str) -> list[tuple[time, float]]:
            return [(t, s[k]) for t, s in day if s.get(k) is not None]

        gen, pw, cons, cpw, temp = series("v1"), series("v2"), series("v3"), series("v4"), series("v5")
        values: dict[str, Any] = {}
        if gen or pw:
            peak = max(pw, key=lambda x: x[1]) if pw else None
            values.update(
                energy_generated=max(x[1] for x in gen) if gen else None,
                power_generated=round(sum(x[1] for x in pw) / len(pw)) if pw else None,
                peak_power=peak[1] if peak else None,
                peak_time=peak[0] if peak else None,
            )
        if cons or cpw:
            low = min(cpw, key=lambda x: x[1]) if cpw else None
            values.update(
                energy_consumed=max(x[1] for x in cons) if cons else None,
                power_consumed=round(sum(x[1] for x in cpw) / len(cpw)) if cpw else None,
                standby_power=low[1] if low else None,
                standby_time=low[0] if low else None,
            )
        if temp:
            values.update(
                temperature_min=min(x[1] for x in temp),
                temperature_max=max(x[1] for x in temp),
                temperature_average=round(sum(x[1] for x in temp) / len(temp), 1),
            )
        return ";".join(format_row(sec.columns, values) for sec in row.sections)

    def _op_get_output(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        row = SERVICE.row(op.reply.row)
        p = op.param("limit")
        top = int((p.max_donation if system.donation else p.max_free) or 50) if p else 50
        limit = min(v.get("limit", 30), top)
        columns = row.columns if v.get("timeofexport") else row.columns[:14]
        return ";".join(format_row(columns, self._output(system, d)) for d in self._days(system, v)[:limit])

    def _op_get_missing(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        have = set(system.outputs) | {d for d, _ in system.statuses}
        missing: list[str] = []
        d = v["df"]
        while d <= v["dt"]:
            if d not in have:
                missing.append(format_date(d))
            d += timedelta(days=1)
        return ",".join(missing)

    def _op_get_extended(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        row = SERVICE.row(op.reply.row)
        out: list[str] = []
        for d in self._days(system, v):
            ext = [s for _, s in self._day(system, d) if any(f"v{i}" in s for i in range(7, 13))]
            if ext:
                values = {"date": d, **{f"extended_{i}": ext[-1].get(f"v{i + 6}") for i in range(1, 7)}}
                out.append(format_row(row.columns, values))
        return ";".join(out[: v.get("limit", 50)])

    def _op_get_statistic(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        row = SERVICE.row(op.reply.row)
        days = sorted(self._days(system, v))
        outs = [self._output(system, d) for d in days]
        gens = [(o["generated"], o["date"]) for o in outs if o.get("generated") is not None]
        if not gens:
            raise err("no_status")
        best = max(gens)
        values: dict[str, Any] = {
            "energy_generated": sum(g for g, _ in gens),
            "energy_exported": sum(o.get("exported") or 0 for o in outs),
            "average_generation": round(sum(g for g, _ in gens) / len(gens)),
            "minimum_generation": min(g for g, _ in gens),
            "maximum_generation": best[0],
            "average_efficiency": round(sum(g for g, _ in gens) / len(gens) / system.size, 3),
            "outputs": len(gens),
            "actual_date_from": days[0],
            "actual_date_to": days[-1],
            "record_efficiency": round(best[0] / system.size, 3),
            "record_date": best[1],
        }
        columns = row.columns[:11]
        if v.get("c"):
            cons = [o["consumed"] for o in outs if o.get("consumed") is not None]
            values.update(
                energy_consumed=sum(cons),
                peak_energy_import=sum(o.get("import_peak") or 0 for o in outs),
                off_peak_energy_import=sum(o.get("import_off_peak") or 0 for o in outs),
                shoulder_energy_import=sum(o.get("import_shoulder") or 0 for o in outs),
                high_shoulder_energy_import=sum(o.get("import_high_shoulder") or 0 for o in outs),
                average_consumption=round(sum(cons) / len(cons)) if cons else None,
                minimum_consumption=min(cons) if cons else None,
                maximum_consumption=max(cons) if cons else None,
            )
            columns = row.columns
        return format_row(columns, values)

    def _op_get_system(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        row = SERVICE.row(op.reply.row)
        base = {
            "name": system.name,
            "size": system.size,
            "postcode": system.postcode,
            "panels": system.panels,
            "panel_power": system.panel_power,
            "panel_brand": system.panel_brand,
            "inverters": system.inverters,
            "inverter_power": system.inverter_power,
            "inverter_brand": system.inverter_brand,
            "orientation": system.orientation,
            "array_tilt": system.array_tilt,
            "shade": system.shade,
            "install_date": system.install_date,
            "latitude": system.latitude,
            "longitude": system.longitude,
            "status_interval": system.status_interval,
        }
        sections = row.sections
        tariffs = ""
        if v.get("tariffs"):
            tariffs = format_row(
                sections[1].columns, dict(zip([c.name for c in sections[1].columns], system.tariffs, strict=False))
            )
        donations = format_row(sections[2].columns, {"donations": 1 if system.donation else 0})
        return ";".join((format_row(sections[0].columns, base), tariffs, donations))

    def _op_get_insolation(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        zone = ZoneInfo(v["tz"]) if "tz" in v else system.zone
        d = v.get("d", datetime.fromtimestamp(self.clock(), zone).date())
        lat, lon = v.get("ll", (system.latitude, system.longitude))
        out: list[str] = []
        energy = 0.0
        step = system.status_interval
        for minute in range(0, 24 * 60, step):
            moment = datetime.combine(d, time(minute // 60, minute % 60), zone)
            power = max(0.0, system.size * _sin_deg(elevation(moment, lat, lon)))
            energy += power * step / 60
            if power > 0:
                out.append(f"{format_time(moment.time())},{round(power)},{round(energy)}")
        return ";".join(out)

    def _op_search(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        query = str(v["q"]).strip()
        centre = v.get("ll")
        radius: float | None = None
        if query.lower().endswith("km") and query[:-2].strip().replace(".", "", 1).isdigit():
            radius = min(float(query[:-2]), 25.0)
            centre = centre or (system.latitude, system.longitude)
        lines: list[str] = []
        for other in sorted(self.systems.values(), key=lambda s: s.system_id):
            distance = _distance_km(centre, (other.latitude, other.longitude)) if centre else None
            if radius is not None:
                if distance is None or distance > radius:
                    continue
            elif query.lower() not in other.name.lower():
                continue
            outs = sorted({d for d, _ in other.statuses} | set(other.outputs))
            last = "NaN"
            if outs:
                ago = (self._now(other).date() - outs[-1]).days
                last = "Today" if ago == 0 else f"{ago} days ago"
            values = {
                "name": other.name,
                "size": other.size,
                "postcode": ("Australia " if v.get("country") else "") + other.postcode,
                "orientation": other.orientation,
                "outputs": len(outs),
                "last_output": last,
                "system_id": other.system_id,
                "panel": other.panel_brand,
                "inverter": other.inverter_brand,
                "distance": round(distance, 1) if distance is not None and radius is not None else None,
                "latitude": other.latitude,
                "longitude": other.longitude,
            }
            lines.append(format_row(SERVICE.row(op.reply.row).columns, values))
        return "\n".join(lines[:30])


def _sin_deg(deg: float) -> float:
    return math.sin(math.radians(deg))


def _distance_km(a: tuple[float, float] | None, b: tuple[float, float]) -> float | None:
    if a is None:
        return None
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(h))
