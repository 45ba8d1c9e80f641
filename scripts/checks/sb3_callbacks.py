"""Stable-Baselines3's own callbacks, unchanged, in polyak's ``learn(callback=...)`` (run by
``scripts/checks/sb3-callbacks.sh``, which installs SB3 and this build's wheel). Each check
asserts what SB3's callback promises: the best model saved and loadable, the stops where they
should be, the checkpoints and the logged values."""

from __future__ import annotations

import os

import gymnasium as gym
import polyak
from stable_baselines3.common.callbacks import (
    BaseCallback,
    CallbackList,
    CheckpointCallback,
    EvalCallback,
    EveryNTimesteps,
    StopTrainingOnMaxEpisodes,
    StopTrainingOnRewardThreshold,
)
from stable_baselines3.common.monitor import Monitor


class Seen(BaseCallback):
    """Records the steps it is called at, and the returns of the episodes that end."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[int] = []
        self.returns: list[float] = []

    def _on_step(self) -> bool:
        self.steps.append(self.num_timesteps)
        if self.locals["dones"][0]:
            self.returns.append(self.locals["infos"][0]["episode"]["r"])
            self.logger.record("custom/episode_return", self.returns[-1])
        return True


def eval_checkpoint_and_stop_on_a_python_env() -> None:
    stop = StopTrainingOnRewardThreshold(reward_threshold=-600, verbose=1)
    evaluate = EvalCallback(
        Monitor(gym.make("Pendulum-v1")),
        best_model_save_path="best",
        log_path="logs",
        eval_freq=1000,
        n_eval_episodes=3,
        callback_on_new_best=stop,
    )
    checkpoints = CheckpointCallback(save_freq=2000, save_path="checkpoints", name_prefix="sac")
    seen, every = Seen(), Seen()
    model = polyak.SAC("MlpPolicy", gym.make("Pendulum-v1"), seed=0, learning_starts=500, out="run")
    model.learn(20_000, callback=CallbackList([evaluate, checkpoints, seen, EveryNTimesteps(3000, every)]))
    # Stopped at the evaluation that cleared the threshold; the best model is that one
    assert evaluate.best_mean_reward >= -600, evaluate.best_mean_reward
    assert model.num_timesteps < 20_000 and model.num_timesteps % 1000 == 0, model.num_timesteps
    best = polyak.load("best/best_model")
    assert best.num_timesteps == model.num_timesteps, (best.num_timesteps, model.num_timesteps)
    saved = sorted(os.listdir("checkpoints"))
    want = [f"sac_{n}_steps.zip" for n in range(2000, model.num_timesteps + 1, 2000)]
    assert saved == sorted(want), saved
    assert seen.steps == list(range(1, model.num_timesteps + 1))
    assert every.steps == list(range(3000, model.num_timesteps + 1, 3000))
    assert len(seen.returns) == model.num_timesteps // 200
    best_return = evaluate.best_mean_reward
    print(f"EvalCallback stopped SAC at {model.num_timesteps} (best {best_return:.1f}); {saved}")


def max_episodes_on_a_built_in_env() -> None:
    model = polyak.TD3("Pendulum-v1", seed=0, learning_starts=300, out="run2")
    model.learn(5000, callback=StopTrainingOnMaxEpisodes(max_episodes=4))
    assert model.num_timesteps == 800, model.num_timesteps
    print(f"StopTrainingOnMaxEpisodes stopped TD3 at {model.num_timesteps}")


def main() -> None:
    eval_checkpoint_and_stop_on_a_python_env()
    max_episodes_on_a_built_in_env()
    print("SB3's callbacks: all checks passed")


if __name__ == "__main__":
    main()
