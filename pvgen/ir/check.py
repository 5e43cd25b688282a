"""Collecting problems with the place they were written, and the names a spec may not take.

Every section builder reports through one ``Checker``, so all problems of a spec
are found in one run and each names its file, line and YAML path.
"""

from __future__ import annotations

from ..errors import PathPart, SpecProblem
from ..loader import LoadedSpec
from ..yamlsrc import LDict
from .model import MODULE_DEFINES, MODULE_IMPORTS, RESERVED_CLASS_NAMES, TypeIR


class Checker:
    def __init__(self, loaded: LoadedSpec) -> None:
        self.loaded = loaded
        self.problems: list[SpecProblem] = []

    def error(
        self, section: str, key: str | None, sub: tuple[PathPart, ...], message: str, line: int | None = None
    ) -> None:
        file = self.loaded.file_of(section, key)
        path: tuple[PathPart, ...] = (section,) if key is None else (section, key)
        path = (*path, *sub)
        if line is None:
            entry = self.loaded.doc.get(section)
            line = self.loaded.line_of(section, key)
            if key is not None and sub and isinstance(entry, LDict) and isinstance(entry.get(key), LDict):
                line = entry[key].line_of(str(sub[0]))
        self.problems.append(SpecProblem(file, line, path, message))


def check_module_names(
    types: list[TypeIR], enum_classes: dict[str, str], flag_classes: dict[str, str], chk: Checker
) -> None:
    """Class names made from ids share the module's namespace with everything it imports and defines.

    An enum ``field_def`` would become ``FieldDef`` and replace the runtime class
    the module imports; a type ``ack`` and an enum ``ack_struct`` would both be
    ``AckStruct``.  (Enum and flag classes against the generated record classes and
    each other are checked where they are built.)
    """
    type_owner: dict[str, str] = {}
    for t in types:
        clash = _module_clash(t.class_name)
        if clash:
            chk.error("types", t.id, (), clash)
        elif t.class_name in type_owner:
            other = type_owner[t.class_name]
            chk.error("types", t.id, (), f"class name {t.class_name!r} is already generated for /types/{other}")
        type_owner.setdefault(t.class_name, t.id)
    for section, classes in (("enums", enum_classes), ("flags", flag_classes)):
        for entry_id, name in classes.items():
            if name in RESERVED_CLASS_NAMES:
                continue  # reported with the generated classes' names, where enums and flags are built
            clash = _module_clash(name)
            if clash:
                chk.error(section, entry_id, (), clash)
            elif name in type_owner:
                chk.error(
                    section, entry_id, (), f"class name {name!r} is already generated for /types/{type_owner[name]}"
                )


def _module_clash(name: str) -> str | None:
    if name in MODULE_IMPORTS:
        return f"class name {name!r} would shadow {name!r}, which the generated module imports"
    if name in MODULE_DEFINES:
        return f"class name {name!r} would shadow {name!r}, which the generated module defines"
    return None


VERSION_INFO_NAMES = frozenset({"text"})  # VersionInfo's own field: the whole reply as text


def check_version_names(version_type: TypeIR | None, chk: Checker) -> None:
    """The version reply's members become ``VersionInfo`` fields beside its own ``text``."""
    if version_type is None:
        return
    struct = chk.loaded.doc["types"][version_type.id]["struct"]
    for index, item in enumerate(struct):
        member = item.get("id") if isinstance(item, LDict) else None
        if member in VERSION_INFO_NAMES:
            chk.error(
                "types",
                version_type.id,
                ("struct", index, "id"),
                f"member id {member!r} is reserved: VersionInfo.{member} holds the whole reply",
                item.line_of("id"),
            )
