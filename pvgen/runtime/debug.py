"""Frame dumps for bug reports, on top of ``logging``.

Every frame sent or received is logged on the ``pv.frames`` logger at DEBUG
with the frame attached to the record, so the formatting (plain hex, or hex
coloured by part) is chosen by whoever turns debugging on, and costs nothing
when nobody does.
"""

from __future__ import annotations

import logging
import sys

from .model import FrameFormat

FRAME_LOG = logging.getLogger("pv.frames")

_COLOURS = {
    "prefix": "\033[35m",
    "sync": "\033[1;35m",
    "address": "\033[36m",
    "command": "\033[1;33m",
    "ident": "\033[33m",
    "length": "\033[34m",
    "payload": "\033[0m",
    "checksum": "\033[32m",
}
_RESET = "\033[0m"


def frame_parts(data: bytes, fmt: FrameFormat) -> list[tuple[str, bytes]]:
    """Split raw frame bytes into named parts (whatever arrived, even if short)."""
    parts: list[tuple[str, bytes]] = []
    pos = 0
    reply = data.startswith(fmt.lead(reply=True)) and not data.startswith(fmt.lead(reply=False))
    prefix = fmt.reply_prefix if reply else fmt.request_prefix
    sync = (fmt.reply_sync or fmt.sync) if reply else fmt.sync
    widths = [("prefix", len(prefix)), ("sync", len(sync))]
    if fmt.address_width:
        widths += [("address", fmt.address_width), ("address", fmt.address_width)]
    widths.append(("command", 2))
    if fmt.ident_width:
        widths.append(("ident", fmt.ident_width))
    widths.append(("length", fmt.length_width))
    for name, width in widths:
        parts.append((name, data[pos : pos + width]))
        pos += width
    body_end = max(pos, len(data) - 2)
    parts.append(("payload", data[pos:body_end]))
    parts.append(("checksum", data[body_end:]))
    return [(name, chunk) for name, chunk in parts if chunk]


class FrameFormatter(logging.Formatter):
    """Renders ``pv.frames`` records as spaced hex, one group per frame part."""

    colour = False

    def format(self, record: logging.LogRecord) -> str:
        data: bytes | None = getattr(record, "frame", None)
        fmt: FrameFormat | None = getattr(record, "frame_format", None)
        direction = getattr(record, "direction", "")
        if data is None or fmt is None:
            return super().format(record)
        groups = []
        for name, chunk in frame_parts(data, fmt):
            text = chunk.hex(" ")
            groups.append(f"{_COLOURS[name]}{text}{_RESET}" if self.colour else text)
        arrow = {"tx": "->", "rx": "<-"}.get(direction, "..")
        note = f" ({record.getMessage()})" if record.getMessage() else ""
        return f"{arrow} " + "  ".join(groups) + note


class ColourFrameFormatter(FrameFormatter):
    colour = True


def _install(formatter: logging.Formatter) -> None:
    for handler in list(FRAME_LOG.handlers):
        if getattr(handler, "_pv_debug", False):
            FRAME_LOG.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler._pv_debug = True  # type: ignore[attr-defined]
    FRAME_LOG.addHandler(handler)
    FRAME_LOG.setLevel(logging.DEBUG)


def debug() -> None:
    """Print every frame sent and received as hex on stderr (pv 0.2's ``pv.debug()``)."""
    _install(FrameFormatter())


def debug_color() -> None:
    """Like debug(), colouring sync, addresses, command, length, payload and checksum."""
    _install(ColourFrameFormatter())


def log_frame(direction: str, data: bytes, fmt: FrameFormat, note: str = "") -> None:
    if FRAME_LOG.isEnabledFor(logging.DEBUG):
        FRAME_LOG.debug(note, extra={"frame": data, "frame_format": fmt, "direction": direction})
