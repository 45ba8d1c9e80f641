"""Training from Python: learning through the Python env bridge, reproducibility, the run
directory shared with the CLI (resume both ways, load = eval), Ctrl-C, errors."""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import subprocess
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import polyak
from polyak.callbacks import BaseCallback


def final_eval(run_dir: Path) -> float:
    rows = [r.split(",") for r in (run_dir / "metrics.csv").read_text().splitlines()]
    col = rows[0].index("eval_mean")
    return float([r for r in rows[1:] if r[col]][-1][col])


@pytest.mark.parametrize("cls", [polyak.SAC, polyak.TD3])
def test_learns_gymnasiums_own_pendulum_through_the_bridge(cls: type[polyak.Algorithm]) -> None:
    model = cls(gym.make("Pendulum-v1"), seed=0, out="run")
    model.learn(15_000)
    assert model.num_timesteps == 15_000
    score = final_eval(Path("run"))
    print(f"{cls.__name__}: eval {score:.1f} after 15k steps")
    assert score >= -200.0


def episode_returns(run_dir: Path) -> list[str]:
    rows = [r.split(",") for r in (run_dir / "metrics.csv").read_text().splitlines()]
    col = rows[0].index("episode_return")
    return [r[col] for r in rows[1:] if r[col]]


def test_same_seed_same_returns_on_a_python_env() -> None:
    for out in ("a", "b"):
        polyak.TD3(gym.make("Pendulum-v1"), seed=4, out=out, learning_starts=300).learn(1200)
    assert episode_returns(Path("a")) == episode_returns(Path("b")) != []
    assert (
        Path("a/checkpoints/final.safetensors").read_bytes()
        == Path("b/checkpoints/final.safetensors").read_bytes()
    )


def test_load_of_a_cli_run_acts_as_polyak_eval(polyak_cli: str) -> None:
    args = ["train", "--algo", "td3", "--env", "Pendulum-v1", "--steps", "1500", "--seed", "2"]
    subprocess.run([polyak_cli, *args, "--set", "learning_starts=500", "--quiet", "--out", "cli"], check=True)
    out = subprocess.run(
        [polyak_cli, "eval", "--run", "cli", "--episodes", "3"], check=True, capture_output=True, text=True
    )
    cli_returns = [float(x) for x in re.search(r"returns: (.*)", out.stdout).group(1).split()]  # type: ignore[union-attr]
    model = polyak.load("cli")
    assert isinstance(model, polyak.TD3) and model.num_timesteps == 1500
    env = polyak.make("Pendulum-v1")
    ours = []
    for seed in polyak._polyak.eval_seeds(0, 3):
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        ours.append(round(total, 2))
    assert ours == cli_returns
    # SB3's evaluate_policy, on a new instance of the model's env: the same episodes.
    returns, lengths = polyak.evaluate_policy(model, n_eval_episodes=3, return_episode_rewards=True)
    assert [round(r, 2) for r in returns] == cli_returns and lengths == [200, 200, 200]
    mean, std = polyak.evaluate_policy(model, env, n_eval_episodes=3)
    assert (mean, std) == (float(np.mean(returns)), float(np.std(returns)))
    with pytest.raises(ValueError, match="at least 1"):
        polyak.evaluate_policy(model, n_eval_episodes=0)
    # A model on a Python env plays a new instance of it by default.
    on_python = polyak.TD3(gym.make("Pendulum-v1"), seed=2)
    default = polyak.evaluate_policy(on_python, n_eval_episodes=2, return_episode_rewards=True)
    given = polyak.evaluate_policy(on_python, gym.make("Pendulum-v1"), 2, return_episode_rewards=True)
    assert default == given


def interrupt_after(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def test_ctrl_c_stops_with_a_checkpoint_and_the_cli_resumes_it_bitwise(polyak_cli: str) -> None:
    settings: dict[str, Any] = {"learning_starts": 200, "checkpoint_every": 400, "eval_every": 500}
    polyak.TD3("Pendulum-v1", seed=1, out="whole", **settings).learn(2000)
    model = polyak.TD3("Pendulum-v1", seed=1, out="cut", **settings)
    interrupt_after(2.0)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        model.learn(2000)
    assert time.monotonic() - start < 2.0 + 1.0 + 5.0  # within a second of the signal (slack for CI)
    stopped = model.num_timesteps
    assert 0 < stopped < 2000, stopped
    assert Path(f"cut/checkpoints/step_{stopped:09d}.safetensors").is_file(), "no checkpoint at the stop"
    subprocess.run([polyak_cli, "train", "--resume", "cut", "--quiet"], check=True)
    assert (
        Path("cut/checkpoints/final.safetensors").read_bytes()
        == Path("whole/checkpoints/final.safetensors").read_bytes()
    )


def test_a_cli_run_continues_in_python(polyak_cli: str) -> None:
    subprocess.run(
        [
            polyak_cli,
            "train",
            "--algo",
            "sac",
            "--steps",
            "900",
            "--set",
            "learning_starts=300",
            "--quiet",
            "--out",
            "r",
            "--stop-after",
            "500",
        ],
        check=True,
    )
    polyak.SAC("Pendulum-v1", seed=0, out="whole", learning_starts=300).learn(900)
    model = polyak.load("r")
    assert model.num_timesteps == 500
    model.learn()
    assert model.num_timesteps == 900
    assert (
        Path("r/checkpoints/final.safetensors").read_bytes()
        == Path("whole/checkpoints/final.safetensors").read_bytes()
    )


def test_the_eval_instance_of_a_human_rendered_env_opens_no_window() -> None:
    second = polyak.algorithms._second_instance
    assert second(gym.make("Pendulum-v1", render_mode="human")).render_mode is None
    assert second(gym.make("Pendulum-v1", render_mode="rgb_array")).render_mode == "rgb_array"


def test_sb3s_mlppolicy_form_builds_the_same_model() -> None:
    want = polyak.SAC("Pendulum-v1", seed=1, batch_size=64).config
    assert polyak.SAC("MlpPolicy", "Pendulum-v1", seed=1, batch_size=64).config == want
    assert polyak.SAC(policy="MlpPolicy", env="Pendulum-v1", seed=1, batch_size=64).config == want
    python_env = polyak.TD3("MlpPolicy", gym.make("Pendulum-v1")).config["env"]
    assert python_env == polyak.TD3(gym.make("Pendulum-v1")).config["env"]
    with pytest.raises(ValueError, match="can only be 'MlpPolicy', got 'CnnPolicy'"):
        polyak.SAC("CnnPolicy", "Pendulum-v1")
    with pytest.raises(ValueError, match="no env given"):
        polyak.SAC("MlpPolicy")
    with pytest.raises(TypeError, match="given twice"):
        polyak.SAC("MlpPolicy", "Pendulum-v1", policy="MlpPolicy")


class NormalActionNoise:
    """Stable-Baselines3's NormalActionNoise as far as polyak reads it (its class name, _mu, _sigma)."""

    def __init__(self, mean: Any, sigma: Any) -> None:
        self._mu, self._sigma = np.asarray(mean), np.asarray(sigma)


def test_sb3s_keyword_arguments_become_polyaks_settings() -> None:
    sac = polyak.SAC(
        "MlpPolicy",
        "Pendulum-v1",
        learning_rate=1e-3,
        policy_kwargs={"net_arch": [64, 32]},
        ent_coef="auto_0.1",
        target_entropy="auto",
        train_freq=1,
        gradient_steps=1,
        device="auto",
        buffer_size=50_000,
    ).config
    assert (sac["actor_lr"], sac["critic_lr"], sac["sac"]["alpha_lr"]) == (1e-3, 1e-3, 1e-3)
    assert sac["hidden"] == [64, 32] and sac["buffer_size"] == 50_000 and sac["gradient_steps"] == 1
    assert polyak.SAC("Pendulum-v1", train_freq=(1, "step"), gradient_steps=2).config["gradient_steps"] == 2
    assert polyak.SAC("Pendulum-v1", gradient_steps=-1).config["gradient_steps"] == 1
    assert sac["sac"]["auto_alpha"] is True and sac["sac"]["initial_alpha"] == 0.1
    fixed = polyak.SAC("Pendulum-v1", ent_coef=0.2).config["sac"]
    assert fixed["auto_alpha"] is False and fixed["initial_alpha"] == 0.2
    td3 = polyak.TD3(
        "MlpPolicy",
        "Pendulum-v1",
        action_noise=NormalActionNoise(np.zeros(1), 0.3 * np.ones(1)),
        target_policy_noise=0.25,
        policy_kwargs={"net_arch": {"pi": [48], "qf": [48]}},
    ).config
    assert (td3["td3"]["exploration_noise"], td3["td3"]["target_noise"], td3["hidden"]) == (0.3, 0.25, [48])
    assert polyak.DDPG("Pendulum-v1", action_noise=None).config["td3"]["exploration_noise"] == 0.0
    # SB3's seed=None: a seed drawn at random, then recorded like any other.
    drawn = [polyak.SAC("Pendulum-v1", seed=None).config["seed"] for _ in range(2)]
    assert all(isinstance(s, int) for s in drawn) and drawn[0] != drawn[1]
    # What polyak has no equivalent for is refused, saying why.
    refused = {
        "a constant rate": {"learning_rate": lambda progress: 1e-3 * progress},
        "trains after every env step": {"train_freq": 4},
        "share their hidden sizes": {"policy_kwargs": {"net_arch": {"pi": [64], "qf": [32]}}},
        "net_arch only": {"policy_kwargs": {"activation_fn": "tanh"}},
        "runs on the CPU": {"device": "cuda"},
        "into the run directory": {"tensorboard_log": "logs"},
        "learning_rate= and actor_lr= both given": {"learning_rate": 1e-3, "actor_lr": 1e-3},
        "'auto', 'auto_<start>' or a number": {"ent_coef": "always"},
    }
    for why, kwargs in refused.items():
        with pytest.raises(ValueError, match=re.escape(why)):
            polyak.SAC("Pendulum-v1", **kwargs)
    with pytest.raises(ValueError, match="mean 0 and one sigma"):
        polyak.TD3("Pendulum-v1", action_noise=NormalActionNoise(np.ones(1), np.ones(1)))


def test_verbose_prints_what_the_cli_prints(capfd: pytest.CaptureFixture[str]) -> None:
    short: dict[str, Any] = {"learning_starts": 100, "eval_every": 200, "eval_episodes": 1}
    polyak.SAC("MlpPolicy", "Pendulum-v1", verbose=1, out="loud", **short).learn(400, log_interval=2)
    loud = capfd.readouterr()
    assert re.search(r"step +200 +eval", loud.out + loud.err), loud
    # SB3's log_interval: a line of the mean of every 2 episodes (Pendulum's are 200 steps).
    line = r"step +400 +episodes +2 +return +-?\d+\.\d\d +length +200\.0"
    assert re.search(line, loud.out + loud.err), loud
    polyak.SAC("MlpPolicy", "Pendulum-v1", verbose=0, out="quiet", **short).learn(200)
    quiet = capfd.readouterr()
    assert quiet.out + quiet.err == "", quiet


def test_save_makes_a_run_that_continues_exactly_and_writes_over_nothing() -> None:
    settings: dict[str, Any] = {"learning_starts": 200, "checkpoint_every": 300}
    model = polyak.TD3("Pendulum-v1", seed=2, out="orig", **settings)
    with pytest.raises(ValueError, match="nothing to save yet"):
        model.save("early")
    model.learn(500)
    assert model.save("copy") == Path("copy")
    copy = polyak.TD3.load("copy")
    assert copy.num_timesteps == 500
    obs = np.random.default_rng(0).uniform(-1, 1, size=(16, 3)).astype(np.float32)
    assert np.array_equal(copy.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
    # Training the copy leaves the original as it was; both then continue to the same bits.
    before = {p: p.read_bytes() for p in Path("orig").rglob("*") if p.is_file()}
    copy.learn(400)
    assert {p: p.read_bytes() for p in Path("orig").rglob("*") if p.is_file()} == before
    model.learn(400)
    assert (
        Path("copy/checkpoints/final.safetensors").read_bytes()
        == Path("orig/checkpoints/final.safetensors").read_bytes()
    )
    # Nothing is written over: a folder that holds anything, or a file, is refused as it is.
    Path("taken").mkdir()
    Path("taken/notes.txt").write_text("mine")
    Path("file").write_text("mine")
    for taken in ("taken", "file", "copy"):
        with pytest.raises(FileExistsError, match="polyak writes over nothing"):
            model.save(taken)
    assert Path("taken/notes.txt").read_text() == "mine" and Path("file").read_text() == "mine"
    assert sorted(p.name for p in Path(".").iterdir()) == ["copy", "file", "orig", "taken"]


FAIL = {"at": -1}


class Flaky(gym.Wrapper):  # type: ignore[type-arg]
    """Raises inside step when the module-level switch says so (not pickled with the env)."""

    def __init__(self, env: gym.Env) -> None:  # type: ignore[type-arg]
        super().__init__(env)
        self.steps = 0

    def step(self, action: Any) -> Any:
        self.steps += 1
        if self.steps == FAIL["at"]:
            raise ValueError("the env broke on purpose")
        return super().step(action)


def test_an_env_exception_surfaces_with_its_traceback_and_the_run_resumes_exactly() -> None:
    settings: dict[str, Any] = {"learning_starts": 200, "checkpoint_every": 300}
    FAIL["at"] = -1
    polyak.TD3(Flaky(gym.make("Pendulum-v1")), seed=5, out="whole", **settings).learn(1000)
    FAIL["at"] = 700
    model = polyak.TD3(Flaky(gym.make("Pendulum-v1")), seed=5, out="cut", **settings)
    with pytest.raises(ValueError, match="broke on purpose") as raised:
        model.learn(1000)
    assert any(entry.name == "step" for entry in raised.traceback), "the env's frame is in the traceback"
    FAIL["at"] = -1
    # Without the env the run predicts (its spaces are recorded), but trains only with it.
    bare = polyak.load("cut")
    obs = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, -3.0]], dtype=np.float32)
    assert np.array_equal(bare.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
    with pytest.raises(ValueError, match="pass the env again"):
        bare.learn()
    with pytest.raises(ValueError, match="pass one, env="):
        polyak.evaluate_policy(bare)
    resumed = polyak.load("cut", env=Flaky(gym.make("Pendulum-v1")))
    assert resumed.num_timesteps == 600
    resumed.learn()
    assert (
        Path("cut/checkpoints/final.safetensors").read_bytes()
        == Path("whole/checkpoints/final.safetensors").read_bytes()
    )


def test_the_cli_refuses_to_resume_a_python_env_run_naming_the_way(polyak_cli: str) -> None:
    model = polyak.TD3(gym.make("Pendulum-v1"), seed=0, out="py", learning_starts=100)
    interrupt_after(1.0)
    with pytest.raises(KeyboardInterrupt):
        model.learn(50_000)
    done = subprocess.run([polyak_cli, "train", "--resume", "py"], capture_output=True, text=True)
    assert done.returncode != 0 and "polyak.load(run_dir, env=...)" in done.stderr


def test_bad_hyperparameters_raise_value_error_naming_the_key() -> None:
    with pytest.raises(ValueError, match="did you mean `policy_delay`"):
        polyak.TD3("Pendulum-v1", policy_dealy=3)
    with pytest.raises(ValueError, match="other algorithm family"):
        polyak.SAC("Pendulum-v1", policy_delay=3)
    with pytest.raises(ValueError, match="batch_size"):
        polyak.SAC("Pendulum-v1", batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        polyak.SAC("Pendulum-v1", batch_size="big")
    with pytest.raises(ValueError, match="presets are"):
        polyak.SAC("Pendulum-v1", preset="td3")
    with pytest.raises(ValueError, match="did you mean `Pendulum-v1`"):
        polyak.SAC("Pendulum-v2")
    with pytest.raises(ValueError, match="Box"):
        polyak.TD3(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="learn"):
        polyak.SAC("Pendulum-v1", total_steps=10)
    with pytest.raises(ValueError, match="3 values"):
        polyak.SAC("Pendulum-v1").predict(np.zeros(4, dtype=np.float32))


def test_presets_and_settings_reach_the_config() -> None:
    model = polyak.TD3("Pendulum-v1", preset="td3-no-twin", policy_delay=3, hidden=[64, 64], seed=9)
    cfg = model.config
    assert cfg["algo"] == "td3-no-twin" and cfg["seed"] == 9
    assert (
        cfg["td3"]["twin_critics"] is False and cfg["td3"]["policy_delay"] == 3 and cfg["hidden"] == [64, 64]
    )
    assert polyak.DDPG("Pendulum-v1").config["td3"]["policy_delay"] == 1


def test_help_lists_every_hyperparameter_with_its_default() -> None:
    for cls, algo in ((polyak.SAC, "sac"), (polyak.TD3, "td3")):
        doc = cls.__doc__ or ""
        for key, default, _ in polyak._polyak.hyperparameters(algo):
            name = key.rsplit(".", 1)[-1]
            if name not in ("algo", "env", "seed", "total_steps"):
                assert f"{name} = {default}:" in doc, (cls, name)


def test_predict_is_batched_and_in_the_action_bounds() -> None:
    model = polyak.SAC("HalfCheetah-v5", seed=0)
    obs = np.random.default_rng(0).normal(size=(5, 17))
    batch, state = model.predict(obs, deterministic=True)
    assert state is None and batch.shape == (5, 6) and batch.dtype == np.float32
    one, _ = model.predict(obs[2], deterministic=True)
    assert np.array_equal(one, batch[2])
    assert np.all(np.abs(model.predict(obs)[0]) <= 1.0)


def test_a_new_model_refused_a_folder_that_holds_a_run_never_continues_that_run() -> None:
    polyak.TD3("Pendulum-v1", seed=0, out="theirs", learning_starts=100).learn(300)
    before = {p: p.read_bytes() for p in Path("theirs").rglob("*") if p.is_file()}
    model = polyak.SAC("Pendulum-v1", seed=1, out="theirs", learning_starts=100)
    for _ in range(2):
        with pytest.raises(ValueError, match="already holds a run"):
            model.learn(300)
        assert model.run_dir is None and model.num_timesteps == 0
    with pytest.raises(ValueError, match="nothing to save yet"):
        model.save("copy")
    assert {p: p.read_bytes() for p in Path("theirs").rglob("*") if p.is_file()} == before


def test_a_child_forked_during_learn_leaves_the_run_free_once_learn_returns() -> None:
    # multiprocessing's fork start method copies the process's open files into a child that never
    # execs, the run's lock among them. Once learn() returns, save() and the next learn() find the
    # run free while that child still lives.
    fork = multiprocessing.get_context("fork")
    children: list[Any] = []

    class ForkOnce(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps == 250:
                with warnings.catch_warnings():
                    # Python warns that forking a process with threads may deadlock the child;
                    # this one only sleeps.
                    warnings.simplefilter("ignore", DeprecationWarning)
                    child = fork.Process(target=time.sleep, args=(120,), daemon=True)
                    child.start()
                children.append(child)
            return True

    settings: dict[str, Any] = {"learning_starts": 200, "eval_every": 0, "hidden": [32, 32], "batch_size": 32}
    model = polyak.TD3("Pendulum-v1", seed=1, out="run", **settings)
    try:
        model.learn(300, callback=ForkOnce())
        assert len(children) == 1 and children[0].is_alive()
        model.save("copy")
        model.learn(100)
        assert model.num_timesteps == 400 and polyak.TD3.load("copy").num_timesteps == 300
    finally:
        for child in children:
            child.kill()
            child.join()
