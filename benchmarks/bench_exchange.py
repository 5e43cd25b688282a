"""The whole exchange (issue 14): request out, reply in, decoded, against a minimal hand-written client.

Beside ``bench_decode`` (decode only), this times what a poll costs a script:
build and write the status request, read the reply from the port, find the
frame, check its checksum and addresses, cut the words through the layout,
scale, and hand back either pv 0.2's ``(label, value)`` pairs (``status(layout)``)
or the typed ``cms.Status`` (``read_status()``).  The port is in memory and
answers at once, so only the client's own work is measured.

The reference is what a person writes with ``struct`` for this one model and
layout: about thirty lines per result shape.  Each pv call is compared with
the reference producing the same result (pairs with pairs, dataclass with
dataclass); every client's result is checked equal to pv's before timing.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import partial
from typing import Any

from . import Row, best_time, load_average

# Status reply of a CMS 2000 (serial 0905BO0139) at 765 W, from
# /work/shared/protocol/vectors.json, source "smarthall/ArduinoCMS2000DataLogger
# docs/invert.txt" (status_reply); the request is ProControl's status request
# from "smarthall/ArduinoCMS2000DataLogger docs/SCOTTY-PC.LOG" (vectors.json #31).
STATUS_REQUEST = bytes.fromhex("aaaa010000010102000159")
STATUS_REPLY = bytes.fromhex(
    "aaaa0001010001822a01b803c70d8100220953138a02fdffff00003feb00001102000100000000000000000000000000000000096a"
)
TARGET = 1.25


class MemoryPort:
    """A pyserial-like port that answers each known request at once, from memory."""

    def __init__(self, replies: dict[bytes, bytes]) -> None:
        self.replies = replies
        self.timeout: float | None = 1.0
        self._rx = b""
        self._pos = 0

    @property
    def in_waiting(self) -> int:
        return len(self._rx) - self._pos

    def write(self, data: bytes) -> int:
        self._rx = self.replies[bytes(data)]  # an unexpected request fails the benchmark loudly
        self._pos = 0
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered."""

    def read(self, size: int = 1) -> bytes:
        out = self._rx[self._pos : self._pos + size]
        self._pos += len(out)
        return out


def _layout() -> tuple[int, ...]:
    import pv.cms as cms

    return tuple(cms.SPEC.model("cms2000").status_layout)


# --------------------------------------------------------------------------- hand-written reference


def handwritten_client(port: MemoryPort, shape: str) -> Callable[[], Any]:
    """A minimal struct client for the CMS 2000's 21-word layout: pv 0.2's pairs or ``cms.Status``."""
    import pv.cms as cms

    layout = _layout()
    if len(layout) != 21:
        raise RuntimeError("the hand-written reference is written for the 21-word CMS 2000 layout")
    header = struct.Struct(">HHHHB").pack
    checksum = struct.Struct(">H").pack
    words = struct.Struct(">21H").unpack_from
    status_cls, flags_cls = cms.Status, cms.ErrorBits
    modes = {int(m): m for m in cms.Mode}

    def exchange() -> tuple[int, ...]:
        head = header(0xAAAA, 0x0100, 0x0001, 0x0102, 0)
        port.write(head + checksum(sum(head) & 0xFFFF))
        frame = port.read(9)
        if len(frame) != 9 or frame[0] != 0xAA or frame[1] != 0xAA:
            raise ValueError("no reply")
        frame += port.read(frame[8] + 2)
        if len(frame) != frame[8] + 11 or frame[8] != 42:
            raise ValueError("bad length")
        if sum(frame[:-2]) & 0xFFFF != (frame[-2] << 8 | frame[-1]):
            raise ValueError("bad checksum")
        if frame[2:6] != b"\x00\x01\x01\x00" or frame[6] != 1 or frame[7] != 0x82:
            raise ValueError("not our status reply")
        return words(frame, 9)

    def pairs() -> list[tuple[str, float | int]]:
        w = exchange()
        t = w[0]
        return [
            ("Temp-inv", (t - 65536 if t >= 32768 else t) / 10),
            ("Vpv", w[2] / 10),
            ("Iac", w[3] / 10),
            ("Vac", w[4] / 10),
            ("Fac", w[5] / 100),
            ("Pac", w[6]),
            ("Zac", w[7]),
            ("E-Total", (w[8] << 16 | w[9]) / 10),
            ("h-Total", w[10] << 16 | w[11]),
            ("Mode", w[12]),
            ("Error", w[19] << 16 | w[20]),
            ("E-Today", w[1] / 100),
            ("Error-GV", w[13]),
            ("Error-GF", w[14]),
            ("Error-GZ", w[15]),
            ("Error-Temp", w[16]),
            ("Error-PV1", w[17]),
            ("Error-GFC1", w[18]),
        ]

    def dataclass() -> Any:
        w = exchange()
        t = w[0]
        return status_cls(
            temperature=(t - 65536 if t >= 32768 else t) / 10,
            e_today=w[1] / 100,
            vpv=w[2] / 10,
            iac=w[3] / 10,
            vac=w[4] / 10,
            fac=w[5] / 100,
            pac=w[6],
            zac=None if w[7] == 0xFFFF else w[7],
            e_total=(w[8] << 16 | w[9]) / 10,
            h_total=w[10] << 16 | w[11],
            mode=modes.get(w[12], w[12]),
            gv_fault=w[13],
            gf_fault=w[14],
            gz_fault=w[15],
            tmp_fault=w[16],
            pv1_fault=w[17],
            gfc1_fault=w[18],
            error=flags_cls(w[19] << 16 | w[20]),
            layout=layout,
            raw=w,
            unknown=(),
        )

    return pairs if shape == "pairs" else dataclass


# --------------------------------------------------------------------------- pv


def _no_pause(_seconds: float) -> None:
    return None


def pv_clients(port: MemoryPort) -> dict[str, Callable[[], Any]]:
    """pv's two calls as a polling script makes them: the layout is read once, before the loop."""
    import pv.cms as cms

    layout = _layout()
    # no pause between commands (the spec's command_delay, a line-timing rule): the hand-written
    # clients have none, and the figure is the cost of one exchange
    legacy = cms.Inverter(port, sleep=_no_pause)  # pv 0.2: status(layout, dst=1)
    typed = cms.Inverter(port, address=1, sleep=_no_pause)  # registered at address 1, as after handshake()
    typed._status_layout = layout  # what read_status_layout() leaves behind; no layout request in the loop
    return {"status": partial(legacy.status, layout), "read_status": typed.read_status}


def check_same(clients: dict[str, Callable[[], Any]]) -> None:
    status, hand_pairs = clients["status"](), clients["hand_pairs"]()
    if list(status) != hand_pairs or [type(v) for _, v in status] != [type(v) for _, v in hand_pairs]:
        raise AssertionError(f"pv status() and the hand-written pairs differ:\n{status}\n{hand_pairs}")
    typed, hand_typed = clients["read_status"](), clients["hand_dataclass"]()
    if typed != hand_typed:
        raise AssertionError(f"pv read_status() and the hand-written Status differ:\n{typed}\n{hand_typed}")
    if typed.pac != 765 or typed.e_total != 1636.3 or status["Zac"] != 65535:  # vectors.json's values
        raise AssertionError(f"decoded values disagree with the capture: {typed}")


def run(quick: bool) -> list[Row]:
    port = MemoryPort({STATUS_REQUEST: STATUS_REPLY})
    clients = {
        **pv_clients(port),
        "hand_pairs": handwritten_client(port, "pairs"),
        "hand_dataclass": handwritten_client(port, "dataclass"),
    }
    check_same(clients)
    number = 5_000 if quick else 20_000
    per_call = {name: float("inf") for name in clients}
    # Round-robin batches, best batch per client: a burst of load from other
    # processes then hits every client alike instead of skewing one ratio.
    for _ in range(5 if quick else 9):
        for name, fn in clients.items():
            per_call[name] = min(per_call[name], best_time(fn, number, repeat=1))
    load = load_average()
    legacy = per_call["status"] / per_call["hand_pairs"]
    typed = per_call["read_status"] / per_call["hand_dataclass"]

    def us(name: str) -> str:
        return f"{per_call[name] * 1e6:.2f} µs/exchange"

    return [
        Row(
            "exchange: hand-written struct client -> pv 0.2 pairs",
            1 / per_call["hand_pairs"],
            "/s",
            "",
            None,
            us("hand_pairs"),
        ),
        Row("exchange: pv status(layout) -> pv 0.2 pairs", 1 / per_call["status"], "/s", "", None, us("status")),
        Row(
            "exchange: hand-written struct client -> cms.Status",
            1 / per_call["hand_dataclass"],
            "/s",
            "",
            None,
            us("hand_dataclass"),
        ),
        Row("exchange: pv read_status() -> cms.Status", 1 / per_call["read_status"], "/s", "", None, us("read_status")),
        Row(
            "exchange: status(layout) time / hand-written time",
            legacy,
            "x",
            f"<= {TARGET}",
            legacy <= TARGET,
            f"request out, reply in over an in-memory port, decoded; {load}",
        ),
        Row(
            "exchange: read_status() time / hand-written time",
            typed,
            "x",
            f"<= {TARGET}",
            typed <= TARGET,
            f"same exchange, typed dataclass; {load}",
        ),
    ]
