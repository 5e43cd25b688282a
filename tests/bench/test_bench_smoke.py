"""The benchmark command runs end to end and prints its table (no timing is asserted here).

Performance is judged by reading the figures (``python -m benchmarks``), never by
a timed test that would flake on a loaded CI machine; what a test can check is
that the command works on this checkout, that every decoder still agrees with
the captured values (bench_decode checks that before timing) and that the
JSON written for comparisons between commits is well-formed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_quick_decode_prints_table(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "decode", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split()[:3] == ["figure", "value", "target"]
    for figure in (
        "decode: generated (CODEC.parse + decode_status)",
        "decode: hand-written struct reference",
        "decode: interpreted Construct",
        "decode: generated time / hand-written time",
        "decode: Construct time / generated time",
        "pvgen: regenerate every spec",
        'python -c "import pv.cms"',
    ):
        assert any(line.startswith(figure) for line in lines), f"missing row {figure!r} in:\n{result.stdout}"
    ratio = next(line for line in lines if line.startswith("decode: generated time / hand-written time"))
    assert "<= 1.25" in ratio and ("ok" in ratio or "MISSED" in ratio)
    data = json.loads(out.read_text())
    rows = {r["name"]: r for r in data["rows"]}
    gen = rows["decode: generated (CODEC.parse + decode_status)"]
    assert gen["unit"] == "frames/s" and gen["value"] > 0
    assert rows["decode: generated time / hand-written time"]["ok"] in (True, False)


def test_unknown_benchmark_is_a_one_line_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "nosuch"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("python -m benchmarks: unknown benchmark nosuch")
    assert "Traceback" not in result.stderr


def test_upload_benchmark_counts_every_request_against_the_local_service() -> None:
    """Not timed: the figure is a request count, so the test checks how it is made up."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))  # benchmarks/ is a top-level directory, not an installed package
    from benchmarks import bench_upload

    rows = bench_upload.run(quick=True)
    assert len(rows) == 5
    for row in rows:
        assert row.value is not None and row.value >= 1.0, row
        # "N requests for M statuses, minimum K: addbatchstatus.jsp K, ..." -- batches alone hit the minimum
        counts = dict(part.rsplit(" ", 1) for part in row.note.split(": ", 1)[1].split(", "))
        minimum = int(row.note.split("minimum ")[1].split(":")[0])
        assert int(counts["addbatchstatus.jsp"]) == minimum, row.note
        assert sum(int(v) for v in counts.values()) == int(row.note.split(" requests")[0])


def test_exchange_benchmark_compares_like_with_like() -> None:
    """Not timed: every client must give pv's result before timing, and a wrong one must be caught."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from benchmarks import bench_exchange as bx

    port = bx.MemoryPort({bx.STATUS_REQUEST: bx.STATUS_REPLY})
    clients = {
        **bx.pv_clients(port),
        "hand_pairs": bx.handwritten_client(port, "pairs"),
        "hand_dataclass": bx.handwritten_client(port, "dataclass"),
    }
    bx.check_same(clients)  # raises if any client disagrees
    assert clients["status"]()["Pac"] == 765
    wrong = dict(clients, hand_pairs=lambda: [("Pac", 765)])
    with pytest.raises(AssertionError, match="differ"):
        bx.check_same(wrong)
    rows = bx.run(quick=True)
    ratios = [r for r in rows if r.unit == "x"]
    assert [r.target for r in ratios] == ["<= 1.25", "<= 1.25"] and all(r.value and r.value > 0 for r in ratios)
