"""What every ``pv`` subcommand shares: exit statuses, errors, opening a port, output helpers.

Conventions kept across every subcommand:

* ``PORT`` is a device path, a ``/dev/serial/by-id/...`` link, or a pyserial
  URL (``socket://``, ``rfc2217://``, ``sim://``); ``--spec`` picks the
  protocol (default: from a ``sim://SPEC`` URL, else detected by trying the
  ``AA AA`` family, then the Samil ``55 AA`` family, and refined from the
  version reply);
* ``--json`` wherever the output is data;
* bad input or configuration: one line on stderr naming the argument or key,
  exit status 2, never a traceback.  Runtime trouble (no inverter answered):
  one line, exit status 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, NoReturn

from pvgen.runtime.text import redact, safe, shown

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2
LISTEN = "listen://"

log = logging.getLogger("pv")


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


class RuntimeFailure(Exception):
    """The command was fine but the world was not (no reply, port gone): exit status 1."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {safe(message)} (see {self.prog} --help)\n")


def spec_ids() -> tuple[str, ...]:
    from pvapp.config import known_specs

    return known_specs()


def check_spec(spec: str | None) -> str | None:
    if spec is None:
        return None
    ids = spec_ids()
    if spec not in ids:
        raise UsageError(f"--spec: unknown spec {spec!r} (expected one of {', '.join(ids)})")
    return spec


def module(spec_id: str) -> Any:
    return importlib.import_module(f"pv.{spec_id}")


def sim_spec(port: str) -> str | None:
    if port.startswith("sim://"):
        rest = port[len("sim://") :].split("?", 1)[0].strip("/")
        return rest or "cms"
    return None


def open_port(port: str, spec_id: str, timeout: float | None) -> Any:
    import pv

    from pvgen.runtime.errors import PortGone

    try:
        return pv.open_port(port, spec=module(spec_id).SPEC, timeout=timeout)
    except PortGone as exc:
        raise RuntimeFailure(str(exc)) from None


class Session:
    """One inverter reached on a port: opened, handshaken, identified."""

    def __init__(self, port: str, spec_id: str, conn: Any, client: Any, serial: str) -> None:
        self.port = port
        self.spec_id = spec_id
        self.module = module(spec_id)
        self.conn = conn
        self.client = client
        self.serial = serial

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception as exc:  # closing a vanished device can fail in many ways
            log.debug("closing %s: %s", self.port, exc)


def connect(
    port: str,
    spec: str | None,
    *,
    timeout: float | None,
    address: int | None = None,
    advertise: Sequence[str] | None = None,
    wait: float = 60.0,
) -> Session:
    """Open PORT and register one inverter (at the spec's first bus address unless given), detecting the spec.

    ``listen://HOST:PORT`` waits (``wait`` seconds) for a Samil TCP unit to
    connect, sending the advertisement to ``advertise`` (default: broadcast).
    """
    from pvgen.runtime.errors import InverterError, NoReply

    if port.startswith(LISTEN):
        return _accept(port, spec, timeout=timeout, advertise=advertise, wait=wait)
    if advertise:
        raise UsageError("--advertise: only for a listen://HOST:PORT port (inverters that connect in)")
    candidates: list[str]
    if spec:
        candidates = [spec]
    elif sim_spec(port):
        candidates = [sim_spec(port) or "cms"]
    else:
        # a socket may lead to a serial bridge or to a Samil TCP unit's own port
        tried = ("cms", "samil", "samil_tcp") if port.startswith("socket://") else ("cms", "samil")
        candidates = [s for s in tried if s in spec_ids()]
    reasons: list[str] = []
    for spec_id in candidates:
        conn = open_port(port, spec_id, timeout)
        mod = module(spec_id)
        client = mod.Inverter(conn, timeout=timeout)
        try:
            serial = client.handshake(address=address) if mod.SPEC.registration else ""
            if not serial:
                serial = client.read_version().serial
        except NoReply as exc:
            reasons.append(f"{spec_id}: {exc}")
            night = sim_asleep(conn)
            conn.close()
            if night:
                raise RuntimeFailure(f"{port}: no inverter answered: {night}") from None
            continue
        except InverterError as exc:
            conn.close()
            raise RuntimeFailure(f"{port}: {exc}") from None
        refined = refine_spec(spec_id, client) if not spec and not sim_spec(port) else spec_id
        if refined != spec_id:
            client = module(refined).Inverter(conn, address=client.address, timeout=timeout)
            client.serial = serial
        return Session(port, refined, conn, client, serial)
    # each candidate's own reason: "answered discover but never acknowledged" is not "silent"
    silent = all("no reply to" in r or "no unregistered inverter answered" in r for r in reasons)
    hint = "inverters are silent at night; otherwise check " if silent else "check "
    raise RuntimeFailure(
        f"{port}: no inverter answered ({'; '.join(reasons) or 'no reply'}); {hint}the cable, the port and --spec"
    )


def _accept(
    port: str, spec: str | None, *, timeout: float | None, advertise: Sequence[str] | None, wait: float
) -> Session:
    """``listen://``: wait for one Samil TCP unit to connect (the one-shot commands' side of it)."""
    from pvapp.config import ConfigError, parse_advertise, parse_listen
    from pvapp.monitor.listen_net import accept_one
    from pvgen.runtime.errors import NoReply, PortGone

    spec_id = spec or "samil_tcp"
    mod = module(spec_id)
    if mod.SPEC.frame.address_width:
        raise UsageError(f"--spec: {spec_id} is a serial-line protocol; only Samil TCP units connect in (samil_tcp)")
    try:
        parse_listen(port, "PORT")
        targets = parse_advertise(_advertise_value(advertise), "--advertise")
    except ConfigError as exc:
        raise UsageError(f"{exc.key}: {exc.problem}") from None
    try:
        conn, client, _version, peer = accept_one(
            port,
            mod,
            advertise=targets,
            wait=wait,
            timeout=timeout,
            announce=lambda text: print(safe(text), file=sys.stderr, flush=True),
        )
    except PortGone as exc:
        raise RuntimeFailure(f"{port}: {exc}") from None
    except NoReply as exc:
        raise RuntimeFailure(
            f"{port}: {exc}; units connect only by day, after hearing the advertisement (is UDP 1300 "
            "reaching them, and TCP to this port allowed by the firewall?)"
        ) from None
    log.info("inverter %s connected from %s", client.serial, peer)
    return Session(port, spec_id, conn, client, str(client.serial))


def _advertise_value(advertise: Sequence[str] | None) -> Any:
    if not advertise:
        return True
    if len(advertise) == 1 and advertise[0].strip().lower() in ("off", "none", "no", "false"):
        return False
    return list(advertise)


def connect_args(args: argparse.Namespace) -> dict[str, Any]:
    """The listen:// options of a one-shot command, as ``connect`` takes them."""
    return {"advertise": getattr(args, "advertise", None), "wait": getattr(args, "wait", None) or 60.0}


def sim_asleep(conn: Any) -> str:
    """For a ``sim://`` port whose inverters all sleep: says so (else empty)."""
    sim = getattr(conn, "simulator", None)
    if sim is None:
        return ""
    from pvapp.sim.simulator import asleep_note

    return asleep_note(sim)


def refine_spec(spec_id: str, client: Any) -> str:
    """Pick the spec of the same frame family whose captured version text matches the reply."""
    try:
        text = client.read_version().text.lower()
    except Exception:
        return spec_id
    base = module(spec_id).SPEC
    for other in spec_ids():
        try:
            spec = module(other).SPEC
        except ImportError:
            continue
        if spec.frame.sync != base.frame.sync or spec.frame.address_width != base.frame.address_width:
            continue
        for model in spec.models:
            words = [v.strip().lower() for k, v in model.version if k in ("model", "device_type") and v.strip()]
            if words and all(w in text for w in words):
                return str(spec.id)
    return spec_id


def emit(data: Any, as_json: bool, text: Callable[[], str]) -> None:
    """Print a result.  Both forms pass the one redaction path; text also has controls escaped.

    JSON escapes control characters itself (``ensure_ascii``); the text form
    keeps the line breaks ``pv`` put there and escapes everything else that
    is not printable, as a backstop for device text the command did not pass
    through ``shown`` itself.
    """
    if as_json:
        print(redact(json.dumps(data, indent=2, default=json_default)))
    else:
        print(shown(redact(text()), newlines=True))


def json_default(o: Any) -> Any:
    if isinstance(o, datetime | date):
        return o.isoformat()
    if isinstance(o, bytes):
        return o.hex()
    if isinstance(o, tuple):
        return list(o)
    return str(o)


def field_rows(spec: Any, values: dict[str, Any], status: Any = None) -> list[dict[str, Any]]:
    rows = []
    layout = set(getattr(status, "layout", ()) or ())
    for f in spec.fields:
        if f.id not in values:
            continue
        if layout and f.codes_in(layout) is None:
            continue  # not in what this inverter reports (at its own codes nor an alternative's)
        v = values[f.id]
        row: dict[str, Any] = {"id": f.id, "label": f.label, "value": v, "unit": f.unit}
        if status is not None and f.enum and v is not None:
            row["text"] = spec.enum(f.enum).label_of(int(status.raw_value(f.id) or 0))
        if status is not None and f.flags and v is not None:
            row["text"] = "; ".join(spec.flag_set(f.flags).words(int(status.raw_value(f.id) or 0))) or "none"
        rows.append(row)
    return rows


def table(rows: Sequence[Sequence[str]]) -> str:
    rows = [[safe(c) for c in r] for r in rows]  # escaped before measuring, so columns line up
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def load_config(args: argparse.Namespace, **flags: Any) -> Any:
    from pvapp import config as config_mod

    return config_mod.load(getattr(args, "config", None), overrides=flags)


def make_clock(cfg: Any) -> Any:
    from pvapp.clock import ScaledClock, parse_clock

    if cfg.clock == "demo":
        now_local = datetime.now(cfg.timezone)
        start = now_local.replace(hour=7, minute=0, second=0, microsecond=0)
        from pvapp.config import DEMO_SPEED

        return ScaledClock(start, DEMO_SPEED)
    try:
        return parse_clock(cfg.clock)
    except ValueError as exc:
        raise UsageError(f"config error: clock: {exc}") from None


def parse_day(text: str, what: str) -> date:
    from pvapp.clock import day_problem

    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not a date (YYYY-MM-DD)") from None
    problem = day_problem(day)
    if problem is not None:
        raise UsageError(f"{what}: {problem}")
    return day


def port_args(p: argparse.ArgumentParser, *, port_optional: bool = False) -> None:
    p.add_argument(
        "port",
        metavar="PORT",
        nargs="?" if port_optional else None,
        help="device path, /dev/serial/by-id/... link, or URL (socket://, sim://cms); "
        "listen://HOST:PORT waits for a Samil TCP unit to connect in (e.g. listen://0.0.0.0:1200)",
    )
    p.add_argument("--spec", "--model", dest="spec", metavar="ID", help="protocol spec (default: detect)")
    p.add_argument("--timeout", type=positive, metavar="S", help="reply timeout in seconds (default: the spec's)")
    p.add_argument(
        "--advertise",
        action="append",
        metavar="ADDR:PORT",
        help="listen:// only: where the 'I AM SERVER' datagram goes (repeatable; default 255.255.255.255:1300; "
        "off: none)",
    )
    p.add_argument(
        "--wait", type=positive, metavar="S", help="listen:// only: how long to wait for a unit to connect (60)"
    )


def positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return v


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def need_sub(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    return EXIT_USAGE


def missing(what: str, exc: Exception) -> int:
    raise RuntimeFailure(f"`pv {what}` is not available in this installation: {exc}")
