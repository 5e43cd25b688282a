"""Opening whatever the user calls a port, with the protocol's serial defaults.

Users name ports in many ways: ``/dev/ttyUSB0``, a stable
``/dev/serial/by-id/...`` link, ``socket://bridge:8899`` for an RS-485-to-WiFi
box, ``rfc2217://``, or ``sim://cms`` for the built-in simulator.  pyserial's
``serial_for_url`` already understands all of them; this only applies the
spec's line settings and turns "no such device" into one clear error.
"""

from __future__ import annotations

import serial

from .errors import PortGone
from .model import ProtocolSpec

SIM_HANDLER_PACKAGE = "pvapp.sim"


def register_url_handlers() -> None:
    """Let pyserial find ``sim://`` (a string only: the runtime never imports the app)."""
    if SIM_HANDLER_PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(SIM_HANDLER_PACKAGE)


def open_port(url: str, spec: ProtocolSpec | None = None, *, timeout: float | None = None) -> serial.SerialBase:
    """Open a device path, by-id path or pyserial URL with the spec's settings."""
    register_url_handlers()
    tr = spec.transport if spec is not None else None
    try:
        port = serial.serial_for_url(
            url,
            baudrate=tr.baudrate if tr else 9600,
            bytesize=tr.bytesize if tr else 8,
            parity=tr.parity if tr else "N",
            stopbits=tr.stopbits if tr else 1,
            timeout=timeout if timeout is not None else (tr.reply_timeout if tr else 1.0),
            write_timeout=5.0,
        )
    except (serial.SerialException, OSError, ValueError) as exc:
        raise PortGone(f"cannot open {url}: {exc}") from exc
    try:
        if tr is not None and tr.dtr is not None:
            port.dtr = tr.dtr
        if tr is not None and tr.rts is not None:
            port.rts = tr.rts
    except (serial.SerialException, OSError, ValueError) as exc:
        port.close()
        raise PortGone(f"cannot set the control lines of {url}: {exc}") from exc
    return port
