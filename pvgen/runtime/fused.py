"""One compiled function per (inverter, kept request, layout) doing a whole expected exchange.

pv 0.2's ``status(layout)`` is what a polling script calls thousands of times
with the same arguments, and its general path is several layers deep
(``_exchange`` -> ``_await`` -> ``Framer.take`` -> ``FrameCodec._finish`` ->
the pairs plan), each with its own calls and lookups: about twice the cost of a
hand-written ``struct`` client for the same exchange (issue 14).  As the codec
compiles one decode plan per layout, this module compiles one function per
(kept request, layout) from source text, with everything that is fixed for it
written in as constants: the request bytes, the exact header of the reply
expected (lead, addresses, command and the length the layout gives), the
frame's size, where its checksum is, and the pairs plan's expression
(``codec.pair_expression``).

The function does only the exchange that goes as expected, in the general
path's order and with its side effects: the drain check (anything queued,
buffered or waiting on the port), the ``command_delay`` bookkeeping, writing
the kept request and flushing, reading the header and then exactly the rest,
the checksum, the framer's ``frames`` count, ``last_frame``, the exchange's end
noted on the port, and the pairs.  Anything else is handed to the general
path at exactly the point reached, with the bytes already read, so behaviour
and counts are the general path's by construction:

- before anything is written (debug logging on, something to drain, a port or
  framer replaced since compiling): the whole general call;
- a header that is not the expected one (noise, another unit's frame, a late
  or short header, another length): ``InverterBase._await_head``;
- the deadline passed after the header: ``_await_frames`` on the framed header;
- a short rest or a checksum that is not exact (a tolerated slack included):
  ``_await_whole``, which tries the framer's ``take`` and then its
  resynchronising ``feed``.

``tests/core/test_properties.py`` (``test_fused_status_agrees_with_the_general_path``)
holds it to the general path on damaged real frames of every spec: the same
result, framer statistics, ``last_frame``, bytes left and clock calls.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from logging import DEBUG
from typing import TYPE_CHECKING, Any, TypeVar
from zlib import adler32

from .client import _LAST_EXCHANGE, _port_gone, _Prepared
from .debug import FRAME_LOG
from .framing import SUM_BY_ADLER, Frame, Framer

if TYPE_CHECKING:
    from .client import InverterBase

T = TypeVar("T")
Exchange = Callable[[Any], T]


def _frames_maybe_logged() -> Callable[[int, bool], bool]:
    """``(level, True)`` -> False only when ``pv.frames`` is known not to log at ``level``: the cheap flag.

    ``Logger.isEnabledFor`` is a Python call (about 100 ns here, the price of
    a tenth of the target's margin); its answer is kept in the logger's
    ``_cache`` dict, which ``logging`` empties (never replaces) whenever a
    level changes.  Reading that dict directly answers in one C call; an
    answer not cached yet reads as "maybe", which takes the general path,
    whose own ``isEnabledFor`` fills the cache.  A Python whose loggers have
    no such dict gets ``isEnabledFor`` itself.
    """
    cache = getattr(FRAME_LOG, "_cache", None)
    if isinstance(cache, dict):
        return cache.get

    def enabled(level: int, _default: bool) -> bool:
        return FRAME_LOG.isEnabledFor(level)

    return enabled


def exchange_source(
    *,
    header_size: int,
    total: int,
    skip: int,
    has_flush: bool,
    several_heads: bool,
    unpack: str,
    result: str,
) -> str:
    """Source of ``exchange(self)`` for one kept request and one expected reply (see the module docstring).

    Names it expects in its namespace: ``_port``, ``_framer``, ``_general``,
    ``_finish``, ``_data`` (the request), ``_head`` (the expected header; ``_heads``, all of them),
    ``_cmd``, ``_match``, ``_expect``, ``_logged``, ``_port_gone``,
    ``_adler``/``_sum``, ``_unpack_from``, and what ``result`` uses.
    """
    t2, t1 = total - 2, total - 1
    if total <= SUM_BY_ADLER:
        # the low half of Adler-32 is 1 + the byte sum, exact up to 256 bytes: the whole frame's sum
        # taken at once, less the prefix (compared in the header, so constant) and the two checksum bytes
        summed = "(_adler(data) & 65535) - _sum_off - hi - lo"
    elif total - skip - 2 <= SUM_BY_ADLER:
        summed = f"(_adler(data[{skip}:{t2}]) & 65535) - 1"
    else:
        summed = f"_sum(data[{skip}:{t2}]) & 65535"
    lines = [
        "def exchange(self):",
        "    port = self.port",
        "    if port is not _port or self.framer is not _framer or self._queued or _framer._buf or _logged(10, True):",
        "        return _general(self)",
        "    try:",
        "        waiting = port.in_waiting",
        "    except Exception:",  # the general path's _waiting() decides what a failing in_waiting means
        "        return _general(self)",
        "    if waiting:",
        "        return _general(self)",
        "    clock = self._clock",
        "    delay = self._command_delay",
        "    if delay > 0:",  # InverterBase._pause, inline
        "        try:",
        f"            last = port.{_LAST_EXCHANGE}",
        "        except AttributeError:",
        "            last = self._last_exchange",
        "        wait = delay if last is None else delay - (clock() - last)",
        "        if wait > 0:",
        "            self._sleep(min(wait, delay))",
        "    try:",
        "        port.write(_data)",
        *(["        port.flush()"] if has_flush else []),
        "    except Exception as exc:",
        '        raise _port_gone(exc, "write to") from exc',
        "    frame = None",
        "    try:",
        "        deadline = clock() + self.timeout",
        "        try:",
        f"            head = port.read({header_size})",
        "        except Exception as exc:",
        '            raise _port_gone(exc, "read from") from exc',
        "        if head not in _heads:" if several_heads else "        if head != _head:",
        "            frame = self._await_head(_cmd, _match, _expect, head, deadline)",
        "        elif clock() >= deadline:",
        "            frame = self._await_frames(_cmd, _match, _framer.feed(head), deadline)",
        "        else:",
        "            try:",
        f"                data = head + port.read({total - header_size})",
        "            except Exception as exc:",
        '                raise _port_gone(exc, "read from") from exc',
        f"            if len(data) != {total}:",
        "                frame = self._await_whole(_cmd, _match, data, deadline)",
        "            else:",
        f"                hi = data[{t2}]",
        f"                lo = data[{t1}]",
        f"                if {summed} != (hi << 8 | lo):",
        "                    frame = self._await_whole(_cmd, _match, data, deadline)",
        "                else:",
        "                    _framer.stats.frames += 1",  # Framer.take's count for an exact checksum
        "                    self.last_frame = data",
        f"                    {unpack} = _unpack_from(data, {header_size})",
        "    finally:",  # InverterBase._exchange_ended, inline
        "        now = clock()",
        "        self._last_exchange = now",
        "        try:",
        f"            port.{_LAST_EXCHANGE} = now",
        "        except (AttributeError, TypeError):",
        "            pass",
        "    if frame is not None:",
        "        return _finish(frame)",
        f"    return {result}",
    ]
    return "\n".join(lines)


def compile_exchange(
    inv: InverterBase[Any, Any, Any],
    prepared: _Prepared,
    size: int,
    result: str,
    names: dict[str, Any],
    general: Callable[[Any], T],
    finish: Callable[[Frame], T],
    what: str,
) -> Callable[[Any], T]:
    """``exchange(self)`` for ``prepared`` and a reply payload of ``size`` word bytes, or ``general``.

    ``result`` is the expression returned from the word locals ``w0``...
    (``names`` holds what it uses); ``finish`` turns a frame the general path
    found into the same result; ``general`` is the whole call by the general
    path.  ``general`` itself is returned where no reply can be expected
    exactly (a request whose reply header is not fixed, a framer that is not
    the plain one, a port without ``in_waiting``, a payload the frame format
    cannot carry).
    """
    framer = inv.framer
    port = inv.port
    lead = framer._sole
    fmt = framer.codec.fmt
    expect = prepared.expect
    if (
        expect is None
        or prepared.cmd.reply_function is None
        or lead is None
        or type(framer) is not Framer
        or fmt.ident_width  # a reply's ident is not known ahead
        or size > fmt.max_payload
        or size >= 1 << (8 * fmt.length_width)
        or framer._min_hs != lead.hs
    ):
        return general
    try:
        port.in_waiting  # type: ignore[attr-defined]  # noqa: B018 - does the port have it at all?
    except AttributeError:
        return general
    except Exception:  # noqa: S110 - a port that cannot tell now: the compiled check hands over to the general path
        pass
    # every header a reply taken at once may have (several where the command has several reply codes)
    # (a tuple, compared by ==: a port may hand back bytearrays, which a set could not hold)
    heads = tuple(dict.fromkeys(e + size.to_bytes(fmt.length_width, "big") for e in expect))
    header_size = lead.hs
    total = header_size + size + 2
    namespace: dict[str, Any] = {
        **names,
        "_port": port,
        "_framer": framer,
        "_general": general,
        "_finish": finish,
        "_data": prepared.data,
        "_head": heads[0],
        "_heads": heads,
        "_cmd": prepared.cmd,
        "_match": prepared.match,
        "_expect": expect,
        "_logged": _frames_maybe_logged(),
        "_port_gone": _port_gone,
        "_adler": adler32,
        "_sum": sum,
        "_sum_off": 1 + sum(lead.lead[: lead.skip]),
        "_unpack_from": struct.Struct(f">{size // 2}H").unpack_from,
    }
    assert DEBUG == 10  # written into the source as a number
    source = exchange_source(
        header_size=header_size,
        total=total,
        skip=lead.skip,
        has_flush=getattr(port, "flush", None) is not None,
        several_heads=len(heads) > 1,
        unpack="".join(f"w{i}, " for i in range(size // 2)).strip() or "()",
        result=result,
    )
    exec(compile(source, f"<pv exchange {what}>", "exec"), namespace)  # noqa: S102 - source built from validated spec data and fixed tables only
    fn: Callable[[Any], T] = namespace["exchange"]
    fn.__doc__ = source  # kept inspectable for debugging, as codec's plan sources are
    return fn


__all__ = ["compile_exchange", "exchange_source"]
