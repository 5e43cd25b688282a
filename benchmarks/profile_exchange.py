"""Where one whole exchange spends its time: cProfile of ``bench_exchange``'s pv calls.

    python -m benchmarks.profile_exchange                 # both calls, 20,000 exchanges each
    python -m benchmarks.profile_exchange status 50000    # one call, more exchanges

Prints, per call, the functions that take a share of the exchange (cumulative
time, as a percentage of the whole call, and calls per exchange), the table
docs/performance.md records before and after a change.  cProfile slows Python
function calls down more than C calls, so the shares lean towards many small
functions; the benchmark's timings, not these shares, are the figures.
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


def main(argv: list[str]) -> int:
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
