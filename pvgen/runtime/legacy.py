"""pv 0.2's interface, kept to the letter, beside the typed API it now runs on.

Scripts written for Edmund Tse's pv 0.2 call ``cms.Inverter(port)``,
``status(layout, dst)`` and friends, print ``(label, value)`` pairs with
``"%-10s: %s"`` and index them by pv 0.2's labels.  Everything here exists so
those scripts keep running unchanged: the call names, keywords and defaults,
pv 0.2's own labels (``Vpc-start`` sic), its value types (floats where it
divided, ints elsewhere, raw words never hidden), ``None`` for a reply that does
not unpack, and the module helpers ``Frame``, ``checksum``, ``parse_frame`` and
``bin2hex`` (deprecated, not removed).  docs/legacy.md lists the interface and
every choice made where pv 0.2's behaviour is not on record.

The typed API (``read_status()``, ``Status``, ``handshake()``) is untouched by
this module; the generated ``Inverter`` classes inherit both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, SupportsIndex, TypeVar, overload

from .client import MAX_FUSED, InverterBase
from .codec import PairEntry, PairPlan, WordRecord, compile_pairs, decode_layout, pair_expression, version_text
from .errors import ProtocolError
from .framing import Frame, FrameCodec, FrameError, checksum16
from .fused import compile_exchange
from .model import FieldDef, code_label

# pv 0.2's labels, by the spec field they name (facts from issue 14: pv 0.2's
# source).  The typed API keeps the spec's own labels ("Vpv-Start"); only these
# tables decide what the pv 0.2 calls return, so a spec label can change without
# breaking a pv 0.2 script.  Order: as pv 0.2's source lists them.
PV02_STATUS_LABELS: Mapping[str, str] = {
    "temperature": "Temp-inv",
    "vpv1": "Vpv1",
    "vpv2": "Vpv2",
    "vpv3": "Vpv3",
    "ipv1": "Ipv1",
    "ipv2": "Ipv2",
    "ipv3": "Ipv3",
    "vpv": "Vpv",
    "iac": "Iac",
    "vac": "Vac",
    "fac": "Fac",
    "pac": "Pac",
    "zac": "Zac",
    "e_total": "E-Total",
    "h_total": "h-Total",
    "mode": "Mode",
    "error": "Error",
}
PV02_PARAMETER_LABELS: Mapping[str, str] = {
    "vpv_start": "Vpc-start",  # sic: pv 0.2's spelling, which scripts index by
    "t_start": "T-start",
    "vac_min": "Vac-Min",
    "vac_max": "Vac-Max",
    "fac_min": "Fac-Min",
    "fac_max": "Fac-Max",
    "zac_max": "Zac-Max",
    "dzac": "DZac",
}

Value = float | int
Pair = tuple[str, Value]


class LegacyReadings(list[Pair]):
    """What pv 0.2's ``status()``/``parameters()`` return: a real list of ``(label, value)`` pairs.

    pv 0.2 returned a list, so this is one (iteration, ``len``, ``[0]``,
    slicing, ``==`` with a list, JSON, pickling all behave as a list's).  It
    also answers ``status['Pac']``, ``status.get('Pac')``, ``'Pac' in status``
    and ``status.keys()`` by label, which the seed README relies on; a pair
    still tests ``in`` as a list member.
    """

    __slots__ = ()

    @overload
    def __getitem__(self, key: SupportsIndex, /) -> Pair: ...

    @overload
    def __getitem__(self, key: slice, /) -> list[Pair]: ...

    @overload
    def __getitem__(self, key: str, /) -> Value: ...

    def __getitem__(self, key: SupportsIndex | slice | str, /) -> Pair | list[Pair] | Value:
        if isinstance(key, str):
            for label, value in list.__iter__(self):
                if label == key:
                    return value
            raise KeyError(key)
        return list.__getitem__(self, key)

    def get(self, label: str, default: Value | None = None) -> Value | None:
        """The value labelled ``label``, or ``default``."""
        for name, value in list.__iter__(self):
            if name == label:
                return value
        return default

    def __contains__(self, item: object, /) -> bool:
        if isinstance(item, str):
            return any(name == item for name, _ in list.__iter__(self))
        return list.__contains__(self, item)

    def keys(self) -> list[str]:
        """The labels, in order (also makes ``dict(readings)`` work)."""
        return [name for name, _ in list.__iter__(self)]


# --------------------------------------------------------------------------- pairs


class PairBuilder:
    """pv 0.2's pairs for one kind of reply (status or parameters), one compiled plan per layout.

    Recipe (``entries``): pv 0.2's own values first, in layout order, then
    what pv 0.2 did not know (E-Today, the fault values, codes no spec
    names, shown as ``0xNN``, unused words of a fixed layout as ``word N``)
    in layout order.  A value the typed API reads as ``None`` ("not
    measured", like ``Zac`` 65535) is given as its raw word, as pv 0.2 did,
    and an enum or flags value as its number.

    The recipe is compiled once per layout into a plan (``codec.compile_pairs``,
    the typed decoder's expressions) that goes from the reply's payload
    straight to the pairs, without a typed record in between: that is what
    ``status(layout)`` runs on every poll.  ``pairs(record)`` gives the same
    pairs for a record already decoded.
    """

    MAX_LAYOUTS = 256  # noise can produce many layouts: keep the plans bounded

    def __init__(self, labels: Mapping[str, str], what: str = "status") -> None:
        self.labels = labels
        self.what = what
        # per field tuple (a spec's fields or parameters, kept alive here so its id stays its own):
        # the plans by layout
        self._plans: dict[int, tuple[tuple[FieldDef, ...], dict[tuple[int, ...], PairPlan[LegacyReadings]]]] = {}

    def entries(self, fields: Iterable[FieldDef], layout: tuple[int, ...]) -> tuple[PairEntry, ...]:
        """The pairs of ``layout``, in the order they come out (see the class docstring)."""
        position = {code: i for i, code in enumerate(layout)}
        known: list[tuple[int, PairEntry]] = []
        extra: list[tuple[int, PairEntry]] = []
        named: set[int] = set()
        for f in fields:
            codes = f.codes_in(position)  # its own codes, or the first alternative the layout has
            if codes is None:
                named.update(f.codes)
                present = [c for c in f.codes if c in position]
                # half of a two-word value: keep the word pv 0.2 would have had, raw
                for c in present:
                    extra.append((position[c], PairEntry(code_label(c), None, (position[c],))))
                continue
            named.update(codes)
            positions = tuple(position[c] for c in codes)
            label = self.labels.get(f.id)
            entry = PairEntry(label or f.label, f, positions)
            (known if label else extra).append((min(positions), entry))
        for code, i in position.items():
            if code not in named:
                extra.append((i, PairEntry(code_label(code), None, (i,))))
        known.sort(key=lambda item: item[0])
        extra.sort(key=lambda item: item[0])
        return tuple(entry for _, entry in known + extra)

    def layouts(self, fields: tuple[FieldDef, ...]) -> dict[tuple[int, ...], PairPlan[LegacyReadings]]:
        """The plans by layout for one field tuple (compiled as layouts are met)."""
        found = self._plans.get(id(fields))
        if found is None:
            found = self._plans[id(fields)] = (fields, {})
        return found[1]

    def plan(self, fields: tuple[FieldDef, ...], layout: tuple[int, ...]) -> PairPlan[LegacyReadings]:
        plans = self.layouts(fields)
        found = plans.get(layout)
        if found is None:
            if len(plans) >= self.MAX_LAYOUTS:
                plans.clear()
            found = plans[layout] = compile_pairs(self.entries(fields, layout), layout, LegacyReadings, self.what)
        return found

    def decode(self, fields: tuple[FieldDef, ...], layout: Sequence[int], payload: bytes) -> LegacyReadings:
        """The pairs of a word payload read through ``layout``; ProtocolError when it does not unpack."""
        key = layout if type(layout) is tuple else tuple(layout)
        found = self.layouts(fields).get(key)
        if found is None:
            found = self.plan(fields, key)
        if len(payload) != found.size:
            raise ProtocolError(
                f"{self.what} payload has {len(payload)} bytes but the layout has {len(key)} codes ({found.size} bytes)"
            )
        return found.plan(payload)

    def pairs(self, record: WordRecord) -> LegacyReadings:
        """The pairs of a decoded record (its words as received, through the same plan)."""
        return self.plan(record._FIELDS, record.layout).from_words(record.raw)


STATUS_PAIRS = PairBuilder(PV02_STATUS_LABELS, "status")
PARAMETER_PAIRS = PairBuilder(PV02_PARAMETER_LABELS, "parameters")


def status_pairs(record: WordRecord) -> LegacyReadings:
    """pv 0.2's ``status()`` result for a decoded status record."""
    return STATUS_PAIRS.pairs(record)


def parameter_pairs(record: WordRecord) -> LegacyReadings:
    """pv 0.2's ``parameters()`` result for a decoded parameter record."""
    return PARAMETER_PAIRS.pairs(record)


# --------------------------------------------------------------------------- the Inverter calls

S = TypeVar("S", bound=WordRecord)
P = TypeVar("P", bound=WordRecord)
V = TypeVar("V")
StatusCall = Callable[[Any], LegacyReadings | None]  # status(layout, dst) for one (layout, dst), given the inverter


class LegacyInverter(InverterBase[S, P, V]):
    """pv 0.2's calls on top of the typed client; generated ``Inverter`` classes inherit it.

    ``reset()``, ``discover()`` and ``register(sn, addr=1)`` live on the base
    (the typed ``handshake()`` uses them).  Every reading call here takes the
    inverter's bus address ``dst`` (default 1) and sends to exactly that
    address, whatever the object registered last, so one object can poll every
    inverter on a bus, as in pv 0.2.
    """

    _pv02_status_plans: dict[tuple[int, ...], PairPlan[LegacyReadings]]  # STATUS_PAIRS' plans for this spec

    def _reply_payload(self, command_id: str, dst: int) -> bytes:
        # dst is the bus address; the spec's rules make the frame address (KLNE: 1 -> 01 01)
        prepared = self._bus_requests.get((command_id, dst))
        if prepared is None:
            prepared = self._prepare_for_bus(command_id, dst)
        frame = self._exchange(prepared)
        assert frame is not None  # every reading command has a reply
        return frame.payload

    def version(self, dst: int = 1) -> str:
        """The version reply as one text (NULs as spaces, trimmed)."""
        return version_text(self._reply_payload("version", dst))

    def status_layout(self, dst: int = 1) -> tuple[int, ...]:
        """The status layout: one code per word of the status reply.

        A unit without a layout query (a spec with fixed word orders: KLNE,
        Eversolar, SISER) gets its model's fixed order, so ``status(status_layout())``
        works on it too.
        """
        if not self.SPEC.has_command("status_layout"):
            return self.read_status_layout()
        return decode_layout(self._reply_payload("status_layout", dst))

    def param_layout(self, dst: int = 1) -> tuple[int, ...]:
        """The parameter layout: one code per word of the parameter reply (the fixed order without a query)."""
        if not self.SPEC.has_command("param_layout"):
            return self.read_param_layout()
        return decode_layout(self._reply_payload("param_layout", dst))

    def status(self, layout: Sequence[int], dst: int = 1) -> LegacyReadings | None:
        """``(label, value)`` pairs of one status reply, or None when it does not unpack with ``layout``.

        A polling script calls this with the same layout and address every
        time, so each (layout, dst) gets its own compiled exchange
        (``fused.py``): the whole expected exchange inline, the layout's pairs
        plan included, handing anything unexpected to the general path
        (``_status_general``).  The last one used is found by identity (a tuple
        layout only: a list could have changed since).
        """
        last = self._fused_last
        if last[0] is layout and last[1] == dst:
            fn: StatusCall = last[2]
            return fn(self)
        return self._fused_status(layout, dst)(self)

    def _fused_status(self, layout: Sequence[int], dst: int) -> StatusCall:
        """The compiled exchange of ``status(layout, dst)``, compiled on first use and kept (bounded)."""
        key = layout if type(layout) is tuple else tuple(layout)
        fused = self._fused
        fn = fused.get(("status", key, dst))
        if fn is None:
            if len(fused) >= MAX_FUSED:  # a script sweeping layouts or addresses must not grow memory
                fused.clear()
            fn = fused["status", key, dst] = self._compile_status(key, dst)
        if type(layout) is tuple:
            self._fused_last = (layout, dst, fn)
        return fn

    def _compile_status(self, layout: tuple[int, ...], dst: int) -> StatusCall:
        prepared = self._bus_requests.get(("status", dst))
        if prepared is None:
            prepared = self._prepare_for_bus("status", dst)
        fields = self.SPEC.fields
        plan = STATUS_PAIRS.plan(fields, layout)

        def general(inv: LegacyInverter[S, P, V]) -> LegacyReadings | None:
            return inv._status_general(layout, dst)

        def finish(frame: Frame) -> LegacyReadings | None:
            payload = frame.payload
            return plan.plan(payload) if len(payload) == plan.size else None

        return compile_exchange(
            self,
            prepared,
            plan.size,
            pair_expression(STATUS_PAIRS.entries(fields, layout)),
            {"_make": LegacyReadings},
            general,
            finish,
            f"status dst={dst} layout={' '.join(f'{c:02x}' for c in layout)}",
        )

    def _status_general(self, layout: Sequence[int], dst: int) -> LegacyReadings | None:
        """``status(layout, dst)`` by the general path: ``_exchange``, then the layout's pairs plan."""
        prepared = self._bus_requests.get(("status", dst))
        if prepared is None:
            prepared = self._prepare_for_bus("status", dst)
        frame = self._exchange(prepared)
        assert frame is not None  # status has a reply
        payload = frame.payload
        key = layout if type(layout) is tuple else tuple(layout)
        try:
            plans = self._pv02_status_plans
        except AttributeError:
            plans = self._pv02_status_plans = STATUS_PAIRS.layouts(self.SPEC.fields)
        plan = plans.get(key)
        if plan is None:
            plan = STATUS_PAIRS.plan(self.SPEC.fields, key)
        if len(payload) != plan.size:
            return None
        return plan.plan(payload)

    def parameters(self, layout: Sequence[int], dst: int = 1) -> LegacyReadings | None:
        """``(label, value)`` pairs of the parameter reply, or None when it does not unpack with ``layout``."""
        payload = self._reply_payload("parameters", dst)
        try:
            return PARAMETER_PAIRS.decode(self.SPEC.parameters, layout, payload)
        except ProtocolError:
            return None


# --------------------------------------------------------------------------- module helpers (deprecated)


class LegacyFrame(NamedTuple):
    """A frame as ``parse_frame`` returns it.  Generated modules subclass it as ``Frame``,
    adding one command constant per spec command (``Frame.STATUS == 0x0102``)."""

    src: int | None
    dst: int | None
    control: int
    function: int
    payload: bytes
    raw: bytes

    @property
    def command(self) -> int:
        """Control and function as one 16-bit word, comparable with the constants."""
        return self.control << 8 | self.function


F = TypeVar("F", bound=LegacyFrame)


def checksum(data: bytes | bytearray | memoryview) -> int:
    """The family's checksum of ``data``: its byte sum modulo 65536 (sent big-endian after it)."""
    return checksum16(data)


def bin2hex(data: bytes | bytearray | memoryview) -> str:
    """``data`` as lowercase hex digits, no separators (``b'\\xaa\\xaa'`` -> ``'aaaa'``)."""
    return bytes(data).hex()


def parse_frame(codec: FrameCodec, cls: Callable[..., F], data: bytes | bytearray | memoryview) -> F | None:
    """One complete frame, or None: shorter than the minimum frame (11 bytes for ``AA AA``),
    wrong sync, a length that disagrees with the bytes given, trailing bytes, or a bad checksum."""
    raw = bytes(data)
    if len(raw) < codec.fmt.min_size:
        return None
    try:
        frame = codec.parse(raw)
    except FrameError:
        return None
    return cls(frame.src, frame.dst, frame.control, frame.function, frame.payload, frame.raw)


__all__ = [
    "PARAMETER_PAIRS",
    "PV02_PARAMETER_LABELS",
    "PV02_STATUS_LABELS",
    "STATUS_PAIRS",
    "LegacyFrame",
    "LegacyInverter",
    "LegacyReadings",
    "PairBuilder",
    "bin2hex",
    "checksum",
    "parameter_pairs",
    "parse_frame",
    "status_pairs",
]
