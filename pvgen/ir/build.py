"""From a flattened spec to the intermediate model: one builder per section, in dependency order.

Structural checks happened in the schema; the builders make the checks that
need more than one entry at once (duplicate codes, dangling references,
reserved names; text needs no check here: it reaches generated code only as
escaped literals, and the loader applied the text rules).  Every builder
reports into the same ``Checker``, so one run lists all of a spec's problems.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pvgen.runtime.model import FrameFormat, ProtocolSpec, TypeDef

from ..errors import SpecError
from ..loader import LoadedSpec
from .check import Checker, check_module_names, check_version_names
from .commands import build_commands, check_command_types, check_required_commands
from .examples import build_examples, check_examples
from .fields import build_fields
from .frame import build_frame, build_transport, line_addresses
from .model import SpecIR, TypeIR
from .models import build_models, build_version
from .types import build_types
from .vocab import build_enums, build_flags, check_class_names


def build_ir(loaded: LoadedSpec, root: Path) -> SpecIR:
    doc = loaded.doc
    chk = Checker(loaded)
    meta = doc["meta"]
    abstract = bool(meta.get("abstract", False))

    types, type_ids = build_types(doc, chk)
    enums, enum_classes = build_enums(doc, chk)
    flags, flag_classes = build_flags(doc, chk)
    check_class_names(enum_classes, flag_classes, chk)
    check_module_names(types, enum_classes, flag_classes, chk)
    fields = build_fields(doc, "fields", chk, enum_classes, flag_classes)
    params = build_fields(doc, "parameters", chk, enum_classes, flag_classes)
    commands = build_commands(loaded, chk, type_ids)
    check_command_types(loaded, chk, commands, types)
    if not abstract:
        check_required_commands(loaded, chk, commands)
    frame = build_frame(doc, chk, abstract)
    if frame is not None:
        frame = line_addresses(frame, commands)
    transport = build_transport(doc)
    version_type, version_fields = build_version(doc, chk, commands, types)
    check_version_names(version_type, chk)
    models = build_models(doc, chk, params, version_fields, abstract, commands)
    examples = build_examples(doc, chk, commands, fields, models, params)

    spec = ProtocolSpec(
        id=meta["id"],
        title=meta["title"],
        doc=meta.get("doc", ""),
        manufacturer=meta.get("manufacturer", ""),
        frame=frame or FrameFormat(b"", 0, 0, 0, 1, (), 0, 0, 1),
        transport=transport,
        registration=bool(doc.get("registration", True)),
        commands=tuple(commands),
        fields=tuple(fields),
        parameters=tuple(params),
        enums=tuple(enums),
        flags=tuple(flags),
        version_fields=version_fields,
        models=tuple(models),
        types=tuple(runtime_type(t) for t in types),
    )
    if frame is not None and not chk.problems:
        # examples are decoded with the spec as built: only once the rest holds together
        check_examples(doc, chk, spec)
    if chk.problems:
        raise SpecError(sorted(chk.problems, key=lambda p: (p.file, p.line, str(p.path))))

    digest = hashlib.sha256()
    for data in loaded.data:  # the bytes the loader read (never read again through a path)
        digest.update(data)
    files = list(loaded.files)
    return SpecIR(
        spec=spec,
        source=files[-1],
        chain_files=tuple(files),
        digest=digest.hexdigest(),
        abstract=abstract,
        types=tuple(types),
        examples=tuple(examples),
        enum_classes=enum_classes,
        flag_classes=flag_classes,
        version_type=version_type,
    )


def runtime_type(t: TypeIR) -> TypeDef:
    """The run-time description of a payload type (requests are built through it)."""
    return TypeDef(t.id, t.kind, t.members, (t.size or 0) if t.kind == "text" else 0, t.item)
