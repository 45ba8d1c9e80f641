"""Reads polyak's TensorBoard event files back with TensorBoard's own reader and checks them
against metrics.csv: every non-empty cell of every row must appear as the scalar of its tag at
its step. Usage: read_tensorboard.py RUN_DIR"""

import csv
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

TAGS = {
    "sps": "perf/env_steps_per_s",
    "episode_return": "train/episode_return",
    "episode_length": "train/episode_length",
    "eval_mean": "eval/mean_return",
    "eval_std": "eval/std_return",
    "critic_loss": "loss/critic",
    "actor_loss": "loss/actor",
    "alpha": "train/alpha",
    "mean_q": "train/mean_q",
}

run = Path(sys.argv[1])
acc = EventAccumulator(str(run), size_guidance={"scalars": 0})
acc.Reload()
seen = {tag: {(e.step, round(e.value, 3)) for e in acc.Scalars(tag)} for tag in acc.Tags()["scalars"]}
rows = list(csv.DictReader(open(run / "metrics.csv")))
checked = 0
for row in rows:
    for col, cell in row.items():
        if cell == "" or col in ("step", "wall_time", "episode"):
            continue
        tag = TAGS.get(col, f"reward_terms/{col}")
        value = round(float(__import__("numpy").float32(float(cell))), 3)
        missing = f"{tag} at step {row['step']}: {value} missing"
        assert (int(row["step"]), value) in seen.get(tag, set()), missing
        checked += 1
print(
    f"{run}: TensorBoard read {sum(len(v) for v in seen.values())} scalars in {len(seen)} tags; "
    f"all {checked} metrics.csv cells found"
)
