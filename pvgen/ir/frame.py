"""The ``frame`` and ``transport`` sections: bytes on the wire, address rules and line settings."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pvgen.runtime.model import CommandDef, FrameFormat, TransportDefaults

from ..yamlsrc import LDict
from .check import Checker


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def _directions(value: Any) -> tuple[bytes, bytes]:
    """(request, reply) bytes of a key given once for both directions or as {request, reply}."""
    if value is None:
        return b"", b""
    if isinstance(value, str):
        return _hex(value), _hex(value)
    return _hex(value.get("request", "")), _hex(value.get("reply", ""))


def build_frame(doc: LDict, chk: Checker, abstract: bool) -> FrameFormat | None:
    frame_doc = doc.get("frame")
    if frame_doc is None:
        if not abstract:
            chk.error("meta", None, (), "missing required key 'frame'", doc.line)
        return None
    request_sync, reply_sync = _directions(frame_doc["sync"])
    if isinstance(frame_doc["sync"], dict):
        for direction in ("request", "reply"):
            if direction not in frame_doc["sync"]:
                chk.error("frame", "sync", (), f"sync per direction needs both request and reply (missing {direction})")
    request_prefix, reply_prefix = _directions(frame_doc.get("prefix"))
    if isinstance(frame_doc.get("prefix"), dict) and not frame_doc["prefix"]:
        chk.error("frame", "prefix", (), "an empty prefix has no effect: give request, reply or both")
    addresses = frame_doc["addresses"]
    aw = 0 if addresses == "none" else int(addresses["width"])
    rules: dict[str, Any] = {} if addresses == "none" else dict(addresses)
    host = int(rules.get("host", 0))
    bcast = int(rules.get("broadcast", 0))
    inverter = int(rules.get("inverter", 0))
    reply_from = int(rules.get("reply_from", inverter))
    to_request = rules.get("reply_to", "host") == "request"
    for key in ("host", "broadcast", "inverter", "reply_from"):
        if aw and key in rules and int(rules[key]) >= 1 << (8 * aw):
            chk.error("frame", "addresses", (key,), f"{key} address does not fit in {aw} byte(s)")
    for key in ("inverter", "reply_from"):
        if aw and key in rules and int(rules[key]) & 0xFF:
            chk.error(
                "frame",
                "addresses",
                (key,),
                f"{key} is a base the bus address is OR'd into: its low byte must be 0",
            )
    if to_request and aw != 2:
        chk.error("frame", "addresses", ("reply_to",), "reply_to: request needs 2-byte addresses")
    if "first" in rules and not doc.get("registration", True):
        chk.error(
            "frame", "addresses", ("first",), "first has no effect: the spec has no registration (registration: false)"
        )
    ident = frame_doc.get("ident") or {}
    lw = int(frame_doc["length_width"])
    frame = FrameFormat(
        sync=request_sync,
        address_width=aw,
        ident_width=int(ident.get("width", 0)),
        request_ident=int(ident.get("request", 0)),
        length_width=lw,
        checksum_slack=tuple(frame_doc["checksum"].get("tolerate", ())),
        host_address=host,
        broadcast_address=bcast,
        max_payload=int(frame_doc.get("max_payload", (1 << (8 * lw)) - 1)),
        reply_sync=b"" if reply_sync == request_sync else reply_sync,
        request_prefix=request_prefix,
        reply_prefix=reply_prefix,
        inverter_address=inverter,
        reply_from=reply_from,
        reply_to_request=to_request,
        first_address=int(rules.get("first", 1)),
    )
    if frame.max_payload >= 1 << (8 * lw):
        chk.error("frame", "max_payload", (), f"max_payload does not fit in a {lw}-byte length field")
    return frame


def line_addresses(frame: FrameFormat, commands: list[CommandDef]) -> FrameFormat:
    """The frame format with the addresses every real frame carries (the framer's plausibility rule).

    Host and broadcast, every fixed destination, and every address a reply is
    sent to.  With the default rules that is exactly host and broadcast, so
    the literal stays as before (an empty tuple means just those two).
    """
    if not frame.address_width:
        return frame
    ends = [frame.host_address, frame.broadcast_address]
    fixed = [c.destination for c in commands if c.destination is not None]
    ends += fixed
    if frame.reply_to_request:
        for dst in (frame.broadcast_address, frame.inverter_address, *fixed):
            ends.append(frame.reply_destination(frame.host_address, dst))
    unique = tuple(dict.fromkeys(ends))
    if unique == tuple(dict.fromkeys((frame.host_address, frame.broadcast_address))):
        return frame
    return replace(frame, line_addresses=unique)


def build_transport(doc: LDict) -> TransportDefaults:
    tr = doc.get("transport") or {}
    return TransportDefaults(
        baudrate=int(tr.get("baudrate", 9600)),
        bytesize=int(tr.get("bytesize", 8)),
        parity=str(tr.get("parity", "N")),
        stopbits=float(tr.get("stopbits", 1)),
        reply_timeout=float(tr.get("reply_timeout", 1.0)),
        command_delay=float(tr.get("command_delay", 0.1)),
        tcp_port=tr.get("tcp_port"),
        dtr=tr.get("dtr"),
        rts=tr.get("rts"),
    )
