"""Why did greedy Acrobot policies score about -500 under the pendulum's settings? A policy-churn probe.

Under the old settings (experiments/envs.yaml: the pendulum's options, 30k steps) the greedy policies
of fixed-medium and fixed-large on Acrobot-v1 often play one action for a whole 500-step episode,
while their training episodes end far sooner. The hypothesis: policy churn (Schaul et al. 2022) on
near-tied Q-values. The greedy action at a state flips from one update to the next, so the policy
that acts during training, which changes at every update, is a mixture of many networks; a network
frozen for an evaluation is one of them, and it can be one that pushes one way all the time.

This reruns cells of a grid with an observer called at every evaluation (`train(observer=...)`),
which measures and then restores the agent (`DQNAgent.snapshot/restore`), so the run is the
committed one: its evaluations are checked bit for bit against the committed run directory, or,
where that run was made on a machine whose math kernels give other bits, against the same run made
here without the probe. At each evaluation it records, on the 2,000 most recent replay states:
- `top_action_share`: the share of the most frequent action in the frozen greedy evaluation episodes;
- `churn_1`, `churn_100`: the share of states whose greedy action differs after 1 and after 100
  further updates (drawn as in training, then undone);
- `q_gap`: median gap between the best and second-best Q-value, relative to the median |Q|;
- every `--live-every` steps, `live_return`: the same evaluation episodes played greedily while the
  network keeps training at the run's rate (replay minibatches, target synced on schedule), then
  undone, beside `frozen_return`, the usual evaluation of the frozen network.

    python benchmarks/churn.py --out benchmarks/results/churn.parquet
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from nasdqn import REPO_ROOT
from nasdqn.agent import DQNAgent
from nasdqn.batch import load_grid
from nasdqn.config import RunConfig
from nasdqn.evaluation import Evaluator
from nasdqn.records import read_run, run_status
from nasdqn.train import train

# (label, grid, env, methods, seeds): the old settings' collapsed cells and the RL Zoo preset's cells.
SETTINGS = (
    ("pendulum settings, 30k", "envs", "Acrobot-v1", ("fixed-medium", "fixed-large"), (0, 1, 2, 3, 4)),
    ("RL Zoo preset, 100k", "competence", "Acrobot-v1", ("fixed:relu-256x256",), (0, 1, 2)),
)
PROBE = 2000


def probe_run(config: RunConfig, live_every: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train `config` with the churn observer; return (the probe's rows, the run's evals)."""
    evaluator = Evaluator(config)
    rows = []

    def observe(step: int, agent: DQNAgent) -> None:
        states = agent.buffer.recent_states(PROBE)
        q = agent.q_values(states)
        top2 = np.sort(q, axis=1)[:, -2:]
        before = q.argmax(axis=1)
        actions: list[np.ndarray] = []

        def frozen(obs: np.ndarray) -> np.ndarray:
            a = agent.greedy(obs)
            actions.append(a)
            return a

        frozen_return = float(evaluator.returns(frozen).mean())
        counts = np.bincount(np.concatenate(actions), minlength=agent.n_actions)
        saved = agent.snapshot()
        agent.update()
        churn_1 = float((agent.greedy(states) != before).mean())
        for _ in range(99):
            agent.update()
        churn_100 = float((agent.greedy(states) != before).mean())
        agent.restore(saved)
        live_return = np.nan
        if step % live_every == 0:
            t = 0

            def live(obs: np.ndarray) -> np.ndarray:
                nonlocal t
                t += 1
                if t % config.train_freq == 0:
                    for _ in range(config.updates_per_train):
                        agent.update()
                if t % config.target_update == 0:
                    agent.sync_target()
                return agent.greedy(obs)

            live_return = float(evaluator.returns(live).mean())
            agent.restore(saved)
        rows.append({"step": step, "frozen_return": frozen_return, "live_return": live_return,
                     "top_action_share": float(counts.max() / counts.sum()), "churn_1": churn_1,
                     "churn_100": churn_100,
                     "q_gap": float(np.median(top2[:, 1] - top2[:, 0]) / max(np.median(np.abs(q)), 1e-12))})

    result = train(config, observer=observe)
    return pd.DataFrame(rows), result.evals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(REPO_ROOT / "data"), help="data root with the committed runs")
    parser.add_argument("--live-every", type=int, default=10_000, help="steps between live evaluations")
    parser.add_argument("--steps", type=int, default=None, help="shorten every run (a smoke test; no check "
                        "against the committed runs then)")
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "churn.parquet"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from tqdm import tqdm

    jobs = []
    for label, grid, env, methods, seeds in SETTINGS:
        _, cells = load_grid(REPO_ROOT / "experiments" / f"{grid}.yaml", args.root)
        jobs += [(label, c) for c in cells if c.config.env == env and c.config.method in methods
                 and c.config.seed in seeds]
    frames = []
    for label, cell in tqdm(jobs, unit="run", desc="churn"):
        config = cell.config if args.steps is None else cell.config.replace(steps=args.steps)
        rows, evals = probe_run(config, args.live_every)
        committed = None
        if args.steps is None and run_status(cell.out, config.config_hash) == "ok":
            committed = bool(read_run(cell.out, config.config_hash).evals.equals(evals))
        # The observer must leave the run as it was. The committed run shows it when it was made on a
        # machine whose math kernels give the same bits; otherwise the run is made again here, plainly.
        if not committed and not train(config).evals.equals(evals):
            print(f"churn: {cell.label}: the probed run's evaluations differ from the same run without the "
                  "probe; the observer changed the run", file=sys.stderr)
            return 1
        frames.append(rows.assign(setting=label, method=config.method, seed=config.seed,
                                  same_as_committed=committed))
    out = pd.concat(frames, ignore_index=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    out.to_parquet(args.out, index=False)
    print(out.groupby(["setting", "method"])[["frozen_return", "live_return", "top_action_share", "churn_1",
                                              "churn_100", "q_gap"]].mean().round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
