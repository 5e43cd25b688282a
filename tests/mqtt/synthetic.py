"""A small hand-built ProtocolSpec with the metadata shapes the real specs use.

It lets the discovery logic be tested independently of the generated specs
(which have their own checked-in expectations in ``expected/``), including
shapes no real spec has yet (two flag fields, a unit alias).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pvapp.reading import InverterInfo, Reading
from pvgen.runtime.model import (
    EnumDef,
    EnumValue,
    FieldDef,
    FlagBit,
    FlagsDef,
    FrameFormat,
    ModelDef,
    ProtocolSpec,
    TransportDefaults,
)


def _field(id: str, label: str, codes: tuple[int, ...], unit: str, scale: str, **kw: Any) -> FieldDef:
    return FieldDef(
        id=id, label=label, codes=codes, unit=unit, scale=scale, signed=False, enum=None, flags=None, doc="", **kw
    )


def make_spec(id: str = "toy") -> ProtocolSpec:
    fields = (
        _field("temperature", "Temp", (0x00,), "degC", "0.1", device_class="temperature",
               state_class="measurement", diagnostic=True),
        _field("e_today", "E-Today", (0x0D,), "kWh", "0.01", device_class="energy", state_class="total_increasing"),
        _field("vpv", "Vpv", (0x40,), "V", "0.1", device_class="voltage", state_class="measurement"),
        _field("pac", "Pac", (0x44,), "W", "1", device_class="power", state_class="measurement"),
        _field("zac", "Zac", (0x45,), "mOhm", "1", state_class="measurement", diagnostic=True, na_values=(0xFFFF,)),
        _field("e_total", "E-Total", (0x47, 0x48), "kWh", "0.1", device_class="energy",
               state_class="total_increasing", monotonic=True),
        _field("h_total", "h-Total", (0x49, 0x4A), "h", "1", device_class="duration",
               state_class="total_increasing", monotonic=True, diagnostic=True),
        FieldDef(id="mode", label="Mode", codes=(0x4C,), unit="", scale="1", signed=False, enum="mode",
                 flags=None, doc="", device_class="enum"),
        FieldDef(id="error", label="Error", codes=(0x7E, 0x7F), unit="", scale="1", signed=False, enum=None,
                 flags="error_bits", doc="", device_class="enum"),
    )  # fmt: skip
    return ProtocolSpec(
        id=id,
        title="Toy 2000",
        doc="",
        manufacturer="ToyTec",
        frame=FrameFormat(
            sync=b"\xaa\xaa",
            address_width=2,
            ident_width=0,
            request_ident=0,
            length_width=1,
            checksum_slack=(),
            host_address=0x0100,
            broadcast_address=0,
            max_payload=255,
        ),
        transport=TransportDefaults(9600, 8, "N", 1, 1.0, 0.1),
        registration=True,
        commands=(),
        fields=fields,
        parameters=(),
        enums=(
            EnumDef(
                "mode",
                (
                    EnumValue(0, "wait", "Wait", ""),
                    EnumValue(1, "normal", "Normal", ""),
                    EnumValue(2, "fault", "Fault", ""),
                ),
            ),
        ),
        flags=(
            FlagsDef("error_bits", 4, (FlagBit(0, "gfci", "GFCI ckt fails", ""), FlagBit(2, "ref", "Ref fails", ""))),
        ),
        version_fields=(),
        models=(
            ModelDef("toy", "Toy 2000", (0x00, 0x0D, 0x40, 0x44, 0x45, 0x47, 0x48, 0x4C, 0x7E, 0x7F), (), (), (), 2000),
        ),
    )


SPEC = make_spec()
T0 = datetime(2026, 6, 21, 4, 0, tzinfo=UTC)


def info(serial: str = "0905BO0139", spec_id: str = "toy", **kw: str) -> InverterInfo:
    return InverterInfo(
        serial=serial,
        spec_id=spec_id,
        port="/dev/ttyUSB0",
        address=1,
        model=kw.get("model", "CMS 2000"),
        manufacturer=kw.get("manufacturer", "PHOENIXTEC"),
        firmware=kw.get("firmware", "A1.00"),
        va_rating="2000",
    )


def reading(
    i: int,
    serial: str = "0905BO0139",
    *,
    t: datetime | None = None,
    values: dict[str, float | int | None] | None = None,
    rejected: dict[str, str] | None = None,
) -> Reading:
    """The i-th reading of a sunny morning: power and energy growing with i."""
    base: dict[str, float | int | None] = {
        "temperature": round(30 + i * 0.1, 1),
        "e_today": round(i * 0.05, 2),
        "vpv": 250.5,
        "pac": 100 + i,
        "zac": None,  # not measured (0xFFFF) on this model
        "e_total": round(1234.5 + i * 0.1, 1),
        "h_total": 4000 + i // 12,
        "mode": 1,
        "error": 0,
    }
    if values:
        base.update(values)
    return Reading(
        inverter=info(serial),
        time=t or T0 + timedelta(seconds=10 * i),
        values=base,
        raw_frame=b"",
        mode="Normal",
        rejected=rejected or {},
    )


def resolver(spec_id: str) -> ProtocolSpec:
    if spec_id == "toy":
        return SPEC
    raise KeyError(spec_id)
