"""Home Assistant MQTT discovery, derived only from a spec's field metadata.

Everything Home Assistant needs to know about an entity (unit, device class,
state class, diagnostic or not, enum options) comes from ``FieldDef``
metadata in the YAML spec, so a new inverter model gets correct entities
without code here.  The functions are pure (no broker, no clock) so that the
exact messages can be compared with checked-in expectations.

Entity design, and why:

* one *sensor* per status field, one retained config message each, grouped
  under one HA device per inverter serial (``device`` block);
* enum fields (operating mode) become ``enum`` sensors with the spec's labels
  as ``options``; flag fields (fault words) become an ``enum`` sensor showing
  the first active fault plus a ``problem`` binary sensor;
* availability is two-level: the monitor's last will (``<base>/status``) makes
  every entity unavailable when the monitor dies, while an asleep inverter
  only makes *measurements* unavailable.  Totals (``total``/``total_increasing``)
  stay available with their last value overnight, which is what the Energy
  dashboard needs (a total that drops to 0 at dusk is read as a meter reset);
* a value missing from a state message (rejected by a guard) renders as an
  empty string, which HA ignores for numeric sensors, so the last good value
  stays instead of a bogus 0.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC

from pvapp.reading import InverterInfo, InverterState, Reading
from pvgen.runtime.model import FieldDef, ProtocolSpec

# Spellings a spec might use for a unit, mapped to the string HA expects
# (HA logs an error and drops statistics for e.g. "VDC" or "degC").
_UNIT_ALIASES = {
    "degC": "°C",
    "C": "°C",
    "℃": "°C",
    "degF": "°F",
    "kwh": "kWh",
    "wh": "Wh",
    "w": "W",
    "v": "V",
    "a": "A",
    "hz": "Hz",
    "mOhm": "mΩ",
    "mohm": "mΩ",
    "ohm": "Ω",
    "Ohm": "Ω",
    "hours": "h",
    "hour": "h",
}

# Units HA accepts per device class (subset relevant to inverters); from the
# HA sensor entity documentation.  A device class missing here is accepted as-is.
_CLASS_UNITS: dict[str, frozenset[str]] = {
    "power": frozenset({"W", "kW", "MW", "mW"}),
    "energy": frozenset({"Wh", "kWh", "MWh", "mWh", "MJ", "GJ"}),
    "voltage": frozenset({"V", "mV", "kV"}),
    "current": frozenset({"A", "mA"}),
    "frequency": frozenset({"Hz", "kHz", "MHz"}),
    "temperature": frozenset({"°C", "°F", "K"}),
    "duration": frozenset({"d", "h", "min", "s", "ms"}),
    "apparent_power": frozenset({"VA"}),
    "reactive_power": frozenset({"var"}),
}
_STATE_CLASSES = frozenset({"measurement", "total", "total_increasing"})
_TOTALS = frozenset({"total", "total_increasing"})

# Synthetic entity ids the publisher adds beside the spec's fields.
INVERTER_STATE_OBJECT = "inverter_state"
INVERTER_STATES: tuple[InverterState, ...] = ("awake", "asleep", "lost")
UNKNOWN_OPTION = "unknown"
NO_FAULT_OPTION = "none"
PROBLEM_SUFFIX = "_problem"
COMPONENTS = ("sensor", "binary_sensor")  # the discovery components this output creates
_OBJECT_ID = re.compile(r"[A-Za-z0-9_]+")  # field ids, "state", "availability", "<field>_problem"


@dataclass(frozen=True, slots=True)
class Topics:
    """Where one monitor publishes; all derived from the configured base topic."""

    base: str = "pv"
    discovery_prefix: str = "homeassistant"

    @property
    def monitor_status(self) -> str:
        """Birth ``online`` / last-will ``offline`` of the monitor process."""
        return f"{self.base}/status"

    @property
    def announced(self) -> str:
        """Retained record of what this monitor announced (to remove stale inverters after restarts)."""
        return f"{self.base}/announced"

    def state(self, serial: str) -> str:
        return f"{self.base}/{topic_part(serial)}/state"

    def availability(self, serial: str) -> str:
        """Inverter state: ``awake``, ``asleep`` or ``lost`` (retained)."""
        return f"{self.base}/{topic_part(serial)}/availability"

    def value(self, serial: str, field_id: str) -> str:
        return f"{self.base}/{topic_part(serial)}/{field_id}"

    def config(self, component: str, serial: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{node_id(serial)}/{object_id}/config"

    def owns(self, serial: str, topic: str) -> bool:
        """Whether ``topic`` is one this monitor would create for ``serial``.

        The retained ``<base>/announced`` record can be written by anyone who
        may publish there; only topics inside our own levels for that serial
        (its state, availability and value topics, and its discovery configs)
        are ever cleared on its word.
        """
        if not valid_topic(topic):
            return False
        own = f"{self.base}/{topic_part(serial)}/"
        if topic.startswith(own):
            return _OBJECT_ID.fullmatch(topic[len(own) :]) is not None
        for component in COMPONENTS:
            head = f"{self.discovery_prefix}/{component}/{node_id(serial)}/"
            if topic.startswith(head) and topic.endswith("/config"):
                return _OBJECT_ID.fullmatch(topic[len(head) : -len("/config")]) is not None
        return False


def valid_topic(topic: str) -> bool:
    """A topic paho may publish or subscribe to literally: no wildcard, no NUL, not empty, not too long."""
    return bool(topic) and not any(c in topic for c in "+#\0") and len(topic.encode("utf-8")) <= 65535


def topic_part(text: str) -> str:
    """Make a serial number safe as one topic level (no wildcards, no separators)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text) or "_"


def node_id(serial: str) -> str:
    """Lower-case id HA uses for the node and as the prefix of every unique_id.

    Never change this: unique_ids must survive releases or HA users lose history.
    """
    return "pv_" + re.sub(r"[^a-z0-9_-]", "_", serial.lower())


def unique_id(serial: str, object_id: str) -> str:
    return f"{node_id(serial)}_{object_id}"


def serial_clash(serial: str, others: Iterable[str]) -> str | None:
    """The first of ``others`` that would get the same topics or unique_ids as ``serial``, or None.

    ``topic_part`` and ``node_id`` replace characters (and ``node_id`` folds
    case), so ``AB/CD+0003`` and ``AB_CD#0003`` would both be ``AB_CD_0003``:
    Home Assistant would merge them into one device and read each one's
    E-Total as a meter reset of the other's.  Such a pair is refused, never
    published.
    """
    topic, node = topic_part(serial), node_id(serial)
    for other in others:
        if other != serial and (topic_part(other) == topic or node_id(other) == node):
            return other
    return None


class SerialClaims:
    """The serials this run publishes, one per topic level and HA node id; shared by every port thread."""

    def __init__(self, serials: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._owner: dict[str, str] = {}
        for serial in serials:
            self.claim(serial)

    def claim(self, serial: str) -> str | None:
        """Take ``serial``'s topic level and node id; the serial already holding one of them, else None."""
        keys = ("topic " + topic_part(serial), "node " + node_id(serial))
        with self._lock:
            for key in keys:
                owner = self._owner.get(key)
                if owner is not None and owner != serial:
                    return owner
            for key in keys:
                self._owner[key] = serial
        return None


def canonical_unit(unit: str) -> str:
    return _UNIT_ALIASES.get(unit, unit)


def layout_fields(spec: ProtocolSpec, layout: Iterable[int]) -> tuple[str, ...]:
    """Field ids whose every word is present in a status layout (spec order)."""
    codes = set(layout)
    return tuple(f.id for f in spec.fields if f.codes and f.codes_in(codes) is not None)


def reading_fields(spec: ProtocolSpec, reading: Reading) -> tuple[str, ...]:
    """Field ids this reading has a value for (spec order).

    A ``None`` field is absent from the inverter's layout, reported as "not
    measured" (Zac = 0xFFFF on a CMS 2000) or refused by a guard this time;
    only a real value proves the entity will ever show something.  The output
    keeps the union over the run, so a field refused once is announced with
    its next good value.
    """
    return tuple(f.id for f in spec.fields if reading.values.get(f.id) is not None)


def spec_problems(spec: ProtocolSpec) -> list[str]:
    """Metadata that would make HA reject or mis-file an entity, one line each."""
    problems: list[str] = []
    for f in spec.fields:
        where = f"{spec.id}: field {f.id}"
        unit = canonical_unit(f.unit)
        if f.id in (INVERTER_STATE_OBJECT,) or f.id.endswith(PROBLEM_SUFFIX):
            problems.append(f"{where}: id collides with an entity the MQTT output adds")
        if f.enum is not None or f.flags is not None:
            if f.state_class is not None:
                problems.append(f"{where}: enum/flags field must not have a state_class")
            if f.device_class not in (None, "enum"):
                problems.append(f"{where}: enum/flags field has device_class {f.device_class!r}")
            continue
        if f.state_class is not None and f.state_class not in _STATE_CLASSES:
            problems.append(f"{where}: unknown state_class {f.state_class!r}")
        if f.device_class == "energy" and f.state_class not in _TOTALS:
            problems.append(f"{where}: energy needs state_class total or total_increasing")
        allowed = _CLASS_UNITS.get(f.device_class or "")
        if allowed is not None and unit not in allowed:
            problems.append(f"{where}: unit {f.unit!r} is not one HA accepts for {f.device_class}")
    return problems


def _availability(topics: Topics, serial: str, *, follows_inverter: bool) -> list[dict[str, str]]:
    entries = [{"topic": topics.monitor_status, "payload_available": "online", "payload_not_available": "offline"}]
    if follows_inverter:
        entries.append(
            {
                "topic": topics.availability(serial),
                "value_template": "{{ 'online' if value == 'awake' else 'offline' }}",
                "payload_available": "online",
                "payload_not_available": "offline",
            }
        )
    return entries


def device_block(spec: ProtocolSpec, info: InverterInfo) -> dict[str, object]:
    model = info.model.strip() or spec.title
    block: dict[str, object] = {
        "identifiers": [node_id(info.serial)],
        "name": f"{model} {info.serial}",
        "manufacturer": info.manufacturer.strip() or spec.manufacturer,
        "model": model,
        "serial_number": info.serial,
    }
    if info.firmware.strip():
        block["sw_version"] = info.firmware.strip()
    return block


def enum_options(spec: ProtocolSpec, f: FieldDef) -> list[str]:
    """Every state an enum or flags sensor can show; HA rejects states outside ``options``."""
    if f.enum is not None:
        return [v.label for v in spec.enum(f.enum).values] + [UNKNOWN_OPTION]
    assert f.flags is not None
    flags = spec.flag_set(f.flags)
    named = {b.bit: b.label for b in flags.bits}
    return [NO_FAULT_OPTION] + [named.get(i, f"bit {i}") for i in range(flags.width)] + [UNKNOWN_OPTION]


def _value_template(f: FieldDef) -> str:
    key = f.id
    if f.enum is not None:
        return f"{{{{ value_json.{key} if value_json.{key} is defined else '{UNKNOWN_OPTION}' }}}}"
    if f.flags is not None:
        return (
            f"{{% if value_json.{key} is not defined %}}{UNKNOWN_OPTION}"
            f"{{% elif value_json.{key} %}}{{{{ value_json.{key}[0] }}}}{{% else %}}{NO_FAULT_OPTION}{{% endif %}}"
        )
    # Empty output is ignored by HA numeric sensors: a rejected value keeps the last good one.
    return f"{{{{ value_json.{key} | default('') }}}}"


def _origin(version: str) -> dict[str, str]:
    return {"name": "pv", "sw_version": version}


def discovery_messages(
    spec: ProtocolSpec,
    info: InverterInfo,
    field_ids: Iterable[str],
    topics: Topics,
    *,
    version: str = "",
    qos: int = 1,
) -> list[tuple[str, dict[str, object]]]:
    """(config topic, payload) for every entity of one inverter, in a stable order.

    ``field_ids`` selects the fields this inverter has (``layout_fields`` or
    ``reading_fields``); unknown ids are ignored so a stale list cannot crash.
    """
    wanted = set(field_ids)
    device = device_block(spec, info)
    origin = _origin(version)
    state_topic = topics.state(info.serial)
    out: list[tuple[str, dict[str, object]]] = []

    def common(object_id: str, name: str, *, follows_inverter: bool) -> dict[str, object]:
        return {
            "name": name,
            "unique_id": unique_id(info.serial, object_id),
            "device": device,
            "origin": origin,
            "availability": _availability(topics, info.serial, follows_inverter=follows_inverter),
            "availability_mode": "all",
            "qos": qos,
        }

    flag_fields = [f for f in spec.fields if f.id in wanted and f.flags is not None]
    for f in spec.fields:
        if f.id not in wanted:
            continue
        is_total = f.state_class in _TOTALS
        payload = common(f.id, f.label, follows_inverter=not is_total)
        payload["state_topic"] = state_topic
        payload["value_template"] = _value_template(f)
        if f.enum is not None or f.flags is not None:
            payload["device_class"] = "enum"
            payload["options"] = enum_options(spec, f)
        else:
            unit = canonical_unit(f.unit)
            if unit:
                payload["unit_of_measurement"] = unit
            if f.device_class:
                payload["device_class"] = f.device_class
            if f.state_class:
                payload["state_class"] = f.state_class
            payload["suggested_display_precision"] = f.decimals
        if f.diagnostic:
            payload["entity_category"] = "diagnostic"
        out.append((topics.config("sensor", info.serial, f.id), payload))

    for f in flag_fields:
        object_id = f.id + PROBLEM_SUFFIX
        name = "Problem" if len(flag_fields) == 1 else f"{f.label} problem"
        payload = common(object_id, name, follows_inverter=True)
        payload["state_topic"] = state_topic
        payload["device_class"] = "problem"
        payload["value_template"] = (
            f"{{% if value_json.{f.id} is defined %}}{{{{ 'ON' if value_json.{f.id} else 'OFF' }}}}{{% endif %}}"
        )
        payload["payload_on"] = "ON"
        payload["payload_off"] = "OFF"
        out.append((topics.config("binary_sensor", info.serial, object_id), payload))

    payload = common(INVERTER_STATE_OBJECT, "Inverter state", follows_inverter=False)
    payload["state_topic"] = topics.availability(info.serial)
    payload["device_class"] = "enum"
    payload["options"] = list(INVERTER_STATES)
    out.append((topics.config("sensor", info.serial, INVERTER_STATE_OBJECT), payload))
    return out


def total_fields(spec: ProtocolSpec) -> tuple[str, ...]:
    """Ids of the fields HA sums over time (``total`` / ``total_increasing``): the Energy dashboard's inputs."""
    return tuple(f.id for f in spec.fields if f.state_class in _TOTALS and f.enum is None and f.flags is None)


def state_payload(
    spec: ProtocolSpec,
    reading: Reading,
    skip: Mapping[str, str] | None = None,
    carried: Mapping[str, float | int] | None = None,
) -> dict[str, object]:
    """The JSON state document for one reading.

    ``time`` is ISO 8601 in UTC.  Numbers stay numbers in the field's unit; enum fields carry their label and
    flag fields the list of active fault words (``[]`` = no fault), with the raw
    integers under ``raw`` for time-series consumers.  Values that are ``None``
    or listed in ``skip`` (field -> reason) are left out, never sent as 0.

    ``carried`` holds the last accepted value of each total field: a total
    this reading lacks (refused, withheld) is filled from it and named under
    ``carried``.  The message is retained, so a Home Assistant starting while
    it is the latest would otherwise show the lifetime energy as ``unknown``.
    """
    skip = skip or {}
    doc: dict[str, object] = {"time": reading.time.astimezone(UTC).isoformat()}
    raw: dict[str, int] = {}
    for f in spec.fields:
        value = reading.values.get(f.id)
        if value is None or f.id in skip:
            continue
        if f.enum is not None:
            doc[f.id] = _enum_label(spec, f, int(value))
            raw[f.id] = int(value)
        elif f.flags is not None:
            doc[f.id] = list(spec.flag_set(f.flags).words(int(value)))
            raw[f.id] = int(value)
        else:
            doc[f.id] = value
    if raw:
        doc["raw"] = raw
    filled = [fid for fid in total_fields(spec) if fid not in doc and carried and fid in carried]
    for fid in filled:
        assert carried is not None
        doc[fid] = carried[fid]
    if filled:
        doc["carried"] = filled
    rejected = {**reading.rejected, **skip}
    if rejected:
        doc["rejected"] = rejected
    return doc


def _enum_label(spec: ProtocolSpec, f: FieldDef, value: int) -> str:
    assert f.enum is not None
    for item in spec.enum(f.enum).values:
        if item.value == value:
            return item.label
    return UNKNOWN_OPTION


def value_payloads(spec: ProtocolSpec, state: Mapping[str, object]) -> list[tuple[str, str]]:
    """(field id, plain-text payload) for the optional one-topic-per-value layout."""
    out: list[tuple[str, str]] = []
    for f in spec.fields:
        if f.id not in state:
            continue
        value = state[f.id]
        out.append((f.id, json.dumps(value, ensure_ascii=False) if isinstance(value, list) else str(value)))
    return out


def encode(payload: Mapping[str, object] | Sequence[object]) -> str:
    """Stable JSON text (sorted keys) so expectations and retained messages compare byte for byte."""
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
