"""SAC, TD3 and DDPG in Stable-Baselines3's shape (``learn``, ``predict``, ``load``), trained by
polyak's Rust core into the same run directories as the ``polyak`` CLI.

Hyperparameters are polyak's config keys as keyword arguments; the ``td3.`` and ``sac.`` sections
are left out (``policy_delay=3`` is the config's ``td3.policy_delay``). ``help(polyak.SAC)`` lists
them all with their defaults; an unknown or invalid one raises ``ValueError`` naming the key and
the closest known one.
"""

from __future__ import annotations

import collections
import copy
import os
import tomllib
from pathlib import Path
from typing import Any, ClassVar, Self

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from polyak import _polyak
from polyak.callbacks import Logger, TrainingEnv, as_callback
from polyak.envs import make

EnvLike = str | gym.Env[Any, Any]


def _env_of(first: EnvLike, second: EnvLike | None, policy: Any) -> EnvLike:
    """The env, from polyak's form ``SAC(env)`` or from Stable-Baselines3's ``SAC("MlpPolicy",
    env)`` (or ``policy="MlpPolicy"`` by keyword), so that SB3 code runs as written. polyak's actor
    and critics are MLPs (their sizes are ``hidden=``): ``"MlpPolicy"`` is the one policy there is.
    """
    if second is None and policy is None:
        if first == "MlpPolicy":
            raise ValueError("no env given: polyak.SAC(env), or SB3's form polyak.SAC('MlpPolicy', env)")
        return first
    if second is not None and policy is not None:
        raise TypeError("the policy was given twice: positionally and as policy=")
    policy, env = (first, second) if second is not None else (policy, first)
    if policy != "MlpPolicy":
        raise ValueError(
            f"polyak's actor and critics are MLPs (their sizes are hidden=): the policy can only be "
            f"'MlpPolicy', got {policy!r}"
        )
    return env


def _seed_of(seed: int | None) -> int:
    """SB3's ``seed=None`` is a random seed: one drawn here, then recorded in the run's config
    like any other, so the run can be made again."""
    return int.from_bytes(os.urandom(4), "little") if seed is None else seed


def _sb3_keywords(family: str, given: dict[str, Any]) -> dict[str, Any]:
    """Stable-Baselines3's keyword arguments for what polyak has, turned into polyak's keys, so
    that SB3 code runs as written. A value with no polyak equivalent (a learning-rate schedule,
    training only every few env steps, a GPU) is a ``ValueError`` that says so; any other key goes
    on to polyak's own check."""
    out = dict(given)

    def put(key: str, value: Any, sb3: str) -> None:
        if key in out:
            raise ValueError(f"{sb3}= and {key}= both given: pass one")
        out[key] = value

    if "learning_rate" in out:
        lr = out.pop("learning_rate")
        if isinstance(lr, bool) or not isinstance(lr, int | float):
            raise ValueError(f"learning_rate: polyak takes a constant rate, not {lr!r}")
        # SB3's SAC also steps its entropy coefficient at this rate
        for key in ("actor_lr", "critic_lr", "alpha_lr") if family == "sac" else ("actor_lr", "critic_lr"):
            put(key, float(lr), "learning_rate")
    if "policy_kwargs" in out:
        kwargs = dict(out.pop("policy_kwargs") or {})
        arch = kwargs.pop("net_arch", None)
        if kwargs:
            not_taken = ", ".join(kwargs)
            raise ValueError(f"policy_kwargs: polyak's MLPs take net_arch only (as hidden=), not {not_taken}")
        if isinstance(arch, dict):
            sizes = {tuple(layers) for layers in arch.values()}
            if len(sizes) != 1:
                raise ValueError(f"net_arch={arch!r}: polyak's actor and critics share their hidden sizes")
            arch = list(sizes.pop())
        if arch is not None:
            put("hidden", [int(n) for n in arch], "policy_kwargs")
    if "train_freq" in out and out.pop("train_freq") not in (1, (1, "step")):
        raise ValueError("train_freq: polyak trains after every env step (gradient_steps= updates each)")
    if out.get("gradient_steps") == -1:
        out["gradient_steps"] = 1  # SB3's "as many as the env steps since the last training": one
    if "device" in out and str(out.pop("device")) not in ("auto", "cpu"):
        raise ValueError("device: polyak runs on the CPU ('auto' or 'cpu')")
    if "tensorboard_log" in out:
        raise ValueError("tensorboard_log: polyak writes TensorBoard scalars into the run directory (out=)")
    if family == "td3":
        if "target_policy_noise" in out:
            put("target_noise", out.pop("target_policy_noise"), "target_policy_noise")
        if "action_noise" in out:
            put("exploration_noise", _normal_sigma(out.pop("action_noise")), "action_noise")
    else:
        if "ent_coef" in out:
            coef = out.pop("ent_coef")
            learned = isinstance(coef, str) and (coef == "auto" or coef.startswith("auto_"))
            put("auto_alpha", learned, "ent_coef")
            start = coef.removeprefix("auto").removeprefix("_") if isinstance(coef, str) else coef
            if start != "":
                try:
                    put("initial_alpha", float(start), "ent_coef")
                except ValueError:
                    raise ValueError(f"ent_coef: 'auto', 'auto_<start>' or a number, not {coef!r}") from None
        if out.get("target_entropy") == "auto":
            del out["target_entropy"]  # polyak's default, -|A|, as SB3's
    return out


def _normal_sigma(noise: Any) -> float:
    """The sigma of SB3's zero-mean ``NormalActionNoise`` with one sigma for every action dimension
    (on the normalised action, as polyak's ``exploration_noise``); ``None`` is no noise."""
    if noise is None:
        return 0.0
    mu, sigma = getattr(noise, "_mu", None), getattr(noise, "_sigma", None)
    if type(noise).__name__ != "NormalActionNoise" or mu is None or sigma is None:
        kind = type(noise).__name__
        raise ValueError(f"action_noise: polyak adds Gaussian noise (NormalActionNoise), not {kind}")
    mu, sigma = np.asarray(mu, dtype=np.float64).ravel(), np.asarray(sigma, dtype=np.float64).ravel()
    if np.any(mu != 0) or np.any(sigma != sigma[0]):
        raise ValueError("action_noise: polyak's noise has mean 0 and one sigma for every action dimension")
    return float(sigma[0])


def _second_instance(env: gym.Env[Any, Any]) -> gym.Env[Any, Any]:
    """A separate instance of a Python env for evaluations: from its spec where it has one.
    Without ``render_mode="human"``: a training env shown in a window does not open a second one
    for every evaluation (other render modes draw only when asked, and are kept)."""
    if env.spec is not None:
        try:
            quiet = {"render_mode": None} if env.spec.kwargs.get("render_mode") == "human" else {}
            return gym.make(env.spec, **quiet)
        except Exception:
            pass
    return copy.deepcopy(env)


class Algorithm:
    """One polyak run: built on a built-in env id (no Python per step) or a Gymnasium env."""

    _presets: ClassVar[tuple[str, ...]]
    _family: ClassVar[str]
    _model: _polyak.Model
    _logger: Logger | None = None
    _training_env: TrainingEnv | None = None
    _ep_info_buffer: collections.deque[dict[str, float]] | None = None

    def __init__(
        self,
        env: EnvLike,
        sb3_env: EnvLike | None = None,
        *,
        seed: int | None = 0,
        preset: str | None = None,
        out: str | os.PathLike[str] | None = None,
        eval_env: gym.Env[Any, Any] | None = None,
        **hyperparameters: Any,
    ) -> None:
        env = _env_of(env, sb3_env, hyperparameters.pop("policy", None))
        # SB3's verbose: 1 or more prints what the CLI prints as it trains
        self._verbose = int(hyperparameters.pop("verbose", 0))
        hyperparameters = _sb3_keywords(self._family, hyperparameters)
        algo = preset if preset is not None else self._presets[0]
        if algo not in self._presets:
            raise ValueError(f"{type(self).__name__} presets are {', '.join(self._presets)}; got {algo!r}")
        if isinstance(env, str):
            env = env.removeprefix("polyak/")
        elif not isinstance(env, gym.Env):
            raise TypeError(f"env must be an env id or a gymnasium.Env, got {type(env).__name__}")
        elif eval_env is None:
            eval_env = _second_instance(env)
        out_path = None if out is None else Path(out)
        self._model = _polyak.Model(algo, env, _seed_of(seed), hyperparameters, out_path, eval_env)
        self.env = env

    @classmethod
    def _from_model(cls, model: _polyak.Model, env: EnvLike) -> Self:
        self = cls.__new__(cls)
        self._model = model
        self.env = env
        self._verbose = 0
        return self

    def learn(
        self,
        total_timesteps: int | None = None,
        callback: Any = None,
        log_interval: int | None = None,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool | None = None,
        progress_bar: bool = False,
    ) -> Self:
        """Trains ``total_timesteps`` more env steps (the first call creates the run directory).

        With ``verbose=1`` (or ``progress_bar``), ``log_interval=n`` adds a line every ``n``
        training episodes: their mean return and length, and env steps/s (SB3's ``log_interval``).
        ``callback`` is Stable-Baselines3's: a callback object, a list of them or a function
        ``f(locals, globals) -> bool``, called after every step (see :mod:`polyak.callbacks`); an
        ``on_step`` that returns ``False`` stops training there, with a resume checkpoint.

        ``None`` continues a loaded, interrupted run to its own ``total_steps``. Ctrl-C stops
        within a step with a resume checkpoint and raises ``KeyboardInterrupt``; an exception in a
        Python env's ``step``/``reset`` or in a callback is re-raised with its traceback, and the
        run directory is left at its last checkpoint (a callback's: at that step).

        polyak's step count goes on across ``learn`` calls, as SB3's does with
        ``reset_num_timesteps=False`` (taken, as is ``True`` on a model that has not trained
        yet; ``True`` after is a ``ValueError``). ``tb_log_name`` is a ``ValueError``: polyak
        writes TensorBoard into the run directory.
        """
        if tb_log_name is not None:
            raise ValueError("tb_log_name: polyak writes TensorBoard scalars into the run directory (out=)")
        if reset_num_timesteps is True and self.num_timesteps > 0:
            raise ValueError(
                f"reset_num_timesteps=True: polyak goes on counting from step {self.num_timesteps} "
                "(SB3's reset_num_timesteps=False); pass that, or start a new model"
            )
        if callback is None:
            self._model.learn(total_timesteps, progress_bar or self._verbose > 0, log_interval)
            return self
        callback = as_callback(callback)
        callback.init_callback(self)
        # SB3's locals: the step count to reach, counted from the run's start (as SB3 counts
        # with reset_num_timesteps=False: polyak's count goes on across learn calls)
        start = self.num_timesteps
        to_reach = start + total_timesteps if total_timesteps is not None else self.config["total_steps"]
        learn_locals = {
            "self": self,
            "total_timesteps": to_reach,
            "callback": callback,
            "log_interval": log_interval,
            "tb_log_name": type(self).__name__,
            "progress_bar": progress_bar,
        }
        callback.on_training_start(learn_locals, globals())
        on_step = self._step_for(callback, learn_locals)
        self._model.learn(total_timesteps, progress_bar or self._verbose > 0, log_interval, on_step)
        callback.on_training_end()
        return self

    def _step_for(self, callback: Any, learn_locals: dict[str, Any]) -> Any:
        """What the training loop calls after each step: ``callback``'s calls in SB3's order,
        with SB3's locals for one env (``polyak.callbacks``); ``False`` stops training."""

        def on_step(record: dict[str, Any]) -> bool:
            info = dict(record["info"])
            done = bool(record["terminated"] or record["truncated"])
            if record["episode"] is not None:
                ret, length, seconds = record["episode"]
                info["episode"] = {"r": round(ret, 6), "l": length, "t": round(seconds, 6)}
                info["terminal_observation"] = record["next_obs"]
                info["TimeLimit.truncated"] = bool(record["truncated"] and not record["terminated"])
            callback.on_rollout_start()
            callback.update_locals(
                {
                    **learn_locals,
                    "new_obs": record["obs"][None],
                    "actions": record["action"][None],
                    "rewards": np.array([record["reward"]], dtype=np.float32),
                    "dones": np.array([done]),
                    "infos": [info],
                    "num_collected_steps": 1,
                    "num_collected_episodes": int(done),
                }
            )
            if not callback.on_step():
                return False
            if "episode" in info:
                self.ep_info_buffer.append(info["episode"])
            callback.on_rollout_end()
            return True

        return on_step

    def get_env(self) -> TrainingEnv:
        """The env the model trains on, as the reading side of SB3's ``VecEnv``
        (:class:`polyak.callbacks.TrainingEnv`: ``num_envs``, the spaces, ``envs``); a built-in
        env steps in Rust, with no Python object in ``envs``."""
        if self._training_env is None:
            if isinstance(self.env, gym.Env):
                env = self.env
                self._training_env = TrainingEnv(env, env.observation_space, env.action_space)
            elif self.env.startswith("python:"):
                raise ValueError(f"the model was loaded without its Python env ({self.env})")
            else:
                built_in = make(self.env)
                self._training_env = TrainingEnv(None, built_in.observation_space, built_in.action_space)
        return self._training_env

    def get_vec_normalize_env(self) -> None:
        """``None``: polyak does not normalise observations (SB3's, for its ``EvalCallback``)."""
        return None

    @property
    def logger(self) -> Logger:
        """SB3's logger for callbacks (:class:`polyak.callbacks.Logger`)."""
        if self._logger is None:
            self._logger = Logger(self._verbose)
        return self._logger

    @property
    def ep_info_buffer(self) -> collections.deque[dict[str, float]]:
        """SB3's: the last 100 training episodes that ended under a ``learn(callback=...)``, as
        ``{"r": return, "l": length, "t": seconds}``."""
        if self._ep_info_buffer is None:
            self._ep_info_buffer = collections.deque(maxlen=100)
        return self._ep_info_buffer

    def predict(
        self,
        observation: NDArray[Any],
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[NDArray[np.float32], None]:
        """Actions in the env's bounds for one observation or a batch (SB3's signature;
        ``state`` and ``episode_start`` are for recurrent policies and unused)."""
        return self._model.predict(observation, deterministic), None

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Copies the run directory to ``path``, a new (or empty) folder, and returns it.

        A run keeps its whole state in its run directory as it trains, so there is nothing to
        write out first: ``save`` makes a second run directory, which :func:`polyak.load` and
        ``polyak train --resume`` continue exactly as they would continue this one (replay
        buffer included; checkpoint files are hard-linked where the filesystem allows). Unlike
        SB3's ``save``, no ``.zip`` is added, and nothing is written over but a copy this
        process saved there, as it left it (``EvalCallback``'s best model): ``FileExistsError``
        if ``path`` holds anything else. ``ValueError`` before the first ``learn``. From a
        ``learn`` callback, the run as it stands, after a checkpoint at the current step.
        """
        return Path(self._model.save(Path(path)))

    def export_onnx(self, path: str | os.PathLike[str]) -> Path:
        """Writes the policy as an ONNX model at ``path``, a new ``.onnx`` file, and returns it:
        what ``predict(obs, deterministic=True)`` computes, for a robot or a service that runs
        onnxruntime, TensorRT or OpenVINO instead of polyak.

        The model's input ``observation`` is float32 ``(batch, obs_dim)`` and its output
        ``action`` float32 ``(batch, act_dim)``, in the env's bounds. It is written with the
        standard operators of ONNX opset 13, and its ``metadata_props`` hold the algorithm, env,
        seed and env step. Other runtimes sum in their own order, so their actions agree with
        ``predict``'s to float32 rounding, not bit for bit. An existing file is never replaced
        (``FileExistsError``; another name than ``.onnx`` is a ``ValueError``). From a ``learn``
        callback, the agent as it stands; before any ``learn``, the untrained one. The CLI's
        ``polyak export --run DIR`` does the same for a run directory.
        """
        return Path(self._model.export_onnx(Path(path)))

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        env: gym.Env[Any, Any] | None = None,
        eval_env: gym.Env[Any, Any] | None = None,
    ) -> Algorithm:
        """A run directory, as :func:`polyak.load`."""
        return load(path, env=env, eval_env=eval_env)

    @property
    def run_dir(self) -> Path | None:
        """The run directory (``None`` before the first ``learn``)."""
        return self._model.run_dir

    @property
    def num_timesteps(self) -> int:
        """Env steps trained so far."""
        return self._model.num_timesteps

    @property
    def algo(self) -> str:
        """The algorithm or preset name."""
        return self._model.algo

    @property
    def config(self) -> dict[str, Any]:
        """The resolved config, as ``config.toml`` holds it."""
        return tomllib.loads(self._model.config_toml)


class SAC(Algorithm):
    """Soft actor-critic (Haarnoja et al. 2018) with a learned temperature."""

    _presets = ("sac",)
    _family = "sac"


class TD3(Algorithm):
    """TD3 (Fujimoto et al. 2018); ``preset=`` switches one trick off (td3-no-twin, td3-no-delay,
    td3-no-smoothing) or all three (ddpg), or takes the paper's own settings (td3-paper)."""

    _presets = ("td3", "td3-no-twin", "td3-no-delay", "td3-no-smoothing", "ddpg", "td3-paper")
    _family = "td3"


class DDPG(Algorithm):
    """DDPG as the TD3 paper re-tuned it: TD3 with one critic, no delay and no target smoothing."""

    _presets = ("ddpg",)
    _family = "td3"


def _class_for(algo: str) -> type[Algorithm]:
    for cls in (SAC, DDPG, TD3):
        if algo in cls._presets:
            return cls
    raise ValueError(f"unknown algorithm {algo!r}")


def load(
    path: str | os.PathLike[str],
    env: gym.Env[Any, Any] | None = None,
    eval_env: gym.Env[Any, Any] | None = None,
) -> Algorithm:
    """A run directory from the CLI or from Python, ready to ``predict`` or ``learn`` on.

    A run on a built-in env needs nothing more. A run on a Python env predicts without it (its
    spaces are recorded in the run directory); to ``learn`` it needs the env passed again (its
    state at the last checkpoint is restored from the resume file when it could be pickled).
    """
    if env is not None and eval_env is None:
        eval_env = _second_instance(env)
    model = _polyak.load(Path(path), env, eval_env)
    cls = _class_for(model.algo)
    return cls._from_model(model, env if env is not None else tomllib.loads(model.config_toml)["env"])


def evaluate_policy(
    model: Algorithm,
    env: gym.Env[Any, Any] | None = None,
    n_eval_episodes: int = 10,
    deterministic: bool = True,
    return_episode_rewards: bool = False,
    seed: int = 0,
) -> tuple[float, float] | tuple[list[float], list[int]]:
    """Plays ``n_eval_episodes`` episodes with ``model.predict``: the mean and (population) std
    of their returns, or with ``return_episode_rewards`` the returns and lengths, as
    Stable-Baselines3's ``evaluate_policy`` gives them (and types them: one or the other).

    Episode ``i`` starts from ``env.reset(seed=s_i)``, the reset seeds ``polyak eval --seed
    SEED`` plays, so on a built-in env the returns are the CLI's. ``env`` defaults to a new
    instance of the model's env (``polyak.make`` of a built-in id; for a Python env, one made as
    training's ``eval_env`` is), so the training env is never stepped.
    """
    if n_eval_episodes < 1:
        raise ValueError(f"n_eval_episodes must be at least 1, got {n_eval_episodes}")
    if env is None and isinstance(model.env, str) and model.env.startswith("python:"):
        raise ValueError(f"the model was loaded without its Python env ({model.env}): pass one, env=...")
    if env is None:
        env = make(model.env) if isinstance(model.env, str) else _second_instance(model.env)
    elif isinstance(env, gym.vector.VectorEnv):
        raise TypeError("evaluate_policy plays one env: pass a gymnasium.Env, not a VectorEnv")
    returns: list[float] = []
    lengths: list[int] = []
    for episode_seed in _polyak.eval_seeds(seed, n_eval_episodes):
        obs, _ = env.reset(seed=episode_seed)
        total, steps, done = 0.0, 0, False
        while not done:
            action, _ = model.predict(obs, deterministic=deterministic)
            obs, reward, terminated, truncated, _ = env.step(action)
            total, steps = total + float(reward), steps + 1
            done = bool(terminated or truncated)
        returns.append(total)
        lengths.append(steps)
    if return_episode_rewards:
        return returns, lengths
    return float(np.mean(returns)), float(np.std(returns))


def _document(cls: type[Algorithm]) -> None:
    """Appends every hyperparameter, its default and meaning to the class docstring."""
    lines = [
        cls.__doc__ or "",
        "",
        "Hyperparameters (keyword arguments; defaults of the first preset, under each built-in env's",
        "own defaults, e.g. 10,000 random steps first on MuJoCo envs: `polyak list` shows them, and",
        "model.config the resolved values):",
    ]
    for key, default, meaning in _polyak.hyperparameters(cls._presets[0]):
        name = key.rsplit(".", 1)[-1]
        if name in ("algo", "env", "seed", "total_steps"):
            continue
        lines.append(f"    {name} = {default}: {meaning}")
    lines += [
        "",
        "Also: env (id or gymnasium.Env; SB3's form SAC('MlpPolicy', env) works too), seed, preset,",
        "verbose (SB3's: 1 prints the run's header, each evaluation and the summary as the CLI does),",
        "and SB3's own names where polyak has the same thing (learning_rate, ent_coef,",
        "policy_kwargs=dict(net_arch=...), target_policy_noise, action_noise, seed=None, ...),",
        "out (run directory;",
        "default runs/<algo>_<env>_s<seed>_<time>), eval_env (a second instance of a Python env;",
        "default gymnasium.make(env.spec), without human rendering, or a deep copy).",
    ]
    cls.__doc__ = "\n".join(lines)


for _cls in (SAC, TD3, DDPG):
    _document(_cls)
