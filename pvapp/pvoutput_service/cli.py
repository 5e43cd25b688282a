"""``python -m pvapp.pvoutput_service --port N``: run the fake PVOutput service standalone.

Handy for trying the monitor without touching pvoutput.org: point the client at
``http://127.0.0.1:N`` with the key and system id printed at start-up.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from .service import PVOutputService


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pvapp.pvoutput_service", description="Run a local fake PVOutput service."
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8089, help="TCP port (default 8089; 0 picks a free one)")
    p.add_argument("--key", default="local-test-key", help="API key to accept (default local-test-key)")
    p.add_argument("--system-id", type=int, default=1, help="system id (default 1)")
    p.add_argument("--donation", action="store_true", help="make the system a donation account")
    p.add_argument("--read-only-key", default=None, help="also accept this key, read-only")
    p.add_argument("--size", type=int, default=5000, help="system size in W (default 5000)")
    p.add_argument("--interval", type=int, choices=(5, 10, 15), default=5, help="status interval in minutes")
    p.add_argument("--tz", default="Australia/Brisbane", help="system time zone (default Australia/Brisbane)")
    p.add_argument("--lat", type=float, default=-27.47, help="latitude (default -27.47)")
    p.add_argument("--lon", type=float, default=153.03, help="longitude (default 153.03)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        print(f"error: --port must be 0..65535, got {args.port}", file=sys.stderr)
        return 2
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(args.tz)
    except (KeyError, ValueError, OSError):
        print(f"error: --tz: unknown time zone {args.tz!r}", file=sys.stderr)
        return 2
    try:
        service = PVOutputService(host=args.host, port=args.port)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    service.add_system(
        args.system_id,
        donation=args.donation,
        size=args.size,
        status_interval=args.interval,
        tz=args.tz,
        latitude=args.lat,
        longitude=args.lon,
    )
    service.add_key(args.key, args.system_id)
    if args.read_only_key:
        service.add_key(args.read_only_key, args.system_id, mode="read_only")
    stop = threading.Event()
    # Ctrl-C and SIGTERM only set the event: no KeyboardInterrupt can land inside
    # the shutdown below, and the timed wait lets the handler run promptly.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    service.start()
    try:
        where = f"http://{args.host}:{service.port}"
        print(f"fake PVOutput on {where}  system {args.system_id}  key {args.key}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        service.stop()
    return 0
