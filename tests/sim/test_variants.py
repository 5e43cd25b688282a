"""The three family members the old language could not describe, spoken by their generated clients.

Facts from ../shared/protocol/VARIANTS.md: the KLNE request templates of
trollkarlen/inverter_monitor ``configs/config_klne.ini`` and the Eversolar
requests captured in solmoller/eversolar-monitor issue #51 must come out of
the clients byte for byte; the corrupted Eversolar discover reply of that
issue (header ``aa 51``, wrong checksum) must be refused with its reason;
SISER frames carry the STX prefix both ways, its data read is answered with
one of two reply codes, and it pauses 600 ms before each command.  Every
client talks to the simulator, which serves each spec as its unit speaks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pv
import pytest
import serial
from pv import eversolar, klne, samil, siser

from pvapp.decode import StreamDecoder, decode_stream
from pvapp.sim import forget_simulator, get_simulator
from pvgen.runtime.framing import FrameError


class Recording:
    """A port that passes everything through and keeps what the client wrote, one write per request."""

    def __init__(self, port: Any) -> None:
        self.port = port
        self.written: list[bytes] = []

    @property
    def timeout(self) -> float | None:
        return float(self.port.timeout) if self.port.timeout is not None else None

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self.port.timeout = value

    @property
    def in_waiting(self) -> int:
        return int(self.port.in_waiting)

    def write(self, data: bytes) -> int:
        self.written.append(bytes(data))
        return int(self.port.write(data) or 0)

    def read(self, size: int = 1) -> bytes:
        return bytes(self.port.read(size))


@pytest.fixture
def line(request: pytest.FixtureRequest) -> Iterator[tuple[Recording, Any]]:
    """A recording port on a named always-awake simulator: ``@pytest.mark.parametrize`` the URL via indirect."""
    url, name = request.param
    port = serial.serial_for_url(f"{url}&name={name}", timeout=0.3)
    try:
        yield Recording(port), get_simulator(name)
    finally:
        port.close()
        forget_simulator(name)


def no_sleep(_seconds: float) -> None:
    return None


# --- KLNE: request sync 43 5A, replies AA AA, asymmetric addresses ------------------------------


# a fixed summer noon: at night an always-awake unit reports Wait and 0 W, whatever the wall clock
@pytest.mark.parametrize("line", [("sim://klne?awake=always&start=2026-01-12T12:00", "klne-templates")], indirect=True)
def test_klne_request_templates_come_out_of_the_client_byte_for_byte(line: tuple[Recording, Any]) -> None:
    """config_klne.ini's init, discover, version, parameters and data templates (VARIANTS.md)."""
    port, sim = line
    inv = klne.Inverter(port, sleep=no_sleep, timeout=0.3)
    inv.reset()
    sn = inv.discover()
    assert sn == sim.inverters[0].serial
    assert inv.register(sn)  # bus address 1
    version = inv.read_version()
    with pytest.raises(pv.NoReply):  # the parameter reply's layout is not published: the simulator stays silent
        inv.request("parameter_block")
    status = inv.read_status()
    init, discover, register, version_req, params, data = port.written
    assert init.hex() == "435a00007f00000300011f"
    assert discover.hex() == "435a00007f00000000011c"
    assert version_req.hex() == "435a0000010101030000a3"
    assert params.hex() == "435a0000010101040000a4"
    assert data.hex() == "435a0000010101020000a2"
    assert register[:6].hex() == "435a00007f01"  # the register request goes to 7F 01
    # no layout query was sent: KLNE reads its data at fixed positions
    assert [e.command for e in sim.log].count("status_layout") == 0
    assert version.info == "" and not hasattr(version, "serial")  # the version reply has no serial
    assert status.pac is not None and status.e_total is not None and status.mode_label == "Normal"


@pytest.mark.parametrize("line", [("sim://klne?awake=always", "klne-addresses")], indirect=True)
def test_klne_replies_come_from_ff01_to_the_request_base(line: tuple[Recording, Any]) -> None:
    """Discover is answered FF 00 -> 7F 00, register FF 01 -> 7F 00, data FF 01 -> 01 00 (VARIANTS.md)."""
    port, sim = line
    inv = klne.Inverter(port, sleep=no_sleep, timeout=0.3)
    inv.handshake()
    inv.read_status()
    replies = [klne.CODEC.parse(r) for e in sim.log for r in e.replies]
    heads = [(f"{f.src:04x}", f"{f.dst:04x}", f"{f.control:02x}{f.function:02x}") for f in replies]
    assert heads == [("ff00", "7f00", "0080"), ("ff01", "7f00", "0081"), ("ff01", "0100", "0182")]
    assert all(r.startswith(b"\xaa\xaa") for e in sim.log for r in e.replies)
    assert all(e.request.startswith(b"\x43\x5a") for e in sim.log)


def test_klne_client_ignores_a_reply_from_the_wrong_unit_and_its_own_echo() -> None:
    """Reply matching follows the rules: from FF00 | address, to the request's base; a request echo is no reply."""
    inv = klne.Inverter(_Scripted([]), address=1, sleep=no_sleep, timeout=0.05)
    cmd = klne.SPEC.command("status")
    good = klne.CODEC.build(1, 0x82, b"\x00\x01", src=0xFF01, dst=0x0100, reply=True)
    other = klne.CODEC.build(1, 0x82, b"\x00\x02", src=0xFF02, dst=0x0100, reply=True)  # bus address 2
    echo = inv.build_request("status")
    want = inv._reply_addresses(cmd, inv.destination(cmd))
    assert want == (0xFF01, 0x0100)
    assert inv._match(echo + other + good, cmd, want) == klne.CODEC.parse(good)
    assert inv.framer.stats.frames == 2  # the echo (43 5A) is not even looked at: the client hunts for AA AA


class _Scripted:
    """A port that answers each write with the next scripted bytes."""

    def __init__(self, replies: list[bytes]) -> None:
        self.replies = list(replies)
        self.buffer = b""
        self.timeout: float | None = 0.05
        self.written: list[bytes] = []

    @property
    def in_waiting(self) -> int:
        return len(self.buffer)

    def write(self, data: bytes) -> int:
        self.written.append(bytes(data))
        if self.replies:
            self.buffer += self.replies.pop(0)
        return len(data)

    def read(self, size: int = 1) -> bytes:
        out, self.buffer = self.buffer[:size], self.buffer[size:]
        return out


# --- Eversolar: AA 55, 16-byte serials echoed with their padding, fixed word positions -----------


@pytest.mark.parametrize("line", [("sim://eversolar?awake=always", "ever-templates")], indirect=True)
def test_eversolar_captured_requests_and_padded_register(line: tuple[Recording, Any]) -> None:
    """Issue #51's discover and re-register-all requests; register echoes all 16 serial bytes, address 0x10."""
    port, sim = line
    inv = eversolar.Inverter(port, sleep=no_sleep, timeout=0.3)
    sn = inv.handshake(resets=1)
    reset, discover, register = port.written
    assert reset.hex() == "aa55010000001004000114"  # re-register all
    assert discover.hex() == "aa55010000001000000110"
    serial_bytes = sim.inverters[0].serial.encode()
    assert len(serial_bytes) < 16
    frame = eversolar.CODEC.parse(register)
    assert frame.payload == serial_bytes + b"\x00" * (16 - len(serial_bytes)) + b"\x10"
    assert (frame.src, frame.dst) == (0x0100, 0x0000)
    assert inv.address == 0x10 and sn == sim.inverters[0].serial


def test_eversolar_register_echoes_the_serial_exactly_as_received() -> None:
    """A serial padded with spaces (not NULs) goes back with its spaces: the unit compares all 16 bytes."""
    raw_serial = b"B3K0000042  \x00\x00\x00\x00"
    discover_reply = eversolar.CODEC.build(0x10, 0x80, raw_serial, src=0, dst=0x0100, reply=True)
    ack = eversolar.CODEC.build(0x10, 0x81, b"\x06", src=0x0010, dst=0x0100, reply=True)
    port = _Scripted([discover_reply, ack])
    inv = eversolar.Inverter(port, sleep=no_sleep)
    assert inv.discover() == "B3K0000042"
    assert inv.register("B3K0000042", 0x10)  # pv 0.2's register() defaults to 1; handshake() uses 0x10
    assert eversolar.CODEC.parse(port.written[1]).payload == raw_serial + b"\x10"
    # a serial longer than the spec's 16 bytes is refused before anything is sent
    with pytest.raises(pv.ProtocolError, match="do not fit in 16"):
        inv.register("X" * 17)


CORRUPTED = bytes.fromhex(eversolar.REJECTED[0][3])


def test_the_corrupted_eversolar_discover_reply_is_refused_with_its_reason() -> None:
    """Issue #51's reply (header aa 51, wrong checksum): the codec names the sync; client and decoder drop it."""
    with pytest.raises(FrameError, match="bad sync bytes aa51, expected aa55"):
        eversolar.CODEC.parse(CORRUPTED)
    inv = eversolar.Inverter(_Scripted([CORRUPTED]), sleep=no_sleep, timeout=0.05)
    assert inv.discover() is None  # nothing valid answered
    assert inv.framer.stats.frames == 0 and inv.framer.stats.garbage_bytes == len(CORRUPTED)
    stats: list[Any] = []
    assert list(decode_stream(CORRUPTED, "eversolar", stats=stats)) == []
    assert stats[0].garbage_bytes == len(CORRUPTED)


@pytest.mark.parametrize("model", ["one_string", "two_strings"])
def test_eversolar_models_read_their_fixed_positions_without_a_layout_query(model: str) -> None:
    """One- and two-string units: the client tells them apart by the data reply's length (28 or 32 bytes)."""
    name = f"ever-{model}"
    port = serial.serial_for_url(f"sim://eversolar?awake=always&model={model}&name={name}", timeout=0.3)
    try:
        sim = get_simulator(name)
        inv = eversolar.Inverter(port, sleep=no_sleep, timeout=0.3)
        inv.handshake()
        status = inv.read_status()
        spec_model = eversolar.SPEC.model(model)
        assert status.layout == spec_model.status_layout
        assert len(status.raw) == len(spec_model.status_layout)
        assert status.pac is not None and status.e_total is not None and status.e_total >= 1500
        assert (status.vpv is None) == (model == "two_strings")
        if model == "two_strings":
            assert [code for code, _ in status.unknown] == [0x100 + 10]  # the unused word, kept raw
        assert [e.command for e in sim.log] == ["reset"] * 3 + ["discover", "register", "status"]
    finally:
        port.close()
        forget_simulator(name)


# --- SISER: STX prefix, default address 33, 600 ms before each command, two reply codes -----------


@pytest.mark.parametrize(
    ("model", "reply_code"), [("single_phase", 0x82), ("three_phase", 0x90)], ids=["single", "three"]
)
def test_siser_prefix_address_delay_and_reply_codes(model: str, reply_code: int) -> None:
    name = f"siser-{model}"
    port = serial.serial_for_url(f"sim://siser?awake=always&model={model}&name={name}", timeout=1)
    sleeps: list[float] = []
    now = [100.0]

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    try:
        sim = get_simulator(name)
        rec = Recording(port)
        inv = siser.Inverter(rec, sleep=sleep, clock=lambda: now[0])
        inv.handshake(resets=1)
        status = inv.read_status()
        # every frame on the wire starts with STX, both ways; the checksum leaves it out
        assert all(w.startswith(b"\x02\xaa\xaa") for w in rec.written)
        assert all(r.startswith(b"\x02\xaa\xaa") for e in sim.log for r in e.replies)
        assert siser.CODEC.parse(rec.written[0]).raw == rec.written[0]
        assert inv.address == 33 and siser.CODEC.parse(rec.written[-1]).dst == 33
        # the data read 01 10 was answered with this unit's reply code and decoded by its model's order
        last = siser.CODEC.parse(sim.log[-1].replies[0])
        assert (last.control, last.function) == (0x01, reply_code)
        assert status.layout == siser.SPEC.model(model).status_layout
        assert status.pac is not None and status.e_total is not None
        assert (status.vac_l3 is not None) == (model == "three_phase")
        # 600 ms before each of the four commands (the clock only moves by these pauses)
        assert sleeps == [pytest.approx(0.6)] * 4
        assert [e.command for e in sim.log] == ["reset", "discover", "register", "status"]
    finally:
        port.close()
        forget_simulator(name)


def test_command_delay_counts_from_the_last_exchange() -> None:
    """A poll long after the previous reply does not wait again; one right after it waits the rest."""
    sleeps: list[float] = []
    now = [0.0]
    reply = siser.CODEC.build(1, 0x82, bytes(42), src=33, dst=0x0100, reply=True)
    inv = siser.Inverter(_Scripted([reply, reply, reply]), address=33, sleep=sleeps.append, clock=lambda: now[0])
    inv.read_status()
    now[0] += 10.0
    inv.read_status()
    now[0] += 0.25
    inv.read_status()
    assert sleeps == [pytest.approx(0.6), pytest.approx(0.35)]


def test_command_delay_belongs_to_the_line_not_to_one_client() -> None:
    """Two inverters' clients on one bus: the second one's command waits for the first one's exchange."""
    sleeps: list[float] = []
    now = [50.0]
    reply_33 = siser.CODEC.build(1, 0x82, bytes(42), src=33, dst=0x0100, reply=True)
    reply_34 = siser.CODEC.build(1, 0x82, bytes(42), src=34, dst=0x0100, reply=True)
    port = _Scripted([reply_33, reply_34])
    first = siser.Inverter(port, address=33, sleep=sleeps.append, clock=lambda: now[0])
    second = siser.Inverter(port, address=34, sleep=sleeps.append, clock=lambda: now[0])
    first.read_status()
    now[0] += 0.2
    second.read_status()
    assert sleeps == [pytest.approx(0.6), pytest.approx(0.4)]


# --- SolarLake TL-PM: the fixed order, with no layout reply anywhere ------------------------------


def test_tlpm_status_without_a_layout_reply_decodes_by_its_fixed_order() -> None:
    """REFERENCE 3.2: a 72-byte payload read in the samillogger order; pac and e_total are canonical."""
    example = next(e for e in samil.EXAMPLES if e[0] == "tlpm_status_reply")
    data = bytes.fromhex(example[3])
    (rec,) = list(decode_stream(data, "samil"))
    expected = dict(example[5])
    assert {k: rec["values"][k] for k in expected} == expected
    assert rec["values"]["pac"] == 9120 and rec["values"]["e_total"] == 45678.9
    assert rec["unknown"] == {f"word {i}": 0 for i in range(12, 24)}
    # told the model (pv decode --model), the decoder uses it without looking at lengths
    decoder = StreamDecoder("samil", model="solarlake_tlpm")
    assert next(iter(decoder.feed(data)))["values"]["pac"] == 9120


def _pv_decode(tmp_path: Any, data: bytes, *args: str) -> subprocess.CompletedProcess[str]:
    capture = tmp_path / "capture.txt"
    capture.write_text(data.hex(" ") + "\n", encoding="ascii")
    return subprocess.run(
        [sys.executable, "-m", "pvapp.cli", "decode", str(capture), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_pv_decode_reads_a_tlpm_capture_by_its_fixed_order(tmp_path: Any) -> None:
    """The user's view: a TL-PM capture with no layout reply, spec found by its 55 AA lead."""
    example = next(e for e in samil.EXAMPLES if e[0] == "tlpm_status_reply")
    result = _pv_decode(tmp_path, bytes.fromhex(example[3]), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["spec"] == "samil"
    (frame,) = out["frames"]
    assert frame["values"]["pac"] == 9120 and frame["values"]["e_total"] == 45678.9
    text = _pv_decode(tmp_path, bytes.fromhex(example[3]), "--model", "solarlake_tlpm")
    assert text.returncode == 0, text.stderr
    assert "pac=9120" in text.stdout and "e_total=45678.9" in text.stdout and "word 12:0" in text.stdout


@pytest.mark.parametrize(
    ("mod", "spec_id"), [(klne, "klne"), (eversolar, "eversolar"), (siser, "siser")], ids=["klne", "eversolar", "siser"]
)
def test_pv_decode_finds_each_new_spec_by_its_lead(tmp_path: Any, mod: Any, spec_id: str) -> None:
    """Requests and replies of each spec, decoded with no --spec: its leads name it."""
    data = b"".join(bytes.fromhex(e[3]) for e in mod.EXAMPLES)
    result = _pv_decode(tmp_path, data, "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["spec"] == spec_id
    assert [(f["command"], f["direction"]) for f in out["frames"]] == [(e[1], e[2]) for e in mod.EXAMPLES]
    for frame, example in zip(out["frames"], mod.EXAMPLES, strict=True):
        expected = dict(example[5])
        na = {f.id: f.na_values for f in mod.SPEC.fields}
        if expected and frame["direction"] == "reply":
            # a 'not measured' value is written as its raw number in the spec, decoded as None
            got = {k: expected[k] if frame["values"][k] is None and expected[k] in na.get(k, ()) else frame["values"][k]
                   for k in expected}  # fmt: skip
            assert got == expected, example[0]
    assert out["stats"]["garbage_bytes"] == 0


def test_pv_decode_model_errors_are_one_line(tmp_path: Any) -> None:
    result = _pv_decode(tmp_path, b"\x55\xaa", "--model", "nonesuch")
    assert result.returncode == 2
    assert result.stderr.strip() == "pv decode: --model: no spec has a model 'nonesuch'"
    result = _pv_decode(tmp_path, b"\x55\xaa", "--spec", "cms", "--model", "solarlake_tlpm")
    assert result.returncode == 2
    assert result.stderr.strip() == "pv decode: --model: spec 'cms' has no model 'solarlake_tlpm' (have: cms2000)"


def test_pv02_calls_work_on_a_unit_without_a_layout_query() -> None:
    """pv 0.2's status(status_layout()) on KLNE: the fixed order stands in for the query, dst 1 is 01 01."""
    name = "klne-pv02"
    port = serial.serial_for_url(f"sim://klne?awake=always&start=2026-12-21T11:00&tz=%2B10:00&name={name}", timeout=0.3)
    try:
        sim = get_simulator(name)
        inv = klne.Inverter(port)
        inv.reset()
        sn = inv.discover()
        assert sn is not None and inv.register(sn)
        layout = inv.status_layout()
        assert layout == klne.SPEC.model("st2000").status_layout
        pairs = inv.status(layout)
        assert pairs is not None and pairs["Pac"] > 0 and pairs["E-Total"] >= 1500
        assert "status_layout" not in [e.command for e in sim.log]
        assert klne.CODEC.parse(sim.log[-1].request).dst == 0x0101
    finally:
        port.close()
        forget_simulator(name)


def test_pv02_pairs_name_a_value_read_from_an_alternative_code() -> None:
    """The TL-PM's Pac (code 0x0B) is 'Pac' in pv 0.2's pairs too; its unused words are 'word N'."""
    from pvgen.runtime.legacy import status_pairs

    example = next(e for e in samil.EXAMPLES if e[0] == "tlpm_status_reply")
    frame = samil.CODEC.parse(bytes.fromhex(example[3]))
    pairs = status_pairs(samil.decode_status(samil.SPEC.model("solarlake_tlpm").status_layout, frame.payload))
    assert pairs["Pac"] == 9120 and pairs["E-Total"] == 45678.9
    assert "0x0B" not in pairs and pairs["word 12"] == 0
