"""``/metrics``: the monitor in the Prometheus text exposition format.

Written with ``prometheus_client`` (a custom collector on a private registry,
rendered by its ``generate_latest``) rather than by hand, so the format, the
escaping of label values (serial numbers and fault words come from the
inverter) and the ``# HELP``/``# TYPE`` lines are exactly Prometheus' own.

A scrape reads only copies: the live snapshot, integers the monitor's threads
keep (poll errors, cycles, framer statistics) and one grouped query on the web
server's read-only database connection for the upload queue.  It takes no lock
the poller waits for.

Metric names (labels ``serial`` and ``model`` on every per-inverter metric):

* ``pv_inverter_<quantity>_<unit>`` for every canonical quantity of the last
  reading (``pv_inverter_pac_watts``, ``pv_inverter_e_total_kwh``,
  ``pv_inverter_h_total_hours``, ``pv_inverter_vac_volts``...).  Instantaneous
  values only while the inverter is awake (asleep means no output, not the
  last value seen); the counters E-Total and h-Total always; E-Today the last
  value of today, 0 before the first reading of the day.
* ``pv_inverter_state{state=awake|asleep|lost|waiting}`` (1 for the current one),
  ``pv_inverter_mode_info{mode}``, ``pv_inverter_fault{fault}``,
  ``pv_inverter_last_reading_timestamp_seconds``.
* ``pv_polls_total{serial,result}``, ``pv_poll_cycles_total{port}``,
  ``pv_frames_total{port}``, ``pv_frames_discarded_total{port,reason}``,
  ``pv_frame_garbage_bytes_total{port}``, ``pv_readings_stored_total``,
  ``pv_store_failures_total``, ``pv_values_refused_total{serial,quantity}``,
  ``pv_output_dropped_total{output}``, ``pv_pvoutput_queue{system,status}``,
  ``pv_mqtt_connected``, ``pv_mqtt_backlog``, ``pv_build_info{version,python}``,
  ``pv_monitor_start_time_seconds``.
"""

from __future__ import annotations

import platform
import threading
from collections.abc import Iterator
from datetime import tzinfo
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pvgen.runtime.quantities import QUANTITIES

from .api import Api, mqtt_output

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

UNIT_SUFFIX = {
    "W": "watts",
    "kWh": "kwh",
    "h": "hours",
    "°C": "celsius",
    "V": "volts",
    "A": "amperes",
    "Hz": "hertz",
    "mΩ": "milliohms",
}
COUNTERS = ("e_total", "h_total")  # meaningful while asleep: the last value stands
STATES = ("awake", "asleep", "lost", "waiting")
DISCARD_REASONS = ("bad_checksum", "bad_length", "truncated", "implausible")
POLL_ERRORS = ("no_reply", "protocol", "other")


def metric_name(qid: str, unit: str) -> str:
    suffix = UNIT_SUFFIX.get(unit)
    return f"pv_inverter_{qid}_{suffix}" if suffix else f"pv_inverter_{qid}"


class FramerTotals:
    """Frame statistics summed per port across client objects.

    A port's clients are replaced on every re-registration (each with fresh
    framer statistics), so the totals add each client's increase since the
    last scrape: counters that never go down, as Prometheus expects.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, tuple[int, dict[str, int]]] = {}  # slot key -> (id(client), stats seen)
        self.totals: dict[str, dict[str, int]] = {}  # port -> stat -> total

    def update(self, monitor: Any) -> dict[str, dict[str, int]]:
        with self._lock:
            for poller in getattr(monitor, "pollers", ()):
                port = poller.cfg.port
                totals = self.totals.setdefault(port, {})
                for slot in list(poller.slots):
                    client = slot.client
                    framer = getattr(client, "framer", None)
                    if framer is None:
                        continue
                    now = framer.stats.as_dict()
                    prev_id, prev = self._last.get(slot.key, (0, {}))
                    if prev_id != id(client):
                        prev = {}
                    for k, v in now.items():
                        totals[k] = totals.get(k, 0) + max(0, v - prev.get(k, 0))
                    self._last[slot.key] = (id(client), now)
            return {p: dict(t) for p, t in self.totals.items()}


class PvCollector(Collector):
    def __init__(self, api: Api, tz: tzinfo) -> None:
        self.api = api
        self.tz = tz
        self.framer = FramerTotals()

    def collect(self) -> Iterator[Metric]:
        api = self.api
        snap = api.live.snapshot()
        today = api.today()
        labels = ["serial", "model"]
        families: dict[str, GaugeMetricFamily] = {}
        for q in QUANTITIES:
            if q.id in ("mode", "error"):
                continue
            name = metric_name(q.id, q.unit)
            unit_text = f" ({q.unit})" if q.unit else ""
            families[q.id] = GaugeMetricFamily(name, f"{q.doc}{unit_text}, last reading", labels=labels)
        state = GaugeMetricFamily("pv_inverter_state", "1 for the inverter's current state", labels=[*labels, "state"])
        mode = GaugeMetricFamily(
            "pv_inverter_mode_info", "operating mode of the last reading", labels=[*labels, "mode"]
        )
        fault = GaugeMetricFamily(
            "pv_inverter_fault", "1 for each fault of the last reading", labels=[*labels, "fault"]
        )
        last = GaugeMetricFamily(
            "pv_inverter_last_reading_timestamp_seconds", "Unix time of the last stored reading", labels=labels
        )
        refused = CounterMetricFamily(
            "pv_values_refused",
            "readings with this value refused by the guards, this run",
            labels=["serial", "quantity"],
        )
        polls = CounterMetricFamily(
            "pv_polls", "status polls this run by result (ok: reading stored)", labels=["serial", "result"]
        )
        errors_by_serial = self._poll_errors()
        for serial, inv in sorted(snap.inverters.items()):
            model = inv.info.model or inv.info.spec_id
            lv = [serial, model]
            for st in STATES:
                state.add_metric([*lv, st], 1.0 if inv.state == st else 0.0)
            polls.add_metric([serial, "ok"], float(inv.readings))
            for reason in POLL_ERRORS:
                polls.add_metric([serial, reason], float(errors_by_serial.get(serial, {}).get(reason, 0)))
            for fid, n in sorted(inv.refused.items()):
                refused.add_metric([serial, fid], float(n))
            r = inv.reading
            if r is None:
                continue
            last.add_metric(lv, r.time.timestamp())
            awake = inv.state == "awake"
            is_today = r.time.astimezone(self.tz).date() == today
            if r.mode:
                mode.add_metric([*lv, r.mode], 1.0)
            if awake:
                for word in r.faults:
                    fault.add_metric([*lv, word], 1.0)
            for qid, fam in families.items():
                if qid not in r.values:
                    continue
                value = r.values[qid]
                if qid == "e_today":
                    value = value if is_today else 0.0
                elif qid not in COUNTERS and not awake:
                    continue
                if isinstance(value, int | float):
                    fam.add_metric(lv, float(value))
        yield from (f for f in families.values() if f.samples)
        yield from (state, mode, fault, last, refused, polls)
        yield from self._monitor_metrics(snap)
        yield from self._queue_metrics()

    def _poll_errors(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for poller in getattr(self.api.monitor, "pollers", ()):
            for slot in list(poller.slots):
                errs = dict(slot.errors)
                if errs:
                    out[slot.serial or slot.key] = errs
        return out

    def _monitor_metrics(self, snap: Any) -> Iterator[Metric]:
        monitor = self.api.monitor
        build = GaugeMetricFamily("pv_build_info", "pv version and Python", labels=["version", "python"])
        build.add_metric([self.api.site.version, platform.python_version()], 1.0)
        yield build
        start = GaugeMetricFamily("pv_monitor_start_time_seconds", "Unix time the monitor started")
        start.add_metric([], snap.started.timestamp())
        yield start
        if monitor is None:
            return
        stored = CounterMetricFamily("pv_readings_stored", "readings stored in the database this run")
        stored.add_metric([], float(getattr(monitor, "readings_stored", 0)))
        yield stored
        failures = CounterMetricFamily("pv_store_failures", "readings that could not be stored this run")
        failures.add_metric([], float(getattr(monitor, "store_failures", 0)))
        yield failures
        cycles = CounterMetricFamily("pv_poll_cycles", "polling passes over each port this run", labels=["port"])
        for poller in getattr(monitor, "pollers", ()):
            cycles.add_metric([poller.cfg.port], float(poller.cycles))
        yield cycles
        frames = CounterMetricFamily("pv_frames", "frames accepted by the framer this run", labels=["port"])
        discarded = CounterMetricFamily(
            "pv_frames_discarded", "frames discarded by the framer this run, by reason", labels=["port", "reason"]
        )
        garbage = CounterMetricFamily(
            "pv_frame_garbage_bytes", "bytes skipped between frames this run", labels=["port"]
        )
        for port, totals in sorted(self.framer.update(monitor).items()):
            frames.add_metric([port], float(totals.get("frames", 0)))
            garbage.add_metric([port], float(totals.get("garbage_bytes", 0)))
            for reason in DISCARD_REASONS:
                discarded.add_metric([port, reason], float(totals.get(reason, 0)))
        yield from (frames, discarded, garbage)
        dropped = CounterMetricFamily(
            "pv_output_dropped", "readings an output fell too far behind to take", labels=["output"]
        )
        for runner in getattr(monitor, "runners", ()):
            dropped.add_metric([str(runner.name)], float(runner.dropped))
        yield dropped
        mqtt = mqtt_output(monitor)
        if mqtt is not None:
            connected = GaugeMetricFamily("pv_mqtt_connected", "1 while connected to the MQTT broker")
            connected.add_metric([], 1.0 if mqtt.connected else 0.0)
            backlog = GaugeMetricFamily("pv_mqtt_backlog", "events waiting for the MQTT broker")
            backlog.add_metric([], float(mqtt.backlog))
            yield from (connected, backlog)

    def _queue_metrics(self) -> Iterator[Metric]:
        if not self.api.site.pvoutput:
            return
        queue = GaugeMetricFamily(
            "pv_pvoutput_queue", "PVOutput status slots in the upload queue by status", labels=["system", "status"]
        )
        for entry in self.api.db.queue_summary():
            for status in ("pending", "sending", "sent", "rejected"):
                queue.add_metric([str(entry["system"]), status], float(entry.get(status, 0)))
        yield queue


class Metrics:
    def __init__(self, api: Api, tz: tzinfo) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = PvCollector(api, tz)
        self.registry.register(self.collector)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
