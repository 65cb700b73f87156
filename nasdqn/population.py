"""Candidates trained side by side on one replay buffer: the ground a population controller stands on.

Each of K architectures gets a Double DQN agent; all share one replay buffer. At every training
step each candidate takes its gradient step on the same minibatch (the same transition indices), so
their differences come from their architectures, not from their data. Candidates of one hidden shape
are updated together as one stack (`nasdqn.stacked`): the same updates in fewer operations. The
candidates act in turn, one episode each (round robin), under the run's epsilon schedule. Every
`eval_every` steps each one is evaluated greedily on common validation starts, drawn from
`validation_seed`: distinct from the reporting starts (`eval_seed`), so a selection made on them is
not judged on the same states. Optionally (`holdout`, for diagnostics) a second environment, stepped
in parallel by the acting candidate's epsilon-greedy policy, fills a held-out buffer whose transitions
no candidate trains on; at every evaluation each candidate's mean squared TD error on it is logged.

A candidate mostly learns from transitions other candidates collected, so its score here can rank
differently from the same architecture trained alone: `benchmarks/shadow_premise.py` measures that
before any controller is built on it.

`train_halving` is the population method built on it (methods `halving` and `halving-random`):
successive halving over the search space. At rungs fixed in advance (`halving_rungs`) the candidates
are ranked by their validation scores so far and only `halving_keep` of them go on; the survivor of
the last rung trains alone to the end of the budget. `halving-random` cuts at the same rungs to the
same counts, keeping a uniformly random subset: the random-selection control of the same mechanism.
(Ranking by scores shuffled across candidates would keep a uniformly random subset too, so this is
also the score-permutation control.) The reported learning curve is the greedy return, on the
reporting starts, of the candidate that would be deployed at that moment: the best so far by the
validation scores (for halving-random: a random alive candidate, redrawn only when it is cut).
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
from nasdqn.records import TIMING_KEYS, RunResult
from nasdqn.search_space import Arch, SearchSpace
from nasdqn.stacked import CandidateStack, SharedBatch, stacks_for
from nasdqn.train import Evaluator, env_for


@dataclass
class PopulationResult:
    evals: pd.DataFrame  # step, arch, eval_episode, return (validation starts)
    heldout: pd.DataFrame  # step, arch, td_error (held-out transitions; empty without a holdout)
    candidates: pd.DataFrame  # arch, params, acting_steps, updates, learn_seconds, stack, cut_at
    anchors: dict[str, float | None]  # random and reference returns on the validation starts
    seconds: float


@dataclass
class _Loop:
    """What the shared population loop returns to its two callers."""

    validation: list[tuple]  # (step, arch, eval_episode, return) on the validation starts
    heldout: list[tuple]  # (step, arch, td_error) on the held-out transitions
    reported: list[tuple]  # (step, eval_episode, return, arch): the deployed candidate on the reporting starts
    episodes: list[tuple]  # (step, episode, return, length, epsilon, acting arch)
    events: list[tuple]  # (step, episode, from_arch, to_arch, score, params): changes of the deployed candidate
    candidates: pd.DataFrame
    timing: dict[str, float]
    selection_episodes: int  # greedy episodes run on the validation starts to score candidates
    validator: Evaluator
    reporter: Evaluator | None


def train_population(config: RunConfig, archs: Sequence[Arch], validation_seed: int,
                     progress: Callable[[int], None] | None = None, holdout: int = 0) -> PopulationResult:
    """Train one agent per architecture in `archs` on a shared buffer and shared minibatches for
    `config.steps` environment steps (the options of `config` apply to every candidate). `holdout`:
    how many of the most recent held-out transitions to score each candidate's TD error on (0: none;
    the training is the same either way: the held-out environment has its own seeds)."""
    started = time.perf_counter()
    loop = _population_loop(config, archs, validation_seed, cuts=(), keep=(), pick=None, report=False,
                            sticky=False, progress=progress, holdout=holdout)
    return PopulationResult(pd.DataFrame(loop.validation, columns=["step", "arch", "eval_episode", "return"]),
                            pd.DataFrame(loop.heldout, columns=["step", "arch", "td_error"]),
                            loop.candidates, loop.validator.anchors(), time.perf_counter() - started)


def train_halving(config: RunConfig, progress: Callable[[int], None] | None = None) -> RunResult:
    """One run of method `halving` or `halving-random` (see the module docstring): a RunResult like any
    other run's, whose controller state holds the per-candidate table and the selection's own costs."""
    wall_start = time.perf_counter()
    archs = SearchSpace.from_config(config).all()
    if config.halving_keep[0] >= len(archs):
        raise ValueError(f"halving_keep {config.halving_keep}: the first rung must keep fewer than the "
                         f"{len(archs)} candidates of the search space")
    # The loop spawns 2 + 2 * len(archs) children of the run's seed; the random pick takes the next one.
    pick_rng = np.random.default_rng(np.random.SeedSequence(config.seed).spawn(3 + 2 * len(archs))[-1])
    pick = _random_pick(pick_rng) if config.method == "halving-random" else _score_pick(config.halving_score)
    loop = _population_loop(config, archs, config.selection_seed, cuts=config.halving_rungs,
                            keep=config.halving_keep, pick=pick, report=True,
                            sticky=config.method == "halving-random", progress=progress)
    timing = {**loop.timing, "total": time.perf_counter() - wall_start}
    c = loop.candidates
    return RunResult(
        config=config,
        episodes=pd.DataFrame(loop.episodes, columns=["step", "episode", "return", "length", "epsilon", "arch"]),
        evals=pd.DataFrame(loop.reported, columns=["step", "eval_episode", "return", "arch"]),
        arch_events=pd.DataFrame([(s, ep, f, t, sc, 0.0, n, 0.0, True) for s, ep, f, t, sc, n in loop.events],
                                 columns=["step", "episode", "from_arch", "to_arch", "score", "entropy", "params",
                                          "morph_error", "preserving"]),
        timing=timing,
        anchors=loop.reporter.anchors(),
        controller_state={"candidates": c.to_dict(orient="records"),
                          "selection_episodes": loop.selection_episodes, "training_env_steps": config.steps},
    )


def _score_pick(score: str) -> Callable[[dict[str, list[float]], list[str], int], list[str]]:
    """The `n` best alive candidates by their validation scores (per candidate: per-evaluation means)."""
    def pick(scores: dict[str, list[float]], alive: list[str], n: int) -> list[str]:
        value = {a: float(np.mean(scores[a] if score == "auc" else scores[a][-3:])) for a in alive}
        return sorted(alive, key=lambda a: (-value[a], alive.index(a)))[:n]
    return pick


def _random_pick(rng: np.random.Generator) -> Callable[[dict[str, list[float]], list[str], int], list[str]]:
    """`n` alive candidates uniformly at random, in a random order (the first is the deployed one)."""
    def pick(scores: dict[str, list[float]], alive: list[str], n: int) -> list[str]:
        return [alive[i] for i in rng.permutation(len(alive))[:n]]
    return pick


def _population_loop(config: RunConfig, archs: Sequence[Arch], validation_seed: int, cuts: Sequence[int],
                     keep: Sequence[int], pick, report: bool, sticky: bool,
                     progress: Callable[[int], None] | None, holdout: int = 0) -> _Loop:
    """The loop both callers share. `pick(scores, alive, n)` chooses who survives a cut (and, first of
    them, who is deployed); `report` evaluates the deployed candidate on the reporting starts; `sticky`
    keeps the deployed candidate until it is cut (the random control), instead of the best so far."""
    if len(archs) < 1 or len(set(archs)) != len(archs):
        raise ValueError(f"need distinct architectures, got {[str(a) for a in archs]}")
    if validation_seed == config.eval_seed:
        raise ValueError("validation_seed must differ from eval_seed: the selection starts must not be the "
                         "reporting starts")
    torch.set_num_threads(config.threads)
    threadpool_limits(config.threads)
    torch.set_flush_denormal(True)
    seeds = np.random.SeedSequence(config.seed).spawn(2 + 2 * len(archs))
    env_rng, batch_rng = np.random.default_rng(seeds[0]), np.random.default_rng(seeds[1])
    env = env_for(config, int(env_rng.integers(2**31)))
    obs_dim, n_actions = env.observation_space.shape[0], env.action_space.n
    shared = ReplayBuffer(config.buffer_size, obs_dim)
    names = [str(a) for a in archs]
    nets = [MLP(obs_dim, n_actions, arch,
                generator=torch.Generator().manual_seed(int(seeds[3 + 2 * i].generate_state(1)[0])))
            for i, arch in enumerate(archs)]
    options = dict(lr=config.lr, gamma=config.gamma, grad_clip=config.grad_clip, double=config.target == "double")
    stacks, where = stacks_for(nets, **options)
    members = {names[k]: where[k] for k in range(len(archs))}  # arch -> (stack, member)
    act_rngs = {names[i]: np.random.default_rng(seeds[2 + 2 * i]) for i in range(len(archs))}
    params = {names[i]: nets[i].n_params for i in range(len(archs))}
    batch = SharedBatch(config.batch_size, obs_dim)
    validator = Evaluator(config.replace(eval_seed=validation_seed, selection_seed=config.eval_seed))
    reporter = Evaluator(config) if report else None
    alive = list(names)
    q = {a: stacks[s].q_function(m) for a, (s, m) in members.items()}
    acting = dict.fromkeys(names, 0)
    updates = dict.fromkeys(names, 0)
    learn_seconds = dict.fromkeys(names, 0.0)
    cut_at: dict[str, int | None] = dict.fromkeys(names, None)
    scores: dict[str, list[float]] = {a: [] for a in names}
    validation, reported, episodes, events, heldout = [], [], [], [], []
    if holdout:
        # Seeds of their own (not spawned from the run's), so that the training stream is unchanged.
        h_seeds = np.random.SeedSequence([config.seed, validation_seed, 1]).spawn(2)
        h_rng = np.random.default_rng(h_seeds[0])
        h_env = env_for(config, int(np.random.default_rng(h_seeds[1]).integers(2**31)))
        h_buffer = ReplayBuffer(holdout, obs_dim)
        h_obs, _ = h_env.reset(seed=int(h_rng.integers(2**31)))
    timing = dict.fromkeys(TIMING_KEYS, 0.0)
    selection_episodes = 0
    deployed: str | None = None
    eps_steps = max(1, int(config.eps_fraction * config.steps))
    rungs = dict(zip(cuts, keep, strict=True))
    clock = time.perf_counter

    obs, _ = env.reset(seed=int(env_rng.integers(2**31)))
    episode, ep_return, ep_len = 0, 0.0, 0
    for step in range(1, config.steps + 1):
        epsilon = config.eps_end + (config.eps_start - config.eps_end) * max(0.0, 1.0 - (step - 1) / eps_steps)
        t0 = clock()
        actor = alive[episode % len(alive)]
        rng = act_rngs[actor]
        action = int(rng.integers(n_actions)) if rng.random() < epsilon else int(q[actor](obs).argmax())
        acting[actor] += 1
        if holdout:
            h_action = int(h_rng.integers(n_actions)) if h_rng.random() < epsilon else int(q[actor](h_obs).argmax())
            h_next, h_reward, h_term, h_trunc, _ = h_env.step(h_action)
            h_buffer.add(h_obs, h_action, h_reward, h_next, h_term)
            h_obs = h_env.reset()[0] if h_term or h_trunc else h_next
        t1 = clock()
        next_obs, reward, terminated, truncated, _ = env.step(action)
        t2 = clock()
        shared.add(obs, action, reward, next_obs, terminated)
        obs = next_obs
        ep_return += reward
        ep_len += 1
        if step > config.learning_starts and step % config.train_freq == 0:
            for _ in range(config.updates_per_train):
                batch.gather(shared, batch_rng.integers(shared.size, size=config.batch_size))
                for stack in stacks:
                    s0 = clock()
                    stack.update(batch)
                    share = (clock() - s0) / len(stack)  # members run the same operations
                    for arch in stack.archs:
                        learn_seconds[str(arch)] += share
                        updates[str(arch)] += 1
        if step % config.target_update == 0:
            for stack in stacks:
                stack.sync_target()
        timing["act"] += t1 - t0
        timing["env"] += t2 - t1
        timing["learn"] += clock() - t2
        if terminated or truncated:
            episode += 1
            episodes.append((step, episode, ep_return, ep_len, epsilon, actor))
            obs, _ = env.reset()
            ep_return, ep_len = 0.0, 0
        if step % config.eval_every == 0 or step == config.steps or step in rungs:
            t0 = clock()
            if len(alive) > 1 or not report:  # a lone survivor needs no more selection
                for arch in alive:
                    returns = validator.returns(lambda x, f=q[arch]: f(x).argmax(axis=-1))
                    validation.extend((step, arch, j, float(r)) for j, r in enumerate(returns))
                    scores[arch].append(float(np.mean(returns)))
                    selection_episodes += len(returns)
                if holdout and h_buffer.size:
                    h_batch = SharedBatch(h_buffer.size, obs_dim)
                    h_batch.gather(h_buffer, np.arange(h_buffer.size))
                    for stack in stacks:
                        td = stack.td_errors(h_batch)
                        heldout.extend((step, str(arch), float(e)) for arch, e in zip(stack.archs, td, strict=True))
            if step in rungs:
                survivors = pick(scores, alive, rungs[step])
                for arch in alive:
                    if arch not in survivors:
                        cut_at[arch] = step
                stacks, members = _keep(stacks, survivors, options)
                alive = [a for a in alive if a in survivors]  # acting order stays the original one
                q = {a: stacks[s].q_function(m) for a, (s, m) in members.items()}
            timing["controller"] += clock() - t0
            if report and (step % config.eval_every == 0 or step == config.steps):
                t0 = clock()
                leader = deployed if sticky and deployed in alive else pick(scores, alive, 1)[0]
                if leader != deployed:
                    events.append((step, episode, deployed, leader, float(np.mean(scores[leader])) if scores[leader]
                                   else np.nan, params[leader]))
                    deployed = leader
                returns = reporter.returns(lambda x, f=q[leader]: f(x).argmax(axis=-1))
                reported.extend((step, j, float(r), leader) for j, r in enumerate(returns))
                timing["eval"] += clock() - t0
        if progress is not None and step % 1000 == 0:
            progress(1000)
    if progress is not None and config.steps % 1000:
        progress(config.steps % 1000)
    if report:
        # The search's own cost is everything but the deployed network's training: the other
        # candidates' updates count as selection (timing "controller"), beside the validation runs.
        others = sum(t for a, t in learn_seconds.items() if a != deployed)
        timing["learn"] -= others
        timing["controller"] += others
    candidates = pd.DataFrame({"arch": names, "params": [params[a] for a in names],
                               "acting_steps": [acting[a] for a in names], "updates": [updates[a] for a in names],
                               "learn_seconds": [learn_seconds[a] for a in names],
                               "stack": [where[k][0] for k in range(len(names))],
                               "cut_at": [cut_at[a] for a in names],
                               "validation_score": [float(np.mean(scores[a])) if scores[a] else np.nan for a in names],
                               "deployed": [a == deployed for a in names]})
    return _Loop(validation, heldout, reported, episodes, events, candidates, timing, selection_episodes, validator,
                 reporter)


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
