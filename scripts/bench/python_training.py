"""Steady-state training env-steps/s on HalfCheetah-v5 (env steps 2,000-5,000 after 1,000 random
warm-up steps): polyak.SAC on Gymnasium's Python env (through the bridge), polyak.SAC on the
built-in env, and Stable-Baselines3's SAC on Gymnasium's env, alternating ROUNDS times.
Run by scripts/bench/python.sh (SB3 and torch come from its venv)."""

from __future__ import annotations

import statistics
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from sb3_training import sb3_rate

ENV, WARMUP, START, END = "HalfCheetah-v5", 1000, 2000, 5000


def polyak_rate(env: Any, threads: int) -> float:
    import polyak

    out = tempfile.mkdtemp()
    kw: dict[str, Any] = {
        "learning_starts": WARMUP,
        "eval_every": 0,
        "checkpoint_every": 0,
        "threads": threads,
    }
    polyak.SAC(env, seed=0, out=out + "/run", **kw).learn(END)
    rows = [r.split(",") for r in open(out + "/run/metrics.csv").read().splitlines()]
    head = rows[0]
    step, wall = head.index("step"), head.index("wall_time")
    points = [(int(r[step]), float(r[wall])) for r in rows[1:]]
    # The wall-clock at the episode ends nearest START and END (episodes are 1,000 steps).
    (s0, w0) = min(points, key=lambda p: abs(p[0] - START))
    (s1, w1) = min(points, key=lambda p: abs(p[0] - END))
    return (s1 - s0) / (w1 - w0)


def main() -> None:
    rounds, threads = int(sys.argv[1]), int(sys.argv[2])
    cases: dict[str, Callable[[], float]] = {
        "polyak.SAC, Gymnasium's Python env": lambda: polyak_rate(gym.make(ENV), threads),
        "polyak.SAC, built-in env": lambda: polyak_rate(ENV, threads),
        "Stable-Baselines3 SAC": lambda: sb3_rate("sac", threads),
    }
    results: dict[str, list[float]] = {k: [] for k in cases}
    for r in range(rounds):
        for name, run in cases.items():
            results[name].append(run())
            print(f"round {r + 1} {name}: {results[name][-1]:.1f} env-steps/s", flush=True)
    print(f"\nmedians (env-steps/s, steps {START}-{END}, {threads} threads):")
    for name, values in results.items():
        print(f"  {name:<36} {statistics.median(values):>7.1f}")
    sb3 = statistics.median(results["Stable-Baselines3 SAC"])
    for name in list(cases)[:2]:
        print(f"  {name} / SB3 = {statistics.median(results[name]) / sb3:.2f}x")
    np.seterr(all="ignore")


if __name__ == "__main__":
    main()
