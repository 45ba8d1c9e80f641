"""make_vec against Gymnasium's SyncVectorEnv over the same envs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import polyak


@pytest.mark.parametrize(
    ("env_id", "n", "steps"), [("Pendulum-v1", 3, 450), ("Hopper-v5", 4, 400), ("Humanoid-v5", 2, 120)]
)
def test_make_vec_equals_sync_vector_env(env_id: str, n: int, steps: int) -> None:
    ours = polyak.make_vec(env_id, num_envs=n)
    theirs = gym.vector.SyncVectorEnv([lambda: polyak.make(env_id) for _ in range(n)])
    assert ours.single_observation_space == theirs.single_observation_space
    assert ours.action_space == theirs.action_space
    a, b = ours.reset(seed=10), theirs.reset(seed=10)
    assert np.array_equal(a[0], b[0]) and a[0].dtype == b[0].dtype
    _same_infos(a[1], b[1])
    theirs.action_space.seed(0)
    ends = 0
    for t in range(steps):
        action = theirs.action_space.sample()
        x, y = ours.step(action), theirs.step(action)
        for k in range(4):
            assert np.array_equal(x[k], y[k]), f"step {t} item {k}"
            assert x[k].dtype == y[k].dtype, f"step {t} item {k}"
        _same_infos(x[4], y[4])
        ends += int(np.sum(x[2] | x[3]))
    assert ends >= 2, "the test must cross episode ends (autoreset)"
    # reset_mask resets only the masked envs
    mask = np.zeros(n, dtype=np.bool_)
    mask[0] = True
    x, y = ours.reset(options={"reset_mask": mask}), theirs.reset(options={"reset_mask": mask.copy()})
    assert np.array_equal(x[0], y[0])
    _same_infos(x[1], y[1])


def _same_infos(a: dict, b: dict) -> None:  # type: ignore[type-arg]
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k
        assert np.asarray(a[k]).dtype == np.asarray(b[k]).dtype, k


def test_threads_do_not_change_results() -> None:
    runs = []
    for threads in (1, 2, 3):
        env = polyak.make_vec("Ant-v5", num_envs=5, threads=threads)
        env.reset(seed=1)
        rng = np.random.default_rng(0)
        obs = [env.step(rng.uniform(-1, 1, size=(5, 8)).astype(np.float32))[0] for _ in range(50)]
        runs.append(np.stack(obs))
    assert np.array_equal(runs[0], runs[1]) and np.array_equal(runs[0], runs[2])
