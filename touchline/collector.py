"""How often CPython's cyclic garbage collector runs in touchline's processes.

The defaults (a young pass every 700 allocations net of frees, a middle
pass every tenth, a full pass every tenth of those once enough has survived)
suit short scripts. A process that publishes, resolves or projects
allocates several objects per field of every event, and nearly all of them
are freed by reference counting a moment later: at the defaults the
collector ran about ten young passes a batch of 1,000 events, and a full
pass now and then walked every long-lived object again. Measured on Intel
Xeon v1252, 2026-12-05: publishing a simulated day of 119,817 events in
process spent 0.32 s of 2.07 s collecting, 0.08 s with these thresholds
(58k to 63k events/s); HTTP ingest (``./dev bench --only ingest``, two sets
each way, alternated) went from 14.1-15.1k to 16.5-18.4k events/s. The
stage processes have run with them since they were split out. The cost is
memory: garbage in reference cycles (rare here) lives up to 50,000
allocations longer.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 50, 1_000)
"""``gc.set_threshold``'s three: young, middle, full. In a stage, a batch
makes hundreds of thousands of short-lived containers (tuples, rows, dicts)
that reference counting frees; at 700 the collector's passes over them found
little and cost the timeline about a tenth of its CPU (the resolver showed
no change). What cycles a batch leaves wait a little longer: a few MB at most."""


def collect_less_often() -> None:
    """Set :data:`THRESHOLDS` for this process (and the processes it forks)."""
    gc.set_threshold(*THRESHOLDS)
