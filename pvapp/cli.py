"""``pv``: one command line for talking to inverters, monitoring them, and their history.

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
import csv
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2

log = logging.getLogger("pv")


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


class RuntimeFailure(Exception):
    """The command was fine but the world was not (no reply, port gone): exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# -- shared helpers -----------------------------------------------------------------


def _spec_ids() -> tuple[str, ...]:
    from pvapp.config import known_specs

    return known_specs()


def _check_spec(spec: str | None) -> str | None:
    if spec is None:
        return None
    ids = _spec_ids()
    if spec not in ids:
        raise UsageError(f"--spec: unknown spec {spec!r} (expected one of {', '.join(ids)})")
    return spec


def _module(spec_id: str) -> Any:
    return importlib.import_module(f"pv.{spec_id}")


def _sim_spec(port: str) -> str | None:
    if port.startswith("sim://"):
        rest = port[len("sim://") :].split("?", 1)[0].strip("/")
        return rest or "cms"
    return None


def _open(port: str, spec_id: str, timeout: float | None) -> Any:
    import pv

    from pvgen.runtime.errors import PortGone

    try:
        return pv.open_port(port, spec=_module(spec_id).SPEC, timeout=timeout)
    except PortGone as exc:
        raise RuntimeFailure(str(exc)) from None


class Session:
    """One inverter reached on a port: opened, handshaken, identified."""

    def __init__(self, port: str, spec_id: str, conn: Any, client: Any, serial: str) -> None:
        self.port = port
        self.spec_id = spec_id
        self.module = _module(spec_id)
        self.conn = conn
        self.client = client
        self.serial = serial

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception as exc:  # closing a vanished device can fail in many ways
            log.debug("closing %s: %s", self.port, exc)


def connect(port: str, spec: str | None, *, timeout: float | None, address: int = 1) -> Session:
    """Open PORT and register one inverter, detecting the spec when not given."""
    from pvgen.runtime.errors import InverterError, NoReply

    candidates: list[str]
    if spec:
        candidates = [spec]
    elif _sim_spec(port):
        candidates = [_sim_spec(port) or "cms"]
    else:
        candidates = [s for s in ("cms", "samil") if s in _spec_ids()]
    last_error = ""
    for spec_id in candidates:
        conn = _open(port, spec_id, timeout)
        mod = _module(spec_id)
        client = mod.Inverter(conn, timeout=timeout)
        try:
            serial = client.handshake(address=address) if mod.SPEC.registration else ""
            if not serial:
                serial = client.read_version().serial
        except NoReply as exc:
            last_error = str(exc)
            conn.close()
            continue
        except InverterError as exc:
            conn.close()
            raise RuntimeFailure(f"{port}: {exc}") from None
        refined = _refine_spec(spec_id, client) if not spec and not _sim_spec(port) else spec_id
        if refined != spec_id:
            client = _module(refined).Inverter(conn, address=client.address, timeout=timeout)
            client.serial = serial
        return Session(port, refined, conn, client, serial)
    tried = ", ".join(candidates)
    raise RuntimeFailure(
        f"{port}: no inverter answered ({tried}: {last_error or 'no reply'}); "
        "inverters are silent at night; otherwise check the cable, the port and --spec"
    )


def _refine_spec(spec_id: str, client: Any) -> str:
    """Pick the spec of the same frame family whose captured version text matches the reply."""
    try:
        text = client.read_version().text.lower()
    except Exception:
        return spec_id
    base = _module(spec_id).SPEC
    for other in _spec_ids():
        try:
            spec = _module(other).SPEC
        except ImportError:
            continue
        if spec.frame.sync != base.frame.sync or spec.frame.address_width != base.frame.address_width:
            continue
        for model in spec.models:
            words = [v.strip().lower() for k, v in model.version if k in ("model", "device_type") and v.strip()]
            if words and all(w in text for w in words):
                return str(spec.id)
    return spec_id


def _emit(data: Any, as_json: bool, text: Callable[[], str]) -> None:
    if as_json:
        print(json.dumps(data, indent=2, default=_json_default))
    else:
        print(text())


def _json_default(o: Any) -> Any:
    if isinstance(o, datetime | date):
        return o.isoformat()
    if isinstance(o, bytes):
        return o.hex()
    if isinstance(o, tuple):
        return list(o)
    return str(o)


def _field_rows(spec: Any, values: dict[str, Any], status: Any = None) -> list[dict[str, Any]]:
    rows = []
    layout = set(getattr(status, "layout", ()) or ())
    for f in spec.fields:
        if f.id not in values:
            continue
        if layout and not set(f.codes) <= layout:
            continue  # not in what this inverter reports
        v = values[f.id]
        row: dict[str, Any] = {"id": f.id, "label": f.label, "value": v, "unit": f.unit}
        if status is not None and f.enum and v is not None:
            row["text"] = spec.enum(f.enum).label_of(int(status.raw_value(f.id) or 0))
        if status is not None and f.flags and v is not None:
            row["text"] = "; ".join(spec.flag_set(f.flags).words(int(status.raw_value(f.id) or 0))) or "none"
        rows.append(row)
    return rows


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


# -- commands ------------------------------------------------------------------------


def cmd_ports(args: argparse.Namespace) -> int:
    from serial.tools import list_ports

    by_id: dict[str, str] = {}
    base = Path("/dev/serial/by-id")
    if base.is_dir():
        for link in sorted(base.iterdir()):
            try:
                by_id[os.path.realpath(link)] = str(link)
            except OSError:
                continue
    ports: list[dict[str, str]] = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        ports.append(
            {
                "device": p.device,
                "by_id": by_id.get(os.path.realpath(p.device), ""),
                "description": p.description if p.description != "n/a" else "",
                "hwid": p.hwid if p.hwid != "n/a" else "",
            }
        )

    def text() -> str:
        if not ports:
            return "no serial ports found (a USB adapter plugged in? see also `pv simulate` and sim://cms)"
        rows = [["DEVICE", "STABLE NAME (use this in pv.toml)", "DESCRIPTION"]]
        rows += [[p["device"], p["by_id"] or "-", p["description"]] for p in ports]
        return _table(rows)

    _emit(ports, args.json, text)
    return EXIT_OK


def cmd_discover(args: argparse.Namespace) -> int:
    """Register every unregistered inverter on the line with distinct addresses."""
    spec_id = _check_spec(args.spec) or _sim_spec(args.port) or "cms"
    mod = _module(spec_id)
    if not mod.SPEC.registration:
        sess = connect(args.port, spec_id, timeout=args.timeout)
        found: list[dict[str, Any]] = [{"serial": sess.serial, "address": None}]
        sess.close()
    else:
        conn = _open(args.port, spec_id, args.timeout)
        bus = mod.Inverter(conn, timeout=args.timeout)
        found = []
        try:
            for _ in range(3):
                bus.reset()
            address = args.first_address
            while address <= 254:
                sn = bus.discover()
                if sn is None:
                    break
                if bus.register(sn, address):
                    found.append({"serial": sn, "address": address})
                    address += 1
                else:
                    found.append({"serial": sn, "address": None})
                    break
        finally:
            conn.close()

    def text() -> str:
        if not found:
            return f"{args.port}: no inverter answered discover (asleep at night? wrong --spec? cable?)"
        rows = [["SERIAL", "ADDRESS"]] + [[str(f["serial"]), str(f["address"] or "not registered")] for f in found]
        return _table(rows)

    _emit({"port": args.port, "spec": spec_id, "inverters": found}, args.json, text)
    return EXIT_OK if found else EXIT_RUNTIME


def cmd_info(args: argparse.Namespace) -> int:
    sess = connect(args.port, _check_spec(args.spec), timeout=args.timeout)
    try:
        v = sess.client.read_version()
    finally:
        sess.close()
    fields = {f.id: getattr(v, f.id, "") for f in sess.module.SPEC.version_fields}
    data = {"port": args.port, "spec": sess.spec_id, "serial": sess.serial, "version": fields, "text": v.text}
    _emit(data, args.json, lambda: _table([["spec", sess.spec_id], *[[k, str(x)] for k, x in fields.items()]]))
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    sess = connect(args.port, _check_spec(args.spec), timeout=args.timeout)
    try:
        st = sess.client.read_status()
        frame = bytes(sess.client.last_frame)
    finally:
        sess.close()
    spec = sess.module.SPEC
    rows = _field_rows(spec, st.values(), st)
    data = {
        "port": args.port,
        "spec": sess.spec_id,
        "serial": sess.serial,
        "mode": st.mode_label,
        "faults": list(st.faults),
        "values": rows,
        "unknown": {str(k): v for k, v in dict(st.unknown).items()} if getattr(st, "unknown", None) else {},
        "frame": frame.hex(),
    }

    def text() -> str:
        out = [["FIELD", "VALUE", ""]]
        for r in rows:
            shown = (
                "-" if r["value"] is None else f"{r['value']:g}" if isinstance(r["value"], float) else str(r["value"])
            )
            out.append([r["label"], f"{shown} {r['unit']}".strip(), r.get("text", "")])
        head = f"{sess.serial} ({sess.spec_id}) on {args.port}: mode {st.mode_label}"
        faults = "faults: " + ("; ".join(st.faults) if st.faults else "none")
        return "\n".join([head, faults, _table(out)])

    _emit(data, args.json, text)
    return EXIT_OK


def cmd_params(args: argparse.Namespace) -> int:
    sess = connect(args.port, _check_spec(args.spec), timeout=args.timeout)
    try:
        version = sess.client.read_version()
        params = sess.client.read_parameters()
    finally:
        sess.close()
    spec = sess.module.SPEC
    values = params.values() if hasattr(params, "values") else {}
    rows = []
    for p in spec.parameters:
        if p.id in values:
            rows.append(
                {
                    "id": p.id,
                    "label": p.label,
                    "value": values[p.id],
                    "unit": p.unit,
                    "safe_min": p.safe_min,
                    "safe_max": p.safe_max,
                    "settable": bool(p.set_command),
                }
            )
    data = {"port": args.port, "spec": sess.spec_id, "serial": sess.serial, "version": version.text, "parameters": rows}

    def text() -> str:
        out = [["PARAMETER", "ID", "VALUE", "SAFE RANGE"]]
        for r in rows:
            rng = (
                f"{r['safe_min']:g}..{r['safe_max']:g}" if r["settable"] and r["safe_min"] is not None else "read only"
            )
            shown = "-" if r["value"] is None else f"{r['value']} {r['unit']}".strip()
            out.append([r["label"], r["id"], shown, rng])
        body = _table(out) if rows else "(the inverter reports no parameters)"
        return f"{sess.serial}: {version.text}\n{body}"

    _emit(data, args.json, text)
    return EXIT_OK


def cmd_set(args: argparse.Namespace) -> int:
    spec_id = _check_spec(args.spec) or _sim_spec(args.port)
    # validate the name and value against the spec before touching the line
    if spec_id:
        _settable(_module(spec_id).SPEC, args.name, args.value)
    sess = connect(args.port, spec_id, timeout=args.timeout)
    try:
        spec = sess.module.SPEC
        p, value = _settable(spec, args.name, args.value)
        old = sess.client.read_parameters().values().get(p.id)
        unit = f" {p.unit}" if p.unit else ""
        print(f"{sess.serial}: {p.label} ({p.id}) is {old}{unit}; new value {value:g}{unit}")
        if not args.yes:
            if not sys.stdin.isatty():
                raise UsageError("refusing to write without confirmation: add --yes (no terminal to ask on)")
            answer = input("Write it to the inverter? [y/N] ").strip().lower()
            if answer not in ("y", "yes"):
                print("not changed")
                return EXIT_RUNTIME
        sess.client.set_parameter(p.id, value, confirm=True)
        new = sess.client.read_parameters().values().get(p.id)
        print(f"{p.label} is now {new}{unit} (was {old}{unit})")
    finally:
        sess.close()
    return EXIT_OK


def _settable(spec: Any, name: str, text: str) -> tuple[Any, float]:
    by = {p.id: p for p in spec.parameters} | {p.label.lower(): p for p in spec.parameters}
    p = by.get(name) or by.get(name.lower())
    if p is None:
        names = ", ".join(x.id for x in spec.parameters if x.set_command) or "none"
        raise UsageError(f"NAME: {spec.id} has no parameter {name!r} (settable: {names})")
    if not p.set_command:
        raise UsageError(f"NAME: {p.id} is read-only in the {spec.id} spec")
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"VALUE: {text!r} is not a number") from None
    if p.safe_min is None or p.safe_max is None:
        raise UsageError(f"NAME: {p.id} has no safe range in the spec, so pv will not write it")
    if not p.safe_min <= value <= p.safe_max:
        unit = f" {p.unit}" if p.unit else ""
        raise UsageError(
            f"VALUE: {value:g}{unit} is outside the safe range {p.safe_min:g}..{p.safe_max:g}{unit} of {p.id}"
        )
    return p, value


def _load_config(args: argparse.Namespace, **flags: Any) -> Any:
    from pvapp import config as config_mod

    return config_mod.load(getattr(args, "config", None), overrides=flags)


def _make_clock(cfg: Any) -> Any:
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


def cmd_monitor(args: argparse.Namespace) -> int:
    from pvapp.monitor.run import run_monitor

    cfg = _load_config(
        args,
        poll_interval=args.poll_interval,
        storage=args.storage,
        timezone=args.timezone,
        clock=args.clock,
        port=args.port,
        spec=_check_spec(args.spec),
        asleep_after=args.asleep_after,
    )
    clock = _make_clock(cfg)
    live = None if args.display == "auto" else args.display == "live"
    return run_monitor(cfg, clock=clock, live=live, duration=args.duration, no_upload=args.no_upload)


def cmd_upload(args: argparse.Namespace) -> int:
    from pvapp.monitor.run import upload_now

    cfg = _load_config(args, storage=args.storage, clock=args.clock)
    if cfg.pvoutput is None or not cfg.pvoutput_systems:
        raise UsageError("config error: pvoutput: no [pvoutput] table or no inverter with pvoutput_system")
    if not cfg.pvoutput.api_key:
        raise UsageError("config error: PV_PVOUTPUT_API_KEY: the PVOutput API key is not set in the environment")
    results = upload_now(cfg, clock=_make_clock(cfg), system=args.system)
    data = {str(k): vars(v) for k, v in results.items()}

    def text() -> str:
        rows = [["SYSTEM", "SENT", "REJECTED", "PENDING", "REQUESTS", "NOTE"]]
        for sid, r in results.items():
            rows.append([str(sid), str(r.sent), str(r.rejected), str(r.pending), str(r.requests), r.stopped])
        return _table(rows)

    _emit(data, args.json, text)
    return EXIT_OK if all(not r.pending for r in results.values()) else EXIT_RUNTIME


def _parse_day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not a date (YYYY-MM-DD)") from None


def cmd_export(args: argparse.Namespace) -> int:
    from pvapp.storage import Storage, StorageError

    cfg = _load_config(args, storage=args.storage, timezone=args.timezone)
    tz = cfg.timezone
    first = _parse_day(args.from_, "--from") if args.from_ else None
    last = _parse_day(args.to, "--to") if args.to else None
    if first and last and last < first:
        raise UsageError(f"--to: {last} is before --from {first}")
    start = datetime(first.year, first.month, first.day, tzinfo=tz) if first else None
    end = datetime(last.year, last.month, last.day, tzinfo=tz) + timedelta(days=1) if last else None
    if not Path(cfg.storage.path).exists():
        raise RuntimeFailure(f"no database at {cfg.storage.path} (has `pv monitor` run yet?)")
    try:
        db = Storage(cfg.storage.path, synchronous="NORMAL")
    except StorageError as exc:
        raise RuntimeFailure(str(exc)) from None
    rows = db.readings(serial=args.serial, start=start, end=end)
    try:
        out = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    except OSError as exc:
        db.close()
        raise UsageError(f"--output: cannot write {args.output}: {exc.strerror}") from None
    try:
        if args.format == "json":
            out.write("[\n")
            first_row = True
            for r in rows:
                item = {
                    "time": r.time.isoformat(),
                    "local_time": r.time.astimezone(tz).isoformat(),
                    "serial": r.serial,
                    "mode": r.mode,
                    "faults": list(r.faults),
                    "values": r.values,
                    "rejected": r.rejected,
                    "frame": r.raw_frame.hex(),
                }
                out.write(("" if first_row else ",\n") + json.dumps(item))
                first_row = False
            out.write("\n]\n")
        else:
            writer: Any = None
            keys: list[str] = []
            for r in rows:
                if writer is None:
                    keys = sorted(r.values)
                    writer = csv.writer(out)
                    writer.writerow(["time_utc", "local_time", "serial", *keys, "mode", "faults", "rejected"])
                writer.writerow(
                    [
                        r.time.isoformat(),
                        r.time.astimezone(tz).isoformat(),
                        r.serial,
                        *["" if r.values.get(k) is None else r.values.get(k) for k in keys],
                        r.mode,
                        "; ".join(r.faults),
                        "; ".join(f"{k}: {v}" for k, v in sorted(r.rejected.items())),
                    ]
                )
    finally:
        if out is not sys.stdout:
            out.close()
        db.close()
    return EXIT_OK


def cmd_config_init(args: argparse.Namespace) -> int:
    from pvapp.config import EXAMPLE

    if args.path == "-":
        sys.stdout.write(EXAMPLE)
        return EXIT_OK
    path = Path(args.path)
    if path.exists() and not args.force:
        raise UsageError(f"PATH: {path} exists (use --force to overwrite)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(EXAMPLE, encoding="utf-8")
    print(f"wrote {path}: edit the [[ports]] table, then run `pv config check --config {path}`")
    return EXIT_OK


def cmd_config_check(args: argparse.Namespace) -> int:
    cfg = _load_config(args)
    data = {
        "source": cfg.source,
        "ports": [
            {"port": p.port, "spec": p.spec, "inverters": [i.serial or "auto" for i in p.inverters]} for p in cfg.ports
        ],
        "storage": str(cfg.storage.path),
        "timezone": cfg.timezone_name,
        "poll_interval": cfg.poll_interval,
        "pvoutput_systems": {str(k): list(v) for k, v in cfg.pvoutput_systems.items()},
        "pvoutput_key_set": bool(cfg.pvoutput and cfg.pvoutput.api_key),
        "mqtt": cfg.mqtt is not None,
    }

    def text() -> str:
        lines = [f"configuration OK ({cfg.source})"]
        for p in data["ports"]:
            lines.append(f"  port {p['port']} ({p['spec']}): inverters {', '.join(p['inverters'])}")
        lines.append(f"  storage {data['storage']}, time zone {data['timezone']}, poll every {cfg.poll_interval:g} s")
        if cfg.pvoutput:
            key = "set" if data["pvoutput_key_set"] else "NOT SET (PV_PVOUTPUT_API_KEY)"
            lines.append(f"  PVOutput systems {', '.join(data['pvoutput_systems']) or 'none'}; API key {key}")
        return "\n".join(lines)

    _emit(data, args.json, text)
    return EXIT_OK


def cmd_service_install(args: argparse.Namespace) -> int:
    from pvapp.service.install import install

    return install(
        user=args.user, unit_dir=args.unit_dir, config=args.config_path, dry_run=args.dry_run, pv_path=args.pv_path
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
    spec_id = _check_spec(args.spec)
    if spec_id is None:
        spec_id = "samil" if data[:2] == b"\x55\xaa" and "samil" in _spec_ids() else "cms"
    decoder = StreamDecoder(_module(spec_id))
    out = sys.stdout
    count = 0
    if args.json:
        out.write(f'{{"spec": {json.dumps(spec_id)}, "frames": [')
    for start in range(0, len(data), 65536):
        for rec in decoder.feed(data[start : start + 65536]):
            if args.json:
                out.write(("," if count else "") + "\n  " + json.dumps(rec, default=_json_default))
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


def _port_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "port", metavar="PORT", help="device path, /dev/serial/by-id/... link, or URL (socket://, sim://cms)"
    )
    p.add_argument("--spec", "--model", dest="spec", metavar="ID", help="protocol spec (default: detect)")
    p.add_argument("--timeout", type=_positive, metavar="S", help="reply timeout in seconds (default: the spec's)")


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return v


def _add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pv",
        description="Talk to Phoenixtec / Samil solar inverters (CMS 2000, Orion, SunEzy, Samil SolarRiver), "
        "monitor them around the clock, keep every reading in SQLite and upload to PVOutput.",
        epilog="`pv monitor` with no configuration runs on the built-in simulator. "
        "See docs/monitor.md and docs/config.md.",
    )
    parser.add_argument("--config", metavar="PATH", help="configuration file (default: $PV_CONFIG, ./pv.toml, ...)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("--debug-frames", action="store_true", help="log every frame sent and received as hex")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("ports", help="list serial ports with their stable /dev/serial/by-id names")
    _add_json(p)
    p.set_defaults(func=cmd_ports)

    p = sub.add_parser("discover", help="find every inverter on a line and register each at its own address")
    _port_args(p)
    p.add_argument("--first-address", type=int, default=1, metavar="N", help="address of the first inverter (1)")
    _add_json(p)
    p.set_defaults(func=cmd_discover)

    for name, func, text in (
        ("info", cmd_info, "version text of the inverter: model, firmware, serial"),
        ("status", cmd_status, "live values with units, the operating mode and fault words"),
        ("params", cmd_params, "the inverter's parameters with their safe ranges"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        _port_args(p)
        _add_json(p)
        p.set_defaults(func=func)

    p = sub.add_parser(
        "set",
        help="write one parameter, only inside the spec's safe range, after confirmation",
        description="Write one inverter parameter.  Values outside the spec's safe range are refused; the old and "
        "new values are shown and you are asked to confirm (--yes skips the question, for scripts).",
    )
    _port_args(p)
    p.add_argument("name", metavar="NAME", help="parameter id or label (see `pv params`)")
    p.add_argument("value", metavar="VALUE", help="new value in the parameter's unit")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_set)

    p = sub.add_parser(
        "monitor",
        help="poll every configured inverter, store every reading, upload and publish (the service)",
        description="Run the monitor.  With no configuration file it runs the built-in simulator (sim://cms, "
        "60x speed from 07:00) and stores into ./pv-demo.sqlite.",
    )
    p.add_argument("--port", metavar="PORT", help="poll this one port instead of the configured ones")
    p.add_argument("--spec", "--model", dest="spec", metavar="ID", help="spec for --port (default cms)")
    p.add_argument("--poll-interval", type=_positive, metavar="S", help="seconds between polls")
    p.add_argument("--asleep-after", type=_positive, metavar="S", help="seconds of silence before 'asleep'")
    p.add_argument("--storage", metavar="PATH", help="SQLite database file")
    p.add_argument("--timezone", metavar="ZONE", help="local time zone of the site, e.g. Australia/Sydney")
    p.add_argument("--clock", metavar="CLOCK", help=argparse.SUPPRESS)
    p.add_argument("--duration", type=_positive, metavar="S", help="stop after S real seconds (default: run until ^C)")
    p.add_argument("--no-upload", action="store_true", help="do not upload to PVOutput (the queue still fills)")
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
        _add_json(p)
        p.set_defaults(func=cmd_upload)

    p = sub.add_parser("export", help="readings history as CSV or JSON for a date range")
    p.add_argument("--from", dest="from_", metavar="YYYY-MM-DD", help="first local day (default: the beginning)")
    p.add_argument("--to", metavar="YYYY-MM-DD", help="last local day, inclusive (default: the latest reading)")
    p.add_argument("--serial", metavar="SN", help="only this inverter")
    p.add_argument("--format", choices=("csv", "json"), default="csv", help="output format (csv)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.add_argument("--storage", metavar="PATH", help="SQLite database file")
    p.add_argument("--timezone", metavar="ZONE", help="time zone for local times and day boundaries")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("simulate", help="run simulated inverters on a pseudo-terminal or TCP")
    try:
        from pvapp.sim import cli as sim_cli

        sim_cli.add_arguments(p)
        p.set_defaults(func=lambda a: sim_cli.run(a))
    except ImportError as exc:
        p.set_defaults(func=lambda a, exc=exc: _missing("simulate", exc))

    p = sub.add_parser(
        "pvoutput-service", help="run the local PVOutput-compatible service (for tests and trials)", add_help=False
    )
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=_pvoutput_service)

    p = sub.add_parser("decode", help="decode hex dumps or raw captures into frames (text or JSON)")
    p.add_argument("input", nargs="?", default="-", metavar="FILE", help="capture file (default: standard input)")
    p.add_argument("--spec", "--model", dest="spec", metavar="ID", default=None, help="spec (default: by sync bytes)")
    _add_json(p)
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser("config", help="write or check the configuration file")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", parser_class=_Parser)
    c = csub.add_parser("init", help="write a commented example configuration")
    c.add_argument("path", nargs="?", default="pv.toml", metavar="PATH", help="where to write it (- for stdout)")
    c.add_argument("--force", action="store_true", help="overwrite an existing file")
    c.set_defaults(func=cmd_config_init)
    c = csub.add_parser("check", help="load and validate the configuration, print a summary")
    _add_json(c)
    c.set_defaults(func=cmd_config_check)
    p.set_defaults(func=lambda a: _need_sub(p))

    p = sub.add_parser("service", help="install a systemd unit for `pv monitor` (Raspberry Pi)")
    ssub = p.add_subparsers(dest="service_command", metavar="ACTION", parser_class=_Parser)
    s = ssub.add_parser("install", help="write the unit file and check serial-port permissions")
    s.add_argument("--user", metavar="USER", help="account to run as (default: the current user)")
    s.add_argument("--unit-dir", metavar="DIR", default="/etc/systemd/system", help="where to write the unit")
    s.add_argument("--config-path", metavar="PATH", help="configuration file the service reads")
    s.add_argument("--pv-path", metavar="PATH", help="the pv executable (default: this one)")
    s.add_argument("--dry-run", action="store_true", help="print the unit instead of writing it")
    s.set_defaults(func=cmd_service_install)
    p.set_defaults(func=lambda a: _need_sub(p))
    return parser


def _need_sub(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    return EXIT_USAGE


def _missing(what: str, exc: Exception) -> int:
    raise RuntimeFailure(f"`pv {what}` is not available in this installation: {exc}")


def _pvoutput_service(args: argparse.Namespace) -> int:
    return _run_pvoutput_service(list(args.rest))


def _run_pvoutput_service(argv: list[str]) -> int:
    """Hand the whole command line to the service's own parser (its options, its --help)."""
    try:
        mod = importlib.import_module("pvapp.pvoutput_service")
        entry = getattr(mod, "main", None) or importlib.import_module("pvapp.pvoutput_service.cli").main
    except ImportError as exc:
        print(f"pv pvoutput-service: not available in this installation: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    return int(entry(argv) or 0)


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["pvoutput-service"]:
        return _run_pvoutput_service(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    verbose = args.verbose + (1 if args.command == "monitor" else 0)
    _setup_logging(verbose)
    if args.debug_frames:
        import pv

        if sys.stderr.isatty():
            pv.debug_color()
        else:
            pv.debug()
        logging.getLogger("pv.frames").propagate = False  # its own handler prints the dump once
    from pvapp.config import ConfigError

    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"pv {args.command}: {exc}" if not str(exc).startswith("config error") else str(exc), file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except RuntimeFailure as exc:
        print(f"pv {args.command}: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # last resort: still one line, with a pointer to -vv
        if verbose >= 2:
            raise
        name = type(exc).__name__
        print(f"pv {args.command}: unexpected {name}: {exc} (run with -vv for details)", file=sys.stderr)
        return EXIT_RUNTIME


if __name__ == "__main__":
    sys.exit(main())
