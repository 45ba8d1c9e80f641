"""Frames per second of MuJoCo's renderer, polyak against Gymnasium, on this machine: HalfCheetah-v5
at 480 x 480, Gymnasium's default (free) camera on both sides, MUJOCO_GL=egl, alternating ROUNDS
times; medians. Gymnasium: `env.render()` after each `env.step` (the frame's time alone).
polyak: `polyak render` of a run's agent, its "frames/s drawn" (the renderer alone), and its
frames over the whole command (stepping, the agent, GIF encoding). Run by
scripts/bench/render-vs-gymnasium.sh.

    python render_fps.py POLYAK_BINARY RUN_DIR [rounds=3] [frames=200]
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ENV, SIZE = "HalfCheetah-v5", 480


def gymnasium_fps(frames: int) -> float:
    import gymnasium as gym
    import numpy as np

    env = gym.make(ENV, render_mode="rgb_array", width=SIZE, height=SIZE)
    env.reset(seed=0)
    env.render()  # creates the context and scene, as polyak's first frame does
    rng = np.random.default_rng(0)
    spent = 0.0
    for _ in range(frames):
        env.step(rng.uniform(-1, 1, 6).astype(np.float32))
        t = time.perf_counter()
        env.render()
        spent += time.perf_counter() - t
    env.close()
    return frames / spent


def polyak_fps(binary: str, run: str, frames: int) -> tuple[float, float]:
    out = os.path.join(tempfile.mkdtemp(), "v.gif")
    args = [binary, "render", "--run", run, "--out", out, "--camera", "free", "--no-caption"]
    args += ["--max-steps", str(frames - 1), "--width", str(SIZE), "--height", str(SIZE)]
    text = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    pattern = r"(\d+) frames at .*?; ([\d.]+) frames/s drawn \(([\d.]+) s drawing, ([\d.]+) s in all\)"
    m = re.search(pattern, text)
    if m is None:
        sys.exit(f"unexpected output: {text}")
    n, drawn, _, total = int(m[1]), float(m[2]), float(m[3]), float(m[4])
    return drawn, n / total


def main() -> None:
    binary, run = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    frames = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    os.environ.setdefault("MUJOCO_GL", "egl")
    gym_fps, drawn, whole = [], [], []
    for r in range(rounds):
        d, w = polyak_fps(binary, run, frames)
        g = gymnasium_fps(frames)
        drawn.append(d)
        whole.append(w)
        gym_fps.append(g)
        line = f"polyak {d:.1f} frames/s drawn ({w:.1f} with the agent and GIF), Gymnasium {g:.1f}"
        print(f"round {r + 1}: {line}", flush=True)
    print(
        f"medians over {rounds} rounds of {frames} frames, {ENV} {SIZE}x{SIZE}, "
        f"MUJOCO_GL={os.environ['MUJOCO_GL']}: "
        f"polyak {statistics.median(drawn):.1f} frames/s drawn ({statistics.median(whole):.1f} end to end), "
        f"Gymnasium {statistics.median(gym_fps):.1f}"
    )


if __name__ == "__main__":
    main()
