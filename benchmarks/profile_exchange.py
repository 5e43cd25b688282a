"""Where one whole exchange spends its time: cProfile of ``bench_exchange``'s pv calls.

    python -m benchmarks.profile_exchange                 # both calls, 20,000 exchanges each
    python -m benchmarks.profile_exchange status 50000    # one call, more exchanges
    python -m benchmarks.profile_exchange steps           # status(layout), step by step, without cProfile

Prints, per call, the functions that take a share of the exchange (cumulative
time, as a percentage of the whole call, and calls per exchange), the table
docs/performance.md records before and after a change.  cProfile slows Python
function calls down more than C calls, so the shares lean towards many small
functions; the benchmark's timings, not these shares, are the figures.

``steps`` times ``status(layout)`` whole, its compiled exchange (``fused.py``)
alone, the general path it falls back to, and each step of that general path
on its own (best of 7 batches, the cost of the timing loop's call taken off),
beside the hand-written client, which is how docs/performance.md splits the
difference between them.  The steps are internal calls of the client: this is a
diagnostic, and names it uses may change with the code.
"""

from __future__ import annotations

import cProfile
import pstats
import sys

from .bench_exchange import STATUS_REPLY, STATUS_REQUEST, MemoryPort, pv_clients

MIN_SHARE = 2.0  # percent of the call: smaller entries are left out of the table


def profile(name: str, number: int) -> list[tuple[str, float, float]]:
    """(function, share of the call in %, calls per exchange) for ``number`` exchanges of ``name``."""
    port = MemoryPort({STATUS_REQUEST: STATUS_REPLY})
    fn = pv_clients(port)[name]
    fn()  # compile the plan outside the profile
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(number):
        fn()
    profiler.disable()
    stats = pstats.Stats(profiler)
    entries = stats.stats  # type: ignore[attr-defined]
    total = max(ct for (_cc, _nc, _tt, ct, _callers) in entries.values())
    rows = []
    for (filename, line, func), (_cc, nc, _tt, ct, _callers) in entries.items():
        share = 100 * ct / total
        if share < MIN_SHARE:
            continue
        where = filename.rsplit("/", 2)
        place = "/".join(where[-2:]) if len(where) > 1 else filename
        rows.append((f"{place}:{line}({func})" if line else func, share, nc / number))
    rows.sort(key=lambda r: -r[1])
    return rows


def steps(number: int = 100_000) -> list[tuple[str, float]]:
    """(step, ns per exchange) of ``status(layout)``, each step timed alone, and the reference's whole call."""
    import timeit

    from pvgen.runtime.legacy import STATUS_PAIRS

    from .bench_exchange import _layout, handwritten_client

    port = MemoryPort({STATUS_REQUEST: STATUS_REPLY})
    status = pv_clients(port)["status"]
    inv = status.func.__self__  # type: ignore[attr-defined]
    status()
    framer = inv.framer
    layout = _layout()
    plan = STATUS_PAIRS.plan(inv.SPEC.fields, layout).plan
    payload = STATUS_REPLY[9:-2]
    head = STATUS_REPLY[: framer.needed()]

    def reads() -> bytes:
        port.write(STATUS_REQUEST)
        return port.read(9) + port.read(44)

    fused = inv._fused_status(layout, 1)
    undelayed = pv_clients(MemoryPort({STATUS_REQUEST: STATUS_REPLY}))["status"]
    undelayed.func.__self__._command_delay = 0.0  # type: ignore[attr-defined]
    undelayed()

    parts: list[tuple[str, object]] = [
        ("pv status(layout), whole", status),
        ("  the compiled exchange alone (fused.py), without the status() call", lambda: fused(inv)),
        ("  status(layout) with command_delay 0 (no pause bookkeeping)", undelayed),
        ("pv status(layout) by the general path (_status_general), whole", lambda: inv._status_general(layout, 1)),
        ("  drain check (port.in_waiting)", inv._waiting),
        ("  pause bookkeeping (command_delay, sleep a no-op)", inv._pause),
        ("  write + flush (+ debug-log check)", lambda: inv._write(STATUS_REQUEST)),
        ("  port: write, read header, read rest (the reference does these too)", reads),
        ("  header check (Framer.header)", lambda: framer.header(head)),
        ("  frame: length, checksum, plausibility, Frame (Framer.take)", lambda: framer.take(STATUS_REPLY)),
        ("  exchange end noted on the port", inv._exchange_ended),
        ("  pairs plan (unpack, scale, 18 labelled pairs)", lambda: plan(payload)),
        ("hand-written client, whole", handwritten_client(port, "pairs")),
    ]
    loop = min(timeit.repeat(lambda: None, number=number, repeat=7)) / number
    return [
        (name, 1e9 * (min(timeit.repeat(fn, number=number, repeat=7)) / number - loop))  # type: ignore[arg-type]
        for name, fn in parts
    ]


def main(argv: list[str]) -> int:
    if argv[:1] == ["steps"]:
        for name, ns in steps(int(argv[1]) if len(argv) > 1 else 100_000):
            print(f"{ns:8.0f} ns  {name}")
        return 0
    names = [argv[0]] if argv else ["status", "read_status"]
    number = int(argv[1]) if len(argv) > 1 else 20_000
    for name in names:
        print(f"\n{name}: {number:,} exchanges, cumulative share of the call")
        print(f"{'share':>7}  {'calls/exch':>10}  function")
        for func, share, per in profile(name, number):
            print(f"{share:6.1f}%  {per:10.2f}  {func}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
