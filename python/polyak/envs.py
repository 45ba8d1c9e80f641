"""polyak's built-in environments as Gymnasium envs, stepped in Rust.

``make(id)`` returns a :class:`gymnasium.Env` whose spaces, ``reset``/``step`` results, ``info``
keys and time limits are Gymnasium 1.4.0's, bit for bit from the same state. The envs are also
registered as ``polyak/<id>``, so ``gymnasium.make("polyak/HalfCheetah-v5")`` works too.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from numpy.typing import NDArray

from polyak import _polyak

NAMESPACE = "polyak"

Obs = NDArray[np.floating[Any]]
Action = NDArray[np.float32]


def _bare_id(env_id: str) -> str:
    return env_id.removeprefix(f"{NAMESPACE}/")


class PolyakEnv(gym.Env[Obs, Action]):
    """A built-in polyak environment with Gymnasium's API (and its ``TimeLimit``).

    Actions are float32, the action space's dtype (a float64 action is rounded to float32 first).
    Reset noise has Gymnasium's distributions but comes from polyak's generator, so ``reset(seed=s)``
    gives a different start than Gymnasium's env with the same seed; from the same state, every
    step agrees bit for bit.
    """

    metadata = {"render_modes": []}  # noqa: RUF012 — Gymnasium declares it an instance attribute

    def __init__(self, env_id: str, render_mode: str | None = None) -> None:
        if render_mode is not None:
            raise ValueError(f"polyak's envs do not render yet (render_mode={render_mode!r})")
        self._env = _polyak.Env(_bare_id(env_id))
        d = self._env.describe()
        dtype = np.float64 if d["obs_float64"] else np.float32
        self.observation_space = spaces.Box(
            d["obs_low"].astype(dtype), d["obs_high"].astype(dtype), dtype=dtype
        )
        self.action_space = spaces.Box(d["act_low"], d["act_high"], dtype=np.float32)
        self.env_id: str = d["id"]
        self.dt: float = d["dt"]
        self.render_mode = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Obs, dict[str, Any]]:
        """Starts an episode (``options`` is accepted and ignored, as by Gymnasium's MuJoCo envs)."""
        super().reset(seed=seed)
        return self._env.reset(seed)

    def step(self, action: Action) -> tuple[Obs, SupportsFloat, bool, bool, dict[str, Any]]:
        return self._env.step(action)

    @property
    def elapsed_steps(self) -> int:
        """Steps of the current episode (the time limit's counter)."""
        return self._env.elapsed_steps


class PolyakMujocoEnv(PolyakEnv):
    """A MuJoCo env (v5, or a v4 locomotion env), with the state accessors of Gymnasium's
    ``MujocoEnv``."""

    def set_state(self, qpos: NDArray[np.float64], qvel: NDArray[np.float64]) -> None:
        """Sets qpos and qvel, then ``mj_forward`` (Gymnasium's ``MujocoEnv.set_state``)."""
        self._env.set_state(qpos, qvel)

    def state_vector(self) -> NDArray[np.float64]:
        """``concatenate([qpos, qvel])``."""
        return self._env.state_vector()

    @property
    def qpos(self) -> NDArray[np.float64]:
        return self._env.qpos_qvel()[0]

    @property
    def qvel(self) -> NDArray[np.float64]:
        return self._env.qpos_qvel()[1]

    @property
    def init_qpos(self) -> NDArray[np.float64]:
        return self._env.init_qpos_qvel()[0]

    @property
    def init_qvel(self) -> NDArray[np.float64]:
        return self._env.init_qpos_qvel()[1]


class PolyakClassicEnv(PolyakEnv):
    """Pendulum-v1 or MountainCarContinuous-v0, with Gymnasium's ``state`` attribute."""

    @property
    def state(self) -> NDArray[np.float64]:
        """(θ, θ̇) of Pendulum, (position, velocity) of MountainCarContinuous."""
        return self._env.get_classic_state()

    @state.setter
    def state(self, value: NDArray[np.float64]) -> None:
        self._env.set_classic_state(value)


def _create(env_id: str, render_mode: str | None = None) -> PolyakEnv:
    """The env class for an id (Gymnasium's registry calls this)."""
    bare = _bare_id(env_id)
    if bare.endswith(("-v5", "-v4")):
        return PolyakMujocoEnv(bare, render_mode)
    return PolyakClassicEnv(bare, render_mode)


def register_envs() -> None:
    """Registers every built-in env as ``polyak/<id>`` in Gymnasium's registry."""
    for env_id in _polyak.env_ids():
        full = f"{NAMESPACE}/{env_id}"
        if full in gym.registry:
            continue
        limits = gym.spec(env_id) if env_id in gym.registry else None
        gym.register(
            id=full,
            entry_point="polyak.envs:_create",
            kwargs={"env_id": env_id},
            max_episode_steps=limits.max_episode_steps if limits else None,
            reward_threshold=limits.reward_threshold if limits else None,
        )


def make(env_id: str, **kwargs: Any) -> PolyakEnv:
    """A built-in env by its Gymnasium id (``"HalfCheetah-v5"`` or ``"polyak/HalfCheetah-v5"``).

    polyak's envs have every keyword argument at Gymnasium's default; passing one is an error.
    """
    render_mode = kwargs.pop("render_mode", None)
    if kwargs:
        raise ValueError(
            f"polyak's built-in envs take Gymnasium's default keyword arguments only; got {sorted(kwargs)}"
        )
    env = _create(env_id, render_mode)
    env.spec = gym.spec(f"{NAMESPACE}/{env.env_id}")
    return env


class PolyakVectorEnv(VectorEnv[Obs, Action, NDArray[Any]]):
    """``num_envs`` copies of a built-in env, stepped in Rust on helper threads with the GIL
    released. Gymnasium 1.x's default autoreset (``NEXT_STEP``: the step after an episode ends
    resets that env, with reward 0) and ``SyncVectorEnv``'s infos (an array per key, with a
    ``_key`` mask); the results equal ``SyncVectorEnv`` over ``polyak.make`` envs.
    """

    def __init__(self, env_id: str, num_envs: int, threads: int = 0) -> None:
        single = make(env_id)
        self._vec = _polyak.VecEnv(single.env_id, num_envs, threads)
        self.num_envs = num_envs
        self.single_observation_space = single.observation_space
        self.single_action_space = single.action_space
        self.observation_space = batch_space(single.observation_space, num_envs)
        self.action_space = batch_space(single.action_space, num_envs)
        self.metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}
        self.spec = single.spec
        self.render_mode = None

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Obs, dict[str, Any]]:
        """As ``SyncVectorEnv.reset``: an int seed gives ``[seed, seed + 1, …]``; ``options`` may hold
        a ``reset_mask``."""
        seeds: list[int | None]
        if seed is None:
            seeds = [None] * self.num_envs
        elif isinstance(seed, int):
            seeds = [seed + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} seeds, got {len(seeds)}")
        mask = None
        if options is not None and "reset_mask" in options:
            m = np.asarray(options["reset_mask"])
            if m.shape != (self.num_envs,) or m.dtype != np.bool_ or not m.any():
                raise ValueError(
                    "options['reset_mask'] must be a bool array of shape (num_envs,) with a True"
                )
            mask = [bool(x) for x in m]
        return self._vec.reset(seeds, mask)

    def step(
        self, actions: NDArray[Any]
    ) -> tuple[Obs, NDArray[np.float64], NDArray[np.bool_], NDArray[np.bool_], dict[str, Any]]:
        return self._vec.step(np.asarray(actions, dtype=np.float32))

    @property
    def threads(self) -> int:
        return self._vec.threads


def make_vec(env_id: str, num_envs: int = 1, threads: int = 0) -> PolyakVectorEnv:
    """``num_envs`` copies of a built-in env as a ``gymnasium.vector.VectorEnv`` (``threads``: 0 = one
    per core)."""
    return PolyakVectorEnv(_bare_id(env_id), num_envs, threads)
