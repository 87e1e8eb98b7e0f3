"""The operators' Prometheus metrics (``prometheus-client``), defined once, low in the layers
so every layer may count; ``gateway/metrics_view.py`` serves them at ``/metrics``.

- ``curbside_open_sockets`` (gauge): WebSockets open now; ``gateway/consumer.py``, +1 at
  accept, −1 at disconnect;
- ``curbside_messages_posted_total`` (counter): messages stored, counted after commit
  (``rooms/messages.py``); ``rate()`` of it is messages/s;
- ``curbside_send_ack_seconds`` (histogram): a ``message.send`` frame received → its reply
  sent (``gateway/consumer.py``);
- ``curbside_routing_first_offer_seconds``, ``curbside_routing_accept_seconds``
  (histograms): an urgent case posted → its first offer (``first_offer_at``) / its accept
  (``accepted_at``), observed after the commit that sets them (``consult/services.py``);
- ``curbside_errors_total{code}`` (counter): every ``error`` reply a socket is sent, by its
  stable code (``bus/protocol.reply_error``, the one place they are built).

Several server processes: with ``PROMETHEUS_MULTIPROC_DIR`` set (before the process starts),
prometheus-client's multiprocess mode keeps each process's values in memory-mapped files in
that directory, and a scrape of *any* process sums them all (counters and histograms summed,
the socket gauge summed over live processes: ``livesum``). The directory is for the
processes of one host and one PID namespace (file names carry the PID), must be empty when
the first of them starts, and each process clears its PID's live-gauge file at start and at
exit; a process killed with ``kill -9`` leaves its gauge file, which the next scrape (or
start) drops because that PID no longer runs (``drop_dead_processes``). Counters of a dead
process stay in the sums, as Prometheus expects of a counter. Without the variable each
process counts alone and ``/metrics`` shows that process (the embedded default: one process).
docs/operations.md says how to scrape either way.
"""

from __future__ import annotations

import atexit
import glob
import os

from django.db import transaction
from prometheus_client import Counter, Gauge, Histogram, multiprocess

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def drop_dead_processes(path: str = MULTIPROC_DIR) -> None:
    """Remove the live-gauge files of processes that no longer run (``kill -9``), so the
    open-socket gauge does not count their sockets."""
    if not path:
        return
    pids = set()
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        pid = os.path.basename(name)[:-3].rsplit("_", 1)[-1]
        if pid.isdigit():
            pids.add(int(pid))
    for pid in pids:
        if pid != os.getpid() and not _pid_running(pid):
            multiprocess.mark_process_dead(pid, path)


if MULTIPROC_DIR:
    os.makedirs(MULTIPROC_DIR, mode=0o700, exist_ok=True)
    # A live gauge left under this PID belongs to a dead process that had it before: a new
    # value file would start from its count. Cleared before any metric below is built.
    multiprocess.mark_process_dead(os.getpid(), MULTIPROC_DIR)
    drop_dead_processes()
    atexit.register(multiprocess.mark_process_dead, os.getpid(), MULTIPROC_DIR)

# Seconds: a send is acknowledged after its group commit (milliseconds); the long tail shows
# an overloaded database.
_ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Seconds: routing waits on people (offers expire, tiers escalate) — up to half an hour.
_ROUTING_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)

OPEN_SOCKETS = Gauge("curbside_open_sockets", "WebSockets open now (accepted, not closed).",
                     multiprocess_mode="livesum")
MESSAGES_POSTED = Counter("curbside_messages_posted",
                          "Messages stored, in every room (rate() of it: messages/s).")
SEND_ACK_SECONDS = Histogram("curbside_send_ack_seconds",
                             "From receiving a message.send frame to sending its reply.",
                             buckets=_ACK_BUCKETS)
ROUTING_FIRST_OFFER_SECONDS = Histogram("curbside_routing_first_offer_seconds",
                                        "Urgent cases: from posting to the first offer.",
                                        buckets=_ROUTING_BUCKETS)
ROUTING_ACCEPT_SECONDS = Histogram("curbside_routing_accept_seconds",
                                   "Urgent cases: from posting to an accepted offer.",
                                   buckets=_ROUTING_BUCKETS)
ERRORS = Counter("curbside_errors", "Error replies sent on sockets, by stable code.", ["code"])


def count_after_commit(counter: Counter, amount: int = 1) -> None:
    """Count once the current transaction commits (at once outside one)."""
    if amount:
        transaction.on_commit(lambda: counter.inc(amount))


def observe_after_commit(histogram: Histogram, seconds: float) -> None:
    """Observe once the current transaction commits (at once outside one): a step that
    rolls back is not counted."""
    transaction.on_commit(lambda: histogram.observe(max(0.0, seconds)))
