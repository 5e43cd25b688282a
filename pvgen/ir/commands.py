"""The ``commands`` section: request and reply codes, payload types, who they go to."""

from __future__ import annotations

from pvgen.runtime.model import CommandDef

from ..errors import SpecProblem
from ..loader import LoadedSpec
from .check import Checker
from .model import PRIMITIVES, REQUIRED_COMMANDS, TypeIR

# What the runtime reads each command's payloads as: a type that says otherwise would be
# silently ignored, so it is an error.  (command id, request or reply) -> (kind, item, why)
_LAYOUT_WORDS = ("array", "u16", "decoded word by word through the layout")
_LAYOUT_CODES = ("array", "u8", "read as one code per byte")
_FIXED_USE: dict[tuple[str, str], tuple[str, str, str]] = {
    ("status", "reply"): _LAYOUT_WORDS,
    ("parameters", "reply"): _LAYOUT_WORDS,
    ("status_layout", "reply"): _LAYOUT_CODES,
    ("param_layout", "reply"): _LAYOUT_CODES,
}
# commands the client always sends with an empty payload
_EMPTY_REQUESTS = ("reset", "discover", "status_layout", "param_layout", "status", "version", "parameters")


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
        if reply in (None, "none"):
            reply_codes: list[int] = []
        elif isinstance(reply, list):
            reply_codes = [int(r) for r in reply]
        else:
            reply_codes = [int(reply)]
        for i, code in enumerate(reply_codes):
            sub: tuple[str | int, ...] = ("reply", i) if isinstance(reply, list) else ("reply",)
            if code >> 8 != req >> 8:
                chk.error(
                    "commands",
                    cid,
                    sub,
                    f"reply 0x{code:04x} must keep the request's control byte 0x{req >> 8:02x}",
                )
            if reply_codes.index(code) != i:
                chk.error("commands", cid, sub, f"reply 0x{code:04x} is listed twice")
        for key in ("request_type", "reply_type"):
            if key in c and c[key] not in type_ids:
                chk.error(
                    "commands",
                    cid,
                    (key,),
                    f"unknown type {c[key]!r}, expected a primitive or one of: "
                    + ", ".join(sorted(type_ids - set(PRIMITIVES))),
                )
        if not reply_codes and "reply_type" in c:
            chk.error("commands", cid, ("reply_type",), "a command without a reply cannot have a reply_type")
        until = c.get("until")
        if until is not None:
            if not reply_codes:
                chk.error("commands", cid, ("until",), "a command without a reply cannot have a series end (until)")
            elif until >> 8 != req >> 8:
                chk.error(
                    "commands",
                    cid,
                    ("until",),
                    f"until 0x{until:04x} must keep the request's control byte 0x{req >> 8:02x}",
                )
            elif until in reply_codes:
                chk.error("commands", cid, ("until",), "until must differ from the reply code it ends")
        to = c.get("to", "inverter")
        destination = int(to) if isinstance(to, int) else None
        addresses = (doc.get("frame") or {}).get("addresses")
        if destination is not None and addresses == "none":
            chk.error("commands", cid, ("to",), "a fixed destination has no effect: the frame has no addresses")
        commands.append(
            CommandDef(
                id=cid,
                control=req >> 8,
                function=req & 0xFF,
                reply_function=reply_codes[0] & 0xFF if reply_codes else None,
                request_type=c.get("request_type"),
                reply_type=c.get("reply_type"),
                broadcast=to == "broadcast",
                unsafe=bool(c.get("unsafe", False)),
                doc=c.get("doc", ""),
                end_function=None if until is None else until & 0xFF,
                destination=destination,
                more_replies=tuple(code & 0xFF for code in reply_codes[1:]),
            )
        )
    return commands


def check_command_types(loaded: LoadedSpec, chk: Checker, commands: list[CommandDef], types: list[TypeIR]) -> None:
    """Payload types the runtime would ignore, or read differently than declared, are errors."""
    by_id = {t.id: t for t in types}
    section = loaded.doc.get("commands") or {}
    for cmd in commands:
        entry = section.get(cmd.id) or {}
        for direction, key in (("request", "request_type"), ("reply", "reply_type")):
            tid = entry.get(key)
            if tid is None:
                continue
            t = by_id.get(tid)
            if t is None and tid not in PRIMITIVES:
                continue  # an unknown type: reported by build_commands
            use = _FIXED_USE.get((cmd.id, direction))
            if use is not None:
                kind, item, why = use
                if t is None or t.kind != kind or t.item != item:
                    chk.error(
                        "commands",
                        cmd.id,
                        (key,),
                        f"a {cmd.id} {direction} is {why}: its type must be an array of {item}, not {tid!r}",
                    )
            if direction == "request" and cmd.id in _EMPTY_REQUESTS:
                chk.error(
                    "commands",
                    cmd.id,
                    (key,),
                    f"the client always sends {cmd.id} with an empty payload: a request_type has no effect",
                )
        if cmd.id == "discover" and entry.get("reply_type") is not None:
            t = by_id.get(entry["reply_type"])
            if t is None or t.kind != "text":
                chk.error(
                    "commands",
                    "discover",
                    ("reply_type",),
                    "the discover reply is read as the serial number: its type must be a text type",
                )
        if cmd.id == "register":
            t = by_id.get(entry.get("request_type") or "")
            members = t.members if t is not None and t.kind == "struct" else ()
            texts = [m for m in members if m[1] in ("text", "bytes")]
            ints = [m for m in members if m[1] not in ("text", "bytes")]
            if len(texts) != 1 or len(ints) != 1:
                chk.error(
                    "commands",
                    "register",
                    ("request_type",) if "request_type" in entry else (),
                    "the register request is built from a struct of one text member (the serial)"
                    " and one integer member (the bus address)",
                )


def check_required_commands(loaded: LoadedSpec, chk: Checker, commands: list[CommandDef]) -> None:
    """A concrete spec needs the commands every client and the monitor rely on."""
    doc = loaded.doc
    command_ids = {c.id for c in commands}
    needed = list(REQUIRED_COMMANDS)
    if doc.get("registration", True):
        needed += ["discover", "register"]
    for name in needed:
        if name not in command_ids and ("commands", name) in loaded.removed:
            where = loaded.removed[("commands", name)]
            chk.problems.append(SpecProblem(where.file, where.line, where.path, f"missing required command {name!r}"))
        elif name not in command_ids:
            chk.error(
                "commands",
                None,
                (),
                f"missing required command {name!r}",
                doc.line_of("commands") if "commands" in doc else doc.line,
            )
