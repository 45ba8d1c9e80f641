"""Stable-Baselines3's callbacks for ``learn(callback=...)``, called by polyak's Rust training loop.

``learn`` takes what SB3's takes: a callback object (a subclass of :class:`BaseCallback` here, or
of SB3's own ``BaseCallback``: the protocol is the same), a list of them, or a plain function
``f(locals, globals) -> bool``. The calls come in SB3's order: ``init_callback(model)`` and
``on_training_start`` before the first step; after every env step ``on_rollout_start``,
``update_locals``, ``on_step`` (returning ``False`` stops training) and ``on_rollout_end``, as
SB3's off-policy loop makes them with ``train_freq=1``; ``on_training_end`` when ``learn`` ends.

Two things differ from SB3, both decided:

- polyak calls ``on_step`` once the step's gradient updates are done (SB3 calls it before them),
  so ``self.model`` is the agent as it stands after ``num_timesteps`` steps of training, and a
  stop keeps the step (the run directory gets a resume checkpoint there, which ``learn()``
  continues).
- ``self.locals`` holds SB3's names for one env (``new_obs``, ``rewards``, ``dones``,
  ``infos``, ``actions``: arrays with a first axis of 1) and ``self`` (the model). ``infos[0]``
  is a Python env's own info dict (for a built-in env its reward terms), with at an episode's
  end what SB3's ``Monitor`` and ``DummyVecEnv`` add: ``episode`` (``r``, ``l``, ``t``),
  ``terminal_observation`` and ``TimeLimit.truncated``.

Inside a callback, ``self.model.predict`` acts with the agent being trained (its exploration
noise drawn from ``predict``'s own generator: a callback changes no number of the run), and
``self.model.save(path)`` writes a checkpoint at the current step and copies the run there.
polyak's own evaluations (``eval_every``) and checkpoints (``checkpoint_every``) need no callback.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from polyak.algorithms import Algorithm


class TrainingEnv:
    """What ``model.get_env()`` (and a callback's ``self.training_env``) gives: the reading side
    of Stable-Baselines3's ``VecEnv`` over the one env polyak trains on (``num_envs`` 1, the
    spaces, ``envs``, ``get_attr``, ``env_is_wrapped``). A built-in env steps in Rust and has no
    Python object: ``envs`` is then empty and ``get_attr`` raises ``AttributeError``. Stepping or
    resetting the training env from a callback is not offered: the loop owns it."""

    num_envs = 1

    def __init__(self, env: Any, observation_space: Any, action_space: Any) -> None:
        self.envs = [] if env is None else [env]
        self.observation_space = observation_space
        self.action_space = action_space

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        if not self.envs:
            raise AttributeError(f"{attr_name}: a built-in env steps in Rust, with no Python env to read")
        return [getattr(self.envs[0], attr_name)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        env = self.envs[0] if self.envs else None
        while env is not None:
            if isinstance(env, wrapper_class):
                return [True]
            env = getattr(env, "env", None)
        return [False]


class Logger:
    """The part of Stable-Baselines3's ``Logger`` callbacks use: ``record`` a value (or
    ``record_mean`` one into a running mean) and ``dump`` them. With the model's ``verbose=1``,
    ``dump`` prints them as SB3 does, a table of keys and values; either way it then clears them.
    polyak's own metrics (``metrics.csv``, TensorBoard) stay the run directory's record: these
    values are not written there."""

    def __init__(self, verbose: int = 0) -> None:
        self.verbose = verbose
        self.name_to_value: dict[str, Any] = {}
        self.name_to_count: dict[str, int] = {}
        self.name_to_excluded: dict[str, tuple[str, ...]] = {}

    def record(self, key: str, value: Any, exclude: str | tuple[str, ...] | None = None) -> None:
        self.name_to_value[key] = value
        self.name_to_excluded[key] = _excluded(exclude)

    def record_mean(self, key: str, value: Any, exclude: str | tuple[str, ...] | None = None) -> None:
        if value is None:
            return
        old, count = self.name_to_value.get(key, 0.0), self.name_to_count.get(key, 0)
        self.name_to_value[key] = old * count / (count + 1) + value / (count + 1)
        self.name_to_count[key] = count + 1
        self.name_to_excluded[key] = _excluded(exclude)

    def dump(self, step: int = 0) -> None:
        shown = {
            k: v for k, v in self.name_to_value.items() if "stdout" not in self.name_to_excluded.get(k, ())
        }
        if self.verbose >= 1 and shown:
            width = max(len(k) for k in shown)
            rows = [f"| {k:<{width}} | {_shown(v):>10} |" for k, v in sorted(shown.items())]
            rule = "-" * max(len(r) for r in rows)
            print("\n".join([rule, *rows, rule]), flush=True)
        self.name_to_value.clear()
        self.name_to_count.clear()
        self.name_to_excluded.clear()


def _excluded(exclude: str | tuple[str, ...] | None) -> tuple[str, ...]:
    return () if exclude is None else (exclude,) if isinstance(exclude, str) else tuple(exclude)


def _shown(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


class BaseCallback(abc.ABC):
    """Stable-Baselines3's ``BaseCallback``: subclass it and override ``_on_step`` (and, if
    needed, ``_init_callback``, ``_on_training_start``, ``_on_rollout_start``,
    ``_on_rollout_end``, ``_on_training_end``). ``self.model``, ``self.training_env`` (a
    :class:`TrainingEnv`, as ``model.get_env()`` gives it), ``self.logger``,
    ``self.n_calls``, ``self.num_timesteps``, ``self.locals`` and ``self.globals`` are set as in
    SB3."""

    model: Algorithm

    def __init__(self, verbose: int = 0) -> None:
        self.verbose = verbose
        self.n_calls = 0
        self.num_timesteps = 0
        self.locals: dict[str, Any] = {}
        self.globals: dict[str, Any] = {}
        self.training_env: Any = None
        self.logger: Logger | None = None
        self.parent: BaseCallback | None = None

    def init_callback(self, model: Algorithm) -> None:
        self.model = model
        self.training_env = model.get_env()
        self.logger = model.logger
        self._init_callback()

    def _init_callback(self) -> None:
        """After ``init_callback``: ``self.model`` is set."""
        return None

    def on_training_start(self, locals_: dict[str, Any], globals_: dict[str, Any]) -> None:
        self.locals = locals_
        self.globals = globals_
        self.num_timesteps = self.model.num_timesteps
        self._on_training_start()

    def _on_training_start(self) -> None:
        """Before the first step of a ``learn``."""
        return None

    def on_rollout_start(self) -> None:
        self._on_rollout_start()

    def _on_rollout_start(self) -> None:
        """Before each step's ``on_step``."""
        return None

    @abc.abstractmethod
    def _on_step(self) -> bool:
        """After each env step: ``False`` stops training."""

    def on_step(self) -> bool:
        self.n_calls += 1
        self.num_timesteps = self.model.num_timesteps
        return self._on_step()

    def on_rollout_end(self) -> None:
        self._on_rollout_end()

    def _on_rollout_end(self) -> None:
        """After each step's ``on_step``."""
        return None

    def on_training_end(self) -> None:
        self._on_training_end()

    def _on_training_end(self) -> None:
        """When ``learn`` ends."""
        return None

    def update_locals(self, locals_: dict[str, Any]) -> None:
        self.locals.update(locals_)
        self.update_child_locals(locals_)

    def update_child_locals(self, locals_: dict[str, Any]) -> None:
        """Passes the locals on to callbacks this one holds."""
        return None


class CallbackList(BaseCallback):
    """Several callbacks, called in order; training stops when any ``on_step`` returns ``False``
    (the others are still called for that step, as in SB3)."""

    def __init__(self, callbacks: list[Any]) -> None:
        super().__init__()
        self.callbacks = list(callbacks)

    def _init_callback(self) -> None:
        for callback in self.callbacks:
            callback.init_callback(self.model)
            callback.parent = self.parent

    def _on_training_start(self) -> None:
        for callback in self.callbacks:
            callback.on_training_start(self.locals, self.globals)

    def _on_rollout_start(self) -> None:
        for callback in self.callbacks:
            callback.on_rollout_start()

    def _on_step(self) -> bool:
        go_on = True
        for callback in self.callbacks:
            go_on = bool(callback.on_step()) and go_on
        return go_on

    def _on_rollout_end(self) -> None:
        for callback in self.callbacks:
            callback.on_rollout_end()

    def _on_training_end(self) -> None:
        for callback in self.callbacks:
            callback.on_training_end()

    def update_child_locals(self, locals_: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback.update_locals(locals_)


class ConvertCallback(BaseCallback):
    """A function ``f(locals, globals) -> bool`` as a callback (SB3's): ``False`` stops training."""

    def __init__(self, callback: Any, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.callback = callback

    def _on_step(self) -> bool:
        return bool(self.callback(self.locals, self.globals))


def as_callback(callback: Any) -> Any:
    """``learn``'s ``callback`` argument as one callback object, as SB3 converts it: a list
    becomes a :class:`CallbackList`, a plain function a :class:`ConvertCallback`; an object with
    SB3's callback methods (``init_callback``, ``on_step``, ...) is used as it is."""
    if isinstance(callback, list):
        return CallbackList([as_callback(c) for c in callback])
    if all(hasattr(callback, name) for name in ("init_callback", "on_training_start", "on_step")):
        return callback
    if callable(callback):
        return ConvertCallback(callback)
    raise TypeError(
        "callback: a callback object (polyak.callbacks.BaseCallback or SB3's), a list of them, "
        f"or a function f(locals, globals) -> bool; got {type(callback).__name__}"
    )
