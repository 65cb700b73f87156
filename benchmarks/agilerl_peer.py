"""AgileRL's evolutionary DQN on our tasks, scored by our evaluation protocol.

AgileRL (a peer, not a dependency) trains a population of DQN agents on one shared replay buffer; after
every evolution interval each agent is scored (its own one-episode test), tournament selection with
elitism picks the next generation, and mutations change architectures (add or remove layers and nodes,
change the activation), perturb weights or change learning hyperparameters. It is the architecture
search in one training run that a practitioner would reach for instead of NAS-DQN.

What is AgileRL's and what is ours:
- the training loop is AgileRL's own `train_off_policy`, with the evolutionary settings of its
  documented DQN configuration (`EVOLUTION` below, each value with its source), not tuned;
- the task's DQN settings (learning rate, batch, discount, replay size, update frequency) come from the
  same settings preset our runs use (`nasdqn presets`), as for Stable-Baselines3 in the competence
  benchmark; AgileRL's own algorithm settings (soft target updates, its network) stay at its defaults;
- the env is built by `nasdqn.evaluation.env_for`; after every evolution round, before selection, every agent
  is also evaluated greedily on our fixed evaluation starts (`nasdqn.evaluation.Evaluator`). The population's
  curve is its elite's (the agent with the best AgileRL fitness that round), against the environment
  steps of the whole population.

Results: one tidy table (`benchmarks/results/agilerl.parquet`: one row per task, seed, round and agent)
and the settings used (`agilerl.json`). Runs in its own virtual environment, never the project's
(`make agilerl-env` creates .venv-agilerl), and by hand, never in CI:

    .venv-agilerl/bin/python benchmarks/agilerl_peer.py --task paper-pendulum --seeds 0-4
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"
SOURCE = "AgileRL's configs/training/dqn/dqn.yaml (its documented DQN configuration)"
# AgileRL's documented evolutionary settings for DQN, with where each value comes from.
EVOLUTION = {
    "population": (4, SOURCE + ", POP_SIZE"),
    "evo_steps": (10_000, SOURCE + ", EVO_STEPS: environment steps each agent acts per round"),
    "tournament_size": (2, SOURCE + ", TOURN_SIZE (also the manifest default)"),
    "elitism": (True, SOURCE + ", ELITISM (also the manifest default)"),
    "eval_loop": (1, SOURCE + ", EVAL_LOOP: test episodes per fitness"),
    "no_mutation": (0.4, SOURCE + ", NO_MUT"),
    "architecture": (0.2, SOURCE + ", ARCH_MUT"),
    "new_layer_prob": (0.2, SOURCE + ", NEW_LAYER"),
    "parameters": (0.2, SOURCE + ", PARAMS_MUT"),
    "activation": (0.2, SOURCE + ", ACT_MUT (the manifest default is 0; the DQN configuration sets 0.2)"),
    "rl_hp": (0.2, SOURCE + ", RL_HP_MUT"),
    "mutation_sd": (0.1, SOURCE + ", MUT_SD"),
    "lr_range": ((6.25e-5, 1e-2), SOURCE + ", MIN_LR / MAX_LR"),
    "batch_size_range": ((8, 512), SOURCE + ", MIN_BATCH_SIZE / MAX_BATCH_SIZE"),
    "learn_step_range": ((1, 10), SOURCE + ", MIN_LEARN_STEP / MAX_LEARN_STEP"),
    "eps_start": (1.0, SOURCE + ", EPS_START"),
    "eps_end": (0.1, SOURCE + ", EPS_END"),
    "eps_decay": (0.99, SOURCE + ", EPS_DECAY (per environment step, in train_off_policy)"),
    "learning_delay": (0, SOURCE + ", LEARNING_DELAY"),
    "net_config": ({"latent_dim": 128, "encoder_config": {"hidden_size": [256]},
                    "head_config": {"hidden_size": [256]}}, SOURCE + ", NET_CONFIG"),
    "tau": (1e-3, SOURCE + ", TAU (soft target update every learning step)"),
    "double": (True, "AgileRL's DQN default (our agent is a Double DQN too); its DQN configuration sets false"),
}
# Rounds of evolution per task (the population's steps per round: population x evo_steps = 40k):
# rounds 2 and 3 bracket our protocol's 100k steps on the pendulum, and rounds 1 and 2 CartPole's
# preset's 50k. (The reported protocol's 200k would take five rounds: about an hour per seed here.)
ROUNDS = {"paper-pendulum": 3, "cartpole": 2}


def setting(name: str):
    return EVOLUTION[name][0]


def describe(agent) -> str:
    """An agent's network as `<activation> enc[...]-<latent>-head[...]` (AgileRL's encoder and head MLPs)."""
    cfg = agent.actor.net_config
    enc, head = cfg["encoder_config"], cfg["head_config"]
    return (f"{enc['activation']} enc{list(enc['hidden_size'])}-{cfg['latent_dim']}-"
            f"head{list(head['hidden_size'])}")


def learn_step(config) -> int:
    """Environment steps per update: AgileRL makes one update every `learn_step` steps, so a preset's
    `gradient_steps` updates every `train_freq` steps (CartPole: 128 every 256) become one every 2."""
    return max(1, round(config.train_freq / config.updates_per_train))


def run(task: str, seed: int, rounds: int, variant: str = "evolution") -> pd.DataFrame:
    import torch
    from agilerl.algorithms import DQN
    from agilerl.algorithms.core.registry import HyperparameterConfig, RLParameter
    from agilerl.components import ReplayBuffer
    from agilerl.hpo.mutation import Mutations
    from agilerl.hpo.tournament import TournamentSelection
    from agilerl.training.train_off_policy import train_off_policy

    from nasdqn.config import RunConfig
    from nasdqn.evaluation import Evaluator, env_for

    torch.set_num_threads(1)
    # AgileRL's tournament draws from numpy's global generator and its networks from torch's: seed both.
    np.random.seed(seed)
    torch.manual_seed(seed)
    config = RunConfig.from_dict({"preset": task, "method": "fixed-medium", "seed": seed})
    env = env_for(config, seed)
    evaluator = Evaluator(config)
    anchors = evaluator.anchors()
    lo, hi = setting("lr_range")
    bmin, bmax = setting("batch_size_range")
    smin, smax = setting("learn_step_range")
    hp = HyperparameterConfig(lr=RLParameter(min=lo, max=hi), batch_size=RLParameter(min=bmin, max=bmax, dtype=int),
                              learn_step=RLParameter(min=smin, max=smax, dtype=int))
    # The `single` variant is a diagnostic, not a setting: AgileRL's DQN alone (a population of one, no
    # selection, no mutation) for the same total steps, to tell its DQN's learning from its evolution's.
    size = setting("population") if variant == "evolution" else 1
    pop = DQN.population(
        size=size, observation_space=env.observation_space, action_space=env.action_space,
        net_config=setting("net_config"), hp_config=hp, batch_size=config.batch_size, lr=float(config.lr),
        learn_step=learn_step(config), gamma=config.gamma, tau=setting("tau"), double=setting("double"))
    rows: list[dict] = []
    started = (time.perf_counter(), time.process_time())

    class Scored(TournamentSelection):
        """AgileRL's tournament selection, after first scoring every agent by our protocol."""

        round = 0

        def select(self, population):
            Scored.round += 1
            fitness = [float(np.mean(a.fitness[-1])) if len(a.fitness) else math.nan for a in population]
            elite = int(np.nanargmax(fitness))
            for i, agent in enumerate(population):
                def policy(obs, agent=agent):
                    x = np.asarray(obs, dtype=np.float32)
                    out = np.asarray(agent.get_action(x[None] if x.ndim == 1 else x, epsilon=0.0))
                    return int(out[0]) if x.ndim == 1 else out
                returns = evaluator.returns(policy)
                rows.append({
                    "task": task, "variant": variant, "env": config.env, "seed": seed, "round": Scored.round,
                    "total_steps": Scored.round * setting("population") * setting("evo_steps"),
                    "agent": i, "elite": i == elite, "fitness": fitness[i], "greedy_return": float(np.mean(returns)),
                    "arch": describe(agent), "params": sum(p.numel() for p in agent.actor.parameters()),
                    "lr": float(agent.lr), "batch_size": int(agent.batch_size), "learn_step": int(agent.learn_step),
                    "wall_s": time.perf_counter() - started[0], "cpu_s": time.process_time() - started[1],
                    "random_return": anchors["random_return"], "reference_return": anchors["reference_return"],
                })
            return super().select(population)

    mutations = Mutations(no_mutation=setting("no_mutation"), architecture=setting("architecture"),
                          new_layer_prob=setting("new_layer_prob"), parameters=setting("parameters"),
                          activation=setting("activation"), rl_hp=setting("rl_hp"),
                          mutation_sd=setting("mutation_sd"), rand_seed=seed)
    # The single agent still passes through selection (of one, so it survives) to be scored each round,
    # with the identity as its only mutation.
    identity = Mutations(no_mutation=1.0, architecture=0.0, new_layer_prob=0.0, parameters=0.0, activation=0.0,
                         rl_hp=0.0, rand_seed=seed)
    # One agent acts population-times longer per round, so rounds end at the same total steps.
    evo_steps = setting("evo_steps") * setting("population") // size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_off_policy(
            env=env, env_name=config.env, algo="DQN", pop=pop, memory=ReplayBuffer(max_size=config.buffer_size),
            max_steps=rounds * evo_steps, evo_steps=evo_steps, eval_loop=setting("eval_loop"),
            learning_delay=setting("learning_delay"), eps_start=setting("eps_start"), eps_end=setting("eps_end"),
            eps_decay=setting("eps_decay"),
            selection_strategy=Scored(setting("tournament_size"), setting("elitism"), size),
            mutation=mutations if variant == "evolution" else identity,
            wb=False, verbose=False)
    return pd.DataFrame(rows)


def seeds_arg(text: str) -> list[int]:
    """`0-4` or `0,2,5`."""
    try:
        if "-" in text:
            a, b = (int(x) for x in text.split("-", 1))
            return list(range(a, b + 1))
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds {text!r}: give a range like 0-4 or a list like 0,2,5") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(ROUNDS), required=True, help="settings preset of the task")
    parser.add_argument("--seeds", type=seeds_arg, default=seeds_arg("0-4"), help="e.g. 0-4 (default) or 0,2")
    parser.add_argument("--rounds", type=int, help="evolution rounds (default: the task's, see ROUNDS)")
    parser.add_argument("--variant", choices=["evolution", "single"], default="evolution",
                        help="evolution (AgileRL's, the default) | single (a diagnostic: its DQN alone, no "
                             "selection or mutation, for the same total steps)")
    parser.add_argument("--out", type=Path, default=RESULTS / "agilerl.parquet")
    args = parser.parse_args()
    try:
        import agilerl  # noqa: F401 (only whether it is here)
    except ImportError:
        sys.exit("agilerl_peer: AgileRL is not installed here; run `make agilerl-env` and use .venv-agilerl/bin/python")
    rounds = args.rounds or ROUNDS[args.task]
    old = pd.read_parquet(args.out) if args.out.exists() else pd.DataFrame(columns=["task", "variant", "seed"])
    if "variant" not in old:
        old["variant"] = "evolution"  # tables written before the single-agent diagnostic existed
    for seed in args.seeds:
        if ((old["task"] == args.task) & (old["variant"] == args.variant) & (old["seed"] == seed)).any():
            print(f"{args.task} {args.variant} seed {seed}: already in {args.out}, skipped")
            continue
        t0 = time.perf_counter()
        table = run(args.task, seed, rounds, args.variant)
        old = pd.concat([old, table], ignore_index=True) if len(old) else table
        tmp = args.out.with_suffix(".tmp")
        old.to_parquet(tmp, index=False)
        tmp.replace(args.out)  # a killed benchmark leaves the last complete seed, never half a table
        elite = table[table["elite"]].iloc[-1]
        print(f"{args.task} {args.variant} seed {seed}: elite {elite['arch']} greedy "
              f"{elite['greedy_return']:.1f} after {int(elite['total_steps'])} steps, "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    settings = {k: {"value": v, "source": s} for k, (v, s) in EVOLUTION.items()}
    (RESULTS / "agilerl.json").write_text(json.dumps(
        {"agilerl_version": importlib.metadata.version("agilerl"),
         "rounds": ROUNDS, "settings": settings}, indent=1, default=str))


if __name__ == "__main__":
    main()
