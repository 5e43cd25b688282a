"""The ``examples`` section: captured frames with their decoded values, run as tests."""

from __future__ import annotations

from pvgen.runtime.model import CommandDef, FieldDef, ModelDef

from ..yamlsrc import LDict
from .check import Checker
from .model import ExampleIR


def build_examples(
    doc: LDict, chk: Checker, commands: list[CommandDef], fields: list[FieldDef], models: list[ModelDef]
) -> list[ExampleIR]:
    examples: list[ExampleIR] = []
    command_ids = {c.id for c in commands}
    field_ids = {f.id for f in fields}
    model_ids = {m.id for m in models}
    for i, ex in enumerate(doc.get("examples") or []):
        if ex["command"] not in command_ids:
            chk.error("examples", None, (i, "command"), f"unknown command {ex['command']!r}", ex.line_of("command"))
        if ex.get("model") is not None and ex["model"] not in model_ids:
            chk.error("examples", None, (i, "model"), f"unknown model {ex['model']!r}", ex.line_of("model"))
        for key in ex.get("values") or {}:
            if ex["direction"] == "reply" and ex["command"] in ("status",) and key not in field_ids:
                chk.error("examples", None, (i, "values", key), f"unknown field {key!r}", ex["values"].line_of(key))
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
            )
        )
    return examples
