"""Wall-clock to Gymnasium's HalfCheetah-v5 threshold (an evaluation mean >= 4,800), polyak against
Stable-Baselines3, SAC and TD3, the same settings on both sides, one thread each, two runs at a
time (one per core); a run stops at the threshold or at MAX_STEPS. Each side's clock is its own
training clock (polyak's `wall_time` column, SB3's time since `learn` began), evaluations
included. Run by scripts/bench/time-to-threshold.sh.

Two sets of settings (environment variable SETTINGS):
- `pinned` (the default): 256-256 networks and learning rate 3e-4 for both algorithms, 10,000
  random warm-up steps, a deterministic 5-episode evaluation every 5,000 steps.
- `zoo`: what each library's users run on HalfCheetah, rl-baselines3-zoo 2.9.2's tuned values,
  which are polyak's per-env defaults (SAC: 256-256, 3e-4; TD3: 400-300, 1e-3, Gaussian
  exploration 0.1; both 10,000 warm-up steps, batch 256), and polyak's default evaluation (10
  deterministic episodes every 5,000 steps), so the SB3 side matches a plain `polyak sweep`.

    python time_to_threshold.py SEEDS MAX_STEPS POLYAK_BINARY [sb3_runs=SEEDS]
    python time_to_threshold.py sb3 ALGO SEED MAX_STEPS     (one SB3 run; prints a JSON line)
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from functools import partial

SETTINGS = os.environ.get("SETTINGS", "pinned")
if SETTINGS not in ("pinned", "zoo"):
    sys.exit(f"SETTINGS must be `pinned` or `zoo`, not `{SETTINGS}`")
ENV, THRESHOLD, WARMUP, EVAL_EVERY = "HalfCheetah-v5", 4800.0, 10_000, 5_000
EVAL_EPISODES = 10 if SETTINGS == "zoo" else 5

Outcome = dict[str, float | int | str | None]


def sb3_run(algo: str, seed: int, max_steps: int) -> Outcome:
    """One Stable-Baselines3 run; stops at the threshold."""
    import gymnasium as gym
    import numpy as np
    import torch
    from stable_baselines3 import SAC, TD3
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.noise import NormalActionNoise

    torch.set_num_threads(1)
    outcome: Outcome = {"who": "SB3", "algo": algo, "seed": seed, "step": None, "seconds": None}
    evals: list[tuple[int, float, float]] = []

    class Threshold(BaseCallback):
        def _on_training_start(self) -> None:
            self.start = time.perf_counter()
            self.eval_env = gym.make(ENV)

        def _on_step(self) -> bool:
            if self.num_timesteps % EVAL_EVERY:
                return True
            returns, _ = evaluate_policy(
                self.model, self.eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True
            )
            mean = float(np.mean(returns))
            seconds = time.perf_counter() - self.start
            evals.append((self.num_timesteps, mean, seconds))
            if mean >= THRESHOLD:
                outcome.update(step=self.num_timesteps, seconds=seconds)
                return False
            return True

    kwargs: dict[str, object] = {"policy_kwargs": {"net_arch": [256, 256]}, "learning_starts": WARMUP}
    if algo == "td3":
        # Gaussian exploration 0.1 as polyak's TD3; learning rate 3e-4 (polyak's general default)
        # or the zoo's 400-300 at 1e-3.
        kwargs.update(learning_rate=3e-4, action_noise=NormalActionNoise(np.zeros(6), 0.1 * np.ones(6)))
        if SETTINGS == "zoo":
            kwargs.update(learning_rate=1e-3, batch_size=256, policy_kwargs={"net_arch": [400, 300]})
    cls = {"sac": SAC, "td3": TD3}[algo]
    model = cls("MlpPolicy", gym.make(ENV), seed=seed, device="cpu", **kwargs)
    model.learn(max_steps, callback=Threshold())
    outcome["evals"] = json.dumps(evals)
    return outcome


def polyak_run(binary: str, algo: str, seed: int, max_steps: int) -> Outcome:
    """One `polyak train` run, stopped once an evaluation in its metrics.csv reaches the
    threshold."""
    out = tempfile.mkdtemp() + "/run"
    # `pinned`: not left to HalfCheetah-v5's defaults (400-300 and 1e-3 for TD3), the same
    # settings as the SB3 side. `zoo`: those defaults are the SB3 side's settings.
    pins = ["hidden=[256, 256]", "actor_lr=0.0003", "critic_lr=0.0003"] if SETTINGS == "pinned" else []
    sets = [
        *pins,
        f"learning_starts={WARMUP}",
        f"eval_every={EVAL_EVERY}",
        f"eval_episodes={EVAL_EPISODES}",
        "checkpoint_every=0",
        "threads=1",
    ]
    args = [
        binary,
        "train",
        "-q",
        "--algo",
        algo,
        "--env",
        ENV,
        "--steps",
        str(max_steps),
        "--seed",
        str(seed),
    ]
    args += ["--out", out] + [x for s in sets for x in ("--set", s)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    outcome: Outcome = {"who": "polyak", "algo": algo, "seed": seed, "step": None, "seconds": None}
    while True:
        done = proc.poll() is not None
        evals = read_evals(out + "/metrics.csv")
        hit = next((e for e in evals if e[1] >= THRESHOLD), None)
        if hit is not None:
            outcome.update(step=hit[0], seconds=hit[2])
            if not done:
                proc.terminate()
                proc.wait()
            break
        if done:
            break
        time.sleep(1.0)
    outcome["evals"] = json.dumps(evals)
    return outcome


def read_evals(path: str) -> list[tuple[int, float, float]]:
    """(step, evaluation mean, wall time) of every evaluation row so far."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        rows = [r for r in csv.DictReader(f) if r.get("eval_mean")]
    return [(int(r["step"]), float(r["eval_mean"]), float(r["wall_time"])) for r in rows]


def sb3_subprocess(algo: str, seed: int, max_steps: int) -> Outcome:
    """An SB3 run in its own process, so that two runs use two cores."""
    cmd = [sys.executable, __file__, "sb3", algo, str(seed), str(max_steps)]
    line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    result: Outcome = json.loads(line)
    return result


def main() -> None:
    if sys.argv[1] == "sb3":
        print(json.dumps(sb3_run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))), flush=True)
        return
    seeds, max_steps, binary = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    sb3_seeds = int(sys.argv[4]) if len(sys.argv) > 4 else seeds
    # SB3's runs first: they are the long ones, so the two cores stay busy to the end.
    jobs: list[Callable[[], Outcome]] = [
        partial(sb3_subprocess, algo, seed, max_steps) for algo in ("sac", "td3") for seed in range(sb3_seeds)
    ]
    jobs += [
        partial(polyak_run, binary, algo, seed, max_steps) for algo in ("sac", "td3") for seed in range(seeds)
    ]
    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in as_completed([pool.submit(job) for job in jobs]):
            outcome = future.result()
            outcomes.append(outcome)
            step, secs = outcome["step"], outcome["seconds"]
            reached = (
                f"{step} steps, {float(secs or 0):.0f} s" if step is not None else f"not by {max_steps} steps"
            )
            print(f"{outcome['who']:<7} {outcome['algo']} seed {outcome['seed']}: {reached}", flush=True)
            print(f"  evaluations (step, mean, seconds): {outcome['evals']}", flush=True)
    print(
        f"\nwall-clock to an evaluation >= {THRESHOLD:.0f} on {ENV}, settings `{SETTINGS}` "
        "(median over the seeds that reached it):"
    )
    for algo in ("sac", "td3"):
        for who in ("polyak", "SB3"):
            runs = [o for o in outcomes if o["who"] == who and o["algo"] == algo]
            hit = [float(o["seconds"] or 0) for o in runs if o["step"] is not None]
            steps = [int(o["step"] or 0) for o in runs if o["step"] is not None]
            if not runs:
                continue
            if hit:
                secs, at = statistics.median(hit), statistics.median(steps)
                print(f"  {algo} {who:<7} {secs:7.0f} s at {at:8.0f} steps ({len(hit)} of {len(runs)} runs)")
            else:
                print(f"  {algo} {who:<7} not reached by {max_steps} steps ({len(runs)} runs)")


if __name__ == "__main__":
    main()
