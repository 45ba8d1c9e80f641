"""Policies exported as ONNX, run by onnxruntime and by ONNX's reference evaluator, against
``predict``: on a built-in env, on a Python env with uneven action bounds (from Python and from
the CLI), from inside a callback; and an export never writes over a file."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from numpy.typing import NDArray
from onnx.reference import ReferenceEvaluator

import polyak
from polyak.callbacks import BaseCallback

SHORT = {"learning_starts": 200, "eval_every": 0, "hidden": [32, 32], "batch_size": 32}


def run_onnx(path: Path, obs: NDArray[np.float32]) -> NDArray[np.float32]:
    """The actions onnxruntime computes, checked against ONNX's own reference evaluator (a
    second, independent reading of the file)."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["observation"]
    assert [o.name for o in session.get_outputs()] == ["action"]
    actions: NDArray[np.float32] = session.run(["action"], {"observation": obs})[0]
    reference = ReferenceEvaluator(str(path)).run(["action"], {"observation": obs})[0]
    np.testing.assert_allclose(actions, reference, rtol=1e-5, atol=1e-5)
    return actions


def metadata(path: Path) -> dict[str, str]:
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    return {p.key: p.value for p in model.metadata_props}


def observations(n: int, dim: int, seed: int = 0) -> NDArray[np.float32]:
    return (3.0 * np.random.default_rng(seed).normal(size=(n, dim))).astype(np.float32)


def assert_acts_as(got: NDArray[np.float32], want: NDArray[np.float32]) -> None:
    # Another runtime sums each product in its own order: float32 rounding, not bits
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert float(np.ptp(want)) > 1e-3, "a policy that varies with the observation"


@pytest.mark.parametrize("cls", [polyak.SAC, polyak.TD3, polyak.DDPG])
def test_the_onnx_policy_acts_as_predict_on_a_built_in_env(cls: type[polyak.Algorithm]) -> None:
    model = cls("Pendulum-v1", seed=1, out="run", **SHORT).learn(600)
    path = model.export_onnx("policy.onnx")
    assert path == Path("policy.onnx")
    algo = model.algo
    assert metadata(path) == {"algo": algo, "env": "Pendulum-v1", "seed": "1", "step": "600"}
    obs = observations(64, 3)
    assert_acts_as(run_onnx(path, obs), model.predict(obs, deterministic=True)[0])


class UnevenBounds(gym.Env):  # type: ignore[type-arg]
    """Four observations, three actions in uneven bounds; the reward prefers a point inside."""

    observation_space = gym.spaces.Box(-5.0, 5.0, (4,), np.float32)
    action_space = gym.spaces.Box(
        np.array([-1.0, 0.0, 2.0], np.float32), np.array([3.0, 0.5, 2.25], np.float32), dtype=np.float32
    )

    def __init__(self) -> None:
        self.state = np.zeros(4, np.float32)
        self.t = 0

    def reset(
        self, *, seed: int | None = None, options: Any = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        super().reset(seed=seed)
        self.state = self.np_random.normal(size=4).astype(np.float32)
        self.t = 0
        return self.state, {}

    def step(
        self, action: NDArray[np.float32]
    ) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        self.t += 1
        miss = float(np.sum((action - np.array([1.0, 0.1, 2.2])) ** 2))
        reward = -miss - 0.1 * float(self.state @ self.state)
        self.state = np.clip(0.9 * self.state + 0.1 * action.sum(), -5.0, 5.0).astype(np.float32)
        return self.state, reward, False, self.t >= 50, {}


def test_a_python_envs_policy_exports_from_python_and_from_the_cli_alike(polyak_cli: str) -> None:
    polyak.TD3(UnevenBounds(), seed=3, out="run", **SHORT).learn(500)
    # Loaded without the env: the recorded spaces are enough
    model = polyak.load("run")
    obs = observations(40, 4, seed=1)
    want = model.predict(obs, deterministic=True)[0]
    low, high = UnevenBounds.action_space.low, UnevenBounds.action_space.high
    assert np.all((want >= low) & (want <= high))
    from_python = run_onnx(model.export_onnx("python.onnx"), obs)
    assert_acts_as(from_python, want)
    command = [polyak_cli, "export", "--run", "run", "--out", "cli.onnx"]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    assert "[batch, 4]" in out.stdout and "[batch, 3]" in out.stdout, out.stdout
    assert np.array_equal(run_onnx(Path("cli.onnx"), obs), from_python)
    assert metadata(Path("cli.onnx")) == {
        "algo": "td3",
        "env": "python:UnevenBounds",
        "seed": "3",
        "step": "500",
        "checkpoint": "final",
    }
    # The CLI's default place, in the run directory
    subprocess.run([polyak_cli, "export", "--run", "run"], check=True, capture_output=True)
    assert np.array_equal(run_onnx(Path("run/exports/final.onnx"), obs), from_python)


def test_an_export_from_a_callback_is_the_agent_at_that_step() -> None:
    obs = observations(16, 3, seed=2)

    class ExportAt(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps == 400:
                self.predicted = self.model.predict(obs, deterministic=True)[0]
                self.model.export_onnx("at400.onnx")
            return True

    callback = ExportAt()
    model = polyak.SAC("Pendulum-v1", seed=0, out="run", **SHORT)
    model.learn(700, callback=callback)
    assert metadata(Path("at400.onnx"))["step"] == "400"
    at400 = run_onnx(Path("at400.onnx"), obs)
    assert_acts_as(at400, callback.predicted)
    assert not np.allclose(at400, model.predict(obs, deterministic=True)[0]), "not the final agent"


def test_an_export_writes_over_nothing_and_wants_an_onnx_name() -> None:
    model = polyak.TD3("Pendulum-v1", seed=0)
    Path("taken.onnx").write_bytes(b"mine")
    with pytest.raises(FileExistsError, match=r"taken\.onnx"):
        model.export_onnx("taken.onnx")
    assert Path("taken.onnx").read_bytes() == b"mine"
    with pytest.raises(ValueError, match=r"^policy\.txt: name an \.onnx file$"):
        model.export_onnx("policy.txt")
    assert not Path("policy.txt").exists()
    # Before any learn: the untrained policy, as predict has it
    path = model.export_onnx("untrained.onnx")
    assert metadata(path)["step"] == "0"
    obs = observations(8, 3)
    assert_acts_as(run_onnx(path, obs), model.predict(obs, deterministic=True)[0])
    assert sorted(p.name for p in Path(".").iterdir()) == ["taken.onnx", "untrained.onnx"]
