"""MQTT fleet benchmark: 50 simulated inverters on 5 ports publishing through one mosquitto.

    .venv/bin/python -m benchmarks.bench_mqtt_fleet            # full sizes, prints a table
    .venv/bin/python -m benchmarks.bench_mqtt_fleet --quick
    .venv/bin/python -m benchmarks --only mqtt_fleet           # as part of the whole table

Two measurements, because they answer different questions:

* **fleet**: the real monitor polls 5 ``sim://cms`` lines with 10 inverters
  each (sped-up clock), stores every reading in SQLite and publishes it with
  Home Assistant discovery.  Answers "does a 50-inverter site keep up, and what
  does MQTT cost inside it?".
* **replay**: the readings that run stored are pushed through a fresh MQTT
  output as fast as it accepts them, per QoS and topic layout.  Answers "how
  much headroom does the output have, and what does a message cost?".

CPU per message is the CPU time of the output's two threads (worker + paho
network thread, read from /proc per thread) divided by the MQTT messages they
sent; the broker's CPU per message is reported beside it.  A subscriber (in
this process, on its own thread, not counted) confirms that every message
arrived.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

try:
    from benchmarks import REPO, Row, pending
except ImportError:  # run as a plain script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import REPO, Row, pending

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from pvapp.outputs.mqtt import QUEUE_SIZE, MqttOutput, validate_config
from pvapp.reading import Reading
from tests.mqtt.broker import Broker, Recorder, find_mosquitto  # the test suite's broker fixture

PORTS = 5
PER_PORT = 10
TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu(threads: Sequence[threading.Thread]) -> float:
    """CPU seconds (user + system) used so far by these threads of this process."""
    total = 0
    for t in threads:
        if t.native_id is None:
            continue
        try:
            fields = Path(f"/proc/self/task/{t.native_id}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # thread already gone
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


@dataclass
class Result:
    name: str
    readings: int
    messages: int
    seconds: float
    output_cpu: float
    broker_cpu: float
    delivered: int
    note: str = ""

    @property
    def msg_rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    @property
    def reading_rate(self) -> float:
        return self.readings / self.seconds if self.seconds else 0.0

    def us_per_msg(self, cpu: float) -> float:
        return cpu / self.messages * 1e6 if self.messages else float("nan")


def serials_of(port: int) -> list[str]:
    return [f"BN{port:02d}{i:06d}" for i in range(PER_PORT)]


def fleet(broker: Broker, workdir: Path, seconds: float, speed: float) -> tuple[Result, list[Reading]]:
    """Run the real monitor with 50 simulated inverters for ``seconds`` real seconds."""
    from pvapp import config as pvconfig
    from pvapp.clock import ScaledClock
    from pvapp.monitor.run import make_open_port
    from pvapp.monitor.service import Monitor
    from pvapp.storage import Storage

    ports = []
    for p in range(PORTS):
        sns = serials_of(p)
        url = f"sim://cms?inverters={PER_PORT}&serials={','.join(sns)}&seed={p}&awake=always"
        ports.append({"port": url, "spec": "cms", "timeout": 0.2, "inverters": [{"serial": s} for s in sns]})
    table = {
        "timezone": "UTC",
        "poll_interval": 10,
        "storage": {"path": str(workdir / "fleet.sqlite")},
        "ports": ports,
        "mqtt": {"host": broker.host, "port": broker.port, "client_id": "bench-fleet"},
    }
    cfg = pvconfig.from_table(table, env={})
    clock = ScaledClock(datetime(2026, 12, 21, 1, 0, tzinfo=UTC), speed)
    storage = Storage(cfg.storage.path, synchronous="NORMAL")
    assert cfg.mqtt_config is not None
    output = MqttOutput(cfg.mqtt_config, configured_serials=[s for p in range(PORTS) for s in serials_of(p)])
    sub = Recorder(broker, ["pv/+/state"])
    mon = Monitor(cfg, clock=clock, storage=storage, outputs=[output], open_port=make_open_port(clock))
    assert broker.proc is not None
    broker_cpu0 = process_cpu(broker.proc.pid)
    thread = threading.Thread(target=mon.run, kwargs={"install_signals": False, "duration": seconds})
    started = time.perf_counter()
    thread.start()
    # the output threads exist once the monitor's runner has started it
    while not output.threads and thread.is_alive():
        time.sleep(0.01)
    cpu0 = thread_cpu(output.threads)
    threads = output.threads
    messages0 = output.stats.messages
    while thread.is_alive():
        cpu_last = thread_cpu(threads)  # sample before the threads end with the monitor
        thread.join(0.2)
    elapsed = time.perf_counter() - started
    cpu = max(cpu_last, thread_cpu(threads)) - cpu0
    stored = list(storage.history(datetime(2000, 1, 1, tzinfo=UTC)))
    time.sleep(0.5)
    delivered = len(sub.messages)
    sub.close()
    storage.close()
    inverters = len({r.inverter.serial for r in stored})
    result = Result(
        "fleet: monitor + sim, QoS 1, JSON",
        len(stored),
        output.stats.messages - messages0,
        elapsed,
        cpu,
        process_cpu(broker.proc.pid) - broker_cpu0,
        delivered,
        f"{inverters} inverters answered on {PORTS} ports; {speed:g}x clock, 10 s polls",
    )
    return result, stored


def replay(broker: Broker, corpus: list[Reading], count: int, qos: int, per_value: bool) -> Result:
    """Push ``count`` readings (the fleet's, shifted in time) through a fresh output, flat out."""
    cfg = validate_config(
        {
            "host": broker.host,
            "port": broker.port,
            "qos": qos,
            "per_value_topics": per_value,
            "client_id": f"bench-replay-{qos}-{per_value}",
            "base_topic": f"replay{qos}{int(per_value)}",
        },
        env={},
    )
    out = MqttOutput(cfg)
    sub = Recorder(broker, [f"{cfg.base_topic}/+/state"])
    out.start()
    out.wait_connected(10)
    span = (corpus[-1].time - corpus[0].time) + timedelta(seconds=10)
    readings = [replace(corpus[i % len(corpus)], time=corpus[i % len(corpus)].time + span * (i // len(corpus)))
                for i in range(count)]  # fmt: skip
    # warm up discovery for every inverter, so the timed part is steady state
    for r in corpus[: PORTS * PER_PORT * 2]:
        out.publish(replace(r, time=r.time - timedelta(days=1)))
    out.wait_idle(30)
    assert broker.proc is not None
    threads = out.threads
    cpu0, bcpu0, msgs0 = thread_cpu(threads), process_cpu(broker.proc.pid), out.stats.messages
    got0 = len(sub.messages)
    started = time.perf_counter()
    for r in readings:
        # a poller produces steadily; a burst larger than the output's queue would only measure drops
        while out.backlog >= QUEUE_SIZE // 2:
            time.sleep(0.0005)
        out.publish(r)
    out.wait_idle(120)
    elapsed = time.perf_counter() - started
    cpu = thread_cpu(threads) - cpu0
    bcpu = process_cpu(broker.proc.pid) - bcpu0
    messages = out.stats.messages - msgs0
    first = readings[0].time.astimezone(UTC)

    def delivered_now() -> int:
        return sum(datetime.fromisoformat(m.json()["time"]) >= first for m in sub.messages[got0:])

    deadline = time.monotonic() + 10
    while delivered_now() < count and time.monotonic() < deadline:
        time.sleep(0.1)
    delivered = delivered_now()
    dropped = out.stats.dropped_queue_full
    out.stop()
    sub.close()
    layout = "JSON + one topic per value" if per_value else "JSON"
    note = f"{dropped} dropped (queue full)" if dropped else ""
    return Result(f"replay: QoS {qos}, {layout}", count, messages, elapsed, cpu, bcpu, delivered, note)


def measure(quick: bool) -> list[Result]:
    binary = find_mosquitto()
    if binary is None:
        raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
    with tempfile.TemporaryDirectory(prefix="pv-bench-mqtt-") as tmp:
        broker = Broker(binary, Path(tmp) / "broker")
        (Path(tmp) / "broker").mkdir()
        broker.start()
        try:
            fleet_result, corpus = fleet(broker, Path(tmp), seconds=4 if quick else 12, speed=30)
            results = [fleet_result]
            if not corpus:
                return results
            count = 5000 if quick else 20000
            for qos, per_value in ((0, False), (1, False), (1, True)):
                # one topic per value is ~18 messages per reading: a quarter of the readings still
                # sends more than 65535 messages, past paho's 16-bit message ids
                results.append(replay(broker, corpus, count // 4 if per_value else count, qos, per_value))
            return results
        finally:
            broker.close()


def rows_of(results: list[Result]) -> list[Row]:
    rows: list[Row] = []
    fleet_result = results[0]
    rows.append(
        Row(
            "mqtt fleet: readings/s published (50 inverters, 5 ports)",
            round(fleet_result.reading_rate, 1),
            "readings/s",
            ">= 5 (50 inverters polled every 10 s)",
            fleet_result.reading_rate >= 5,
            fleet_result.note,
        )
    )
    rows.append(
        Row(
            "mqtt fleet: output CPU per message",
            round(fleet_result.us_per_msg(fleet_result.output_cpu), 1),
            "µs/msg",
            "context",
            None,
            f"{fleet_result.messages} messages; broker {fleet_result.us_per_msg(fleet_result.broker_cpu):.1f} µs/msg",
        )
    )
    for r in results[1:]:
        rows.append(
            Row(
                f"mqtt {r.name}: messages/s",
                round(r.msg_rate),
                "msg/s",
                ">= 500 (10x a 50-inverter fleet at 1 s polls)",
                r.msg_rate >= 500 and r.delivered >= r.readings,
                f"{r.us_per_msg(r.output_cpu):.1f} µs CPU/msg in the output, broker "
                f"{r.us_per_msg(r.broker_cpu):.1f} µs/msg; {r.delivered}/{r.readings} state messages delivered"
                + (f"; {r.note}" if r.note else ""),
            )
        )
    return rows


def run(quick: bool) -> list[Row]:
    """Entry point for ``python -m benchmarks``."""
    if find_mosquitto() is None:
        return [pending("mqtt fleet", "msg/s", "measured", "mosquitto is not installed (apt-get install mosquitto)")]
    return rows_of(measure(quick))


def print_table(results: list[Result]) -> None:
    head = (
        f"{'run':44} {'readings':>8} {'msgs':>7} {'secs':>6} {'msg/s':>8} {'readings/s':>10} "
        f"{'out µs/msg':>10} {'broker µs/msg':>13} {'delivered':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r.name:44} {r.readings:8d} {r.messages:7d} {r.seconds:6.2f} {r.msg_rate:8.0f} {r.reading_rate:10.1f} "
            f"{r.us_per_msg(r.output_cpu):10.1f} {r.us_per_msg(r.broker_cpu):13.1f} {r.delivered:9d}"
        )
        if r.note:
            print(f"    {r.note}")
    print(
        f"\nCPU: output = its worker + paho network thread (/proc per-thread, {1000 // TICK} ms ticks); "
        "delivered = state messages a subscriber received."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    args = parser.parse_args(argv)
    print_table(measure(args.quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
