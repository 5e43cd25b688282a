"""The ``examples`` section: captured frames with their decoded values, checked here and run as tests.

Every example goes through the same runtime the generated module uses: the
frame codec (lead per direction, checksum, length), the spec's address rules,
the command table and the decoders.  A frame with a wrong sync or checksum, or
a value that does not decode as written, is an error with the example's file,
line and path, so ``pvgen --validate`` tells the truth about what a spec's
examples prove.  ``reject:`` examples are frames the decoder must refuse.
"""

from __future__ import annotations

from typing import Any

from pvgen.runtime.codec import decode_payload, decode_texts, word_values
from pvgen.runtime.framing import Frame, FrameCodec, FrameError
from pvgen.runtime.model import CommandDef, FieldDef, ModelDef, ProtocolSpec

from ..errors import PathPart
from ..yamlsrc import LDict
from .check import Checker
from .model import ExampleIR

_WORD_REPLIES = {"status": "status", "parameters": "parameters"}


def build_examples(
    doc: LDict,
    chk: Checker,
    commands: list[CommandDef],
    fields: list[FieldDef],
    models: list[ModelDef],
    params: list[FieldDef] | None = None,
) -> list[ExampleIR]:
    examples: list[ExampleIR] = []
    command_ids = {c.id for c in commands}
    model_ids = {m.id for m in models}
    field_ids = {f.id for f in fields}
    param_ids = {p.id for p in params or []}
    for i, ex in enumerate(doc.get("examples") or []):
        if ex["command"] not in command_ids:
            chk.error("examples", None, (i, "command"), f"unknown command {ex['command']!r}", ex.line_of("command"))
        if ex.get("model") is not None and ex["model"] not in model_ids:
            chk.error("examples", None, (i, "model"), f"unknown model {ex['model']!r}", ex.line_of("model"))
        if ex["direction"] == "reply" and ex["command"] in _WORD_REPLIES:
            names = field_ids if ex["command"] == "status" else param_ids
            kind = "field" if ex["command"] == "status" else "parameter"
            for key in ex.get("values") or {}:
                if key not in names:
                    line = ex["values"].line_of(key)
                    chk.error("examples", None, (i, "values", key), f"unknown {kind} {key!r}", line)
        examples.append(
            ExampleIR(
                ex["id"],
                ex["source"],
                ex["command"],
                ex["direction"],
                ex["hex"].replace(" ", "").lower(),
                ex.get("model"),
                tuple((ex.get("values") or {}).items()),
                ex.get("doc", ""),
                ex.get("reject"),
            )
        )
    return examples


class _ExampleCheck:
    """Checks one example against the built spec; reports through the spec's Checker."""

    def __init__(self, spec: ProtocolSpec, chk: Checker, index: int, ex: LDict) -> None:
        self.spec = spec
        self.chk = chk
        self.i = index
        self.ex = ex

    def error(self, sub: tuple[PathPart, ...], message: str) -> None:
        line = self.ex.line_of(str(sub[0])) if sub else self.ex.line
        if len(sub) >= 2 and sub[0] == "values" and isinstance(self.ex.get("values"), LDict):
            line = self.ex["values"].line_of(str(sub[1]))
        self.chk.error("examples", None, (self.i, *sub), message, line)

    def run(self) -> None:
        spec, ex = self.spec, self.ex
        if not spec.has_command(ex["command"]):
            return  # reported by build_examples
        cmd = spec.command(ex["command"])
        reply = ex["direction"] == "reply"
        if reply and not cmd.expects_reply:
            self.error(("direction",), f"{cmd.id} has no reply")
            return
        data = bytes.fromhex(ex["hex"].replace(" ", ""))
        codec = FrameCodec(spec.frame)
        if "reject" in ex:
            self._rejected(codec, data)
            return
        try:
            frame = codec.parse(data)
        except FrameError as exc:
            self.error(("hex",), str(exc))
            return
        if not self._framing(codec, frame, cmd, reply):
            return
        if ex.get("model") is not None and cmd.id not in _WORD_REPLIES:
            self.error(("model",), "model has no effect: only status and parameters examples are decoded by a model")
        self._values(frame, cmd, reply)

    def _rejected(self, codec: FrameCodec, data: bytes) -> None:
        want = self.ex["reject"]
        if self.ex.get("values"):
            self.error(("values",), "a rejected frame decodes to nothing: values have no effect")
        try:
            codec.parse(data)
        except FrameError as exc:
            if want.lower() not in str(exc).lower():
                self.error(("reject",), f"the frame is refused with {str(exc)!r}, which does not say {want!r}")
            return
        self.error(("reject",), "the frame is valid: a reject example must be refused")

    def _framing(self, codec: FrameCodec, frame: Frame, cmd: CommandDef, reply: bool) -> bool:
        fmt = self.spec.frame
        direction = codec.direction_of(frame.raw)
        if direction is not None and direction != reply:
            want = fmt.lead(reply=reply).hex()
            self.error(
                ("hex",),
                f"starts with {frame.raw[: len(want) // 2].hex()}: a {self.ex['direction']} starts with {want}",
            )
            return False
        codes = cmd.reply_functions if reply else (cmd.function,)
        if reply and cmd.end_function is not None:
            codes = (*codes, cmd.end_function)  # the frame that ends a reply series
        if frame.control != cmd.control or frame.function not in codes:
            want = " or ".join(f"{cmd.control:02x}{f:02x}" for f in codes)
            self.error(
                ("hex",),
                f"command {frame.control:02x}{frame.function:02x} is not the {cmd.id} {self.ex['direction']} ({want})",
            )
            return False
        if not fmt.address_width or frame.src is None or frame.dst is None:
            return True
        bases = self._destination_bases(cmd)
        if not reply:
            if frame.src != fmt.host_address:
                self.error(("hex",), f"a request comes from the host 0x{fmt.host_address:04x}, not 0x{frame.src:04x}")
                return False
            if frame.dst not in self._request_destinations(cmd, frame.dst):
                self.error(
                    ("hex",), f"the {cmd.id} request goes to {self._describe_destination(cmd)}, not 0x{frame.dst:04x}"
                )
                return False
            return True
        expected_dst = {fmt.reply_destination(fmt.host_address, b) for b in bases}
        if frame.dst not in expected_dst:
            want = " or ".join(f"0x{a:04x}" for a in sorted(expected_dst))
            self.error(("hex",), f"the {cmd.id} reply goes to {want}, not 0x{frame.dst:04x}")
            return False
        if fmt.address_width == 2 and frame.src & 0xFF00 != fmt.reply_from:
            self.error(
                ("hex",),
                f"a reply comes from 0x{fmt.reply_from:04x} | the unit's bus address, not from 0x{frame.src:04x}",
            )
            return False
        return True

    def _destination_bases(self, cmd: CommandDef) -> list[int]:
        fmt = self.spec.frame
        if cmd.broadcast:
            return [fmt.broadcast_address]
        if cmd.destination is not None:
            return [cmd.destination]
        return [fmt.inverter_address]

    def _request_destinations(self, cmd: CommandDef, dst: int) -> set[int]:
        fmt = self.spec.frame
        if cmd.broadcast:
            return {fmt.broadcast_address}
        if cmd.destination is not None:
            return {cmd.destination}
        return {dst} if dst & ~0xFF == fmt.inverter_address and dst & 0xFF else set()

    def _describe_destination(self, cmd: CommandDef) -> str:
        fmt = self.spec.frame
        if cmd.broadcast:
            return f"the broadcast address 0x{fmt.broadcast_address:04x}"
        if cmd.destination is not None:
            return f"its fixed address 0x{cmd.destination:04x}"
        return f"an inverter, 0x{fmt.inverter_address:04x} | its bus address (1-255)"

    # -- values ------------------------------------------------------------------------

    def _values(self, frame: Frame, cmd: CommandDef, reply: bool) -> None:
        spec = self.spec
        values = self.ex.get("values") or {}
        type_id = cmd.reply_type if reply else cmd.request_type
        payload = frame.payload
        if reply and cmd.id in _WORD_REPLIES:
            self._words(frame, cmd, values)
            return
        if reply and cmd.id in ("status_layout", "param_layout"):
            self._compare(("values", "codes"), list(payload), values.get("codes"), "codes" in values)
            self._only(values, {"codes"})
            return
        if reply and cmd.id == "version" and spec.version_fields:
            texts = decode_texts(spec.version_fields, payload)
            for key, expected in values.items():
                if key not in texts:
                    self.error(("values", key), f"unknown version field {key!r}")
                else:
                    self._compare(("values", key), texts[key], expected, True)
            return
        t = spec.payload_type(type_id)
        if t is None:
            if payload and type_id is None:
                self.error(
                    ("hex",),
                    f"a {len(payload)}-byte payload, but the {cmd.id} {self.ex['direction']} has no payload type",
                )
            elif values:
                self.error(
                    ("values",), f"the {cmd.id} {self.ex['direction']} has no payload type to decode values with"
                )
            return
        try:
            decoded = decode_payload(t, payload)
        except Exception as exc:
            self.error(("hex",), f"payload does not read as {t.id}: {exc}")
            return
        if t.size is not None and len(payload) != t.size:
            self.error(("hex",), f"payload has {len(payload)} bytes, the type {t.id} has {t.size}")
            return
        if not values:
            return
        if t.kind == "struct":
            for key, expected in values.items():
                if key not in decoded:
                    self.error(("values", key), f"the type {t.id} has no member {key!r}")
                else:
                    self._compare(("values", key), decoded[key], expected, True)
        elif len(values) != 1:
            self.error(("values",), f"a {t.kind} payload is one value: give exactly one entry")
        else:
            key, expected = next(iter(values.items()))
            self._compare(("values", key), decoded, expected, True)

    def _only(self, values: dict[str, Any], allowed: set[str]) -> None:
        for key in values:
            if key not in allowed:
                self.error(("values", key), f"unknown value {key!r}, expected one of: {', '.join(sorted(allowed))}")

    def _compare(self, sub: tuple[PathPart, ...], got: Any, expected: Any, given: bool) -> None:
        if given and got != expected:
            self.error(sub, f"decoded {got!r}, the example says {expected!r}")

    def _words(self, frame: Frame, cmd: CommandDef, values: dict[str, Any]) -> None:
        spec = self.spec
        what = _WORD_REPLIES[cmd.id]
        model_id = self.ex.get("model")
        model = None
        if model_id is not None:
            if model_id not in {m.id for m in spec.models}:
                return  # reported by build_examples
            model = spec.model(model_id)
        else:
            model = spec.fixed_model_for(what, frame.function, len(frame.payload))
        if model is None:
            if values:
                self.error(("values",), f"a {cmd.id} example with values needs the model whose layout decodes it")
            return
        fixed = model.status_fixed if what == "status" else model.param_fixed
        if what == "status" and fixed and model.status_reply is not None and model.status_reply != frame.function:
            self.error(
                ("hex",),
                f"model {model.id} sends its status as 0x{cmd.control:02x}{model.status_reply:02x},"
                f" not 0x{frame.control:02x}{frame.function:02x}",
            )
            return
        layout = model.status_layout if what == "status" else model.param_layout
        fields = spec.fields if what == "status" else spec.parameters
        if len(frame.payload) != 2 * len(layout):
            self.error(
                ("hex",),
                f"payload has {len(frame.payload)} bytes, the {what} layout of {model.id} has {2 * len(layout)}",
            )
            return
        decoded = word_values(fields, layout, frame.payload)
        by_id = {f.id: f for f in fields}
        for key, expected in values.items():
            f = by_id.get(key)
            if f is None:
                continue  # reported by build_examples
            value, raw = decoded[key]
            if value is None and raw is not None and expected in f.na_values and raw == expected:
                continue
            if raw is None:
                self.error(("values", key), f"{key} is not in the {what} layout of {model.id}")
                continue
            self._compare(("values", key), value, expected, True)


def check_examples(doc: LDict, chk: Checker, spec: ProtocolSpec) -> None:
    """Decode every example with the runtime and compare it with what the spec says it is."""
    for i, ex in enumerate(doc.get("examples") or []):
        _ExampleCheck(spec, chk, i, ex).run()
