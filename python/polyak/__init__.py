"""polyak: fast, reproducible off-policy deep RL (SAC, TD3, DDPG) for continuous control, with a
Rust core.

- ``polyak.make(id)`` / ``gymnasium.make("polyak/<id>")``: the built-in envs (Pendulum-v1,
  MountainCarContinuous-v0, the MuJoCo v5 suite and the v4 locomotion envs), bit-identical to
  Gymnasium's, stepped in Rust;
  ``polyak.make_vec(id, num_envs)``: a vector env stepped on helper threads.
- ``polyak.SAC / TD3 / DDPG(env, seed=…, **hyperparameters)``, ``.learn``, ``.predict``, ``.save``;
  ``learn(callback=...)`` takes Stable-Baselines3's callbacks (``polyak.callbacks``);
  ``polyak.load(run_dir)`` for any run directory, from the CLI or from Python;
  ``polyak.evaluate_policy(model)``, SB3's, on the episodes ``polyak eval`` plays.
"""

from polyak import _mujoco, _polyak
from polyak._polyak import __version__
from polyak.algorithms import DDPG, SAC, TD3, Algorithm, evaluate_policy, load
from polyak.envs import PolyakEnv, PolyakVectorEnv, make, make_vec, register_envs

_mujoco.configure()
register_envs()


def env_ids() -> list[str]:
    """The built-in environments' Gymnasium ids."""
    return _polyak.env_ids()


def mujoco_available() -> bool:
    """True when the MuJoCo library loads (from the ``mujoco-core`` package)."""
    return _polyak.mujoco_available()


__all__ = [
    "DDPG",
    "SAC",
    "TD3",
    "Algorithm",
    "PolyakEnv",
    "PolyakVectorEnv",
    "__version__",
    "env_ids",
    "evaluate_policy",
    "load",
    "make",
    "make_vec",
    "mujoco_available",
]
