"""The ``commands`` section: request and reply codes, payload types, who they go to."""

from __future__ import annotations

from pvgen.runtime.model import CommandDef

from ..errors import SpecProblem
from ..loader import LoadedSpec
from .check import Checker
from .model import PRIMITIVES, REQUIRED_COMMANDS


def build_commands(loaded: LoadedSpec, chk: Checker, type_ids: set[str]) -> list[CommandDef]:
    doc = loaded.doc
    commands: list[CommandDef] = []
    codes_seen: dict[int, str] = {}
    for cid, c in (doc.get("commands") or {}).items():
        req = c["request"]
        if req in codes_seen:
            chk.error("commands", cid, ("request",), f"request code 0x{req:04x} already used by {codes_seen[req]!r}")
        codes_seen[req] = cid
        reply = c.get("reply")
        reply_code = None if reply in (None, "none") else int(reply)
        if reply_code is not None and reply_code >> 8 != req >> 8:
            chk.error(
                "commands",
                cid,
                ("reply",),
                f"reply 0x{reply_code:04x} must keep the request's control byte 0x{req >> 8:02x}",
            )
        for key in ("request_type", "reply_type"):
            if key in c and c[key] not in type_ids:
                chk.error(
                    "commands",
                    cid,
                    (key,),
                    f"unknown type {c[key]!r}, expected a primitive or one of: "
                    + ", ".join(sorted(type_ids - set(PRIMITIVES))),
                )
        if reply_code is None and "reply_type" in c:
            chk.error("commands", cid, ("reply_type",), "a command without a reply cannot have a reply_type")
        until = c.get("until")
        if until is not None:
            if reply_code is None:
                chk.error("commands", cid, ("until",), "a command without a reply cannot have a series end (until)")
            elif until >> 8 != req >> 8:
                chk.error(
                    "commands",
                    cid,
                    ("until",),
                    f"until 0x{until:04x} must keep the request's control byte 0x{req >> 8:02x}",
                )
            elif until == reply_code:
                chk.error("commands", cid, ("until",), "until must differ from the reply code it ends")
        commands.append(
            CommandDef(
                id=cid,
                control=req >> 8,
                function=req & 0xFF,
                reply_function=None if reply_code is None else reply_code & 0xFF,
                request_type=c.get("request_type"),
                reply_type=c.get("reply_type"),
                broadcast=c.get("to", "inverter") == "broadcast",
                unsafe=bool(c.get("unsafe", False)),
                doc=c.get("doc", ""),
                end_function=None if until is None else until & 0xFF,
            )
        )
    return commands


def check_required_commands(loaded: LoadedSpec, chk: Checker, commands: list[CommandDef]) -> None:
    """A concrete spec needs the commands every client and the monitor rely on."""
    doc = loaded.doc
    command_ids = {c.id for c in commands}
    for needed in REQUIRED_COMMANDS:
        if needed not in command_ids and ("commands", needed) in loaded.removed:
            where = loaded.removed[("commands", needed)]
            chk.problems.append(SpecProblem(where.file, where.line, where.path, f"missing required command {needed!r}"))
        elif needed not in command_ids:
            chk.error(
                "commands",
                None,
                (),
                f"missing required command {needed!r}",
                doc.line_of("commands") if "commands" in doc else doc.line,
            )
