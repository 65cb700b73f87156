"""Candidates trained side by side on one replay buffer: the ground a population controller stands on.

Each of K architectures gets a Double DQN agent; all share one replay buffer. At every training
step each candidate takes its gradient step on the same minibatch (the same transition indices), so
their differences come from their architectures, not from their data. Candidates of one hidden shape
are updated together as one stack (`nasdqn.stacked`): the same updates in fewer operations. The
candidates act in turn, one episode each (round robin), under the run's epsilon schedule. Every
`eval_every` steps each one is evaluated greedily on common validation starts, drawn from
`validation_seed`: distinct from the reporting starts (`eval_seed`), so a selection made on them is
not judged on the same states.

A candidate mostly learns from transitions other candidates collected, so its score here can rank
differently from the same architecture trained alone: `benchmarks/shadow_premise.py` measures that
before any controller is built on it.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from nasdqn.agent import ReplayBuffer
from nasdqn.config import RunConfig
from nasdqn.networks import MLP
from nasdqn.search_space import Arch
from nasdqn.stacked import SharedBatch, stacks_for
from nasdqn.train import Evaluator, env_for


@dataclass
class PopulationResult:
    evals: pd.DataFrame  # step, arch, eval_episode, return (validation starts)
    candidates: pd.DataFrame  # arch, params, acting_steps, updates, learn_seconds
    anchors: dict[str, float | None]  # random and reference returns on the validation starts
    seconds: float


def train_population(config: RunConfig, archs: Sequence[Arch], validation_seed: int,
                     progress: Callable[[int], None] | None = None) -> PopulationResult:
    """Train one agent per architecture in `archs` on a shared buffer and shared minibatches for
    `config.steps` environment steps (the options of `config` apply to every candidate)."""
    if len(archs) < 1 or len(set(archs)) != len(archs):
        raise ValueError(f"need distinct architectures, got {[str(a) for a in archs]}")
    if validation_seed == config.eval_seed:
        raise ValueError("validation_seed must differ from eval_seed: the selection starts must not be the "
                         "reporting starts")
    torch.set_num_threads(config.threads)
    threadpool_limits(config.threads)
    torch.set_flush_denormal(True)
    started = time.perf_counter()
    seeds = np.random.SeedSequence(config.seed).spawn(2 + 2 * len(archs))
    env_rng, batch_rng = np.random.default_rng(seeds[0]), np.random.default_rng(seeds[1])
    env = env_for(config, int(env_rng.integers(2**31)))
    obs_dim, n_actions = env.observation_space.shape[0], env.action_space.n
    shared = ReplayBuffer(config.buffer_size, obs_dim)
    nets = [MLP(obs_dim, n_actions, arch,
                generator=torch.Generator().manual_seed(int(seeds[3 + 2 * i].generate_state(1)[0])))
            for i, arch in enumerate(archs)]
    stacks, where = stacks_for(nets, lr=config.lr, gamma=config.gamma, grad_clip=config.grad_clip,
                               double=config.target == "double")
    q = [stacks[s].q_function(m) for s, m in where]
    act_rngs = [np.random.default_rng(seeds[2 + 2 * i]) for i in range(len(archs))]
    batch = SharedBatch(config.batch_size, obs_dim)
    validator = Evaluator(config.replace(eval_seed=validation_seed))
    acting_steps = np.zeros(len(archs), dtype=int)
    updates = 0
    stack_seconds = np.zeros(len(stacks))
    evals: list[tuple] = []
    eps_steps = max(1, int(config.eps_fraction * config.steps))

    obs, _ = env.reset(seed=int(env_rng.integers(2**31)))
    episode = 0
    for step in range(1, config.steps + 1):
        epsilon = config.eps_end + (config.eps_start - config.eps_end) * max(0.0, 1.0 - (step - 1) / eps_steps)
        actor = episode % len(archs)
        rng = act_rngs[actor]
        action = int(rng.integers(n_actions)) if rng.random() < epsilon else int(q[actor](obs).argmax())
        acting_steps[actor] += 1
        next_obs, reward, terminated, truncated, _ = env.step(action)
        shared.add(obs, action, reward, next_obs, terminated)
        obs = next_obs
        if step > config.learning_starts and step % config.train_freq == 0:
            for _ in range(config.updates_per_train):
                batch.gather(shared, batch_rng.integers(shared.size, size=config.batch_size))
                for k, stack in enumerate(stacks):
                    t0 = time.perf_counter()
                    stack.update(batch)
                    stack_seconds[k] += time.perf_counter() - t0
                updates += 1
        if step % config.target_update == 0:
            for stack in stacks:
                stack.sync_target()
        if terminated or truncated:
            episode += 1
            obs, _ = env.reset()
        if step % config.eval_every == 0 or step == config.steps:
            for arch, forward in zip(archs, q, strict=True):
                returns = validator.returns(lambda x, f=forward: f(x).argmax(axis=-1))
                evals.extend((step, str(arch), j, float(r)) for j, r in enumerate(returns))
        if progress is not None and step % 1000 == 0:
            progress(1000)
    # A stack's time is shared equally by its members (they run the same operations).
    learn_seconds = [stack_seconds[s] / len(stacks[s]) for s, _ in where]
    candidates = pd.DataFrame({"arch": [str(a) for a in archs], "params": [n.n_params for n in nets],
                               "acting_steps": acting_steps, "updates": updates, "learn_seconds": learn_seconds,
                               "stack": [s for s, _ in where]})
    return PopulationResult(pd.DataFrame(evals, columns=["step", "arch", "eval_episode", "return"]), candidates,
                            validator.anchors(), time.perf_counter() - started)
