"""Gymnasium's env.step rate for the MuJoCo v5 suite: the reference for polyak's env steps/s.

Actions are drawn before timing (as polyak's benchmark draws them with a negligible-cost
generator), so only `env.step` (and resets at episode ends) is timed. Median of ROUNDS rounds.
"""

import os
import sys
import tempfile
import time

import gymnasium as gym
import numpy as np

ENVS = [
    "HalfCheetah-v5",
    "Hopper-v5",
    "Walker2d-v5",
    "Ant-v5",
    "Humanoid-v5",
    "Swimmer-v5",
    "InvertedPendulum-v5",
    "InvertedDoublePendulum-v5",
    "Reacher-v5",
    "Pusher-v5",
]
STEPS, ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 20000, 7
# MuJoCo writes its warnings to MUJOCO_LOG.TXT in the working directory: not the repository.
os.chdir(tempfile.mkdtemp(prefix="polyak-mujoco-"))

for env_id in ENVS:
    env = gym.make(env_id)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    space = env.action_space
    assert isinstance(space, gym.spaces.Box)
    lo, hi = space.low, space.high
    actions = rng.uniform(lo, hi, size=(STEPS, lo.size)).astype(np.float32)
    rates = []
    for _ in range(ROUNDS):
        t = time.perf_counter()
        for a in actions:
            step = env.step(a)
            if step[2] or step[3]:
                env.reset()
        rates.append(STEPS / (time.perf_counter() - t))
    print(f"  {env_id:<34} {sorted(rates)[ROUNDS // 2]:12.0f}")
