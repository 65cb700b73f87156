"""Candidates trained side by side on one replay buffer: what the training loop drives for a
population method (`halving`, `halving-random`, and `train.train_population`'s diagnostic).

Each of K architectures gets a Double DQN agent; all share one replay buffer. At every training
step each candidate takes its gradient step on the same minibatch (the same transition indices), so
their differences come from their architectures, not from their data. Candidates of one hidden shape
are updated together as one stack (`nasdqn.stacked`): the same updates in fewer operations. The
candidates act in turn, one episode each (round robin), under the run's epsilon schedule. At every
evaluation (and at the controller's checkpoints) each one is evaluated greedily on common validation
starts, drawn from `validation_seed`: distinct from the reporting starts (`eval_seed`), so a selection
made on them is not judged on the same states. Optionally (`holdout`, for diagnostics) a second
environment, stepped in parallel by the acting candidate's epsilon-greedy policy, fills a held-out
buffer whose transitions no candidate trains on; at every evaluation each candidate's mean squared TD
error on it is logged.

A population controller (`controllers.base.PopulationController`, e.g. successive halving) decides at
its checkpoints which candidates go on, and at every evaluation which one is deployed: the reported
learning curve is the greedy return, on the reporting starts, of that candidate.

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

from nasdqn.agent import ReplayBuffer
from nasdqn.config import RunConfig
from nasdqn.controllers.base import PopulationController
from nasdqn.evaluation import Evaluator, env_for
from nasdqn.networks import MLP
from nasdqn.search_space import Arch
from nasdqn.stacked import CandidateStack, SharedBatch, stacks_for

Policy = Callable[[np.ndarray], np.ndarray]


@dataclass
class PopulationResult:
    evals: pd.DataFrame  # step, arch, eval_episode, return (validation starts)
    heldout: pd.DataFrame  # step, arch, td_error (held-out transitions; empty without a holdout)
    candidates: pd.DataFrame  # arch, params, acting_steps, updates, learn_seconds, stack, cut_at, ...
    anchors: dict[str, float | None]  # random and reference returns on the validation starts
    seconds: float


class Population:
    """The training loop's learner for a population: K candidates, one shared buffer, one controller.

    Random streams, children of the run's seed: 1 the minibatches, 2 + 2i candidate i's exploration,
    3 + 2i its initial weights, 2 + 2K the controller's (the loop's env takes child 0)."""

    def __init__(self, config: RunConfig, archs: Sequence[Arch], validation_seed: int, io: tuple[int, int],
                 controller_factory: Callable[..., PopulationController], timing: dict[str, float],
                 holdout: int = 0) -> None:
        if len(archs) < 1 or len(set(archs)) != len(archs):
            raise ValueError(f"need distinct architectures, got {[str(a) for a in archs]}")
        if validation_seed == config.eval_seed:
            raise ValueError("validation_seed must differ from eval_seed: the selection starts must not be the "
                             "reporting starts")
        self.config, self.timing = config, timing
        obs_dim, self.n_actions = io
        child = [np.random.SeedSequence(config.seed, spawn_key=(i,)) for i in range(3 + 2 * len(archs))]
        self.batch_rng = np.random.default_rng(child[1])
        self.buffer = ReplayBuffer(config.buffer_size, obs_dim)
        self.names = names = [str(a) for a in archs]
        nets = [MLP(obs_dim, self.n_actions, arch,
                    generator=torch.Generator().manual_seed(int(child[3 + 2 * i].generate_state(1)[0])))
                for i, arch in enumerate(archs)]
        self.options = dict(lr=config.lr, gamma=config.gamma, grad_clip=config.grad_clip,
                            double=config.target == "double")
        self.stacks, self.where = stacks_for(nets, **self.options)
        self._members = {names[k]: self.where[k] for k in range(len(archs))}  # arch -> (stack, member)
        self.act_rngs = {names[i]: np.random.default_rng(child[2 + 2 * i]) for i in range(len(archs))}
        self.params = {names[i]: nets[i].n_params for i in range(len(archs))}
        self.batch = SharedBatch(config.batch_size, obs_dim)
        self.validator = Evaluator(config, seed=validation_seed)
        self.controller = controller_factory(config, np.random.default_rng(child[2 + 2 * len(archs)]), io)
        self.checkpoints = frozenset(self.controller.checkpoints)
        self.alive = list(names)
        self._q = {a: self.stacks[s].q_function(m) for a, (s, m) in self._members.items()}
        self.acting_steps = dict.fromkeys(names, 0)
        self.updates = dict.fromkeys(names, 0)
        self.learn_seconds = dict.fromkeys(names, 0.0)
        self.cut_at: dict[str, int | None] = dict.fromkeys(names, None)
        self.scores: dict[str, list[float]] = {a: [] for a in names}
        self.returns: dict[str, list[np.ndarray]] = {a: [] for a in names}  # per validation start
        self.validation: list[tuple] = []  # (step, arch, eval_episode, return) on the validation starts
        self.heldout: list[tuple] = []  # (step, arch, td_error) on the held-out transitions
        self.events: list[tuple] = []  # changes of the deployed candidate (arch_events rows)
        self.selection_episodes = 0
        self.current: str | None = None  # the deployed candidate
        self.acting = names[0]  # the candidate acting in the current episode
        self.episode = 0
        self.holdout = holdout
        if holdout:
            # Seeds of their own (not children of the run's), so that the training stream is unchanged.
            h_seeds = np.random.SeedSequence([config.seed, validation_seed, 1]).spawn(2)
            self.h_rng = np.random.default_rng(h_seeds[0])
            self.h_env = env_for(config, int(np.random.default_rng(h_seeds[1]).integers(2**31)))
            self.h_buffer = ReplayBuffer(holdout, obs_dim)
            self.h_obs, _ = self.h_env.reset(seed=int(self.h_rng.integers(2**31)))

    # -- what the loop calls at every step ------------------------------------------------------
    def act(self, obs: np.ndarray, epsilon: float) -> int:
        actor = self.acting = self.alive[self.episode % len(self.alive)]
        rng = self.act_rngs[actor]
        action = int(rng.integers(self.n_actions)) if rng.random() < epsilon else int(self._q[actor](obs).argmax())
        self.acting_steps[actor] += 1
        if self.holdout:
            h_rng, q = self.h_rng, self._q[actor]
            h_action = int(h_rng.integers(self.n_actions)) if h_rng.random() < epsilon else int(q(self.h_obs).argmax())
            h_next, h_reward, h_term, h_trunc, _ = self.h_env.step(h_action)
            self.h_buffer.add(self.h_obs, h_action, h_reward, h_next, h_term)
            self.h_obs = self.h_env.reset()[0] if h_term or h_trunc else h_next
        return action

    def store(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminal: bool) -> None:
        self.buffer.add(obs, action, reward, next_obs, terminal)

    def update(self) -> torch.Tensor:
        """One gradient step of every alive candidate on one shared minibatch. Returns the gradient norm
        of the deployed candidate (before the first evaluation: of the first alive one): a candidate
        that diverges is the controller's to cut; the deployed one diverging is the run diverging."""
        clock = time.perf_counter
        self.batch.gather(self.buffer, self.batch_rng.integers(self.buffer.size, size=self.config.batch_size))
        watched, member = self._members[self._watched()]
        for i, stack in enumerate(self.stacks):
            s0 = clock()
            norms = stack.update(self.batch)
            share = (clock() - s0) / len(stack)  # members run the same operations
            for arch in stack.archs:
                self.learn_seconds[str(arch)] += share
                self.updates[str(arch)] += 1
            if i == watched:
                norm = norms[member]
        return norm

    def sync_target(self) -> None:
        for stack in self.stacks:
            stack.sync_target()

    def end_episode(self, step: int, episode: int, score: float) -> None:
        self.episode = episode  # the next episode is the next candidate's

    # -- checkpoints and evaluations ---------------------------------------------------------------
    def checkpoint(self, step: int) -> None:
        """Score the alive candidates on the validation starts (while there is a choice to make), then
        let the controller cut them if `step` is one of its checkpoints."""
        t0 = time.perf_counter()
        if len(self.alive) > 1 or not self.checkpoints:  # a lone survivor needs no more selection
            for arch in self.alive:
                returns = self.validator.returns(lambda x, f=self._q[arch]: f(x).argmax(axis=-1))
                self.validation.extend((step, arch, j, float(r)) for j, r in enumerate(returns))
                self.scores[arch].append(float(np.mean(returns)))
                self.returns[arch].append(np.asarray(returns, dtype=float))
                self.selection_episodes += len(returns)
            if self.holdout and self.h_buffer.size:
                h_batch = SharedBatch(self.h_buffer.size, self.h_buffer.obs.shape[1])
                h_batch.gather(self.h_buffer, np.arange(self.h_buffer.size))
                for stack in self.stacks:
                    td = stack.td_errors(h_batch)
                    self.heldout.extend((step, str(a), float(e)) for a, e in zip(stack.archs, td, strict=True))
        if step in self.checkpoints:
            survivors = self.controller.survivors(step, self.scores, self.alive, self.returns)
            for arch in self.alive:
                if arch not in survivors:
                    self.cut_at[arch] = step
            self.stacks, self._members = _keep(self.stacks, survivors, self.options)
            self.alive = [a for a in self.alive if a in survivors]  # acting order stays the original one
            self._q = {a: self.stacks[s].q_function(m) for a, (s, m) in self._members.items()}
        self.timing["controller"] += time.perf_counter() - t0

    def deployed(self, step: int, episode: int) -> tuple[Policy, str]:
        """The greedy policy of the candidate the controller deploys now, and its architecture."""
        leader = self.controller.deployed(self.scores, self.alive, self.current)
        if leader != self.current:
            score = float(np.mean(self.scores[leader])) if self.scores[leader] else np.nan
            self.events.append((step, episode, self.current, leader, score, 0.0, self.params[leader], 0.0, True))
            self.current = leader
        return (lambda x, f=self._q[leader]: f(x).argmax(axis=-1)), leader

    def finite(self) -> bool:
        """Whether the deployed candidate's weights are all finite."""
        s, m = self._members[self._watched()]
        return bool(torch.isfinite(self.stacks[s].member_flat(m)).all())

    def _watched(self) -> str:
        """The deployed candidate, or (before the first evaluation, or cut since) the first alive one."""
        return self.current if self.current in self._members else self.alive[0]

    def diagnose(self, step: int, grad_norm: float, last_eval: float) -> str:
        return (f"non-finite values at step {step} in the deployed candidate {self._watched()} of "
                f"the population ({len(self.alive)} alive): gradient norm {grad_norm:.3g}, last greedy "
                f"evaluation {last_eval:.1f}")

    # -- after the run ---------------------------------------------------------------------------
    def finish(self) -> None:
        """The search's own cost is everything but the deployed network's training: the other
        candidates' updates count as selection (timing "controller"), beside the validation runs."""
        others = sum(t for a, t in self.learn_seconds.items() if a != self.current)
        self.timing["learn"] -= others
        self.timing["controller"] += others

    def candidates(self) -> pd.DataFrame:
        names = self.names
        return pd.DataFrame({
            "arch": names, "params": [self.params[a] for a in names],
            "acting_steps": [self.acting_steps[a] for a in names], "updates": [self.updates[a] for a in names],
            "learn_seconds": [self.learn_seconds[a] for a in names],
            "stack": [self.where[k][0] for k in range(len(names))],
            "cut_at": [self.cut_at[a] for a in names],
            "validation_score": [float(np.mean(self.scores[a])) if self.scores[a] else np.nan for a in names],
            "deployed": [a == self.current for a in names]})

    def state_dict(self) -> dict:
        """What a population run saves as its controller state: the per-candidate table and the
        selection's own costs."""
        return {"candidates": self.candidates().to_dict(orient="records"),
                "selection_episodes": self.selection_episodes, "training_env_steps": self.config.steps}

    def result(self, seconds: float) -> PopulationResult:
        return PopulationResult(pd.DataFrame(self.validation, columns=["step", "arch", "eval_episode", "return"]),
                                pd.DataFrame(self.heldout, columns=["step", "arch", "td_error"]),
                                self.candidates(), self.validator.anchors(), seconds)


def _keep(stacks: list[CandidateStack], survivors: Sequence[str], options: dict
          ) -> tuple[list[CandidateStack], dict[str, tuple[int, int]]]:
    """The stacks cut down to the survivors (empty ones dropped), and each survivor's place in them."""
    kept, members = [], {}
    for stack in stacks:
        mine = [m for m, arch in enumerate(stack.archs) if str(arch) in survivors]
        if not mine:
            continue
        new = stack if len(mine) == len(stack) else stack.subset(mine)
        for j, arch in enumerate(new.archs):
            members[str(arch)] = (len(kept), j)
        kept.append(new)
    return kept, members
