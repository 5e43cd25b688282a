"""Decoding captured traffic: the library behind ``pv decode``.

A capture is what someone recorded on the wire: a raw binary dump, a hex dump
pasted into an issue, or pyserial's ``spy://`` log.  Neither end of such a
capture is trustworthy (recording started mid-frame, a noisy line, a
brown-out), so bytes go through the same :class:`~pvgen.runtime.framing.Framer`
the client uses: it resynchronises on garbage and counts what it drops, and
only frames whose length and checksum hold are decoded.

Status and parameter replies are meaningless without the layout the inverter
sent, so the decoder remembers each inverter's layout replies as they pass by
and decodes later replies through them, exactly as the client does.  Units
without a layout query read by the fixed word order of their model: the one
the caller names (``model``), else the fixed-layout model the reply's code and
length fit.  A reply seen before any layout, with no fixed layout that fits,
is reported with its raw words rather than guessed at.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from enum import IntEnum, IntFlag
from types import ModuleType
from typing import Any, BinaryIO

from pvgen.runtime.codec import decode_payload
from pvgen.runtime.framing import Frame, Framer, FramerStats
from pvgen.runtime.model import CommandDef, ModelDef, ProtocolSpec, code_label
from pvgen.runtime.text import safe

__all__ = [
    "CaptureError",
    "StreamDecoder",
    "TextCapture",
    "decode_stream",
    "describe",
    "iter_capture",
    "load_spec_module",
    "parse_capture",
    "read_capture",
]

CHUNK = 1 << 16  # bytes fed to the framer at a time: bounds memory on huge captures


class CaptureError(ValueError):
    """A capture file (or spec name) that cannot be read; the message names where."""


def load_spec_module(spec: ModuleType | str) -> ModuleType:
    """The generated module ``pv.<id>`` for a spec id, or the module itself."""
    if isinstance(spec, ModuleType):
        module = spec
    else:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", spec):
            raise CaptureError(f"unknown spec {spec!r}: expected a spec id such as cms, samil, samil_tcp")
        try:
            module = importlib.import_module(f"pv.{spec}")
        except ModuleNotFoundError:
            import pv

            raise CaptureError(f"unknown spec {spec!r}: have {', '.join(pv.SPECS)}") from None
    if not isinstance(getattr(module, "SPEC", None), ProtocolSpec):
        raise CaptureError(f"{module.__name__} is not a generated inverter module (no SPEC)")
    return module


# --------------------------------------------------------------------------- text captures

# bytes that never occur in a text capture (tab, CR, LF and ESC for spy://'s colours do)
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\xff]")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# pyserial spy:// FormatHexdump: "000003.001 TX   0000  48 45 4C ...  HELLO"
_SPY_DATA = re.compile(r"^\s*\d+\.\d+ (RX|TX)\s+([0-9A-Fa-f]{4})  (.*)$")
# spy:// lines without data: control lines ("RTS  active", "Q-RX flushInput") and "RX <empty>"
_SPY_OTHER = re.compile(r"^\s*\d+\.\d+ \S+")
# hexdump -C: "00000000  aa aa 00 01 01 00 01 82  2a 01 b8 03 c7 0d 81 00  |....*...........|"
_HEXDUMP_C = re.compile(r"^([0-9A-Fa-f]{7,8})  ((?:[0-9A-Fa-f]{2} {1,2}){1,16})\s*(\|.*\|)?\s*$")
_OFFSET_ONLY = re.compile(r"^[0-9A-Fa-f]{7,8}$")
# xxd: "00000000: aaaa 0001 0100 0182 2a01 b803 c70d 8100  ................"
_XXD = re.compile(r"^([0-9A-Fa-f]{7,8}): ((?:[0-9A-Fa-f]{2,4} ?){1,8})( .*)?$")
# plain hex, optionally after a direction marker: "aa aa 00 01", "AAAA0001", "TX: aa:aa", "0xAA, 0xAA"
_DIRECTION = re.compile(r"^(?:(?:TX|RX|tx|rx|->|<-|>|<)[:\s]\s*)")
_PLAIN_TOKEN = re.compile(r"(?:0[xX])?([0-9A-Fa-f]{2})+")


def _spy_hex(line_no: int, offset: str, rest: str) -> bytes:
    # The hex column is fixed width: 16 "XX " groups plus one extra space after
    # the eighth; what follows is the ASCII column, which may itself look like hex.
    column = rest[:49]
    out = bytearray()
    for token in column.split():
        if len(token) != 2:
            raise CaptureError(f"line {line_no}: bad spy:// hex byte {token!r}")
        try:
            out.append(int(token, 16))
        except ValueError:
            raise CaptureError(f"line {line_no}: bad spy:// hex byte {token!r}") from None
    if not out:
        raise CaptureError(f"line {line_no}: spy:// data line at offset {offset} has no bytes")
    return bytes(out)


def parse_capture(text: str) -> bytes:
    """The bytes of a text capture, in the order they were on the wire.

    Accepted, line by line (formats may even be mixed): pyserial ``spy://`` logs
    (RX and TX data lines; control lines are skipped), ``hexdump -C``, ``xxd``,
    and plain hex with optional separators (spaces, ``:``, ``,``, ``0x``) and an
    optional ``TX``/``RX``/``>``/``<`` marker.  Blank lines and ``#`` comments
    are ignored.  Anything else is an error naming the line.
    """
    lines = _TextLines()
    out = bytearray()
    for line_no, line in enumerate(text.splitlines(), 1):
        out += lines.parse(line_no, line)
    return bytes(out)


class _TextLines:
    """Parses text capture lines one at a time; remembers the format of the last data line."""

    def __init__(self) -> None:
        self.previous = ""  # hexdump -C ends with a bare offset line

    def parse(self, line_no: int, line: str) -> bytes:
        line = _ANSI.sub("", line).rstrip()
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            return b""
        if self.previous == "hexdump" and _OFFSET_ONLY.match(stripped):
            return b""
        match = _SPY_DATA.match(line)
        if match:
            self.previous = "spy"
            return _spy_hex(line_no, match.group(2), match.group(3))
        if _SPY_OTHER.match(line):
            return b""  # control line or "<empty>" read
        match = _HEXDUMP_C.match(line)
        if match:
            self.previous = "hexdump"
            return bytes.fromhex(match.group(2))
        match = _XXD.match(line)
        if match:
            self.previous = "xxd"
            return bytes.fromhex(match.group(2))
        self.previous = "plain"
        return plain_hex(line_no, _DIRECTION.sub("", stripped), stripped)


def plain_hex(line_no: int, body: str, shown: str) -> bytes:
    """Bytes of plain hex tokens separated by spaces, ``:``, ``,`` or ``;`` (``0x`` prefixes allowed)."""
    out = bytearray()
    for token in _SEPARATORS.split(body):
        if not token:
            continue
        if not _PLAIN_TOKEN.fullmatch(token):
            raise CaptureError(f"line {line_no}: not a hex dump, xxd, hexdump -C or spy:// log line: {shown[:60]!r}")
        out += bytes.fromhex(token[2:] if token[:2] in ("0x", "0X") else token)
    return bytes(out)


_SEPARATORS = re.compile(r"[\s,:;]+")
_LAST_SEPARATOR = re.compile(r"[\s,:;][^\s,:;]*$")
_EOL = re.compile(rb"[\r\n]")
TEXT_PROBE = 4096  # bytes looked at to tell a text capture from a raw one
MAX_LINE = 1 << 16  # a longer line can only be plain hex, and is parsed in pieces


class TextCapture:
    """A text capture parsed as it is read: feed bytes, get wire bytes back.

    Only the current line is held (lines longer than ``MAX_LINE`` are plain
    hex, taken in pieces), so memory stays bounded for any capture size.  Line
    numbers, and the format of the previous line, carry across chunks.
    """

    def __init__(self) -> None:
        self.lines = _TextLines()
        self.line_no = 1
        self._partial = bytearray()
        self._long = False  # inside a plain-hex line longer than MAX_LINE

    def feed(self, chunk: bytes) -> bytes:
        bad = _BINARY.search(chunk)
        if bad:
            before = self._partial[-1:] + chunk[: bad.start()]
            line = self.line_no + before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n")
            raise CaptureError(f"line {line}: byte 0x{bad.group()[0]:02x} in a text capture (is the file corrupt?)")
        buf = self._partial
        buf += chunk
        out = bytearray()
        start = 0
        while True:
            eol = _EOL.search(buf, start)
            if eol is None:
                break
            end = eol.start()
            if buf[end] == 0x0D:  # CR LF, or a lone CR (old Mac text)
                if end + 1 == len(buf):
                    break  # wait: the LF may be in the next chunk
                after = end + 2 if buf[end + 1] == 0x0A else end + 1
            else:
                after = end + 1
            out += self._line(buf[start:end].decode("ascii"))
            self.line_no += 1
            start = after
        del buf[:start]
        if len(buf) > MAX_LINE:
            out += self._piece()
        return bytes(out)

    def finish(self) -> bytes:
        """End of input: the last line, which may have no line break."""
        text = self._partial.decode("ascii")
        self._partial.clear()
        out = self._line(text) if text.strip() or self._long else b""
        self._long = False
        return out

    def _line(self, text: str) -> bytes:
        if self._long:
            self._long = False
            return plain_hex(self.line_no, text, text.strip())
        return self.lines.parse(self.line_no, text)

    def _piece(self) -> bytes:
        """Parse most of an over-long line now: up to its last separator, or an even run of digits."""
        text = self._partial.decode("ascii")
        if not self._long:
            text = _DIRECTION.sub("", _ANSI.sub("", text).strip())
            if text[:2] in ("0x", "0X"):
                text = text[2:]
            self._long = True
            self.lines.previous = "plain"
        cut = _LAST_SEPARATOR.search(text)
        if cut and cut.start() > 0:
            split = cut.start()
        else:  # one giant token (after any separators): an even number of its characters
            token = len(text) - len(text.lstrip(" \t,:;"))
            split = len(text) - (len(text) - token) % 2
        out = plain_hex(self.line_no, text[:split], text[:60])
        self._partial[:] = text[split:].encode("ascii")
        return out


def iter_capture(stream: BinaryIO, chunk_size: int = CHUNK) -> Iterator[bytes]:
    """The wire bytes of a capture read from ``stream`` (a file or stdin), chunk by chunk.

    Raw or text is decided as ``read_capture`` decides it, but on the first
    ``TEXT_PROBE`` bytes: a raw dump of this family starts with a non-ASCII
    sync byte.  Text is parsed line by line as it arrives; a non-text byte
    later in a text capture is an error naming its line.
    """
    read: Callable[[int], bytes] = getattr(stream, "read1", stream.read)
    head = bytearray()
    while len(head) < TEXT_PROBE:
        chunk = read(chunk_size)
        if not chunk:
            break
        head += chunk
        if _BINARY.search(chunk):
            break
    if _BINARY.search(head):
        yield bytes(head)
        while chunk := read(chunk_size):
            yield chunk
        return
    text = TextCapture()
    out = text.feed(bytes(head))
    while True:
        if out:
            yield out
        chunk = read(chunk_size)
        if not chunk:
            break
        out = text.feed(chunk)
    out = text.finish()
    if out:
        yield out


def read_capture(data: bytes) -> bytes:
    """The wire bytes of a capture file: text formats are parsed, anything else is a raw dump.

    A raw dump of this family starts with non-ASCII sync bytes (``AA AA`` or
    ``55 AA``), so "is it text?" is decided by whether the file is printable
    ASCII, not by its name.  For files of any size, ``iter_capture`` does the
    same without holding the file.
    """
    if _BINARY.search(data):
        return data
    return parse_capture(data.decode("ascii"))


# --------------------------------------------------------------------------- frames to records


def _plain(value: Any) -> Any:
    if isinstance(value, IntEnum | IntFlag):
        return int(value)
    return value


class StreamDecoder:
    """Frames and decodes one capture incrementally; ``stats`` counts what was dropped.

    ``status_layout``/``param_layout`` are used for replies that arrive before
    the inverter's own layout reply (a capture started mid-session).
    """

    def __init__(
        self,
        spec: ModuleType | str,
        *,
        status_layout: Sequence[int] | None = None,
        param_layout: Sequence[int] | None = None,
        model: str | None = None,
    ) -> None:
        self.module = load_spec_module(spec)
        self.spec: ProtocolSpec = self.module.SPEC
        try:
            self.model: ModelDef | None = self.spec.model(model) if model is not None else None
        except KeyError as exc:
            raise CaptureError(str(exc.args[0])) from None
        self.framer = Framer(self.module.CODEC)
        self._requests: dict[tuple[int, int], CommandDef] = {(c.control, c.function): c for c in self.spec.commands}
        self._replies: dict[tuple[int, int], CommandDef] = {
            (c.control, f): c
            for c in self.spec.commands
            for f in (*c.reply_functions, *(() if c.end_function is None else (c.end_function,)))
        }
        self._default_layouts: dict[str, tuple[int, ...] | None] = {
            "status": tuple(status_layout) if status_layout is not None else None,
            "parameters": tuple(param_layout) if param_layout is not None else None,
        }
        # layouts seen on the wire, by (what, inverter address)
        self._layouts: dict[tuple[str, int | None], tuple[int, ...]] = {}
        self.count = 0

    @property
    def stats(self) -> FramerStats:
        return self.framer.stats

    def feed(self, data: bytes) -> Iterator[dict[str, Any]]:
        for frame in self.framer.feed(data):
            yield self.record(frame)

    def finish(self) -> None:
        """End of capture: a partial frame left over is counted as truncated."""
        self.framer.flush()

    def record(self, frame: Frame) -> dict[str, Any]:
        self.count += 1
        key = (frame.control, frame.function)
        lead = self.module.CODEC.direction_of(frame.raw)
        cmd = self._replies.get(key)
        direction = "reply"
        if lead is False or (
            lead is None
            and (
                cmd is None
                or (
                    key in self._requests
                    and frame.dst is not None
                    and frame.src == self.spec.frame.host_address
                    and frame.dst != self.spec.frame.host_address
                )
            )
        ):
            cmd = self._requests.get(key)
            direction = "request"
        rec: dict[str, Any] = {
            "n": self.count,
            "direction": direction if cmd is not None else "unknown",
            "command": cmd.id if cmd is not None else f"0x{frame.control:02x}{frame.function:02x}",
            "src": frame.src,
            "dst": frame.dst,
            "hex": frame.raw.hex(),
        }
        if cmd is None or direction == "request":
            if cmd is not None and cmd.request_type and frame.payload:
                self._decode_request(cmd, frame, rec)
            elif frame.payload:
                rec["payload"] = frame.payload.hex()
            return rec
        try:
            self._decode_reply(cmd, frame, rec)
        except Exception as exc:  # a reply the spec cannot decode is reported, never fatal
            rec["error"] = f"{type(exc).__name__}: {exc}"
            rec["payload"] = frame.payload.hex()
        return rec

    def _decode_request(self, cmd: CommandDef, frame: Frame, rec: dict[str, Any]) -> None:
        payload = frame.payload
        if cmd.id == "register":
            serial, address = self.module.decode_register(payload)
            rec["values"] = {"serial": serial, "address": address}
            return
        t = self.spec.payload_type(cmd.request_type)
        if t is not None and (t.size is None or t.size == len(payload)):
            rec["values"] = _as_values(t.kind, decode_payload(t, payload))
        else:
            rec["payload"] = payload.hex()

    def _word_layout(self, what: str, frame: Frame) -> tuple[int, ...] | None:
        """The layout a status or parameter reply is decoded with (see the module docstring)."""
        layout = self._layouts.get((what, frame.src), self._default_layouts[what])
        if layout is not None:
            return layout
        model = self.model
        fixed_here = model is not None and (model.status_fixed if what == "status" else model.param_fixed)
        if model is not None and fixed_here and (what != "status" or model.status_reply in (None, frame.function)):
            return model.status_layout if what == "status" else model.param_layout
        fixed = self.spec.fixed_model_for(what, frame.function, len(frame.payload), prefer=model)
        if fixed is None:
            return None
        return fixed.status_layout if what == "status" else fixed.param_layout

    def _decode_reply(self, cmd: CommandDef, frame: Frame, rec: dict[str, Any]) -> None:
        module = self.module
        kind = cmd.reply_type
        if cmd.id in ("status_layout", "param_layout"):
            layout = module.decode_layout(frame.payload)
            self._layouts[("status" if cmd.id == "status_layout" else "parameters", frame.src)] = layout
            rec["layout"] = list(layout)
        elif cmd.id in ("status", "parameters"):
            layout = self._word_layout(cmd.id, frame)
            if layout is None:
                rec["error"] = (
                    f"no {cmd.id} layout seen yet from this inverter, and no fixed layout fits: raw words only"
                )
                rec["words"] = [
                    int.from_bytes(frame.payload[i : i + 2], "big") for i in range(0, len(frame.payload), 2)
                ]
                return
            decoded = (module.decode_status if cmd.id == "status" else module.decode_parameters)(layout, frame.payload)
            rec["values"] = decoded.values()
            if decoded.unknown:
                rec["unknown"] = {_code_key(code): raw for code, raw in decoded.unknown}
            if cmd.id == "status":
                rec["mode"] = decoded.mode_label
                rec["faults"] = list(decoded.faults)
        elif cmd.id == "version":
            rec["values"] = {k: _plain(v) for k, v in asdict(module.decode_version(frame.payload)).items()}
        elif cmd.id == "discover":
            rec["values"] = {"serial": frame.payload.decode("latin-1").strip("\x00 ")}
        elif (t := self.spec.payload_type(kind)) is not None and (t.size is None or t.size == len(frame.payload)):
            rec["values"] = _as_values(t.kind, decode_payload(t, frame.payload))
        elif frame.payload:
            rec["payload"] = frame.payload.hex()


def _code_key(code: int) -> str:
    """``0x2f`` for a layout code, ``word 12`` for an unused position of a fixed layout."""
    label = code_label(code)
    return label.lower() if label.startswith("0x") else label


def _as_values(kind: str, decoded: Any) -> dict[str, Any]:
    """A decoded payload as the record's ``values``: a struct's members, else one entry."""
    if kind == "struct":
        return {k: v.hex() if isinstance(v, bytes) else v for k, v in decoded.items()}
    return {"items" if kind == "array" else "text": decoded}


def decode_stream(
    data: bytes,
    spec: ModuleType | str,
    *,
    status_layout: Sequence[int] | None = None,
    param_layout: Sequence[int] | None = None,
    stats: list[FramerStats] | None = None,
    model: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Decode every frame found in ``data`` (wire bytes) with the spec's framer.

    Yields one JSON-ready dict per verified frame, in wire order: ``n``,
    ``direction`` (request/reply/unknown), ``command``, ``src``, ``dst``,
    ``hex`` and, for replies, ``values`` (scaled, by field id), ``mode``,
    ``faults``, ``unknown`` or ``error``.  Pass a list as ``stats`` to receive
    the framer's counts of garbage, bad checksums and truncated frames at the end.
    """
    decoder = StreamDecoder(spec, status_layout=status_layout, param_layout=param_layout, model=model)
    view = memoryview(data)
    for start in range(0, len(data), CHUNK):
        yield from decoder.feed(bytes(view[start : start + CHUNK]))
    decoder.finish()
    if stats is not None:
        stats.append(decoder.stats)


def describe(rec: dict[str, Any]) -> str:
    """One line of text for a decoded frame (``pv decode``'s default output)."""
    arrow = {"request": "->", "reply": "<-"}.get(rec["direction"], "??")
    head = f"#{rec['n']} {arrow} {rec['command']}"
    if rec.get("src") is not None:
        head += f" {rec['src']}->{rec['dst']}"
    parts: list[str] = []
    values = rec.get("values")
    if values:
        shown = {k: v for k, v in values.items() if v is not None and v != ""}
        if rec.get("mode") and "mode" in shown:
            shown["mode"] = rec["mode"]  # the label ("Normal") says more than the number
        parts.append(" ".join(f"{k}={v}" for k, v in shown.items()))
    if rec.get("faults"):
        parts.append("faults=" + ",".join(rec["faults"]))
    if "layout" in rec:
        parts.append("layout=" + " ".join(f"{c:02x}" for c in rec["layout"]))
    if rec.get("unknown"):
        parts.append("unknown=" + " ".join(f"{k}:{v}" for k, v in rec["unknown"].items()))
    if rec.get("error"):
        parts.append(f"error: {rec['error']}")
    if "payload" in rec and not values:
        parts.append(f"payload={rec['payload']}")
    # version texts and serials are the device's words: escaped, so a capture cannot drive the terminal
    return safe(head + (": " + "  ".join(p for p in parts if p) if any(parts) else ""))
