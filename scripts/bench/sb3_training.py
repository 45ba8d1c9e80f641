"""Steady-state training env-steps/s on HalfCheetah-v5 (env steps 2,000-5,000 after 1,000 random
warm-up steps), polyak's CLI (`polyak train`, built-in env) against Stable-Baselines3 on
Gymnasium's env, for SAC, TD3 and DDPG, alternating ROUNDS times in one run; prints medians and
ratios. Run by scripts/bench/vs-sb3.sh; `sb3_rate` is also used by python_training.py."""

from __future__ import annotations

import csv
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib

import gymnasium as gym

ENV, WARMUP, START, END = "HalfCheetah-v5", 1000, 2000, 5000


def sb3_rate(algo: str, threads: int) -> float:
    """Stable-Baselines3's env-steps/s between START and END, with its defaults but polyak's
    network sizes."""
    import torch
    from stable_baselines3 import DDPG, SAC, TD3
    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(threads)
    marks: dict[int, float] = {}

    class Clock(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps in (START, END):
                marks[self.num_timesteps] = time.perf_counter()
            return True

    cls = {"sac": SAC, "td3": TD3, "ddpg": DDPG}[algo]
    # polyak's 256-256 networks for all three: SB3's own default for TD3 and DDPG is 400-300,
    # 1.7x the work per update, which would flatter polyak. SB3_NETS=defaults keeps SB3's own (what
    # a new user of each library gets).
    own = os.environ.get("SB3_NETS") == "defaults"
    policy_kwargs: dict[str, list[int]] = {} if own else {"net_arch": [256, 256]}
    model = cls(
        "MlpPolicy", gym.make(ENV), learning_starts=WARMUP, seed=0, device="cpu", policy_kwargs=policy_kwargs
    )
    model.learn(END, callback=Clock())
    return (END - START) / (marks[END] - marks[START])


def polyak_rate(binary: str, algo: str, threads: int) -> tuple[float, float, str]:
    """`polyak train`'s env-steps/s between the episode ends at START and END (1,000-step
    episodes), the share of its run spent inside gradient updates (its own clock), and the CPU
    the run recorded (its `machine.toml`), so that the figures name their machine."""
    out = tempfile.mkdtemp() + "/run"
    sets = [f"learning_starts={WARMUP}", "eval_every=0", "checkpoint_every=0", f"threads={threads}"]
    # 256-256 as on the SB3 side; with SB3_NETS=defaults, each library's own (polyak's per-env
    # defaults on HalfCheetah-v5: 400-300 for TD3 and DDPG, as SB3's).
    if os.environ.get("SB3_NETS") != "defaults":
        sets.append("hidden=[256, 256]")
    args = [binary, "train", "-q", "--algo", algo, "--env", ENV, "--steps", str(END), "--out", out]
    done = subprocess.run(
        args + [x for s in sets for x in ("--set", s)], check=True, capture_output=True, text=True
    ).stdout
    share = re.search(r"time: updates ([\d.]+)%", done)
    with open(out + "/metrics.csv") as f:
        wall = {int(r["step"]): float(r["wall_time"]) for r in csv.DictReader(f) if r["episode_return"]}
    with open(out + "/machine.toml", "rb") as t:
        cpu = str(tomllib.load(t)["process"][0]["cpu"])
    return (END - START) / (wall[END] - wall[START]), float(share.group(1)) if share else float("nan"), cpu


def polyak_updates(binary: str, algo: str, threads: int) -> float:
    """`polyak bench`'s update-only rate for the same agent and thread count (updates/s)."""
    line = subprocess.run(
        [binary, "bench", "--algo", algo, "--threads", str(threads)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(line.rsplit(":", 1)[1])


def main() -> None:
    rounds, threads, binary = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    results: dict[tuple[str, str], list[float]] = {}
    import torch

    simd = os.environ.get("POLYAK_SIMD", "the best this CPU has")
    print(f"polyak's kernels: {simd}; torch's CPU capability: {torch.backends.cpu.get_cpu_capability()}")

    def record(r: int, algo: str, who: str, value: float, unit: str) -> None:
        results.setdefault((algo, who), []).append(value)
        print(f"round {r + 1} {algo} {who}: {value:.1f} {unit}", flush=True)

    for r in range(rounds):
        for algo in ("sac", "td3", "ddpg"):
            rate, share, cpu = polyak_rate(binary, algo, threads)
            if r == 0 and algo == "sac":
                print(f"CPU: {cpu}")
            record(r, algo, "polyak", rate, "env-steps/s")
            record(r, algo, "polyak in updates", share, "% of its run")
            record(r, algo, "polyak updates only", polyak_updates(binary, algo, threads), "updates/s")
            record(r, algo, "SB3", sb3_rate(algo, threads), "env-steps/s")
    print(f"\nmedians (env-steps/s, HalfCheetah-v5 steps {START}-{END}, {threads} threads):")
    for algo in ("sac", "td3", "ddpg"):
        ours, theirs, alone, share = (
            statistics.median(results[(algo, w)])
            for w in ("polyak", "SB3", "polyak updates only", "polyak in updates")
        )
        print(
            f"  {algo:<5} polyak {ours:7.1f}   SB3 {theirs:7.1f}   ratio {ours / theirs:.2f}x   "
            f"polyak update-only {alone:7.1f}/s (training at {100 * ours / alone:.0f}% of it; "
            f"{share:.0f}% of the run inside updates)"
        )


if __name__ == "__main__":
    main()
