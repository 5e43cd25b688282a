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

    The capture is read in chunks (text captures line by line) and frames are
    printed as they are decoded (JSON included), so memory stays bounded for a
    capture of any size, from a file or from standard input.
    """
    from pvapp.decode import CaptureError, StreamDecoder, describe, iter_capture

    spec_id = check_spec(args.spec)
    try:
        stream = sys.stdin.buffer if args.input == "-" else Path(args.input).open("rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UsageError(f"FILE: cannot read {args.input}: {exc.strerror}") from None
    out = sys.stdout
    decoder: StreamDecoder | None = None
    count = 0

    def start(first: bytes) -> StreamDecoder:
        chosen = spec_id
        if chosen is None:
            chosen = "samil" if first[:2] == b"\x55\xaa" and "samil" in spec_ids() else "cms"
        if args.json:
            out.write(f'{{"spec": {json.dumps(chosen)}, "frames": [')
        return StreamDecoder(module(chosen))

    try:
        for chunk in iter_capture(stream):
            if decoder is None:
                decoder = start(chunk)
            for rec in decoder.feed(chunk):
                if args.json:
                    out.write(("," if count else "") + "\n  " + json.dumps(rec, default=json_default))
                else:
                    out.write(describe(rec) + "\n")
                count += 1
    except CaptureError as exc:
        raise UsageError(f"FILE: {exc}") from None
    except OSError as exc:
        raise UsageError(f"FILE: cannot read {args.input}: {exc.strerror or exc}") from None
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    if decoder is None:
        decoder = start(b"")
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
