"""pyserial URL handler ``sim://``: a simulated inverter bus inside the calling process.

``serial.serial_for_url("sim://cms?inverters=2&speed=600")`` finds this module
once the string package ``"pvapp.sim"`` is in ``serial.protocol_handler_packages``
(``import pv`` does that; ``pvapp.sim.register_url_handler()`` too).  Every tool
that accepts a pyserial port name thereby accepts a simulator.

URL form: ``sim://SPEC[?option=value&...]``.  SPEC is a generated spec id
(cms, orion, sunezy, samil, samil_tcp, ...; default cms).  Options are those of
``pv simulate`` (see ``pvapp.sim.options.OPTIONS`` and docs/simulator.md) with
underscores, plus ``name=NAME``: the first open with a name creates the
simulator, later opens with the same name attach to it (their options are then
ignored, except the per-port ``baud_pacing`` and ``baud``), so a
client can close and reopen "the same device", and a test can reach it with
``pvapp.sim.get_simulator(NAME)``.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from typing import Any

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from .line import Line
from .options import OptionError, SimOptions
from .simulator import Simulator

_registry: dict[str, Simulator] = {}
_registry_lock = threading.Lock()

PORT_OPTIONS = ("baud_pacing", "baud")
IMPLICIT_NAME = "\0url "  # registry key prefix of a URL with a vanish fault and no name


def get_simulator(name: str) -> Simulator:
    """The simulator a ``sim://...?name=NAME`` port created."""
    with _registry_lock:
        try:
            return _registry[name]
        except KeyError:
            raise KeyError(f"no simulator named {name!r} (open sim://SPEC?name={name} first)") from None


def forget_simulator(name: str) -> None:
    """Drop a named simulator so the next open with that name starts afresh."""
    with _registry_lock:
        sim = _registry.pop(name, None)
    if sim is not None:
        sim.close()


def parse_sim_url(url: str) -> tuple[SimOptions, str | None]:
    """``sim://SPEC?...`` -> (options, name); OptionError on anything wrong."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "sim":
        raise OptionError(f"expected a URL of the form sim://SPEC?option=value, got {url!r}")
    spec = (parts.netloc or parts.path.strip("/") or "cms").lower()
    if parts.netloc and parts.path.strip("/"):
        raise OptionError(f"{url!r}: unexpected path {parts.path!r} after the spec id")
    try:
        # A '+' is kept as a plus (time offsets: tz=+10:00, start=...T05:00+10:00), not read as a space.
        query = urllib.parse.parse_qs(
            parts.query.replace("+", "%2B"), keep_blank_values=True, strict_parsing=bool(parts.query)
        )
    except ValueError:
        raise OptionError(f"{url!r}: malformed query string") from None
    name = None
    if "name" in query:
        names = query.pop("name")
        if len(names) != 1 or not names[0]:
            raise OptionError("option name: give exactly one non-empty name")
        name = names[0]
    return SimOptions.from_pairs(spec, query), name


class Serial(SerialBase):
    """A pyserial port whose other end is a simulated inverter bus."""

    BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.simulator: Simulator | None = None
        self.line: Line | None = None
        self._generation = 0
        self._pacing_opt: bool | None = None
        super().__init__(*args, **kwargs)

    # -- opening --------------------------------------------------------------------
    def open(self) -> None:
        if self.is_open:
            raise SerialException("Port is already open.")
        if self.port is None:
            raise SerialException("Port must be configured before it can be used.")
        try:
            opts, name = parse_sim_url(self.portstr or "")
            if name is None and any(f.kind == "vanish" for f in opts.fault):
                # A vanished device must stay vanished when reopened, and come back on its
                # schedule: a fresh simulator per open would make the port flap instead.
                name = IMPLICIT_NAME + (self.portstr or "")
            sim = self._simulator_for(opts, name)
        except OptionError as exc:
            raise SerialException(f"sim:// port {self.portstr!r}: {exc}") from None
        if sim.faults.vanished:
            raise SerialException(f"could not open port {self.portstr}: the simulated device has vanished")
        self.simulator = sim
        self._pacing_opt = opts.baud_pacing
        self.line = Line(sim, baud_pacing=opts.baud_pacing, baud=opts.baud or self.baudrate)
        self._generation = sim.faults.generation
        sim.faults.on_vanish(self._on_vanish)
        self.is_open = True
        self._reconfigure_port()

    def _simulator_for(self, opts: SimOptions, name: str | None) -> Simulator:
        if name is None:
            return Simulator(opts.spec, opts)
        with _registry_lock:
            sim = _registry.get(name)
            if sim is None:
                sim = _registry[name] = Simulator(opts.spec, opts)
            elif sim.spec.id != opts.spec:
                raise OptionError(f"simulator {name!r} is a {sim.spec.id!r} bus, not {opts.spec!r}")
            return sim

    def _on_vanish(self, gone: bool) -> None:
        line = self.line
        if line is not None:
            with line.cond:
                line.cond.notify_all()

    def close(self) -> None:
        if self.simulator is not None:
            self.simulator.faults.remove_listener(self._on_vanish)
        self.is_open = False
        self.line = None
        super().close()

    def _reconfigure_port(self) -> None:
        if not isinstance(self.baudrate, int) or not 0 < self.baudrate < 2**32:
            raise ValueError(f"invalid baudrate: {self.baudrate!r}")
        if (
            self.line is not None
            and self.line.byte_time
            and self.simulator is not None
            and not self.simulator.options.baud
        ):
            self.line.byte_time = 10.0 / self.baudrate

    def from_url(self, url: str) -> SimOptions:
        """Parse (and validate) a sim:// URL; pyserial convention for URL handlers."""
        try:
            return parse_sim_url(url)[0]
        except OptionError as exc:
            raise SerialException(str(exc)) from None

    # -- I/O ----------------------------------------------------------------------------
    def _live_line(self) -> Line:
        if not self.is_open or self.line is None or self.simulator is None:
            raise PortNotOpenError()
        faults = self.simulator.faults
        if faults.vanished or faults.generation != self._generation:
            raise SerialException(
                "device reports readiness to read but returned no data "
                "(device disconnected or multiple access on port?)"
            )
        return self.line

    @property
    def in_waiting(self) -> int:
        return self._live_line().available()

    def read(self, size: int = 1) -> bytes:
        line = self._live_line()
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        out = bytearray()
        while len(out) < size:
            out += line.take(size - len(out))
            if len(out) >= size:
                break
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            nxt = line.next_due()
            wait = None if deadline is None else deadline - now
            if nxt is not None:
                wait = max(0.0, nxt - now) if wait is None else min(wait, max(0.0, nxt - now))
            with line.cond:
                if line.next_due() == nxt:
                    line.cond.wait(wait)
            line = self._live_line()
        return bytes(out)

    def write(self, data: bytes | bytearray | memoryview) -> int | None:  # type: ignore[override]
        line = self._live_line()
        payload = bytes(data)
        line.receive(payload)
        return len(payload)

    def reset_input_buffer(self) -> None:
        self._live_line().discard_arrived()

    def reset_output_buffer(self) -> None:
        self._live_line()

    @property
    def out_waiting(self) -> int:
        self._live_line()
        return 0

    def cancel_read(self) -> None:
        if self.line is not None:
            with self.line.cond:
                self.line.cond.notify_all()

    def _update_break_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    @property
    def cts(self) -> bool:
        self._live_line()
        return True

    @property
    def dsr(self) -> bool:
        self._live_line()
        return True

    @property
    def ri(self) -> bool:
        self._live_line()
        return False

    @property
    def cd(self) -> bool:
        self._live_line()
        return True
