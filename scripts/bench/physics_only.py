"""Physics alone: mj_step x frame_skip + mj_rnePostConstraint in a Python loop on Gymnasium's
models (no observation, reward or resets): the most any env wrapper of this library can reach.
Run with the fixture venv: .venv-fixtures/bin/python scripts/bench/physics_only.py"""

import os
import tempfile
import time

import gymnasium as gym
import mujoco  # type: ignore[import-untyped]
import numpy as np

ENVS = [("HalfCheetah-v5", 5), ("Hopper-v5", 4), ("Walker2d-v5", 4), ("Ant-v5", 5), ("Humanoid-v5", 5)]
STEPS = 5000


def main() -> None:
    # MuJoCo writes its warnings to MUJOCO_LOG.TXT in the working directory: not the repository.
    os.chdir(tempfile.mkdtemp(prefix="polyak-mujoco-"))
    for env_id, frame_skip in ENVS:
        env = gym.make(env_id)
        env.reset(seed=0)
        m, d = env.unwrapped.model, env.unwrapped.data  # type: ignore[attr-defined]
        rng = np.random.default_rng(0)
        lo, hi = env.action_space.low, env.action_space.high  # type: ignore[attr-defined]
        acts = rng.uniform(lo, hi, size=(STEPS, lo.size))
        rates = []
        for _ in range(5):
            mujoco.mj_resetData(m, d)
            mujoco.mj_forward(m, d)
            t = time.perf_counter()
            for a in acts:
                d.ctrl[:] = a
                mujoco.mj_step(m, d, nstep=frame_skip)
                mujoco.mj_rnePostConstraint(m, d)
            rates.append(STEPS / (time.perf_counter() - t))
        print(f"{env_id:<20} physics only (no resets): {sorted(rates)[2]:8.0f} steps/s")


if __name__ == "__main__":
    main()
