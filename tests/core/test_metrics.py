"""core/metrics.py: in multiprocess mode a process killed with ``kill -9`` must stop counting
its open sockets (its live-gauge file goes), while its counters stay in the sums."""

from __future__ import annotations

import os
import subprocess
import sys

from core import metrics


def test_a_dead_process_s_socket_gauge_is_dropped_and_its_counters_kept(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead, alive = int(done.stdout), os.getppid()
    for name in (f"gauge_livesum_{dead}.db", f"counter_{dead}.db",
                 f"gauge_livesum_{alive}.db"):
        (tmp_path / name).write_bytes(b"")
    metrics.drop_dead_processes(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"counter_{dead}.db", f"gauge_livesum_{alive}.db"])
