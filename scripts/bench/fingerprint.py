"""The numbers of `polyak train` runs, in two short hashes each, to compare across machines: the
sha256 of metrics.csv without its wall-clock columns (`wall_time`, `sps`), and of the final
checkpoint's tensors in name order (safetensors writes its header in arbitrary order). Two
machines that print the same pair for the same command trained the same agent bit for bit.
Usage: fingerprint.py RUN_DIR..."""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from pathlib import Path

CLOCK = ("wall_time", "sps")


def metrics_hash(run: Path) -> tuple[str, int, str]:
    """The hash of metrics.csv without its clock columns, its row count, and the last return."""
    rows = (run / "metrics.csv").read_text().splitlines()
    head = rows[0].split(",")
    keep = [i for i, h in enumerate(head) if h not in CLOCK]
    text = "\n".join(",".join(r.split(",")[i] for i in keep) for r in rows)
    col = head.index("episode_return")
    returns = [r.split(",")[col] for r in rows[1:] if r.split(",")[col]]
    return hashlib.sha256(text.encode()).hexdigest()[:16], len(rows) - 1, returns[-1] if returns else "-"


def weights_hash(run: Path) -> str:
    """The hash of the final checkpoint's tensors (name, then raw bytes), in name order."""
    raw = (run / "checkpoints" / "final.safetensors").read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    h = hashlib.sha256()
    for name in sorted(k for k in header if k != "__metadata__"):
        start, end = header[name]["data_offsets"]
        h.update(name.encode())
        h.update(raw[8 + n + start : 8 + n + end])
    return h.hexdigest()[:16]


def main() -> None:
    for arg in sys.argv[1:]:
        run = Path(arg)
        metrics, rows, last = metrics_hash(run)
        weights = weights_hash(run)
        print(f"{run.name:<16} metrics {metrics}  weights {weights}  rows {rows}  last return {last}")


if __name__ == "__main__":
    main()
