"""Commands that talk to one line directly: ports, discover, info, status, params, set."""

from __future__ import annotations

import argparse
import os
import re
import sys
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

from pvgen.runtime.text import safe

from .common import (
    EXIT_OK,
    EXIT_RUNTIME,
    LISTEN,
    UsageError,
    add_json,
    check_spec,
    connect,
    connect_args,
    emit,
    field_rows,
    module,
    open_port,
    port_args,
    sim_asleep,
    sim_spec,
    table,
)


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
        return table(rows)

    emit(ports, args.json, text)
    return EXIT_OK


def cmd_discover(args: argparse.Namespace) -> int:
    """Register every unregistered inverter on the line with distinct addresses."""
    spec_id = check_spec(args.spec) or sim_spec(args.port) or ("samil_tcp" if args.port.startswith(LISTEN) else "cms")
    mod = module(spec_id)
    night = ""
    if not mod.SPEC.registration:
        sess = connect(args.port, spec_id, timeout=args.timeout, **connect_args(args))
        found: list[dict[str, Any]] = [{"serial": sess.serial, "address": None}]
        sess.close()
    else:
        conn = open_port(args.port, spec_id, args.timeout)
        bus = mod.Inverter(conn, timeout=args.timeout)
        found = []
        try:
            for _ in range(3):
                bus.reset()
            address = args.first_address if args.first_address is not None else mod.SPEC.frame.first_address
            while address <= 254:
                sn = bus.discover()
                if sn is None:
                    night = sim_asleep(conn) if not found else ""
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
        if not found and night:
            return f"{args.port}: no inverter answered discover: {night}"
        if not found:
            return f"{args.port}: no inverter answered discover (asleep at night? wrong --spec? cable?)"
        rows = [["SERIAL", "ADDRESS"]] + [[str(f["serial"]), str(f["address"] or "not registered")] for f in found]
        return table(rows)

    emit({"port": args.port, "spec": spec_id, "inverters": found}, args.json, text)
    return EXIT_OK if found else EXIT_RUNTIME


def cmd_info(args: argparse.Namespace) -> int:
    sess = connect(args.port, check_spec(args.spec), timeout=args.timeout, **connect_args(args))
    try:
        v = sess.client.read_version()
    finally:
        sess.close()
    fields = {f.id: getattr(v, f.id, "") for f in sess.module.SPEC.version_fields}
    data = {"port": args.port, "spec": sess.spec_id, "serial": sess.serial, "version": fields, "text": v.text}
    emit(data, args.json, lambda: table([["spec", sess.spec_id], *[[k, str(x)] for k, x in fields.items()]]))
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    sess = connect(args.port, check_spec(args.spec), timeout=args.timeout, **connect_args(args))
    try:
        st = sess.client.read_status()
        frame = bytes(sess.client.last_frame)
    finally:
        sess.close()
    spec = sess.module.SPEC
    rows = field_rows(spec, st.values(), st)
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
        from pvapp.monitor.display import format_value

        # the monitor's formatting: each value with its resolution's decimals (50.00 Hz, not 50 Hz)
        decimals = {f.id: f.decimals for f in spec.fields}
        out = [["FIELD", "VALUE", ""]]
        for r in rows:
            shown = format_value(r["value"], r["unit"], decimals.get(r["id"]))
            out.append([r["label"], shown, r.get("text", "")])
        head = f"{safe(sess.serial)} ({sess.spec_id}) on {safe(args.port)}: mode {safe(st.mode_label)}"
        faults = "faults: " + ("; ".join(st.faults) if st.faults else "none")
        return "\n".join([head, faults, table(out)])

    emit(data, args.json, text)
    return EXIT_OK


def cmd_params(args: argparse.Namespace) -> int:
    from pvgen.runtime.errors import UnsupportedCommand

    sess = connect(args.port, check_spec(args.spec), timeout=args.timeout, **connect_args(args))
    try:
        version = sess.client.read_version()
        params = sess.client.read_parameters()
    except UnsupportedCommand:
        raise UsageError(
            f"PORT: {sess.spec_id} inverters have no command to read parameters ({sess.module.SPEC.title})"
        ) from None
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
        body = table(out) if rows else "(the inverter reports no parameters)"
        return f"{safe(sess.serial)}: {safe(version.text)}\n{body}"

    emit(data, args.json, text)
    return EXIT_OK


def cmd_set(args: argparse.Namespace) -> int:
    spec_id = check_spec(args.spec) or sim_spec(args.port)
    # validate the name and value against the spec before touching the line
    if spec_id:
        _settable(module(spec_id).SPEC, args.name, args.value)
    sess = connect(args.port, spec_id, timeout=args.timeout, **connect_args(args))
    try:
        spec = sess.module.SPEC
        p, value = _settable(spec, args.name, args.value)
        old = sess.client.read_parameters().values().get(p.id)
        unit = f" {p.unit}" if p.unit else ""
        print(f"{safe(sess.serial)}: {p.label} ({p.id}) is {old}{unit}; new value {_exact(p, value)}{unit}")
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


# ASCII digits only: float() would also take "1_5_0", "١٥٠", "nan", "inf" and "1e2".
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def _exact(p: Any, value: float) -> str:
    """The value as it goes on the wire, at the parameter's resolution (what the user confirms)."""
    return f"{p.to_value(p.to_raw(value)):.{p.decimals}f}"


def _settable(spec: Any, name: str, text: str) -> tuple[Any, float]:
    """The parameter and the value to write, or a UsageError saying what is wrong.

    A value finer than the parameter's resolution is refused rather than
    rounded: these are grid-protection settings, and writing 31 s when the
    user typed 30.7 would be a value nobody asked for.  The error names the
    two nearest values that can be written.
    """
    by = {p.id: p for p in spec.parameters} | {p.label.lower(): p for p in spec.parameters}
    p = by.get(name) or by.get(name.lower())
    if p is None:
        names = ", ".join(x.id for x in spec.parameters if x.set_command) or "none"
        raise UsageError(f"NAME: {spec.id} has no parameter {name!r} (settable: {names})")
    if not p.set_command:
        raise UsageError(f"NAME: {p.id} is read-only in the {spec.id} spec")
    if not _DECIMAL.fullmatch(text.strip()):
        raise UsageError(f"VALUE: {text!r} is not a number (ASCII digits 0-9, an optional sign and point)")
    exact = Decimal(text.strip())
    if p.safe_min is None or p.safe_max is None:
        raise UsageError(f"NAME: {p.id} has no safe range in the spec, so pv will not write it")
    unit = f" {p.unit}" if p.unit else ""
    step = Decimal(p.scale)
    steps = exact / step
    if steps != steps.to_integral_value():
        below = steps.to_integral_value(ROUND_FLOOR) * step
        raise UsageError(
            f"VALUE: {text.strip()}{unit} is finer than the {p.scale}{unit} resolution of {p.id}: "
            f"give {below:.{p.decimals}f} or {below + step:.{p.decimals}f}"
        )
    value = float(exact)
    if not p.safe_min <= value <= p.safe_max:
        raise UsageError(
            f"VALUE: {value:g}{unit} is outside the safe range {p.safe_min:g}..{p.safe_max:g}{unit} of {p.id}"
        )
    return p, value


def bus_address(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 254:
        raise argparse.ArgumentTypeError(f"{value} is not a bus address (1 to 254)")
    return value


def register(sub: Any) -> None:
    """Add this module's subcommands to the ``pv`` parser."""
    p = sub.add_parser("ports", help="list serial ports with their stable /dev/serial/by-id names")
    add_json(p)
    p.set_defaults(func=cmd_ports)

    p = sub.add_parser("discover", help="find every inverter on a line and register each at its own address")
    port_args(p)
    p.add_argument(
        "--first-address",
        type=bus_address,
        default=None,
        metavar="N",
        help="address of the first inverter (1-254; default the spec's: 1, SISER 33, Eversolar 16)",
    )
    add_json(p)
    p.set_defaults(func=cmd_discover)

    for name, func, text in (
        ("info", cmd_info, "version text of the inverter: model, firmware, serial"),
        ("status", cmd_status, "live values with units, the operating mode and fault words"),
        ("params", cmd_params, "the inverter's parameters with their safe ranges"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        port_args(p)
        add_json(p)
        p.set_defaults(func=func)

    p = sub.add_parser(
        "set",
        help="write one parameter, only inside the spec's safe range, after confirmation",
        description="Write one inverter parameter.  Values outside the spec's safe range are refused; the old and "
        "new values are shown and you are asked to confirm (--yes skips the question, for scripts).",
    )
    port_args(p)
    p.add_argument("name", metavar="NAME", help="parameter id or label (see `pv params`)")
    p.add_argument("value", metavar="VALUE", help="new value in the parameter's unit")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_set)
