"""Stable-Baselines3's callbacks in ``learn(callback=...)``: the calls and their order, SB3's
locals, stopping (with a resume checkpoint), predict and save from inside a callback, errors."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import polyak
from polyak.callbacks import BaseCallback, CallbackList

SHORT = {"learning_starts": 200, "eval_every": 0, "hidden": [32, 32], "batch_size": 32}


def metrics_column(run_dir: Path, name: str) -> list[str]:
    rows = [r.split(",") for r in (run_dir / "metrics.csv").read_text().splitlines()]
    col = rows[0].index(name)
    return [r[col] for r in rows[1:] if r[col]]


class Recorder(BaseCallback):
    """Records every call, the step each sees, and the agent's action on a fixed observation."""

    def __init__(self, probe: np.ndarray, stop_at: int | None = None) -> None:
        super().__init__()
        self.probe, self.stop_at = probe, stop_at
        self.calls: list[str] = []
        self.steps: list[int] = []
        self.episodes: list[dict[str, Any]] = []
        self.actions: list[np.ndarray] = []
        self.rewards = 0.0

    def _init_callback(self) -> None:
        self.calls.append("init")

    def _on_training_start(self) -> None:
        self.calls.append("start")

    def _on_rollout_start(self) -> None:
        self.calls.append("rollout_start")

    def _on_step(self) -> bool:
        self.calls.append("step")
        self.steps.append(self.num_timesteps)
        assert self.locals["self"] is self.model
        assert self.locals["new_obs"].shape == (1, 3) and self.locals["actions"].shape == (1, 1)
        self.rewards += float(self.locals["rewards"][0])
        info = self.locals["infos"][0]
        if self.locals["dones"][0]:
            self.episodes.append(info)
        else:
            assert "episode" not in info
        self.actions.append(self.model.predict(self.probe, deterministic=True)[0])
        self.model.predict(self.probe)  # with noise, from predict's own generator
        return self.stop_at is None or self.num_timesteps < self.stop_at

    def _on_rollout_end(self) -> None:
        self.calls.append("rollout_end")

    def _on_training_end(self) -> None:
        self.calls.append("end")


def test_a_callback_sees_each_step_in_sb3s_order_and_changes_no_number() -> None:
    probe = np.array([0.3, -0.2, 0.5], dtype=np.float32)
    polyak.TD3("Pendulum-v1", seed=3, out="plain", **SHORT).learn(600)
    recorder = Recorder(probe)
    model = polyak.TD3("Pendulum-v1", seed=3, out="watched", **SHORT)
    model.learn(600, callback=recorder)
    # SB3's calls, in its order: once per step with train_freq=1
    assert recorder.calls == ["init", "start", *["rollout_start", "step", "rollout_end"] * 600, "end"]
    assert recorder.steps == list(range(1, 601)) and recorder.n_calls == 600
    assert recorder.locals["total_timesteps"] == 600 and recorder.locals["tb_log_name"] == "TD3"
    # What Monitor and DummyVecEnv add at an episode's end (Pendulum's 200-step time limit)
    returns = [float(r) for r in metrics_column(Path("watched"), "episode_return")]
    assert [e["episode"]["l"] for e in recorder.episodes] == [200, 200, 200]
    assert [e["episode"]["r"] for e in recorder.episodes] == pytest.approx(returns, abs=1e-5)
    assert all(
        e["TimeLimit.truncated"] and e["terminal_observation"].shape == (3,) for e in recorder.episodes
    )
    assert recorder.rewards == pytest.approx(sum(returns), rel=1e-5)
    assert [e["r"] for e in model.ep_info_buffer] == [e["episode"]["r"] for e in recorder.episodes]
    # predict inside the callback acts with the agent as trained so far: after the last step,
    # the final agent; earlier, another one
    final, _ = model.predict(probe, deterministic=True)
    np.testing.assert_array_equal(recorder.actions[-1], final)
    assert not np.array_equal(recorder.actions[250], final)
    # Watching (and predicting with noise) changes no number of the run
    assert metrics_column(Path("plain"), "episode_return") == metrics_column(
        Path("watched"), "episode_return"
    )
    final_agent = "checkpoints/final.safetensors"
    assert (Path("plain") / final_agent).read_bytes() == (Path("watched") / final_agent).read_bytes()


def test_on_step_false_stops_there_and_learn_continues_bit_for_bit() -> None:
    polyak.SAC("Pendulum-v1", seed=1, out="whole", **SHORT).learn(500)
    model = polyak.SAC("Pendulum-v1", seed=1, out="stopped", **SHORT)
    # SB3's function form: f(locals, globals) -> bool
    model.learn(500, callback=lambda locals_, _globals: locals_["self"].num_timesteps < 321)
    assert model.num_timesteps == 321
    assert Path("stopped/checkpoints/step_000000321.safetensors").is_file()
    # On to the run's own 500 steps; SB3's locals count from the run's start
    seen: list[tuple[int, int]] = []
    model.learn(
        callback=lambda locals_, _: seen.append((locals_["total_timesteps"], model.num_timesteps)) or True
    )
    assert seen[0] == (500, 322) and seen[-1] == (500, 500) and len(seen) == 179
    final_agent = "checkpoints/final.safetensors"
    assert (Path("whole") / final_agent).read_bytes() == (Path("stopped") / final_agent).read_bytes()
    assert metrics_column(Path("whole"), "episode_return") == metrics_column(
        Path("stopped"), "episode_return"
    )


def test_save_inside_a_callback_copies_the_run_as_it_stands(tmp_path: Path) -> None:
    probe = np.array([-0.4, 0.1, 0.9], dtype=np.float32)
    seen: dict[str, Any] = {}

    class Snapshot(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps == 333:
                seen["path"] = self.model.save(tmp_path / "snaps" / "at_333")
                seen["action"] = self.model.predict(probe, deterministic=True)[0]
            if self.num_timesteps in (300, 333):
                # EvalCallback's best model: one path, saved again as it improves
                self.model.save(tmp_path / "best")
            return True

    model = polyak.TD3("Pendulum-v1", seed=2, out="run", **SHORT)
    model.learn(450, callback=Snapshot())
    snap = polyak.load(seen["path"])
    assert snap.num_timesteps == 333 and model.num_timesteps == 450
    assert polyak.load(tmp_path / "best").num_timesteps == 333
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best", "run", "snaps"]  # no temporary left
    np.testing.assert_array_equal(snap.predict(probe, deterministic=True)[0], seen["action"])
    # The copy is a run of its own: it continues to the original's 450 steps, as the original did
    snap.learn()
    final_agent = "checkpoints/final.safetensors"
    assert (Path("run") / final_agent).read_bytes() == (seen["path"] / final_agent).read_bytes()


def test_a_python_envs_info_reaches_the_callback_and_a_list_stops_when_one_says_so() -> None:
    class Counting(gym.Wrapper[Any, Any, Any, Any]):
        count = 0

        def step(self, action: Any) -> Any:
            obs, reward, terminated, truncated, info = self.env.step(action)
            self.count += 1
            return obs, reward, terminated, truncated, {**info, "count": self.count}

    counts: list[int] = []
    calls: list[str] = []

    class Counts(BaseCallback):
        def _on_step(self) -> bool:
            counts.append(self.locals["infos"][0]["count"])
            calls.append("counts")
            if self.num_timesteps == 100:
                self.model.save("at_100")
            return True

    class StopAt(BaseCallback):
        def _on_step(self) -> bool:
            calls.append("stop")
            return self.num_timesteps < 250

    model = polyak.TD3(Counting(gym.make("Pendulum-v1")), seed=0, out="run", **SHORT)
    training_env = model.get_env()
    assert training_env.envs == [model.env] and training_env.num_envs == 1
    assert training_env.get_attr("count") == [0] and training_env.env_is_wrapped(Counting) == [True]
    model.learn(400, callback=[StopAt(), Counts()])
    assert model.num_timesteps == 250
    assert counts == list(range(1, 251))
    # Every callback of the list is called for the step that stops it, as in SB3
    assert calls[-2:] == ["stop", "counts"]
    assert isinstance(polyak.callbacks.as_callback([Counts()]), CallbackList)
    # A copy saved during training is loaded without the env, as the run itself is
    saved = polyak.load("at_100")
    assert saved.num_timesteps == 100 and saved.predict(np.zeros(3, dtype=np.float32))[0].shape == (1,)


def test_an_exception_in_a_callback_is_reraised_and_the_run_continues_from_there() -> None:
    class Boom(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps == 260:
                raise RuntimeError("boom at 260")
            return True

    model = polyak.DDPG("Pendulum-v1", seed=0, out="run", **SHORT)
    with pytest.raises(RuntimeError, match="boom at 260"):
        model.learn(300, callback=Boom())
    assert model.num_timesteps == 260
    model.learn()
    assert model.num_timesteps == 300


def test_misuse_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    model = polyak.TD3("Pendulum-v1", seed=0, out="run", verbose=1, **SHORT)
    with pytest.raises(TypeError, match="callback: a callback object"):
        model.learn(300, callback=42)
    with pytest.raises(ValueError, match="tb_log_name: polyak writes TensorBoard"):
        model.learn(300, tb_log_name="TD3")
    nested: list[str] = []

    class Nested(BaseCallback):
        def _on_step(self) -> bool:
            with pytest.raises(ValueError, match="already running"):
                self.model.learn(10)
            self.logger.record("custom/step", self.num_timesteps)
            self.logger.record_mean("custom/mean", 1.0)
            self.logger.record_mean("custom/mean", 2.0)
            nested.append(f"{self.logger.name_to_value['custom/mean']}")
            self.logger.dump(self.num_timesteps)
            return self.num_timesteps < 2

    model.learn(300, callback=Nested(), reset_num_timesteps=True)
    assert nested == ["1.5", "1.5"]
    # polyak's count goes on, as SB3's with reset_num_timesteps=False
    with pytest.raises(ValueError, match="reset_num_timesteps=True: polyak goes on counting from step 2"):
        model.learn(300, reset_num_timesteps=True)
    model.learn(300, reset_num_timesteps=False)
    assert model.num_timesteps == 302
    out = capsys.readouterr().out
    assert "| custom/mean | " in out and "| custom/step |          2 |" in out


def test_a_callback_may_train_another_model_and_still_sees_its_own_run() -> None:
    after: list[int] = []

    class TrainsAnother(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps == 250:
                other = polyak.DDPG("Pendulum-v1", seed=1, out="other", **SHORT)
                other.learn(300, callback=lambda _locals, _globals: other.num_timesteps > 0)
                after.append(other.num_timesteps)
                after.append(self.model.num_timesteps)
            return True

    model = polyak.TD3("Pendulum-v1", seed=0, out="run", **SHORT)
    model.learn(300, callback=TrainsAnother())
    assert after == [300, 250] and model.num_timesteps == 300


def test_another_thread_cannot_save_or_learn_while_learn_runs_but_reads_the_model() -> None:
    reached, checked = threading.Event(), threading.Event()

    def pause_at_100(locals_: dict[str, Any], _globals: dict[str, Any]) -> bool:
        if locals_["self"].num_timesteps == 100:
            reached.set()
            checked.wait(timeout=60)
        return True

    model = polyak.TD3("Pendulum-v1", seed=0, out="run", **SHORT)
    trainer = threading.Thread(target=model.learn, args=(300,), kwargs={"callback": pause_at_100})
    trainer.start()
    try:
        assert reached.wait(timeout=60)
        with pytest.raises(ValueError, match="learn\\(\\) is running: save from its callback"):
            model.save("copy")
        with pytest.raises(ValueError, match="already running"):
            model.learn(10)
        assert model.run_dir == Path("run") and model.predict(np.zeros(3, dtype=np.float32))[0].shape == (1,)
    finally:
        checked.set()
        trainer.join()
    assert model.num_timesteps == 300 and not Path("copy").exists()
