"""Env steps/s from Python: polyak.make vs gymnasium.make (HalfCheetah-v5), and polyak.make_vec vs
Gymnasium's SyncVectorEnv / AsyncVectorEnv over Gymnasium's own env, for N = 1, 2, 8. Alternates
ROUNDS times in one process and prints medians (run by scripts/bench/python.sh).

Two more rows explain the single-env ratio: the cost of polyak's Python call alone (a Pendulum-v1
step, whose physics is a few nanoseconds) and the physics alone (`mj_step` x 5 +
`mj_rnePostConstraint` through MuJoCo's own bindings, no observation or reward): no wrapper of the
same libmujoco can step faster than the physics, so gymnasium's time / the physics' time bounds
the ratio any wrapper can reach on this CPU."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import gymnasium as gym
import mujoco  # type: ignore[import-untyped]
import numpy as np
import polyak

ENV = "HalfCheetah-v5"


def single(make: Callable[[], Any], steps: int) -> float:
    env = make()
    env.reset(seed=0)
    low, high = env.action_space.low, env.action_space.high
    actions = np.random.default_rng(0).uniform(low, high, size=(steps, low.size)).astype(np.float32)
    start = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def physics(steps: int) -> float:
    env = gym.make(ENV)
    env.reset(seed=0)
    model, data = env.unwrapped.model, env.unwrapped.data  # type: ignore[attr-defined]
    actions = np.random.default_rng(0).uniform(-1, 1, size=(steps, 6))
    start = time.perf_counter()
    for a in actions:
        data.ctrl[:] = a
        mujoco.mj_step(model, data, nstep=5)
        mujoco.mj_rnePostConstraint(model, data)
    return steps / (time.perf_counter() - start)


def vector(make: Callable[[], Any], n: int, steps: int) -> float:
    env = make()
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, size=(steps // n, n, 6)).astype(np.float32)
    start = time.perf_counter()
    for a in actions:
        env.step(a)
    elapsed = time.perf_counter() - start
    env.close()
    return len(actions) * n / elapsed


def main() -> None:
    rounds, steps = int(sys.argv[1]), int(sys.argv[2])
    cases: dict[str, Callable[[], float]] = {
        "polyak.make": lambda: single(lambda: polyak.make(ENV), steps),
        "gymnasium.make": lambda: single(lambda: gym.make(ENV), steps),
        "physics alone": lambda: physics(steps),
        # Pendulum's physics takes nanoseconds: its step time is the cost of the call.
        "polyak call (Pendulum)": lambda: single(lambda: polyak.make("Pendulum-v1"), steps),
    }
    for n in (1, 2, 8):
        cases[f"polyak.make_vec N={n}"] = partial(vector, partial(polyak.make_vec, ENV, n), n, steps)
        sync = partial(gym.make_vec, ENV, n, vectorization_mode="sync")
        cases[f"SyncVectorEnv N={n}"] = partial(vector, sync, n, steps)
        asynchronous = partial(gym.make_vec, ENV, n, vectorization_mode="async")
        cases[f"AsyncVectorEnv N={n}"] = partial(vector, asynchronous, n, steps)
    results: dict[str, list[float]] = {k: [] for k in cases}
    for r in range(rounds):
        for name, run in cases.items():
            results[name].append(run())
            print(f"round {r + 1} {name}: {results[name][-1]:,.0f} steps/s", flush=True)
    print("\nmedians (env steps/s):")
    for name, values in results.items():
        print(f"  {name:<24} {statistics.median(values):>10,.0f}")
    med = {name: statistics.median(values) for name, values in results.items()}
    print(f"  polyak.make / gymnasium.make = {med['polyak.make'] / med['gymnasium.make']:.2f}x")
    print("\nmicroseconds per single-env step:")
    for name in ("gymnasium.make", "polyak.make", "physics alone", "polyak call (Pendulum)"):
        print(f"  {name:<24} {1e6 / med[name]:>8.2f}")
    ceiling = med["physics alone"] / med["gymnasium.make"]
    print(f"  ceiling for any wrapper (gymnasium / physics alone) = {ceiling:.2f}x")


if __name__ == "__main__":
    main()
