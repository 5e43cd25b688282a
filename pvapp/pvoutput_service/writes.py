"""The write operations of the local PVOutput service: PVOutput's acceptance rules, upserts, deletes."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from pv.pvoutput import SERVICE

from pvgen.runtime.pvoutput.model import OperationDef
from pvgen.runtime.pvoutput.timeutil import align
from pvgen.runtime.pvoutput.values import ParamError, decode_record, format_date, format_time

from .records import Reply, System, err
from .solar import is_daylight
from .state import ServiceState


class WriteOps(ServiceState):
    """add status (single and batch), add output(s), delete status."""

    def _check_status(self, system: System, v: dict[str, Any], cumulative: int | None, net: bool) -> tuple[date, time]:
        """PVOutput's add-status rules for one status; raises the exact 400 on failure."""
        d: date = v["d"]
        t = align(v["t"], system.status_interval)
        now = self._now(system)
        days = SERVICE.limits.status_days_donation if system.donation else SERVICE.limits.status_days_free
        if (d, t) > (now.date(), align(now.time(), system.status_interval)):
            raise err("date_in_future", date=format_date(d))
        if d < now.date() - timedelta(days=days):
            raise err("date_too_old", days=days, date=format_date(d))
        if net and cumulative:
            raise err("invalid_net_cumulative")
        if net and ("v2" not in v or "v4" not in v):
            raise err("missing_net")
        power = v.get("v2")
        if power is not None and not net and power > 2 * system.size:
            raise err("power_too_high", value=power, size=system.size)
        energy = v.get("v1")
        if energy is not None and cumulative not in (1, 2) and energy > 12 * system.size:
            raise err("energy_too_high", value=energy, size=system.size)
        moment = datetime.combine(d, t, system.zone)
        if not is_daylight(moment, system.latitude, system.longitude):
            before_sunrise = moment.hour < 12
            if (power or 0) > 0 and not net:
                raise err("moon_powered")
            if (energy or 0) > 0 and before_sunrise and cumulative not in (1, 2):
                raise err("moon_powered")
        if cumulative in (1, 2) and energy is not None:
            earlier = [s["v1"] for (sd, st), s in system.statuses.items() if (sd, st) < (d, t) and "v1" in s]
            if earlier and energy < max(earlier):
                raise err("energy_lower", value=energy, previous=max(earlier))
        return d, t

    def _store_status(self, system: System, d: date, t: time, v: dict[str, Any], ignored: bool) -> None:
        if ignored:
            return
        stored = {k: val for k, val in v.items() if k not in ("d", "t")}
        system.statuses[(d, t)] = stored  # upsert by date and aligned time

    def _op_add_status(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        need = op.need_one_of + (op.need_one_of_donation if system.donation else ())
        if not any(k in v for k in need):
            raise err("missing_values")
        d, t = self._check_status(system, v, v.get("c1"), bool(v.get("n")))
        self._store_status(system, d, t, v, self._ignore_write())
        return SERVICE.error_text("added_status")

    def _op_add_batch_status(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        p = op.param("data")
        assert p is not None
        record = SERVICE.record(p.record)
        rows = [r for r in str(v["data"]).split(";") if r]
        limit = p.batch_donation if system.donation else p.batch_free
        if len(rows) > limit:
            raise err("batch_too_large", count=len(rows), limit=limit)
        parsed: list[dict[str, Any]] = []
        for row in rows:
            try:
                fields = decode_record(record, row)
            except ParamError as exc:
                raise err("could_not_read", key=exc.key) from None  # one unreadable row blocks the batch
            for f in record.fields:
                if f.key in fields and f.donation and not system.donation:
                    raise err("donation", 403)
            parsed.append(fields)
        net = bool(v.get("n"))
        if net and len({r["d"] for r in parsed}) > 1:
            raise err("could_not_read", key="d")
        ignored = self._ignore_write()
        results: list[str] = []
        stored = 0
        for fields in parsed:
            ok = True
            try:
                for f in record.fields:
                    if f.key in fields:
                        self._check_limits(f, fields[f.key], system, params)
                d, t = self._check_status(system, fields, v.get("c1"), net)
                if not any(k in fields for k in ("v1", "v2", "v3", "v4")) and not system.donation:
                    ok = False
            except Reply as reply:
                if reply.blocking:
                    raise
                ok = False
            if ok:
                self._store_status(system, d, t, fields, ignored)
                stored += 1
            results.append(f"{format_date(fields['d'])},{format_time(fields['t'])},{1 if ok else 0}")
        if stored == 0:
            raise err("no_statuses")
        return ";".join(results)

    def _check_output(self, system: System, v: dict[str, Any]) -> dict[str, Any]:
        d: date = v["d"]
        if d > self._now(system).date():
            raise err("date_in_future", date=format_date(d))
        if d < date(2000, 1, 1):
            raise err("date_too_old", days=(self._now(system).date() - d).days, date=format_date(d))
        if ("tm" in v) != ("tx" in v):
            raise err("temperature_pair", date=format_date(d))
        if v.get("g") is not None and v["g"] > 12 * system.size:
            raise err("energy_too_high", value=v["g"], size=system.size)
        if v.get("pp") is not None and v["pp"] > 1.5 * system.size:
            raise err("peak_power_too_high", value=v["pp"], size=system.size)
        fields = {k: val for k, val in v.items() if k != "d"}
        generated = fields.get("g", self._output(system, d).get("generated"))
        if "e" in fields and generated is not None and fields["e"] > generated:
            del fields["e"]  # PVOutput answers OK and silently drops it (forum thread 8501)
        return fields

    def _op_add_output(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        fields = self._check_output(system, v)
        if not self._ignore_write():
            system.outputs.setdefault(v["d"], {}).update(fields)
        return SERVICE.error_text("added_output")

    def _op_add_outputs(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        p = op.param("data")
        assert p is not None
        record = SERVICE.record(p.record)
        rows = [r for r in str(v["data"]).split(";") if r]
        if len(rows) > p.batch_donation:
            raise err("batch_too_large", count=len(rows), limit=p.batch_donation)
        checked = []
        for row in rows:
            try:
                fields = decode_record(record, row)
            except ParamError as exc:
                raise err("could_not_read", key=exc.key) from None
            checked.append((fields["d"], self._check_output(system, fields)))
        if not self._ignore_write():
            for d, fields in checked:
                system.outputs.setdefault(d, {}).update(fields)
        return SERVICE.error_text("added_output")

    def _op_delete_status(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        d: date = v["d"]
        days = SERVICE.limits.delete_days_donation if system.donation else SERVICE.limits.delete_days_free
        if d < self._now(system).date() - timedelta(days=days):
            raise err("delete_too_old", date=format_date(d), days=days)
        if "t" in v:
            system.statuses.pop((d, align(v["t"], system.status_interval)), None)
        else:
            for k in [k for k in system.statuses if k[0] == d]:
                del system.statuses[k]
        return SERVICE.error_text("deleted_status")
