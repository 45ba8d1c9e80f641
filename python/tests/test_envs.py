"""polyak's built-in envs from Python against Gymnasium 1.4.0's own, bit for bit."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import polyak

IDS = polyak.env_ids()
MUJOCO = [i for i in IDS if i.endswith(("-v5", "-v4"))]


def test_every_built_in_env_is_there_and_mujoco_loads_from_the_wheel() -> None:
    assert set(IDS) >= {"Pendulum-v1", "MountainCarContinuous-v0", "HalfCheetah-v5", "Humanoid-v4"}
    assert len(MUJOCO) == 15
    assert polyak.mujoco_available()


@pytest.mark.parametrize("env_id", IDS)
def test_check_env_passes_and_the_spaces_are_gymnasiums(env_id: str) -> None:
    env = polyak.make(env_id)
    with warnings.catch_warnings():
        # check_env's advice on unbounded observation spaces applies to Gymnasium's envs too.
        warnings.simplefilter("ignore")
        check_env(env, skip_render_check=True)
    theirs = gym.make(env_id)
    assert env.observation_space == theirs.observation_space
    assert env.action_space == theirs.action_space
    assert env.observation_space.dtype == theirs.observation_space.dtype
    assert env.spec is not None and env.spec.max_episode_steps == theirs.spec.max_episode_steps  # type: ignore[union-attr]
    registered = gym.make(f"polyak/{env_id}")
    assert isinstance(registered.unwrapped, polyak.PolyakEnv)


def _sync(ours: polyak.PolyakEnv, theirs: gym.Env) -> None:  # type: ignore[type-arg]
    """Puts our env in Gymnasium's state (both just reset)."""
    u = theirs.unwrapped
    if hasattr(u, "data"):
        ours.set_state(u.data.qpos.copy(), u.data.qvel.copy())  # type: ignore[attr-defined]
    else:
        ours.state = np.array(u.state, dtype=np.float64)  # type: ignore[attr-defined]


def _same_info(a: dict, b: dict) -> bool:  # type: ignore[type-arg]
    return a.keys() == b.keys() and all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)


@pytest.mark.parametrize("env_id", IDS)
def test_steps_equal_gymnasiums_bit_for_bit_across_episode_ends(env_id: str) -> None:
    ours, theirs = polyak.make(env_id), gym.make(env_id)
    rng = np.random.default_rng(7)
    theirs.action_space.seed(11)
    _, their_info = theirs.reset(seed=3)
    ours.reset(seed=3)
    _sync(ours, theirs)
    steps, ends = 0, 0
    # Long-episode envs: cut episodes short by resetting both every 300 steps, so that each env
    # crosses several episode ends (time limits and terminations) within ≥ 1,000 steps.
    since_reset = 0
    while steps < 1000 or ends < 3:
        action = theirs.action_space.sample()
        if rng.random() < 0.05:
            action = (theirs.action_space.high * np.sign(action)).astype(np.float32)  # bounds too
        a, b = theirs.step(action), ours.step(action)
        steps += 1
        since_reset += 1
        where = f"{env_id} step {steps}"
        assert np.array_equal(a[0], b[0]), where
        assert a[0].dtype == b[0].dtype, where
        assert a[1] == b[1] and a[2] == b[2] and a[3] == b[3], where
        assert _same_info(a[4], b[4]), f"{where}: {a[4]} vs {b[4]}"
        if a[2] or a[3] or since_reset == 300:
            ends += 1
            since_reset = 0
            _, their_info = theirs.reset()
            _, our_info = ours.reset()
            _sync(ours, theirs)
            if env_id in MUJOCO:
                assert their_info.keys() == our_info.keys(), env_id
            if a[3]:
                assert ours.elapsed_steps == 0
        assert steps < 20_000


def test_time_limits_truncate_as_gymnasiums_time_limit() -> None:
    env = polyak.make("Pendulum-v1")
    env.reset(seed=0)
    flags = [env.step(np.zeros(1, dtype=np.float32))[3] for _ in range(200)]
    assert flags == [False] * 199 + [True]


def test_reset_with_a_seed_is_reproducible_and_continues_without_one() -> None:
    env = polyak.make("Hopper-v5")
    a, _ = env.reset(seed=5)
    b, _ = env.reset(seed=5)
    c, _ = env.reset()
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(env.state_vector(), np.concatenate([env.qpos, env.qvel]))


def test_bad_input_raises_the_right_exception() -> None:
    with pytest.raises(ValueError, match="did you mean `HalfCheetah-v5`"):
        polyak.make("HalfChetah-v5")
    with pytest.raises(ValueError, match="default keyword arguments"):
        polyak.make("HalfCheetah-v5", forward_reward_weight=2.0)
    env = polyak.make("HalfCheetah-v5")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="6 values"):
        env.step(np.zeros(5, dtype=np.float32))
    with pytest.raises(RuntimeError, match="qpos of length 9"):
        env.set_state(np.zeros(3), np.zeros(9))


def test_the_package_under_test_is_the_installed_wheel() -> None:
    # CI installs the built wheel into a fresh venv; the source tree must not shadow it.
    assert "site-packages" in polyak.__file__, polyak.__file__
