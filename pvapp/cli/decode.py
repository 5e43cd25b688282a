"""``pv decode``: frames in a capture, named and decoded, streamed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .common import (
    EXIT_OK,
    UsageError,
    add_json,
    check_spec,
    json_default,
    module,
    spec_ids,
)


def cmd_decode(args: argparse.Namespace) -> int:
    """Decode a capture: frames found by the spec's framer, named, with status values decoded.

    Frames are printed as they are decoded (JSON included), so a capture of a
    million frames never has to fit in memory.
    """
    from pvapp.decode import CaptureError, StreamDecoder, describe, read_capture

    try:
        raw = sys.stdin.buffer.read() if args.input == "-" else Path(args.input).read_bytes()
    except OSError as exc:
        raise UsageError(f"FILE: cannot read {args.input}: {exc.strerror}") from None
    try:
        data = read_capture(raw)
    except CaptureError as exc:
        raise UsageError(f"FILE: {exc}") from None
    spec_id = check_spec(args.spec)
    if spec_id is None:
        spec_id = "samil" if data[:2] == b"\x55\xaa" and "samil" in spec_ids() else "cms"
    decoder = StreamDecoder(module(spec_id))
    out = sys.stdout
    count = 0
    if args.json:
        out.write(f'{{"spec": {json.dumps(spec_id)}, "frames": [')
    for start in range(0, len(data), 65536):
        for rec in decoder.feed(data[start : start + 65536]):
            if args.json:
                out.write(("," if count else "") + "\n  " + json.dumps(rec, default=json_default))
            else:
                out.write(describe(rec) + "\n")
            count += 1
    decoder.finish()
    stats = decoder.stats.as_dict()
    if args.json:
        out.write(f'\n], "stats": {json.dumps(stats)}}}\n')
        return EXIT_OK
    dropped = ", ".join(f"{k} {v}" for k, v in stats.items() if k != "frames" and v) or "nothing"
    out.write(f"{count} frames; discarded: {dropped}\n")
    return EXIT_OK


# -- the parser -----------------------------------------------------------------------


def register(sub: Any) -> None:
    """Add this module's subcommands to the ``pv`` parser."""
    p = sub.add_parser("decode", help="decode hex dumps or raw captures into frames (text or JSON)")
    p.add_argument("input", nargs="?", default="-", metavar="FILE", help="capture file (default: standard input)")
    p.add_argument("--spec", "--model", dest="spec", metavar="ID", default=None, help="spec (default: by sync bytes)")
    add_json(p)
    p.set_defaults(func=cmd_decode)
