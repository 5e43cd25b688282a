"""The ``frame`` and ``transport`` sections: bytes on the wire and line settings."""

from __future__ import annotations

from pvgen.runtime.model import FrameFormat, TransportDefaults

from ..yamlsrc import LDict
from .check import Checker


def build_frame(doc: LDict, chk: Checker, abstract: bool) -> FrameFormat | None:
    frame_doc = doc.get("frame")
    if frame_doc is None:
        if not abstract:
            chk.error("meta", None, (), "missing required key 'frame'", doc.line)
        return None
    addresses = frame_doc["addresses"]
    aw = 0 if addresses == "none" else int(addresses["width"])
    host = 0 if addresses == "none" else int(addresses["host"])
    bcast = 0 if addresses == "none" else int(addresses["broadcast"])
    if aw and (host >= 1 << (8 * aw) or bcast >= 1 << (8 * aw)):
        chk.error("frame", "addresses", (), f"host/broadcast address does not fit in {aw} byte(s)")
    ident = frame_doc.get("ident") or {}
    lw = int(frame_doc["length_width"])
    frame = FrameFormat(
        sync=bytes.fromhex(frame_doc["sync"].replace(" ", "")),
        address_width=aw,
        ident_width=int(ident.get("width", 0)),
        request_ident=int(ident.get("request", 0)),
        length_width=lw,
        checksum_slack=tuple(frame_doc["checksum"].get("tolerate", ())),
        host_address=host,
        broadcast_address=bcast,
        max_payload=int(frame_doc.get("max_payload", (1 << (8 * lw)) - 1)),
    )
    if frame.max_payload >= 1 << (8 * lw):
        chk.error("frame", "max_payload", (), f"max_payload does not fit in a {lw}-byte length field")
    return frame


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
    )
