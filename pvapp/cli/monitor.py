"""The long-running commands: ``pv monitor`` and ``pv upload`` (alias ``backfill``)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from .common import (
    EXIT_OK,
    EXIT_RUNTIME,
    UsageError,
    add_json,
    check_spec,
    emit,
    load_config,
    make_clock,
    positive,
    table,
)


def cmd_monitor(args: argparse.Namespace) -> int:
    from pvapp.monitor.run import run_monitor

    cfg = load_config(
        args,
        poll_interval=args.poll_interval,
        storage=args.storage,
        timezone=args.timezone,
        clock=args.clock,
        port=args.port,
        spec=check_spec(args.spec),
        asleep_after=args.asleep_after,
        listen=args.listen,
        advertise=_advertise(args.advertise),
        web=args.web,
        no_web=args.no_web,
    )
    if cfg.demo and (args.storage or os.environ.get("PV_STORAGE")):
        # The demo replaces its database on every run, so it never touches a file named by the user.
        where = "--storage" if args.storage else "PV_STORAGE"
        raise UsageError(
            f"{where}: no configuration found, so this would be the built-in demo, which keeps its readings only "
            f"in its own {cfg.storage.path}; to monitor an inverter into {args.storage or os.environ['PV_STORAGE']} "
            "give --port PORT too, or write a configuration (pv config init)"
        )
    clock = make_clock(cfg)
    live = None if args.display == "auto" else args.display == "live"
    return run_monitor(cfg, clock=clock, live=live, duration=args.duration, no_upload=args.no_upload)


def _advertise(values: list[str] | None) -> Any:
    """--advertise as the config layer takes it: None (not given), False (off) or a list of ADDR:PORT."""
    if not values:
        return None
    if len(values) == 1 and values[0].strip().lower() in ("off", "none", "no", "false"):
        return False
    return list(values)


def cmd_upload(args: argparse.Namespace) -> int:
    from pvapp.monitor.run import upload_now

    cfg = load_config(args, storage=args.storage, clock=args.clock)
    if cfg.pvoutput is None or not cfg.pvoutput_systems:
        raise UsageError("config error: pvoutput: no [pvoutput] table or no inverter with pvoutput_system")
    if args.system is not None and args.system not in cfg.pvoutput_systems:
        known = ", ".join(str(s) for s in sorted(cfg.pvoutput_systems))
        raise UsageError(f"--system: {args.system} is not a configured PVOutput system (configured: {known})")
    if not cfg.pvoutput.api_key:
        raise UsageError("config error: PV_PVOUTPUT_API_KEY: the PVOutput API key is not set in the environment")
    results = upload_now(cfg, clock=make_clock(cfg), system=args.system)
    data = {str(k): vars(v) for k, v in results.items()}

    def text() -> str:
        rows = [["SYSTEM", "SENT", "REJECTED", "PENDING", "REQUESTS", "NOTE"]]
        for sid, r in results.items():
            rows.append([str(sid), str(r.sent), str(r.rejected), str(r.pending), str(r.requests), r.stopped])
        return table(rows)

    emit(data, args.json, text)
    return EXIT_OK if all(not r.pending for r in results.values()) else EXIT_RUNTIME


def register(sub: Any) -> None:
    """Add this module's subcommands to the ``pv`` parser."""
    p = sub.add_parser(
        "monitor",
        help="poll every configured inverter, store every reading, upload and publish (the service)",
        description="Run the monitor.  With no configuration file it runs the built-in simulator (sim://cms, "
        "60x speed from 07:00) and stores into ./pv-demo.sqlite.",
    )
    p.add_argument("--port", metavar="PORT", help="poll this one port instead of the configured ones")
    p.add_argument(
        "--listen",
        nargs="?",
        const="0.0.0.0:1200",
        metavar="HOST:PORT",
        help="let Samil TCP inverters connect in, instead of the configured ports (default 0.0.0.0:1200); "
        "every unit that connects is polled",
    )
    p.add_argument(
        "--advertise",
        action="append",
        metavar="ADDR:PORT",
        help="with --listen: where the 'I AM SERVER' datagram goes (repeatable; default 255.255.255.255:1300; "
        "off: none)",
    )
    p.add_argument(
        "--spec", "--model", dest="spec", metavar="ID", help="spec for --port (default cms) or --listen (samil_tcp)"
    )
    p.add_argument("--poll-interval", type=positive, metavar="S", help="seconds between polls")
    p.add_argument("--asleep-after", type=positive, metavar="S", help="seconds of silence before 'asleep'")
    p.add_argument("--storage", metavar="PATH", help="SQLite database file")
    p.add_argument("--timezone", metavar="ZONE", help="local time zone of the site, e.g. Australia/Sydney")
    p.add_argument("--clock", metavar="CLOCK", help=argparse.SUPPRESS)
    p.add_argument("--duration", type=positive, metavar="S", help="stop after S real seconds (default: run until ^C)")
    p.add_argument("--no-upload", action="store_true", help="do not upload to PVOutput (the queue still fills)")
    web = p.add_mutually_exclusive_group()
    web.add_argument(
        "--web",
        metavar="ADDR:PORT",
        help="serve the read-only web page and /metrics here (default 127.0.0.1:8780; "
        "beyond loopback only with [web] password_hash)",
    )
    web.add_argument("--no-web", action="store_true", help="do not serve the web page and /metrics")
    p.add_argument(
        "--display",
        choices=("auto", "live", "lines"),
        default="auto",
        help="live table (terminal default) or one line per reading (default when piped or under systemd)",
    )
    p.set_defaults(func=cmd_monitor)

    for name in ("upload", "backfill"):
        p = sub.add_parser(
            name,
            help="send every queued status PVOutput does not have yet, now"
            + (" (same as upload)" if name == "backfill" else ""),
        )
        p.add_argument("--system", type=int, metavar="ID", help="only this PVOutput system")
        p.add_argument("--storage", metavar="PATH", help="SQLite database file")
        p.add_argument("--clock", metavar="CLOCK", help=argparse.SUPPRESS)
        add_json(p)
        p.set_defaults(func=cmd_upload)
