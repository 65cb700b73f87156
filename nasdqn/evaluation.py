"""Greedy evaluation on fixed starts, and the env a config names: below both the training loop and
the population, which evaluate with it (and import neither each other nor anything above)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nasdqn.config import RunConfig
from nasdqn.envs import (
    make_env,
    pendulum_params,
    random_policy,
    reference_policy,
    reference_return,
    rollout_pendulum,
    sample_starts,
)


def env_for(config: RunConfig, seed: int | None = None):
    """The env of `config` (its id and the pendulum's options), seeded with `seed`."""
    return make_env(config.env, seed, n_torques=config.n_torques, max_torque=config.max_torque,
                    horizon=config.horizon, discretise=config.discretise, mass=config.pendulum_mass,
                    length=config.pendulum_length)


class Evaluator:
    """Greedy returns on fixed evaluation starts, the same for every run of a config's env.

    The starts come from `seed` (default: the config's `eval_seed`, the reporting starts; a
    population scores its candidates on starts of another seed). The pendulum runs all starts at once
    through its vectorised twin; other envs are reset with seeds seed, seed + 1, ... and stepped one
    by one.
    """

    def __init__(self, config: RunConfig, seed: int | None = None) -> None:
        self.config = config
        self.seed = config.eval_seed if seed is None else seed
        self.env = env_for(config)
        self.pendulum = pendulum_params(self.env)
        if self.pendulum is not None:
            self.starts = sample_starts(self.pendulum, np.random.default_rng(self.seed), config.eval_episodes)

    def returns(self, policy: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        if self.pendulum is not None:
            return rollout_pendulum(self.pendulum, self.starts, policy)
        out = []
        for i in range(self.config.eval_episodes):
            obs, _ = self.env.reset(seed=self.seed + i)
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, _ = self.env.step(int(policy(obs[None].astype(np.float32))[0]))
                total += float(reward)
                done = terminated or truncated
            out.append(total)
        return np.array(out)

    def anchors(self) -> dict[str, float | None]:
        """Mean returns of a uniform random policy and of the reference: the paper's pendulum's
        reference controller, else the task's "solved" return (`envs.reference_return`)."""
        n = self.env.action_space.n
        anchors: dict[str, float | None] = {
            "random_return": float(self.returns(random_policy(n, np.random.default_rng(self.seed))).mean()),
            "reference_return": reference_return(self.config.env),
        }
        if self.pendulum is not None:
            anchors["reference_return"] = float(self.returns(reference_policy(self.pendulum)).mean())
        return anchors
