"""Records reference trajectories of Gymnasium's continuous classic-control envs.

Each episode starts from a fixed state (set on `env.unwrapped.state` after a reset, exactly as a
reset leaves it) and applies seeded random float32 actions, some outside the action bounds so the
clipping paths are exercised. Output: fixtures/classic/<env-id>.txt, read by
tests/classic_fixtures.rs. Run through scripts/record-classic-fixtures.sh.
"""
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np

# (initial state, max steps, action low, action high) per episode.
EPISODES = {
    "Pendulum-v1": [
        ((2.5, -0.7), 200, -3.0, 3.0),  # full episode: ends by truncation at 200
        ((-3.0, 0.9), 60, -2.0, 2.0),
        ((0.05, 0.0), 40, -0.5, 0.5),  # near upright, small torques
    ],
    "MountainCarContinuous-v0": [
        ((-0.5, 0.0), 999, -1.5, 1.5),  # full episode: truncation at 999, clipped actions
        ((0.3, 0.04), 200, 0.5, 1.5),  # pushed towards the flag: terminates
        ((-1.15, -0.06), 30, -1.0, -0.2),  # into the left wall
    ],
}


def fmt(x):
    return repr(float(x))


def record(env_id, episodes, out_dir):
    env = gym.make(env_id)
    rng = np.random.default_rng(20261124)
    lines = [f"# {env_id}: gymnasium {gym.__version__}, numpy {np.__version__}",
             "# reset <state...> | <action...> <reward> <terminated> <truncated> <obs...>"]
    for name, values in [("obs_low", env.observation_space.low), ("obs_high", env.observation_space.high),
                         ("act_low", env.action_space.low), ("act_high", env.action_space.high)]:
        lines.append(f"{name} " + " ".join(fmt(v) for v in values))
    lines.append(f"max_episode_steps {env.spec.max_episode_steps}")
    for state, max_steps, lo, hi in episodes:
        env.reset(seed=0)
        env.unwrapped.state = np.array(state, dtype=np.float64)
        lines.append("reset " + " ".join(fmt(s) for s in state))
        for _ in range(max_steps):
            action = rng.uniform(lo, hi, size=env.action_space.shape).astype(np.float32)
            obs, reward, terminated, truncated, _ = env.step(action)
            fields = [fmt(a) for a in action] + [fmt(reward), str(int(terminated)), str(int(truncated))]
            fields += [fmt(o) for o in obs]
            lines.append(" ".join(fields))
            if terminated or truncated:
                break
    path = out_dir / f"{env_id}.txt"
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path} ({len(lines)} lines)")


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "fixtures/classic")
    out.mkdir(parents=True, exist_ok=True)
    for env_id, episodes in EPISODES.items():
        record(env_id, episodes, out)
