"""`train(config) -> RunResult`: one run, a pure function of (config, seed). No files, no printing.

One training loop (`train_loop`) runs every method. It owns the environment, the epsilon schedule,
the update and target-sync cadence, the episode and evaluation tables, the timing and the progress
bar; what it drives, the learner, is one network under a controller (`SingleNetwork`: fixed
networks, random search, NAS-DQN, replay) or a population of candidates on one replay buffer under a
population controller (`population.Population`: halving). The method's registry entry
(`nasdqn.methods`) says which, and builds the controller.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits

from nasdqn import methods
from nasdqn.agent import DQNAgent
from nasdqn.config import RunConfig
from nasdqn.controllers import Controller, Feedback, HalvingController, read_controller_states
from nasdqn.evaluation import Evaluator, env_for
from nasdqn.population import Population, PopulationResult
from nasdqn.records import TIMING_KEYS, RunResult
from nasdqn.search_space import Arch

ControllerFactory = Callable[[RunConfig, np.random.Generator, tuple[int, int]], Any]
Policy = Callable[[np.ndarray], np.ndarray]


class Diverged(RuntimeError):
    """Training produced non-finite values; the run stops and is recorded as diverged."""


def check_runnable(config: RunConfig) -> None:
    """Build the env once so that a bad env (unknown id, unusable action space) fails before any work;
    likewise read the controller state a transfer run starts from."""
    env_for(config, 0).close()
    if config.ctrl_init:
        read_controller_states(config.ctrl_init)


class Learner(Protocol):
    """What the training loop drives."""

    checkpoints: frozenset[int]  # steps, besides the evaluations, at which `checkpoint` is called
    events: list[tuple]  # architecture changes, rows of the arch_events table
    acting: str  # the architecture acting in the current episode

    def act(self, obs: np.ndarray, epsilon: float) -> int: ...
    def store(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminal: bool) -> None: ...
    def update(self) -> torch.Tensor: ...  # one gradient step; the gradient norm
    def sync_target(self) -> None: ...
    def end_episode(self, step: int, episode: int, score: float) -> None: ...
    def checkpoint(self, step: int) -> None: ...
    def deployed(self, step: int, episode: int) -> tuple[Policy, str]: ...  # the policy evaluated, its arch
    def finite(self) -> bool: ...
    def diagnose(self, step: int, grad_norm: float, last_eval: float) -> str: ...
    def finish(self) -> None: ...
    def state_dict(self) -> dict: ...


class SingleNetwork:
    """One Double DQN agent whose architecture a controller may change: every `search_interval`
    episodes the controller sees the window's mean training return and may propose another
    architecture; the network is then morphed (`inherit`), the target follows, and the replay buffer
    keeps its most recent `replay_keep` share.

    Random streams, children of the run's seed: 1 the agent's (exploration, minibatches), 2 the
    controller's, 3 morphing's, 4 the initial weights' (the loop's env takes child 0)."""

    checkpoints: frozenset[int] = frozenset()

    def __init__(self, config: RunConfig, io: tuple[int, int], controller_factory: ControllerFactory,
                 timing: dict[str, float]) -> None:
        self.config, self.timing = config, timing
        child = [np.random.SeedSequence(config.seed, spawn_key=(i,)) for i in range(5)]
        agent_rng, ctrl_rng, self.morph_rng = (np.random.default_rng(s) for s in child[1:4])
        torch_gen = torch.Generator().manual_seed(int(child[4].generate_state(1)[0]))
        self.controller: Controller = controller_factory(config, ctrl_rng, io)
        self.agent = agent = DQNAgent(
            *io, self.controller.initial(), lr=config.lr, gamma=config.gamma, batch_size=config.batch_size,
            buffer_size=config.buffer_size, grad_clip=config.grad_clip, rng=agent_rng, torch_generator=torch_gen,
            double=config.target == "double")
        self.events = [(0, 0, None, str(agent.arch), np.nan, self._entropy(), agent.online.n_params, 0.0, True)]
        self.window_returns: list[float] = []
        # The agent's own methods, bound once: the loop calls them at every step (a change of network
        # keeps the agent and its buffer, so they stay bound).
        self.act, self.store, self.update, self.sync_target = agent.act, agent.buffer.add, agent.update, \
            agent.sync_target

    @property
    def acting(self) -> str:
        return str(self.agent.arch)

    def end_episode(self, step: int, episode: int, score: float) -> None:
        config, agent, clock = self.config, self.agent, time.perf_counter
        self.window_returns.append(score)
        if episode % config.search_interval:
            return
        t0 = clock()
        fb = Feedback(step, episode, agent.arch, float(np.mean(self.window_returns)), agent.online.n_params,
                      step / config.steps)
        new_arch = self.controller.propose(fb)
        self.window_returns = []
        t1 = clock()
        self.timing["controller"] += t1 - t0
        # A change at the last step would be evaluated but never trained (`last_decision`).
        final = step == config.steps and config.last_decision == "skip"
        if new_arch is not None and new_arch != agent.arch and not final:
            report = agent.reconfigure(new_arch, self.morph_rng, config.distill_steps, inherit=config.inherit,
                                       replay_keep=config.replay_keep)
            self.timing["morph"] += clock() - t1
            self.events.append((step, episode, report.from_arch, report.to_arch, fb.score, self._entropy(),
                                agent.online.n_params, report.error_after, report.preserving))

    def checkpoint(self, step: int) -> None:
        pass  # one network: nothing to select between

    def deployed(self, step: int, episode: int) -> tuple[Policy, str]:
        return self.agent.greedy, str(self.agent.arch)

    def finite(self) -> bool:
        return bool(np.all(np.isfinite(self.agent.online.flat.numpy())))

    def diagnose(self, step: int, grad_norm: float, last_eval: float) -> str:
        """One line saying where training blew up, for the run's meta.json."""
        agent = self.agent
        params = agent.online.flat.numpy()
        states = agent.buffer.recent_states(256)
        q = agent.q_values(states) if len(states) else np.zeros(1)
        return (f"non-finite values at step {step} with {agent.arch}: gradient norm {grad_norm:.3g}, "
                f"{int((~np.isfinite(params)).sum())} of {params.size} parameters non-finite, "
                f"max |Q| {np.nanmax(np.abs(q)) if np.isfinite(q).any() else float('nan'):.3g}, "
                f"last greedy evaluation {last_eval:.1f}")

    def finish(self) -> None:
        pass

    def state_dict(self) -> dict:
        return self.controller.state_dict()

    def _entropy(self) -> float:
        return float(self.controller.diagnostics().get("entropy", 0.0))


def train(config: RunConfig, progress: Callable[[int], None] | None = None,
          controller_factory: ControllerFactory = methods.make_controller,
          observer: Callable[[int, DQNAgent], None] | None = None) -> RunResult:
    """Train one agent (or, for a population method, its candidates) for `config.steps` environment
    steps and return everything measured.

    `progress(n)` is called with the number of steps done since the last call (for progress bars).
    `controller_factory(config, rng, (obs_size, n_actions))` builds the controller: the place to plug
    in a new one (anything with the methods of `controllers.Controller`, or for a population method of
    `controllers.PopulationController`); the default builds the one `config.method`'s registry entry
    names. A run with the default is a pure function of the config.
    `observer(step, agent)` is called after every evaluation of a single-network method, for
    diagnostics; it must leave the agent as it found it (`DQNAgent.snapshot` / `restore`), or the
    run is no longer that config's.
    """
    entry = methods.get(config.method)
    if entry.family == methods.POPULATION:
        if observer is not None:
            raise ValueError(f"observer: method {config.method} trains a population, not one agent to observe")
        assert entry.candidates is not None  # every population entry says what it trains

        def learner(io: tuple[int, int], timing: dict[str, float]) -> Learner:
            return Population(config, entry.candidates(config), config.selection_seed, io, controller_factory,
                              timing)
    else:
        def learner(io: tuple[int, int], timing: dict[str, float]) -> Learner:
            return SingleNetwork(config, io, controller_factory, timing)
    return train_loop(config, learner, progress, observer)


def train_population(config: RunConfig, archs: list[Arch], validation_seed: int,
                     progress: Callable[[int], None] | None = None, holdout: int = 0) -> PopulationResult:
    """Train one agent per architecture in `archs` on a shared buffer and shared minibatches for
    `config.steps` environment steps, never cutting any (the options of `config` apply to every
    candidate): the premise of the population methods, measured (`benchmarks/shadow_premise.py`).
    `holdout`: how many of the most recent held-out transitions to score each candidate's TD error on
    (0: none; the training is the same either way: the held-out environment has its own seeds)."""
    started = time.perf_counter()
    made: list[Population] = []

    def keep_all(config: RunConfig, rng: np.random.Generator, io: tuple[int, int]) -> HalvingController:
        return HalvingController((), ())  # no rung: nobody is cut

    def learner(io: tuple[int, int], timing: dict[str, float]) -> Learner:
        made.append(Population(config, archs, validation_seed, io, keep_all, timing, holdout=holdout))
        return made[0]

    train_loop(config, learner, progress)
    return made[0].result(time.perf_counter() - started)


def train_loop(config: RunConfig, make_learner: Callable[[tuple[int, int], dict[str, float]], Learner],
               progress: Callable[[int], None] | None = None,
               observer: Callable[[int, DQNAgent], None] | None = None) -> RunResult:
    """The training loop every method runs: `make_learner((obs_size, n_actions), timing)` builds what
    it drives (see `Learner`); the rest of this function is the whole of a run."""
    torch.set_num_threads(config.threads)
    threadpool_limits(config.threads)  # numpy's BLAS too (the learned controller's linear algebra)
    # Adam's second moments decay toward denormal floats, on which x86 arithmetic is many times
    # slower; flushing them to zero costs nothing in accuracy and ~8% of wall time.
    torch.set_flush_denormal(True)
    wall_start = time.perf_counter()
    env_rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(0,)))
    env = env_for(config, int(env_rng.integers(2**31)))
    evaluator = Evaluator(config)
    timing = dict.fromkeys(TIMING_KEYS, 0.0)
    learner = make_learner((env.observation_space.shape[0], env.action_space.n), timing)

    episodes: list[tuple] = []
    evals: list[tuple] = []
    eps_steps = max(1, int(config.eps_fraction * config.steps))
    updates_per_train, n_updates = config.updates_per_train, 0
    clock = time.perf_counter

    obs, _ = env.reset(seed=int(env_rng.integers(2**31)))
    ep_return, ep_len, episode = 0.0, 0, 0
    for step in range(1, config.steps + 1):
        epsilon = config.eps_end + (config.eps_start - config.eps_end) * max(0.0, 1.0 - (step - 1) / eps_steps)
        t0 = clock()
        action = learner.act(obs, epsilon)
        t1 = clock()
        next_obs, reward, terminated, truncated, _ = env.step(action)
        t2 = clock()
        learner.store(obs, action, reward, next_obs, terminated)
        obs = next_obs
        ep_return += reward
        ep_len += 1
        if step > config.learning_starts and step % config.train_freq == 0:
            for _ in range(updates_per_train):
                grad_norm = learner.update()
                n_updates += 1
                # Reading the norm forces no sync on CPU but costs a call: check every 250 updates.
                if n_updates % 250 == 0 and not math.isfinite(float(grad_norm)):
                    raise Diverged(learner.diagnose(step, float(grad_norm), _last_eval(evals)))
        if step % config.target_update == 0:
            learner.sync_target()
        t3 = clock()
        timing["act"] += t1 - t0
        timing["env"] += t2 - t1
        timing["learn"] += t3 - t2

        if terminated or truncated:
            episode += 1
            episodes.append((step, episode, ep_return, ep_len, epsilon, learner.acting))
            learner.end_episode(step, episode, ep_return)  # a controller may change the network here
            obs, _ = env.reset()
            ep_return, ep_len = 0.0, 0

        evaluating = step % config.eval_every == 0 or step == config.steps
        if evaluating or step in learner.checkpoints:
            learner.checkpoint(step)  # a population scores its candidates and may cut some
        if evaluating:
            t0 = clock()
            policy, arch = learner.deployed(step, episode)
            returns = evaluator.returns(policy)
            if not (learner.finite() and np.all(np.isfinite(returns))):
                raise Diverged(learner.diagnose(step, float("nan"), _last_eval(evals)))
            evals.extend((step, i, float(r), arch) for i, r in enumerate(returns))
            timing["eval"] += clock() - t0
            if observer is not None:
                observer(step, learner.agent)
        if progress is not None and step % 1000 == 0:
            progress(1000)
    if progress is not None and config.steps % 1000:
        progress(config.steps % 1000)

    learner.finish()
    timing["total"] = time.perf_counter() - wall_start
    return RunResult(
        config=config,
        episodes=pd.DataFrame(episodes, columns=["step", "episode", "return", "length", "epsilon", "arch"]),
        evals=pd.DataFrame(evals, columns=["step", "eval_episode", "return", "arch"]),
        arch_events=pd.DataFrame(learner.events, columns=["step", "episode", "from_arch", "to_arch", "score",
                                                          "entropy", "params", "morph_error", "preserving"]),
        timing=timing,
        anchors=evaluator.anchors(),
        controller_state=learner.state_dict(),
    )


def _last_eval(evals: list[tuple]) -> float:
    return float(np.mean([e[2] for e in evals[-10:]])) if evals else float("nan")
