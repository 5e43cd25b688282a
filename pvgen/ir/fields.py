"""The ``fields`` and ``parameters`` sections: values by layout code, with units, scales and ranges.

A status field whose id is a canonical quantity (``pvgen.runtime.quantities``)
must carry that quantity's unit: the application stores, shows and uploads
canonical ids without looking at units again.
"""

from __future__ import annotations

from decimal import Decimal

from pvgen.runtime.model import FieldDef
from pvgen.runtime.quantities import BY_ID as QUANTITIES

from ..yamlsrc import LDict
from .check import Checker
from .model import BUILTIN_NAMES, RESERVED_FIELD_IDS, decimal_text


def build_fields(
    doc: LDict, section: str, chk: Checker, enum_classes: dict[str, str], flag_classes: dict[str, str]
) -> list[FieldDef]:
    out: list[FieldDef] = []
    used: dict[int, str] = {}
    labels: dict[str, str] = {}
    for fid, f in (doc.get(section) or {}).items():
        if fid in RESERVED_FIELD_IDS:
            chk.error(
                section, fid, (), f"id {fid!r} is reserved (it names a method or attribute of the generated class)"
            )
            continue
        if fid in BUILTIN_NAMES:
            chk.error(section, fid, (), f"id {fid!r} would shadow the Python builtin {fid!r} in generated code")
            continue
        if ("code" in f) == ("codes" in f):
            chk.error(section, fid, (), "expected exactly one of: code, codes")
            continue
        codes = (f["code"],) if "code" in f else tuple(f["codes"])
        if len(codes) > 2:
            chk.error(section, fid, ("codes",), "at most 2 words (32 bits) per value")
            continue
        for c in codes:
            if c in used:
                chk.error(
                    section,
                    fid,
                    ("codes" if "codes" in f else "code",),
                    f"code 0x{c:02x} already used by {used[c]!r}",
                )
            used[c] = fid
        alternatives: list[tuple[int, ...]] = []
        for i, alt in enumerate(f.get("alternatives") or []):
            if ("code" in alt) == ("codes" in alt):
                chk.error(section, fid, ("alternatives", i), "expected exactly one of: code, codes")
                continue
            alt_codes = (alt["code"],) if "code" in alt else tuple(alt["codes"])
            key = "code" if "code" in alt else "codes"
            if len(alt_codes) != len(codes):
                chk.error(
                    section,
                    fid,
                    ("alternatives", i, key),
                    f"an alternative has {len(alt_codes)} word(s), the field {len(codes)}: both are read the same way",
                )
                continue
            for c in alt_codes:
                if c in used:
                    chk.error(section, fid, ("alternatives", i, key), f"code 0x{c:02x} already used by {used[c]!r}")
                used[c] = fid
            alternatives.append(alt_codes)
        quantity = QUANTITIES.get(fid) if section == "fields" else None
        if quantity is not None and f.get("unit", "") != quantity.unit:
            chk.error(
                section,
                fid,
                ("unit",) if "unit" in f else (),
                f"{fid} is the canonical quantity {quantity.label!r}: its unit is {quantity.unit or 'none'!r},"
                f" not {f.get('unit', '') or 'none'!r}",
            )
        label = f.get("label", fid)
        if label in labels:
            chk.error(section, fid, ("label",), f"label {label!r} already used by {labels[label]!r}")
        labels[label] = fid
        scale = decimal_text(f.get("scale", 1))
        if not scale or Decimal(scale) <= 0:
            chk.error(section, fid, ("scale",), f"scale must be a positive decimal, got {f.get('scale')!r}")
            continue
        if len(scale.split(".")[1] if "." in scale else "") > 6:
            chk.error(section, fid, ("scale",), f"scale {scale} has more than 6 decimal places")
            continue
        enum = f.get("enum")
        if enum is not None and enum not in enum_classes:
            chk.error(
                section,
                fid,
                ("enum",),
                f"unknown enum {enum!r}, expected one of: {', '.join(sorted(enum_classes)) or '(none defined)'}",
            )
        fl = f.get("flags")
        if fl is not None and fl not in flag_classes:
            chk.error(
                section,
                fid,
                ("flags",),
                f"unknown flags {fl!r}, expected one of: {', '.join(sorted(flag_classes)) or '(none defined)'}",
            )
        for key in ("valid", "safe"):
            if key in f and (len(f[key]) != 2 or f[key][0] > f[key][1]):
                chk.error(section, fid, (key,), f"{key} must be [min, max] with min <= max")
        valid = f.get("valid") or [None, None]
        safe = f.get("safe") or [None, None]
        set_cmd = f.get("set")
        if set_cmd is not None and set_cmd not in (doc.get("commands") or {}):
            chk.error(section, fid, ("set",), f"unknown command {set_cmd!r}")
        if set_cmd is not None and "safe" not in f:
            chk.error(section, fid, ("safe",), "a settable parameter needs a safe range")
        check_safe_resolution(section, fid, f, scale, len(codes), chk)
        out.append(
            FieldDef(
                id=fid,
                label=label,
                codes=codes,
                unit=f.get("unit", ""),
                scale=scale,
                signed=bool(f.get("signed", False)),
                enum=enum,
                flags=fl,
                doc=f.get("doc", ""),
                device_class=f.get("device_class"),
                state_class=f.get("state_class"),
                diagnostic=bool(f.get("diagnostic", False)),
                monotonic=bool(f.get("monotonic", False)),
                na_values=tuple(f.get("na", ())),
                valid_min=valid[0] if len(valid) == 2 else None,
                valid_max=valid[1] if len(valid) == 2 else None,
                set_command=set_cmd,
                safe_min=safe[0] if len(safe) == 2 else None,
                safe_max=safe[1] if len(safe) == 2 else None,
                alternatives=tuple(alternatives),
            )
        )
    return out


def check_safe_resolution(section: str, fid: str, f: LDict, scale: str, words: int, chk: Checker) -> None:
    """Each end of a safe range must be a value the inverter can hold exactly.

    A write is checked against the range and then rounded to the resolution:
    ``safe: [0, 100.6]`` at scale 1 let 100.6 through, written as 101, one step past
    the end the spec calls safe.  An end outside what the words can carry would be
    refused at run time anyway; better to say so here.
    """
    safe = f.get("safe")
    if not isinstance(safe, list) or len(safe) != 2:
        return
    step = Decimal(scale)
    bits = 16 * words
    signed = bool(f.get("signed", False))
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    unit = f" {f['unit']}" if f.get("unit") else ""
    for end in safe:
        value = Decimal(str(end))
        steps = value / step
        if steps != steps.to_integral_value():
            below = decimal_text(steps.to_integral_value(rounding="ROUND_FLOOR") * step)
            above = decimal_text(steps.to_integral_value(rounding="ROUND_CEILING") * step)
            chk.error(
                section,
                fid,
                ("safe",),
                f"{decimal_text(end)} is not a whole number of steps of {scale}{unit}"
                f" (the value is written as a raw word; use {below} or {above})",
            )
        elif not low <= steps <= high:
            kind = f"{'a signed' if signed else 'an unsigned'} {bits}-bit {'word' if bits == 16 else 'value'}"
            chk.error(
                section,
                fid,
                ("safe",),
                f"{decimal_text(end)} does not fit in {kind} at scale {scale}"
                f" ({decimal_text(low * step)}..{decimal_text(high * step)})",
            )
