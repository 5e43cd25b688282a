"""``python -m benchmarks``: run every benchmark and print one table of figures and targets.

    python -m benchmarks                  # every figure, full sizes
    python -m benchmarks --quick          # smaller sizes (a minute or two)
    python -m benchmarks --only decode,capture
    python -m benchmarks --json out.json  # also write the rows, for comparing commits

Exit status: 0 when every benchmark ran (missed targets are reported in the
table, not as a failure: a benchmark is a measurement, not a test), 1 when a
benchmark itself crashed, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from . import REPO, Row

# Priority order of issue 7; other helpers' bench_*.py modules run after these.
ORDER = ["decode", "exchange", "capture", "startup", "poll", "cpu_memory", "upload"]


def discover() -> list[str]:
    found = sorted(p.stem.removeprefix("bench_") for p in (REPO / "benchmarks").glob("bench_*.py"))
    return [n for n in ORDER if n in found] + [n for n in found if n not in ORDER]


def fmt_value(row: Row) -> str:
    if row.value is None:
        return "—"
    v = row.value
    if row.unit == "x":
        return f"{v:.3f} x"
    if v == 0:
        return f"0 {row.unit}".rstrip()
    if abs(v) >= 1000:
        text = f"{v:,.0f}"
    elif abs(v) >= 100:
        text = f"{v:.0f}"
    elif abs(v) >= 10:
        text = f"{v:.1f}"
    else:
        text = f"{v:.3g}" if abs(v) >= 0.01 else f"{v:.2e}"
    return f"{text} {row.unit}".rstrip()


def status(row: Row) -> str:
    if row.value is None:
        return "n/a"
    if row.ok is None:
        return ""
    return "ok" if row.ok else "MISSED"


def print_rows(bench: str, rows: list[Row], widths: tuple[int, int, int]) -> None:
    for row in rows:
        line = (
            f"{row.name:<{widths[0]}}  {fmt_value(row):>{widths[1]}}  {row.target or '':<{widths[2]}}  {status(row):<6}"
        )
        if row.note:
            line += f"  {row.note}"
        print(line.rstrip(), flush=True)


def machine() -> dict[str, str]:
    info = {"python": platform.python_version(), "platform": platform.platform(), "cpu": platform.processor()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import os

        info["cpus"] = str(os.cpu_count())
        info["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO, check=False
        ).stdout.strip()
    except OSError:
        pass
    return info


def main(argv: list[str] | None = None) -> int:
    names = discover()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Print pv's performance figures beside their targets."
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--only", default="", help=f"comma-separated benchmarks to run, of: {', '.join(names)}")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the rows as JSON to PATH")
    args = parser.parse_args(argv)
    selected = names
    if args.only:
        selected = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in selected if n not in names]
        if unknown:
            print(
                f"python -m benchmarks: unknown benchmark {', '.join(unknown)} (have: {', '.join(names)})",
                file=sys.stderr,
            )
            return 2
    info = machine()
    print(
        f"pv benchmarks  commit {info.get('commit', '?')}  python {info['python']}"
        f"  {info['cpu']} x{info.get('cpus', '?')}  {'quick' if args.quick else 'full'}"
    )
    widths = (54, 16, 8)
    print(f"{'figure':<{widths[0]}}  {'value':>{widths[1]}}  {'target':<{widths[2]}}  status  note")
    print("-" * (widths[0] + widths[1] + widths[2] + 20))
    results: list[dict[str, Any]] = []
    crashed = False
    for name in selected:
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.bench_{name}")
            rows: list[Row] = module.run(args.quick)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            crashed = True
            detail = traceback.format_exc().strip().splitlines()
            rows = [Row(f"{name}: benchmark crashed", None, "", "", False, f"{type(exc).__name__}: {exc}")]
            print("\n".join(detail[-6:]), file=sys.stderr)
        print_rows(name, rows, widths)
        results.extend({"benchmark": name, **r.as_dict()} for r in rows)
        print(f"{'':<{widths[0]}}  ({name}: {time.perf_counter() - started:.1f} s)", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": info, "quick": args.quick, "rows": results}, indent=2) + "\n")
        print(f"wrote {args.json}")
    missed = [r for r in results if r["ok"] is False]
    pending = [r for r in results if r["value"] is None]
    print(f"{len(results)} figures: {len(missed)} missed, {len(pending)} not measurable yet")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
