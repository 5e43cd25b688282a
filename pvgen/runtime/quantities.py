"""The one vocabulary the application speaks: canonical quantities and their units.

Storage, the terminal, PVOutput, MQTT / Home Assistant, the web page and the
metrics only ever name these ids.  A spec that reports one of these
quantities must use its id and its unit (the generator checks both); where a
unit reports the quantity at an unusual code, the spec maps that code to the
canonical id, so no model's quirk leaks past the generated module.  Anything a
model reports beyond this list is an extra: kept, stored in ``values_json``,
published under its own id, never relied on by the application.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Quantity:
    """One canonical quantity: what it means, its unit, and how Home Assistant should treat it."""

    id: str
    label: str  # short heading for tables and pages
    unit: str  # '' for enums and flags
    group: str  # output | energy | grid | pv | device | state
    device_class: str | None
    state_class: str | None
    doc: str


def _q(
    id: str, label: str, unit: str, group: str, device_class: str | None, state_class: str | None, doc: str
) -> Quantity:
    return Quantity(id, label, unit, group, device_class, state_class, doc)


QUANTITIES: tuple[Quantity, ...] = (
    _q("pac", "Pac", "W", "output", "power", "measurement", "AC output power (all phases)"),
    _q("e_today", "E-Today", "kWh", "energy", "energy", "total_increasing", "energy produced today"),
    _q("e_total", "E-Total", "kWh", "energy", "energy", "total_increasing", "lifetime energy produced"),
    _q("h_total", "h-Total", "h", "energy", "duration", "total_increasing", "lifetime operating hours"),
    _q("mode", "Mode", "", "state", "enum", None, "operating mode"),
    _q("error", "Error", "", "state", None, None, "fault bits (shown as words)"),
    _q("temperature", "Temp", "°C", "device", "temperature", "measurement", "inverter temperature"),
    _q("heatsink_temperature", "Temp-HS", "°C", "device", "temperature", "measurement", "heat-sink temperature"),
    _q("vac", "Vac", "V", "grid", "voltage", "measurement", "grid voltage (single phase, or phase 1)"),
    _q("iac", "Iac", "A", "grid", "current", "measurement", "grid current (single phase, or phase 1)"),
    _q("fac", "Fac", "Hz", "grid", "frequency", "measurement", "grid frequency (single phase, or phase 1)"),
    _q("vac_l2", "Vac-L2", "V", "grid", "voltage", "measurement", "grid voltage, phase 2"),
    _q("iac_l2", "Iac-L2", "A", "grid", "current", "measurement", "grid current, phase 2"),
    _q("fac_l2", "Fac-L2", "Hz", "grid", "frequency", "measurement", "grid frequency, phase 2"),
    _q("vac_l3", "Vac-L3", "V", "grid", "voltage", "measurement", "grid voltage, phase 3"),
    _q("iac_l3", "Iac-L3", "A", "grid", "current", "measurement", "grid current, phase 3"),
    _q("fac_l3", "Fac-L3", "Hz", "grid", "frequency", "measurement", "grid frequency, phase 3"),
    _q("zac", "Zac", "mΩ", "grid", None, "measurement", "grid impedance"),
    _q("vpv", "Vpv", "V", "pv", "voltage", "measurement", "PV voltage (one tracker)"),
    _q("vpv1", "Vpv1", "V", "pv", "voltage", "measurement", "PV string 1 voltage"),
    _q("vpv2", "Vpv2", "V", "pv", "voltage", "measurement", "PV string 2 voltage"),
    _q("vpv3", "Vpv3", "V", "pv", "voltage", "measurement", "PV string 3 voltage"),
    _q("ipv", "Ipv", "A", "pv", "current", "measurement", "PV current (one tracker)"),
    _q("ipv1", "Ipv1", "A", "pv", "current", "measurement", "PV string 1 current"),
    _q("ipv2", "Ipv2", "A", "pv", "current", "measurement", "PV string 2 current"),
    _q("ipv3", "Ipv3", "A", "pv", "current", "measurement", "PV string 3 current"),
    _q("ppv1", "Ppv1", "W", "pv", "power", "measurement", "PV string 1 power"),
    _q("ppv2", "Ppv2", "W", "pv", "power", "measurement", "PV string 2 power"),
    _q("ppv3", "Ppv3", "W", "pv", "power", "measurement", "PV string 3 power"),
)
"""Every canonical quantity, in display order (the order exports and pages use)."""

BY_ID: dict[str, Quantity] = {q.id: q for q in QUANTITIES}
CANONICAL_IDS: tuple[str, ...] = tuple(q.id for q in QUANTITIES)


def quantity(quantity_id: str) -> Quantity:
    """The canonical quantity ``quantity_id``; KeyError for a model-only extra."""
    return BY_ID[quantity_id]


def is_canonical(field_id: str) -> bool:
    return field_id in BY_ID
