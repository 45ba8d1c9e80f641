"""What scripts/bench/threads.sh and scripts/bench/sweep-jobs.sh share: whether two threads get
two whole cores near each other now, and a run's steady-state env-steps/s from its metrics.csv."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

# HalfCheetah-v5's episodes are 1,000 steps: metrics.csv has a row with the wall time at each end.
EPISODE = 1000


def two_whole_cores(binary: str, near: bool = True) -> bool:
    """`polyak bench --cores 1`: whether two threads at once ran FMAs at >= 90% of one's rate and,
    with `near`, passed a cache line there and back in <= 200 ns (not on two far-apart core
    complexes, which slows down threads that share an update but not separate runs)."""
    out = subprocess.run([binary, "bench", "--cores", "1"], check=True, capture_output=True, text=True).stdout
    return "(two whole cores)" in out or (not near and "(two cores, but NOT near each other" in out)


def steady_rate(metrics: Path, start: int, end: int) -> float:
    """Env-steps/s between the episode ends at steps `start` and `end` (multiples of EPISODE)."""
    if start % EPISODE or end % EPISODE or end <= start:
        raise ValueError(f"steps {start}-{end}: both must be multiples of {EPISODE}, the end after the start")
    with open(metrics) as f:
        wall = {int(r["step"]): float(r["wall_time"]) for r in csv.DictReader(f) if r["episode_return"]}
    return (end - start) / (wall[end] - wall[start])
