"""`train(config) -> RunResult`: one run, a pure function of (config, seed). No files, no printing."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from nasdqn.agent import DQNAgent
from nasdqn.config import POPULATION_METHODS, RunConfig
from nasdqn.controllers import Controller, Feedback, make_controller, read_controller_states
from nasdqn.envs import (
    make_env,
    pendulum_params,
    random_policy,
    reference_policy,
    reference_return,
    rollout_pendulum,
    sample_starts,
)
from nasdqn.records import TIMING_KEYS, RunResult


class Diverged(RuntimeError):
    """Training produced non-finite values; the run stops and is recorded as diverged."""


def env_for(config: RunConfig, seed: int | None = None):
    return make_env(config.env, seed, n_torques=config.n_torques, max_torque=config.max_torque,
                    horizon=config.horizon, discretise=config.discretise, mass=config.pendulum_mass,
                    length=config.pendulum_length)


def check_runnable(config: RunConfig) -> None:
    """Build the env once so that a bad env (unknown id, unusable action space) fails before any work;
    likewise read the controller state a transfer run starts from."""
    env_for(config, 0).close()
    if config.ctrl_init:
        read_controller_states(config.ctrl_init)


class Evaluator:
    """Greedy returns on fixed evaluation starts, the same for every run of a config's env.

    The pendulum runs all starts at once through its vectorised twin; other envs are reset with
    seeds eval_seed, eval_seed + 1, ... and stepped one by one.
    """

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.env = env_for(config)
        self.pendulum = pendulum_params(self.env)
        if self.pendulum is not None:
            self.starts = sample_starts(self.pendulum, np.random.default_rng(config.eval_seed), config.eval_episodes)

    def returns(self, policy: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        if self.pendulum is not None:
            return rollout_pendulum(self.pendulum, self.starts, policy)
        out = []
        for i in range(self.config.eval_episodes):
            obs, _ = self.env.reset(seed=self.config.eval_seed + i)
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
            "random_return": float(self.returns(random_policy(n, np.random.default_rng(self.config.eval_seed))).mean()),
            "reference_return": reference_return(self.config.env),
        }
        if self.pendulum is not None:
            anchors["reference_return"] = float(self.returns(reference_policy(self.pendulum)).mean())
        return anchors


ControllerFactory = Callable[[RunConfig, np.random.Generator, tuple[int, int]], Controller]


def train(config: RunConfig, progress: Callable[[int], None] | None = None,
          controller_factory: ControllerFactory = make_controller,
          observer: Callable[[int, DQNAgent], None] | None = None) -> RunResult:
    """Train one agent for `config.steps` environment steps and return everything measured.

    `progress(n)` is called with the number of steps done since the last call (for progress bars).
    `controller_factory(config, rng, (obs_size, n_actions))` builds the architecture controller: the
    place to plug in a new one (anything with the methods of `controllers.Controller`); the default
    builds the one `config.method` names. A run with the default is a pure function of the config.
    `observer(step, agent)` is called after every evaluation, for diagnostics; it must leave the agent
    as it found it (`DQNAgent.snapshot` / `restore`), or the run is no longer that config's.
    A population method (`halving`, `halving-random`) trains many networks at once: it runs
    `population.train_halving`, which takes neither a controller factory nor an observer.
    """
    if config.method in POPULATION_METHODS:
        # Imported here: the population module builds on this one (Evaluator, env_for).
        from nasdqn.population import train_halving
        return train_halving(config, progress)
    torch.set_num_threads(config.threads)
    threadpool_limits(config.threads)  # numpy's BLAS too (the learned controller's linear algebra)
    # Adam's second moments decay toward denormal floats, on which x86 arithmetic is many times
    # slower; flushing them to zero costs nothing in accuracy and ~8% of wall time.
    torch.set_flush_denormal(True)
    wall_start = time.perf_counter()
    seeds = np.random.SeedSequence(config.seed).spawn(5)
    env_rng, agent_rng, ctrl_rng, morph_rng = (np.random.default_rng(s) for s in seeds[:4])
    torch_gen = torch.Generator().manual_seed(int(seeds[4].generate_state(1)[0]))

    env = env_for(config, int(env_rng.integers(2**31)))
    obs_dim, n_actions = env.observation_space.shape[0], env.action_space.n
    evaluator = Evaluator(config)
    controller = controller_factory(config, ctrl_rng, (obs_dim, n_actions))
    arch = controller.initial()
    agent = DQNAgent(obs_dim, n_actions, arch, lr=config.lr, gamma=config.gamma, batch_size=config.batch_size,
                     buffer_size=config.buffer_size, grad_clip=config.grad_clip, rng=agent_rng,
                     torch_generator=torch_gen, double=config.target == "double")

    timing = dict.fromkeys(TIMING_KEYS, 0.0)
    episodes: list[tuple] = []
    evals: list[tuple] = []
    events: list[tuple] = [(0, 0, None, str(arch), np.nan, _entropy(controller), agent.online.n_params,
                            0.0, True)]
    window_returns: list[float] = []
    eps_steps = max(1, int(config.eps_fraction * config.steps))
    updates_per_train, n_updates = config.updates_per_train, 0
    clock = time.perf_counter

    obs, _ = env.reset(seed=int(env_rng.integers(2**31)))
    ep_return, ep_len, episode = 0.0, 0, 0
    for step in range(1, config.steps + 1):
        epsilon = config.eps_end + (config.eps_start - config.eps_end) * max(0.0, 1.0 - (step - 1) / eps_steps)
        t0 = clock()
        action = agent.act(obs, epsilon)
        t1 = clock()
        next_obs, reward, terminated, truncated, _ = env.step(action)
        t2 = clock()
        agent.buffer.add(obs, action, reward, next_obs, terminated)
        obs = next_obs
        ep_return += reward
        ep_len += 1
        if step > config.learning_starts and step % config.train_freq == 0:
            for _ in range(updates_per_train):
                grad_norm = agent.update()
                n_updates += 1
                # Reading the norm forces no sync on CPU but costs a call: check every 250 updates.
                if n_updates % 250 == 0 and not math.isfinite(float(grad_norm)):
                    raise Diverged(_diagnose(agent, step, float(grad_norm), evals))
        if step % config.target_update == 0:
            agent.sync_target()
        t3 = clock()
        timing["act"] += t1 - t0
        timing["env"] += t2 - t1
        timing["learn"] += t3 - t2

        if terminated or truncated:
            episode += 1
            episodes.append((step, episode, ep_return, ep_len, epsilon, str(agent.arch)))
            window_returns.append(ep_return)
            obs, _ = env.reset()
            ep_return, ep_len = 0.0, 0
            if episode % config.search_interval == 0:
                t0 = clock()
                fb = Feedback(step, episode, agent.arch, float(np.mean(window_returns)),
                              agent.online.n_params, step / config.steps)
                new_arch = controller.propose(fb)
                window_returns = []
                t1 = clock()
                timing["controller"] += t1 - t0
                # A change at the last step would be evaluated but never trained (`last_decision`).
                final = step == config.steps and config.last_decision == "skip"
                if new_arch is not None and new_arch != agent.arch and not final:
                    report = agent.reconfigure(new_arch, morph_rng, config.distill_steps,
                                               inherit=config.inherit, replay_keep=config.replay_keep)
                    timing["morph"] += clock() - t1
                    events.append((step, episode, report.from_arch, report.to_arch, fb.score,
                                   _entropy(controller), agent.online.n_params, report.error_after,
                                   report.preserving))

        if step % config.eval_every == 0 or step == config.steps:
            t0 = clock()
            returns = evaluator.returns(agent.greedy)
            if not (np.all(np.isfinite(agent.online.flat.numpy())) and np.all(np.isfinite(returns))):
                raise Diverged(_diagnose(agent, step, float("nan"), evals))
            evals.extend((step, i, float(r), str(agent.arch)) for i, r in enumerate(returns))
            timing["eval"] += clock() - t0
            if observer is not None:
                observer(step, agent)
        if progress is not None and step % 1000 == 0:
            progress(1000)
    if progress is not None and config.steps % 1000:
        progress(config.steps % 1000)

    timing["total"] = time.perf_counter() - wall_start
    return RunResult(
        config=config,
        episodes=pd.DataFrame(episodes, columns=["step", "episode", "return", "length", "epsilon", "arch"]),
        evals=pd.DataFrame(evals, columns=["step", "eval_episode", "return", "arch"]),
        arch_events=pd.DataFrame(events, columns=["step", "episode", "from_arch", "to_arch", "score",
                                                  "entropy", "params", "morph_error", "preserving"]),
        timing=timing,
        anchors=evaluator.anchors(),
        controller_state=controller.state_dict(),
    )


def _diagnose(agent: DQNAgent, step: int, grad_norm: float, evals: list[tuple]) -> str:
    """One line saying where training blew up, for the run's meta.json."""
    params = agent.online.flat.numpy()
    states = agent.buffer.recent_states(256)
    q = agent.q_values(states) if len(states) else np.zeros(1)
    last_eval = np.mean([e[2] for e in evals[-10:]]) if evals else float("nan")
    return (f"non-finite values at step {step} with {agent.arch}: gradient norm {grad_norm:.3g}, "
            f"{int((~np.isfinite(params)).sum())} of {params.size} parameters non-finite, "
            f"max |Q| {np.nanmax(np.abs(q)) if np.isfinite(q).any() else float('nan'):.3g}, "
            f"last greedy evaluation {last_eval:.1f}")


def _entropy(controller: Controller) -> float:
    return float(controller.diagnostics().get("entropy", 0.0))
