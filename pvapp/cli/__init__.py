"""``pv``: one command line for talking to inverters, monitoring them, and their history.

Each subcommand lives in the module of its kind (``device``: one line, ``monitor``:
the service, ``export``, ``decode``, ``setup``, ``tools``, ``web``); each registers its own
parsers, so adding a command touches one file.  Shared conventions (exit
statuses, one-line errors, port handling) are in ``common``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from pvgen.runtime.text import SafeFormatter, safe

from . import decode, device, export, history, monitor, setup, tools, web
from .common import EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, Parser, RuntimeFailure, UsageError
from .tools import run_pvoutput_service

__all__ = ["EXIT_OK", "EXIT_RUNTIME", "EXIT_USAGE", "RuntimeFailure", "UsageError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="pv",
        description="Talk to Phoenixtec / Samil solar inverters (CMS 2000, Orion, SunEzy, Samil SolarRiver), "
        "monitor them around the clock, keep every reading in SQLite and upload to PVOutput.",
        epilog="`pv monitor` with no configuration runs on the built-in simulator. "
        "See docs/monitor.md and docs/config.md.",
    )
    parser.add_argument("--config", metavar="PATH", help="configuration file (default: $PV_CONFIG, ./pv.toml, ...)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("--debug-frames", action="store_true", help="log every frame sent and received as hex")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    for mod in (device, monitor, export, history, tools, decode, setup, web):
        mod.register(sub)
    _global_options_after(sub)
    return parser


def _global_options_after(sub: Any) -> None:
    """Accept the global options after the command too (``pv monitor -vv``, ``pv status PORT --debug-frames``).

    They get their own destinations (added to or overriding the ones given before
    the command in ``main``), because a subcommand's defaults would otherwise
    overwrite what was given before it.  Commands that define an option of the
    same name themselves (``pv simulate -v``) keep theirs.
    """
    for name, parser in sub.choices.items():
        if name == "pvoutput-service":
            continue  # hands its whole command line to the service's own parser
        nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if nested:
            for action in nested:
                _global_options_after(action)
            continue
        known = parser._option_string_actions
        group = parser.add_argument_group("global options (also accepted before the command)")
        if "--config" not in known:
            group.add_argument("--config", dest="config_after", metavar="PATH", help=argparse.SUPPRESS)
        if "-v" not in known and "--verbose" not in known:
            group.add_argument(
                "-v", "--verbose", dest="verbose_after", action="count", default=0, help="more log output"
            )
        if "--debug-frames" not in known:
            group.add_argument("--debug-frames", dest="debug_frames_after", action="store_true", help="log every frame")


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    # every log line is redacted and has device text escaped, whichever logger wrote it
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _user_specs_ok(args: argparse.Namespace) -> bool:
    """The user's own specs (``PV_SPECS`` or ``specs_dir``) before any command: every problem, then stop."""
    from pvapp.config import activate_user_specs
    from pvgen.runtime.text import shown

    problems = activate_user_specs(args.config)
    for line in problems:
        print(shown(line), file=sys.stderr)
    if problems:
        print(f"pv {args.command}: your specs have {len(problems)} problem(s); fix them first", file=sys.stderr)
    return not problems


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["pvoutput-service"]:
        return run_pvoutput_service(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if getattr(args, "config_after", None):
        args.config = args.config_after
    args.debug_frames = args.debug_frames or getattr(args, "debug_frames_after", False)
    verbose = args.verbose + getattr(args, "verbose_after", 0) + (1 if args.command == "monitor" else 0)
    _setup_logging(verbose)
    if not args.debug_frames:
        # frames are logged only with --debug-frames (formatted as hex by its own handler);
        # at -vv they would otherwise come out as empty "DEBUG pv.frames:" lines
        logging.getLogger("pv.frames").setLevel(logging.INFO)
    if args.debug_frames:
        import pv

        if sys.stderr.isatty():
            pv.debug_color()
        else:
            pv.debug()
        logging.getLogger("pv.frames").propagate = False  # its own handler prints the dump once
    from pvapp.config import ConfigError

    try:
        if not _user_specs_ok(args):
            return EXIT_USAGE
        return int(args.func(args) or 0)
    except UsageError as exc:
        text = safe(exc)  # errors echo input: it is shown as data, never as terminal control
        print(f"pv {args.command}: {text}" if not text.startswith("config error") else text, file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        print(safe(exc), file=sys.stderr)
        return EXIT_USAGE
    except RuntimeFailure as exc:
        print(f"pv {args.command}: {safe(exc)}", file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # last resort: still one line, with a pointer to -vv
        if verbose >= 2:
            raise
        name = type(exc).__name__
        print(f"pv {args.command}: unexpected {name}: {safe(exc)} (run with -vv for details)", file=sys.stderr)
        return EXIT_RUNTIME


if __name__ == "__main__":
    sys.exit(main())
