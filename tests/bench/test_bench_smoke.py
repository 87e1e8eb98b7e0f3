"""The bench code works: its smallest fan-out runs for ~2 s against real daphne processes
(Curbside embedded, and the tutorial baseline) and every delivery is checked.

Asserts correctness only — every acknowledged message reached every member exactly once,
and the JSON was written — never speed: timings on a shared CI machine mean nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import INVALID_FRAME_MARK

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = 5

pytestmark = pytest.mark.e2e


def test_smallest_fanout_delivers_every_message_once_on_both_apps(tmp_path):
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--scenarios", "fanout", "--topologies", "embedded",
         "--apps", "curbside,baseline", "--members", str(MEMBERS), "--offered", "50",
         "--no-closed-loop", "--duration", "2", "--workers", "1", "--users", "2",
         "--case-rooms", "0", "--root", str(tmp_path / "state"), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        # Its Curbside servers check every frame they send, as the suite's own daphnes do.
        env={**os.environ, "CURBSIDE_VALIDATE_FRAMES": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    logs = sorted((tmp_path / "state" / "logs").glob("curbside-*.log"))
    assert logs
    invalid = [line for log in logs for line in log.read_text(errors="replace").splitlines()
               if INVALID_FRAME_MARK in line]
    assert not invalid, "\n".join(invalid)
    result = json.loads((out / "fanout.json").read_text())
    rows = {r["app"]: r for r in result["rows"] if r["app"] in ("curbside", "baseline")}
    assert set(rows) == {"curbside", "baseline"}, result["rows"]
    for app, row in rows.items():
        assert "error" not in row, row
        assert row["messages"] > 0, (app, row)
        assert row["lost"] == 0 and row["dup"] == 0, (app, row)
        assert row["deliveries"] == row["messages"] * MEMBERS, (app, row)
        assert row["failed"] == {}, (app, row)
    assert result["machine"]["nproc"] >= 1
    assert "## fanout" in proc.stdout  # the table was printed
