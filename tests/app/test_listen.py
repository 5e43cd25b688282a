"""Samil TCP as the real units work: simulated inverters connect in to `pv monitor`'s listening port.

The simulators run in connect-in mode (``TcpConnector`` waiting for the
"I AM SERVER" datagram, as a SolarRiver TL-D does, REFERENCE 1.3), on loopback
only: their UDP sockets are bound to 127.0.0.1, the monitor listens on
127.0.0.1 with an ephemeral port and sends its advertisement to those
addresses.  One scenario runs once per module; each test checks one promise.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pvapp import config as config_mod
from pvapp.monitor.listener import ListenPoller
from pvapp.monitor.service import Monitor
from pvapp.sim import SimOptions, Simulator
from pvapp.sim.servers import TcpConnector
from pvapp.storage import Storage

from .conftest import BRISBANE, make_clock, write_config

SPEED = 30.0
START = datetime(2026, 1, 12, 10, 0, tzinfo=BRISBANE)
TLD, LAKE, STRANGER = "S221151415", "SL17K00001", "S999999999"
ADVERT = bytes.fromhex("55aa004002000b4920414d20534552564552043a")  # REFERENCE 1.3, [mhvis]


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.times: list[float] = []  # wall-clock time of each line (record.created)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        self.times.append(record.created)

    def first_time(self, *words: str) -> float:
        return next(t for t, line in zip(self.times, self.lines, strict=True) if all(w in line for w in words))

    def count(self, *words: str) -> int:
        return sum(all(w in line for w in words) for line in self.lines)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def sim_connector(clock: Any, model: str, serial: str) -> tuple[Simulator, TcpConnector]:
    opts = SimOptions(spec="samil_tcp", model=model, serials=(serial,), latitude=-27.47, clouds=0, latency=(20, 60))
    sim = Simulator("samil_tcp", opts, clock=clock)
    # connect-back port unknown until the monitor listens; UDP on loopback only
    return sim, TcpConnector(sim, None, port=1, udp_port=0, udp_host="127.0.0.1", retry=0.3)


@dataclass
class Scenario:
    storage: Storage
    poller: ListenPoller
    log: Records
    sims: dict[str, Simulator]
    connectors: dict[str, TcpConnector]
    adverts: list[tuple[float, bytes]] = field(default_factory=list)
    silent_closed: bool = False
    states: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    tmp = tmp_path_factory.mktemp("listen")
    shared = make_clock(START, SPEED)
    sims, conns = {}, {}
    for serial, model in ((TLD, "sr4500tld"), (LAKE, "sl17ktl"), (STRANGER, "sr4500tld")):
        sims[serial], conns[serial] = sim_connector(shared.clock, model, serial)
    watcher = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    watcher.bind(("127.0.0.1", 0))
    watcher.settimeout(0.2)
    targets = [f"127.0.0.1:{c.udp_port}" for c in conns.values()] + [f"127.0.0.1:{watcher.getsockname()[1]}"]
    db = tmp / "pv.sqlite"
    cfg_path = write_config(
        tmp / "pv.toml",
        f"""
        timezone = "Australia/Brisbane"
        poll_interval = 30
        asleep_after = 600
        [storage]
        path = "{db}"
        synchronous = "NORMAL"
        [[ports]]
        port = "listen://127.0.0.1:0"
        advertise = {targets!r}
        timeout = 1.0
          [[ports.inverters]]
          serial = "{TLD}"
          name = "roof"
          [[ports.inverters]]
          serial = "{LAKE}"
        """.replace("'", '"'),
    )
    cfg = config_mod.load(str(cfg_path), env={})
    storage = Storage(db, synchronous="NORMAL")
    records = Records()
    pv_log = logging.getLogger("pv")
    old_level = pv_log.level
    pv_log.setLevel(logging.DEBUG)
    pv_log.addHandler(records)
    monitor = Monitor(cfg, clock=shared.clock, storage=storage)
    poller = monitor.pollers[0]
    assert isinstance(poller, ListenPoller)
    scen = Scenario(storage, poller, records, sims, conns)
    original_on_state = monitor._on_state

    def on_state(slot: Any, state: Any, why: str) -> None:
        scen.states.append((slot.serial, state))
        original_on_state(slot, state, why)

    for p in monitor.pollers:
        p.on_state = on_state
    stop_watch = threading.Event()

    def watch() -> None:
        while not stop_watch.is_set():
            try:
                data, _ = watcher.recvfrom(2048)
            except TimeoutError:
                continue
            scen.adverts.append((time.time(), data))

    watching = threading.Thread(target=watch, daemon=True)
    watching.start()
    runner = threading.Thread(target=monitor.run, kwargs={"install_signals": False}, daemon=True)
    runner.start()
    try:
        assert poller.listening.wait(10)
        assert poller.address is not None and poller.address[0] == "127.0.0.1"
        for serial in (TLD, LAKE):
            conns[serial].port = poller.address[1]
            conns[serial].start()

        def readings(serial: str) -> int:
            return sum(1 for r in storage.readings(serial=serial))

        wait_for("both inverters polled", lambda: readings(TLD) >= 3 and readings(LAKE) >= 3)
        # a unit that is not configured: refused every time it calls, logged once
        conns[STRANGER].port = poller.address[1]
        conns[STRANGER].start()
        wait_for("the stranger to call three times", lambda: conns[STRANGER].connects >= 3)
        # a connection that never answers
        silent = socket.create_connection(poller.address)
        silent.settimeout(15)
        asked = b""
        while chunk := silent.recv(100):
            asked += chunk
        silent.close()
        # it was asked who it is (the version request, 01 03 02) until the monitor gave up
        scen.silent_closed = asked.startswith(bytes.fromhex("55aa0103020000")) and len(asked) >= 18
        # the TL-D goes off and comes back (its WiFi module reboots): same serial, new connection
        before = conns[TLD].connects
        sims[TLD].inverters[0].power(False)
        wait_for("the TL-D to hang up", lambda: records.count("disconnected", TLD))
        sims[TLD].inverters[0].power(True)
        wait_for("the TL-D to call again", lambda: conns[TLD].connects > before)
        n = readings(TLD)
        wait_for("readings after the reconnect", lambda: readings(TLD) >= n + 2)
        # a second connection bringing the same serial replaces the first (which then calls again
        # and replaces it in turn; the second one waits too long to call back)
        twin = TcpConnector(sims[TLD], "127.0.0.1", poller.address[1], retry=1000)
        conns["twin"] = twin
        twin.start()
        wait_for("the old connection replaced twice", lambda: records.count("connected again", TLD) >= 2)
        n = readings(TLD)
        wait_for("readings after the replacement", lambda: readings(TLD) >= n + 2)
        # another host presenting the TL-D's serial (any LAN host can): it takes the slot, with a warning;
        # the TL-D calls back and takes it again (warned too: the address changed back)
        impostor = TcpConnector(sims[TLD], "127.0.0.1", poller.address[1], retry=1000, source="127.0.0.2")
        conns["impostor"] = impostor
        before = conns[TLD].connects
        impostor.start()
        wait_for("the TL-D to call back", lambda: impostor.connects == 1 and conns[TLD].connects > before)
        n = readings(TLD)
        wait_for("readings after the impostor", lambda: readings(TLD) >= n + 2)
        yield scen
    finally:
        monitor.request_stop()
        runner.join(timeout=30)
        stop_watch.set()
        watching.join(timeout=5)
        for c in conns.values():
            c.stop()
        watcher.close()
        pv_log.removeHandler(records)
        pv_log.setLevel(old_level)
        storage.close()
        assert not runner.is_alive()


def test_listens_on_loopback_only_and_advertises_where_configured_repeatedly(scenario: Scenario) -> None:
    assert scenario.poller.address is not None and scenario.poller.address[0] == "127.0.0.1"
    assert len(scenario.adverts) >= 2, "the advertisement is repeated while inverters are missing"
    assert {data for _, data in scenario.adverts} == {ADVERT}
    assert all(c.connects >= 1 for c in scenario.connectors.values())


def test_a_disconnect_starts_a_new_burst_of_advertisements(scenario: Scenario) -> None:
    """After the TL-D hangs up, a burst (one per accept-loop turn, 0.5 s) follows at once.

    Without it only the slow repeat (60 s, 2 s on this 30x clock) would run, and
    only while the unit is missing: it calls back within a second here, so at
    most one advertisement would fall into the three seconds after the drop.
    """
    dropped = scenario.log.first_time("disconnected", TLD)
    start_burst = [t for t, _ in scenario.adverts if t < dropped]
    assert start_burst and dropped - start_burst[-1] > 2.0, "the start's burst was still running"
    after = [t for t, _ in scenario.adverts if dropped - 0.05 <= t <= dropped + 3.0]
    assert len(after) >= 4, (len(after), [round(t - dropped, 2) for t, _ in scenario.adverts if t > dropped][:8])


def test_both_inverters_connected_polled_and_stored(scenario: Scenario) -> None:
    rows = list(scenario.storage.readings(serial=TLD))
    assert len(rows) >= 5
    assert all(r.pac is not None and r.e_total is not None and r.e_today is not None for r in rows)
    inverters = {r["serial"]: r for r in scenario.storage.inverters()}
    assert inverters[TLD]["model"] == "River 4500TL-D" and inverters[TLD]["address"] is None
    assert inverters[LAKE]["port"] == "listen://127.0.0.1:0"
    assert scenario.storage.readings(serial=LAKE)
    found = [line for line in scenario.log.lines if "found on" in line]
    assert found and not any("address None" in line for line in found)


def test_three_phase_solarlake_stored_with_canonical_power_and_energy(scenario: Scenario) -> None:
    rows = list(scenario.storage.readings(serial=LAKE))
    assert rows and all(r.pac is not None and r.e_total is not None for r in rows)
    assert max(r.pac or 0 for r in rows) > 1000


def test_each_unit_judged_by_its_own_model(scenario: Scenario) -> None:
    """The model its layout identifies gives the guard its rated power, as on a dialled port.

    Before, a listen:// slot never had a model, so the guard fell back to the
    version text and a SolarLake 17 kW unit could be held to a smaller rating.
    """
    slots = {s.serial: s for s in scenario.poller.slots}
    assert slots[TLD].model is not None and slots[TLD].model.id == "sr4500tld"
    assert slots[LAKE].model is not None and slots[LAKE].model.id == "sl17ktl"
    assert slots[LAKE].guard is not None and slots[LAKE].guard.rated_power == 17000


def test_keep_alive_when_the_poll_interval_exceeds_the_units_idle_limit(scenario: Scenario) -> None:
    # poll_interval 30 s > 11 s: between two status polls the monitor sends 01 09 (answered 55 0c 00 00)
    commands = [e.command for e in scenario.sims[LAKE].log]
    assert commands.count("keep_alive") >= 2
    first_status = commands.index("status")
    assert "keep_alive" in commands[first_status:]


def test_disconnect_and_reconnect_is_not_lost_nor_asleep(scenario: Scenario) -> None:
    tld_states = [s for serial, s in scenario.states if serial == TLD]
    assert tld_states == ["awake"], tld_states  # found once; a short drop is neither lost nor asleep
    assert scenario.connectors[TLD].connects >= 2
    assert scenario.log.count("inverter", TLD, "connected from") >= 2


def test_same_serial_on_a_new_connection_replaces_the_old_one(scenario: Scenario) -> None:
    assert scenario.connectors["twin"].connects == 1
    assert not scenario.connectors["twin"].connected  # replaced by the TL-D's own call back
    assert scenario.log.count("connected again", TLD) >= 2
    times = [r.time for r in scenario.storage.readings(serial=TLD)]
    assert len(times) == len(set(times))


def test_a_serial_presented_from_another_address_is_warned_about(scenario: Scenario) -> None:
    """A serial is no credential: whoever presents it gets the slot (docs/security.md), but not silently."""
    assert scenario.connectors["impostor"].connects == 1
    warnings = [line for line in scenario.log.lines if "another host is presenting its serial" in line]
    assert len(warnings) == 2, warnings  # there and back, each once
    assert warnings[0].startswith(f"inverter {TLD} connected from another address, 127.0.0.2:")
    assert "(it was at 127.0.0.1; its connection from there is closed)" in warnings[0]
    assert warnings[1].startswith(f"inverter {TLD} connected from another address, 127.0.0.1:")
    assert "(it was at 127.0.0.2" in warnings[1]
    # the same address calling again is routine: no warning for the twin or the TL-D's own reconnects
    assert scenario.log.count("connected again", TLD) >= 2


def test_unconfigured_serial_refused_and_logged_once(scenario: Scenario) -> None:
    assert scenario.connectors[STRANGER].connects >= 3
    assert scenario.log.count(STRANGER, "not configured here") == 1
    assert not list(scenario.storage.readings(serial=STRANGER))
    events = scenario.storage.events(kind="refused")
    assert len(events) == 1 and STRANGER in events[0]["detail"]


def test_silent_connection_closed_and_logged_once(scenario: Scenario) -> None:
    assert scenario.silent_closed
    assert scenario.log.count("never answered") == 1


def test_config_path_is_dial_free(tmp_path: Path) -> None:
    """No socket of the suite listens beyond loopback: the config above binds 127.0.0.1."""
    cfg = write_config(tmp_path / "pv.toml", '[[ports]]\nport = "listen://127.0.0.1:0"\nadvertise = false\n')
    loaded = config_mod.load(str(cfg), env={})
    assert loaded.ports[0].listen and loaded.ports[0].advertise == () and loaded.ports[0].spec == "samil_tcp"


@pytest.mark.parametrize("marker", ["samil-tcp-one", "samil-tcp-several"])
def test_documented_samil_tcp_configurations_load(marker: str) -> None:
    import re
    import tomllib

    text = (Path(__file__).resolve().parents[2] / "docs" / "monitor.md").read_text(encoding="utf-8")
    m = re.search(rf"<!-- {marker} -->\n```toml\n(.*?)```", text, re.S)
    assert m, f"docs/monitor.md lost its {marker} block"
    cfg = config_mod.from_table(tomllib.loads(m.group(1)), env={})
    port = cfg.ports[0]
    assert port.listen and port.spec == "samil_tcp" and port.port == "listen://0.0.0.0:1200"
    assert all(inv.pvoutput_system == 12345 for inv in port.inverters)
    if marker == "samil-tcp-one":
        assert port.advertise == (("255.255.255.255", 1300),) and len(port.inverters) == 1
    else:
        assert port.advertise == (("192.168.1.255", 1300), ("192.168.2.255", 1300)) and len(port.inverters) == 2


def test_a_unit_hanging_up_at_dusk_becomes_asleep_not_lost(tmp_path: Path) -> None:
    """At dusk a Samil TCP unit's network module loses power and hangs up: asleep after asleep_after, not lost."""
    shared = make_clock(datetime(2026, 1, 12, 18, 15, tzinfo=BRISBANE), 120.0)
    sim, conn = sim_connector(shared.clock, "sr4500tld", TLD)
    db = tmp_path / "pv.sqlite"
    cfg_path = write_config(
        tmp_path / "pv.toml",
        f"""
        timezone = "Australia/Brisbane"
        poll_interval = 30
        asleep_after = 300
        [storage]
        path = "{db}"
        synchronous = "NORMAL"
        [[ports]]
        port = "listen://127.0.0.1:0"
        advertise = false
        timeout = 1.0
          [[ports.inverters]]
          serial = "{TLD}"
        """,
    )
    cfg = config_mod.load(str(cfg_path), env={})
    storage = Storage(db, synchronous="NORMAL")
    monitor = Monitor(cfg, clock=shared.clock, storage=storage)
    poller = monitor.pollers[0]
    assert isinstance(poller, ListenPoller)
    states: list[tuple[str, datetime]] = []
    original = monitor._on_state

    def on_state(slot: Any, state: Any, why: str) -> None:
        states.append((state, shared.clock.now()))
        original(slot, state, why)

    poller.on_state = on_state
    runner = threading.Thread(target=monitor.run, kwargs={"install_signals": False}, daemon=True)
    runner.start()
    try:
        assert poller.listening.wait(10) and poller.address is not None
        conn.host, conn.port = "127.0.0.1", poller.address[1]  # as after hearing the advertisement
        conn.start()
        wait_for("a reading", lambda: any(True for _ in storage.readings(serial=TLD)))
        wait_for("the unit to hang up at dusk", lambda: not conn.connected and not sim.inverters[0].awake, 60)
        hung_up = shared.clock.now()
        wait_for("asleep", lambda: any(s == "asleep" for s, _ in states), 30)
    finally:
        monitor.request_stop()
        runner.join(timeout=30)
        conn.stop()
    assert [s for s, _ in states] == ["awake", "asleep"], states
    asleep_at = states[-1][1]
    assert (asleep_at - hung_up).total_seconds() >= 300 - 60  # after asleep_after without a connection
    kinds = [e["kind"] for e in storage.events()]
    assert "asleep" in kinds and "lost" not in kinds, kinds
    storage.close()
