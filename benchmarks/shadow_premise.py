"""Does a candidate trained on a shared replay buffer rank like the same architecture trained alone?

The premise of a population controller (successive halving, a bandit, paired races): candidates
trained side by side on one buffer, on the same minibatches, can be compared early and fairly. But a
candidate then learns mostly from transitions the other candidates collected, and may rank
differently from the same network trained alone. This measures it before any such controller is
built: every architecture of the sweep's space is trained as one population (`nasdqn.population`) on
the paper's pendulum, with the sweep's own settings, and scored on validation starts distinct from the
reporting starts. At each checkpoint, the population's ranking (mean greedy return over the seeds) is
compared (Spearman) with the sweep's standalone runs (experiments/sweep.yaml, 3 seeds each):
- at the same step (the standalone mean greedy return at that step: does sharing change who is ahead?);
- with the sweep's hindsight ranking (AUC over the whole budget, and final score): does an early
  shared score predict what the controller should pick?

It also tests a tempting shortcut the controller issue warns about: picking by held-out TD error
(each candidate's mean squared TD error on the most recent transitions of a second environment that
no candidate trains on; `train.train_population(holdout=...)`, which leaves the training as it
is). A lower loss is expected to favour capacity rather than return: at each checkpoint, the TD
pick of every seed with its hindsight rank, and the Spearman correlations of the (negated) TD error
with the hindsight AUC and with the parameter count, beside the validation score's own pick.

Seeds 100 and up: outside the reported seeds (0-9), as any tuning of a controller built on this must be.

    python benchmarks/shadow_premise.py --seeds 100,101,102 --steps 30000
    python benchmarks/shadow_premise.py --out benchmarks/results/shadow_premise_td.parquet   # with held-out TD

(The committed shadow_premise.* predate the held-out environment and are what halving's constants
were chosen from; the held-out TD run goes to its own files, which the halving chapter reads.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
from scipy import stats
from tqdm import tqdm

from nasdqn import REPO_ROOT
from nasdqn.metrics import normalised
from nasdqn.report.hindsight import load_hindsight
from nasdqn.report.load import score_table
from nasdqn.train import train_population

RESULTS = REPO_ROOT / "benchmarks" / "results"
CHECKPOINTS = (10_000, 20_000, 30_000)
HOLDOUT = 5_000  # held-out transitions scored at each evaluation: the most recent of the second environment


def _hindsight():
    hindsight = load_hindsight()
    if hindsight is None:
        raise SystemExit("shadow_premise: no sweep data (experiments/sweep.yaml) to compare with")
    return hindsight


def run(seeds: list[int], steps: int, out: Path) -> dict:
    sweep, _ = _hindsight()
    base = sweep.runs[0].config
    archs = base.search_space.all()  # the order halving uses: it seeds each candidate
    tables, candidates, heldout = [], [], []
    for seed in seeds:
        config = base.replace(seed=seed, steps=steps, method="fixed-small")
        with tqdm(total=steps, unit="step", desc=f"population of {len(archs)}, seed {seed}", dynamic_ncols=True) as bar:
            result = train_population(config, archs, validation_seed=config.eval_seed + 1, progress=bar.update,
                                      holdout=HOLDOUT)
        heldout.append(result.heldout.assign(seed=seed))
        a = result.anchors
        tables.append(result.evals.assign(seed=seed, score=normalised(result.evals["return"].to_numpy(),
                                                                        a["random_return"], a["reference_return"])))
        candidates.append(result.candidates.assign(seed=seed, seconds=result.seconds))
    evals, cands = pd.concat(tables, ignore_index=True), pd.concat(candidates, ignore_index=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    evals.to_parquet(out, index=False)
    cands.to_parquet(out.with_name(out.stem + "_candidates.parquet"), index=False)
    pd.concat(heldout, ignore_index=True).to_parquet(out.with_name(out.stem + "_heldout_td.parquet"), index=False)
    return summarise(out)


def summarise(out: Path) -> dict:
    """The comparisons, from the saved tables beside `out` and the hindsight reference as committed now
    (so that a stronger sweep can be compared with without training the population again)."""
    sweep, ranking = _hindsight()
    evals = pd.read_parquet(out)
    cands = pd.read_parquet(out.with_name(out.stem + "_candidates.parquet"))
    td = pd.read_parquet(out.with_name(out.stem + "_heldout_td.parquet"))
    archs = cands["arch"].unique()
    params = cands.groupby("arch")["params"].first()
    seeds, steps = sorted(int(x) for x in cands["seed"].unique()), int(evals["step"].max())

    alone = score_table(sweep.runs)  # per run and step: mean normalised greedy return on the reporting starts
    alone["arch"] = alone["method"].str.removeprefix("fixed:")
    shared = evals.groupby(["step", "arch", "seed"])["score"].mean().reset_index()
    summary = {"seeds": seeds, "steps": steps, "architectures": len(archs),
               "cpu_seconds_per_seed": float(cands.groupby("seed")["seconds"].first().median()), "checkpoints": {}}
    quarter = max(1, len(archs) // 4)
    for step in [s for s in CHECKPOINTS if s <= steps]:
        pop = shared[shared["step"] == step].groupby("arch")["score"].mean()
        same_step = alone[alone["step"] == step].groupby("arch")["score"].mean().reindex(pop.index)
        per_seed = [stats.spearmanr(g.set_index("arch")["score"].reindex(pop.index), same_step).statistic
                    for _, g in shared[shared["step"] == step].groupby("seed")]
        top_shared = set(pop.nlargest(quarter).index)
        top_auc = set(ranking["auc"].nlargest(quarter).index)
        summary["checkpoints"][str(step)] = {
            "spearman_vs_alone_same_step": float(stats.spearmanr(pop, same_step).statistic),
            "spearman_vs_alone_same_step_per_seed": [float(x) for x in per_seed],
            "spearman_vs_hindsight_auc": float(stats.spearmanr(pop, ranking["auc"].reindex(pop.index)).statistic),
            "spearman_vs_hindsight_final": float(stats.spearmanr(pop, ranking["final_score"].reindex(pop.index))
                                                 .statistic),
            "top_quarter_overlap_with_hindsight_auc": len(top_shared & top_auc),
            "top_quarter_size": quarter,
            "shared_best": str(pop.idxmax()),
            **_td_checkpoint(td[td["step"] == step], shared[shared["step"] == step], ranking, params, quarter),
        }
    (out.with_suffix(".json")).write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _td_checkpoint(td: pd.DataFrame, shared: pd.DataFrame, ranking: pd.DataFrame, params: pd.Series,
                   quarter: int) -> dict:
    """Held-out TD error at one checkpoint: each seed's TD pick (lowest error) and validation-score pick
    (highest score) with their hindsight ranks, and how the negated mean error (over seeds) ranks
    against the hindsight AUC and the parameter count."""
    mean_td = td.groupby("arch")["td_error"].mean()
    td_picks = td.loc[td.groupby("seed")["td_error"].idxmin()].set_index("seed")["arch"]
    score_picks = shared.loc[shared.groupby("seed")["score"].idxmax()].set_index("seed")["arch"]
    rank = ranking["rank"]
    return {
        "td_spearman_vs_hindsight_auc": float(stats.spearmanr(-mean_td, ranking["auc"].reindex(mean_td.index))
                                              .statistic),
        "td_spearman_vs_params": float(stats.spearmanr(-mean_td, params.reindex(mean_td.index)).statistic),
        "td_picks": {str(s): a for s, a in td_picks.items()},
        "td_pick_hindsight_ranks": [int(rank[a]) for a in td_picks],
        "td_picks_in_top_quarter": int(sum(rank[a] <= quarter for a in td_picks)),
        "score_picks": {str(s): a for s, a in score_picks.items()},
        "score_pick_hindsight_ranks": [int(rank[a]) for a in score_picks],
        "score_picks_in_top_quarter": int(sum(rank[a] <= quarter for a in score_picks)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="100,101,102", help="population seeds (default: 100,101,102)")
    parser.add_argument("--steps", type=int, default=30_000, help="environment steps (default: 30000)")
    parser.add_argument("--summarise-only", action="store_true",
                        help="recompute the summary from the tables saved at --out, against the current sweep")
    parser.add_argument("--out", type=Path, default=RESULTS / "shadow_premise.parquet",
                        help="tidy evaluations (parquet); a .json summary and a _candidates table go beside it")
    args = parser.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        print(f"shadow_premise: --seeds {args.seeds!r}: expected whole numbers separated by commas", file=sys.stderr)
        return 2
    if args.steps < 1000:
        print(f"shadow_premise: --steps {args.steps}: need at least 1000", file=sys.stderr)
        return 2
    print(json.dumps(summarise(args.out) if args.summarise_only else run(seeds, args.steps, args.out), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
