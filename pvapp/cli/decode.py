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
    if args.model is not None:
        spec_id = spec_of_model(args.model, spec_id)
    try:
        stream = sys.stdin.buffer if args.input == "-" else Path(args.input).open("rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UsageError(f"FILE: cannot read {args.input}: {exc.strerror}") from None
    out = sys.stdout
    decoder: StreamDecoder | None = None
    count = 0

    def start(first: bytes) -> StreamDecoder:
        chosen = spec_id if spec_id is not None else guess_spec(first)
        if args.json:
            out.write(f'{{"spec": {json.dumps(chosen)}, "frames": [')
        return StreamDecoder(module(chosen), model=args.model)

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


PREFERRED = ("cms", "samil")  # where several specs share a lead, the families' best-known members


def guess_spec(data: bytes) -> str:
    """The spec whose frame lead (prefix and sync) starts earliest in the capture; cms when none does.

    A longer lead wins at the same offset (SISER's ``02 AA AA`` over ``AA AA``),
    then the families' best-known members (cms, samil), then the id.
    """
    best: tuple[int, int, int, str] | None = None
    for spec_id in spec_ids():
        try:
            fmt = module(spec_id).SPEC.frame
        except ImportError:
            continue
        for lead, _direction in fmt.leads():
            pos = data.find(lead, 0, 4096)
            if pos < 0:
                continue
            preferred = PREFERRED.index(spec_id) if spec_id in PREFERRED else len(PREFERRED)
            key = (pos, -len(lead), preferred, spec_id)
            if best is None or key < best:
                best = key
    return best[3] if best is not None else "cms"


def spec_of_model(model_id: str, spec_id: str | None) -> str:
    """The spec a ``--model`` belongs to (checked against ``--spec`` when both are given)."""
    owners = [s for s in spec_ids() if any(m.id == model_id for m in module(s).SPEC.models)]
    if spec_id is not None:
        if spec_id not in owners:
            have = ", ".join(m.id for m in module(spec_id).SPEC.models)
            raise UsageError(f"--model: spec {spec_id!r} has no model {model_id!r} (have: {have})")
        return spec_id
    if not owners:
        raise UsageError(f"--model: no spec has a model {model_id!r}")
    if len(owners) > 1:
        raise UsageError(f"--model: {model_id!r} is a model of {', '.join(owners)}: give --spec too")
    return owners[0]


# -- the parser -----------------------------------------------------------------------


def register(sub: Any) -> None:
    """Add this module's subcommands to the ``pv`` parser."""
    p = sub.add_parser("decode", help="decode hex dumps or raw captures into frames (text or JSON)")
    p.add_argument("input", nargs="?", default="-", metavar="FILE", help="capture file (default: standard input)")
    p.add_argument("--spec", metavar="ID", default=None, help="spec (default: by the capture's first frame bytes)")
    p.add_argument(
        "--model",
        metavar="ID",
        default=None,
        help="model whose fixed word order decodes status replies no layout reply precedes"
        " (default: the fixed layout the reply's code and length fit)",
    )
    add_json(p)
    p.set_defaults(func=cmd_decode)
