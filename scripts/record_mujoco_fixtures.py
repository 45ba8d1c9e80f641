"""Records reference trajectories of Gymnasium's MuJoCo v5 environments (same MuJoCo build as
polyak links: mujoco-core 4.0.0).

Per env: reset with a fixed seed, then seeded random float32 actions (drawn 20% beyond the
action bounds, so MuJoCo's control clamping and the unclamped control cost are both exercised);
whenever an episode ends, the env is reset again and the new initial state recorded. Output:
fixtures/mujoco/<env-id>.txt, read by tests/mujoco_fixtures.rs. Values are Python float reprs
(exact round trips of float64). Run through scripts/record-mujoco-fixtures.sh.
"""
import sys
from pathlib import Path

import gymnasium as gym
import mujoco
import numpy as np

# Steps per env: enough to cross terminations / time limits where random actions reach them,
# small enough to keep the files small.
STEPS = {
    "HalfCheetah-v5": 150,
    "Hopper-v5": 200,
    "Walker2d-v5": 200,
    "Ant-v5": 60,
    "Humanoid-v5": 40,
    "Swimmer-v5": 150,
    "InvertedPendulum-v5": 150,
    "InvertedDoublePendulum-v5": 150,
    "Reacher-v5": 120,
    "Pusher-v5": 130,
}


def fmt(x):
    return repr(float(x))


def record(env_id, steps, out_dir):
    env = gym.make(env_id)
    u = env.unwrapped
    rng = np.random.default_rng(20261124)
    lines = [f"# {env_id}: gymnasium {gym.__version__}, mujoco {mujoco.__version__}, numpy {np.__version__}",
             "# reset <qpos...> | <qvel...>",
             "# step <action...> | <reward> <terminated> <truncated> | <obs...> | <info key=value...>"]
    for name, values in [("act_low", env.action_space.low), ("act_high", env.action_space.high)]:
        lines.append(f"{name} " + " ".join(fmt(v) for v in values))
    lines.append(f"obs_dim {env.observation_space.shape[0]}")
    lines.append(f"max_episode_steps {env.spec.max_episode_steps}")
    env.reset(seed=7)
    lo, hi = env.action_space.low, env.action_space.high
    span = hi - lo
    new_episode = True
    for _ in range(steps):
        if new_episode:
            lines.append("reset " + " ".join(fmt(v) for v in u.data.qpos) + " | " + " ".join(fmt(v) for v in u.data.qvel))
            new_episode = False
        action = rng.uniform(lo - 0.2 * span, hi + 0.2 * span).astype(np.float32)
        obs, reward, terminated, truncated, info = env.step(action)
        terms = " ".join(f"{k}={fmt(v)}" for k, v in sorted(info.items()) if np.ndim(v) == 0)
        lines.append("step " + " ".join(fmt(a) for a in action)
                     + f" | {fmt(reward)} {int(terminated)} {int(truncated)} | "
                     + " ".join(fmt(o) for o in obs) + " | " + terms)
        if terminated or truncated:
            env.reset()
            new_episode = True
    (out_dir / f"{env_id}.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for env_id, steps in STEPS.items():
        record(env_id, steps, out)
        print("recorded", env_id)
