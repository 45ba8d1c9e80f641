"""PyTorch reference for `polyak bench`: the same SAC / TD3 / DDPG gradient updates
(Stable-Baselines3's update structure, 256x256 ReLU MLPs, Adam, batch 256) timed on random data.

Opt-in, for the side-by-side comparison in the README:  scripts/bench/vs-torch.sh
Usage:
    python scripts/bench/torch_reference.py [--threads N] [--obs 17] [--act 6] [--rounds 7] [--updates 100]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Protocol

import torch
import torch.nn as nn
import torch.nn.functional as F

Tensor = torch.Tensor


class Agent(Protocol):
    def update(self, s: Tensor, a: Tensor, r: Tensor, s2: Tensor, d: Tensor) -> None: ...


def mlp(i: int, o: int, h: int = 256) -> nn.Sequential:
    return nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, o))


class Sac:
    def __init__(self, obs: int, act: int) -> None:
        self.actor = mlp(obs, 2 * act)
        self.q = nn.ModuleList([mlp(obs + act, 1) for _ in range(2)])
        self.q_t = nn.ModuleList([mlp(obs + act, 1) for _ in range(2)])
        self.q_t.load_state_dict(self.q.state_dict())
        self.log_alpha = torch.zeros(1, requires_grad=True)
        self.opt_a = torch.optim.Adam(self.actor.parameters(), lr=3e-4)
        self.opt_q = torch.optim.Adam(self.q.parameters(), lr=3e-4)
        self.opt_al = torch.optim.Adam([self.log_alpha], lr=3e-4)
        self.act, self.target_entropy = act, -float(act)

    def sample(self, s: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_std = self.actor(s).chunk(2, dim=-1)
        log_std = log_std.clamp(-20, 2)
        u = mean + log_std.exp() * torch.randn_like(mean)
        half_log_2pi = 0.5 * torch.log(torch.tensor(2 * torch.pi))
        logp = (-0.5 * ((u - mean) / log_std.exp()) ** 2 - log_std - half_log_2pi).sum(-1)
        logp = logp - (2 * (torch.log(torch.tensor(2.0)) - u - F.softplus(-2 * u))).sum(-1)
        return torch.tanh(u), logp

    def update(self, s: Tensor, a: Tensor, r: Tensor, s2: Tensor, d: Tensor) -> None:
        a_pi, logp_pi = self.sample(s)
        alpha_loss = -(self.log_alpha * (logp_pi + self.target_entropy).detach()).mean()
        step(self.opt_al, alpha_loss)
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():
            a2, logp2 = self.sample(s2)
            x2 = torch.cat([s2, a2], -1)
            q2 = torch.min(self.q_t[0](x2), self.q_t[1](x2)).squeeze(-1) - alpha * logp2
            y = r + 0.99 * (1 - d) * q2
        x = torch.cat([s, a], -1)
        q_loss = sum(F.mse_loss(q(x).squeeze(-1), y) for q in self.q)
        step(self.opt_q, q_loss)
        x_pi = torch.cat([s, a_pi], -1)
        q_pi = torch.min(self.q[0](x_pi), self.q[1](x_pi)).squeeze(-1)
        actor_loss = (alpha * logp_pi - q_pi).mean()
        step(self.opt_a, actor_loss)
        with torch.no_grad():
            for p, pt in zip(self.q.parameters(), self.q_t.parameters(), strict=True):
                pt.mul_(0.995).add_(p, alpha=0.005)


class Td3:
    def __init__(self, obs: int, act: int, twin: bool = True, delay: int = 2, smoothing: bool = True) -> None:
        n = 2 if twin else 1
        self.actor, self.actor_t = mlp(obs, act), mlp(obs, act)
        self.actor_t.load_state_dict(self.actor.state_dict())
        self.q = nn.ModuleList([mlp(obs + act, 1) for _ in range(n)])
        self.q_t = nn.ModuleList([mlp(obs + act, 1) for _ in range(n)])
        self.q_t.load_state_dict(self.q.state_dict())
        self.opt_a = torch.optim.Adam(self.actor.parameters(), lr=3e-4)
        self.opt_q = torch.optim.Adam(self.q.parameters(), lr=3e-4)
        self.delay, self.smoothing, self.it = delay, smoothing, 0

    def update(self, s: Tensor, a: Tensor, r: Tensor, s2: Tensor, d: Tensor) -> None:
        self.it += 1
        with torch.no_grad():
            a2 = torch.tanh(self.actor_t(s2))
            if self.smoothing:
                a2 = (a2 + (0.2 * torch.randn_like(a2)).clamp(-0.5, 0.5)).clamp(-1, 1)
            x2 = torch.cat([s2, a2], -1)
            q2 = torch.min(torch.cat([q(x2) for q in self.q_t], -1), -1).values
            y = r + 0.99 * (1 - d) * q2
        x = torch.cat([s, a], -1)
        q_loss = sum(F.mse_loss(q(x).squeeze(-1), y) for q in self.q)
        step(self.opt_q, q_loss)
        if self.it % self.delay == 0:
            actor_loss = -self.q[0](torch.cat([s, torch.tanh(self.actor(s))], -1)).mean()
            step(self.opt_a, actor_loss)
            with torch.no_grad():
                for net, tgt in ((self.q, self.q_t), (self.actor, self.actor_t)):
                    for p, pt in zip(net.parameters(), tgt.parameters(), strict=True):
                        pt.mul_(0.995).add_(p, alpha=0.005)


def step(opt: torch.optim.Optimizer, loss: Tensor | int) -> None:
    """One optimiser step on `loss` (a `sum` of losses is typed as possibly 0)."""
    assert isinstance(loss, Tensor)
    opt.zero_grad()
    loss.backward()  # type: ignore[no-untyped-call]
    opt.step()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--obs", type=int, default=17)
    ap.add_argument("--act", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--updates", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    b, o, k = 256, args.obs, args.act
    s, a, r, s2 = torch.randn(b, o), torch.tanh(torch.randn(b, k)), torch.randn(b), torch.randn(b, o)
    d = torch.zeros(b)
    algos: dict[str, Callable[[], Agent]] = {
        "sac": lambda: Sac(o, k),
        "td3": lambda: Td3(o, k),
        "ddpg": lambda: Td3(o, k, False, 1, False),
    }
    for name, make in algos.items():
        agent = make()
        for _ in range(20):
            agent.update(s, a, r, s2, d)
        rates = []
        for _ in range(args.rounds):
            t = time.perf_counter()
            for _ in range(args.updates):
                agent.update(s, a, r, s2, d)
            rates.append(args.updates / (time.perf_counter() - t))
        rate = statistics.median(rates)
        print(
            f"torch {torch.__version__} threads {args.threads} obs {o} act {k} {name:5} {rate:8.1f} updates/s"
        )


if __name__ == "__main__":
    main()
