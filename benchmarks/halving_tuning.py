"""Choosing successive halving's constants offline, on the premise population (seeds 100-102 only).

`benchmarks/shadow_premise.py` trained all 24 architectures of the default space side by side on one
buffer for 30k steps, three times, at seeds outside the reported ones (0-9), and saved every
candidate's validation scores. This replays halving's cuts on those scores, with the rule that
the `halving` method uses (`controllers.halving.HalvingController`), for a few candidate settings, and asks
where the survivors stand in the sweep's hindsight ranking by AUC. It is a proxy: in a real halving
run the survivors of a cut get the acting share of the cut ones. The settings chosen from it are
`RunConfig`'s defaults: score `recent`, rungs 10k, 20k and 30k keeping 12, 6 and 1 (its survivors
were hindsight ranks 4, 4 and 5 of 24, all in the top quarter; `auc` scoring gave 5, 15 and 5).

    python benchmarks/halving_tuning.py
"""

from __future__ import annotations

import json
import math
import sys

import pandas as pd

from nasdqn import REPO_ROOT
from nasdqn.controllers.halving import HalvingController
from nasdqn.report.hindsight import load_hindsight

RESULTS = REPO_ROOT / "benchmarks" / "results"
SETTINGS = [  # (score, rungs, kept)
    ("auc", (10_000, 20_000, 30_000), (12, 6, 1)),
    ("recent", (10_000, 20_000, 30_000), (12, 6, 1)),
    ("auc", (7_500, 15_000, 30_000), (12, 6, 1)),
    ("recent", (7_500, 15_000, 30_000), (12, 6, 1)),
    ("auc", (15_000, 30_000), (6, 1)),
    ("recent", (15_000, 30_000), (6, 1)),
]


def replay(evals: pd.DataFrame, score: str, rungs: tuple[int, ...], kept: tuple[int, ...]) -> str:
    """The survivor of halving's cuts on one population's saved validation scores."""
    per_eval = evals.groupby(["step", "arch"])["score"].mean().unstack().sort_index()
    alive = list(per_eval.columns)
    rule = HalvingController(rungs, kept, score)
    for rung in rungs:
        history = per_eval.loc[per_eval.index <= rung]
        alive = rule.survivors(rung, {a: history[a].tolist() for a in alive}, alive)
    return alive[0]


def main() -> int:
    hindsight = load_hindsight()
    path = RESULTS / "shadow_premise.parquet"
    if hindsight is None or not path.exists():
        print("halving_tuning: needs the sweep's data and benchmarks/results/shadow_premise.parquet", file=sys.stderr)
        return 2
    order = list(hindsight[1].sort_values("auc", ascending=False).index)
    quarter = math.ceil(len(order) / 4)
    evals = pd.read_parquet(path)
    results = []
    for score, rungs, kept in SETTINGS:
        picks = {int(seed): replay(g, score, rungs, kept) for seed, g in evals.groupby("seed")}
        ranks = {seed: order.index(arch) + 1 for seed, arch in picks.items()}
        results.append({"score": score, "rungs": list(rungs), "kept": list(kept), "survivors": picks,
                        "hindsight_auc_ranks": ranks,
                        "in_top_quarter": sum(r <= quarter for r in ranks.values()), "seeds": len(picks)})
        print(f"{score:>6} rungs {rungs} kept {kept}: survivors' hindsight AUC ranks {list(ranks.values())}")
    (RESULTS / "halving_tuning.json").write_text(json.dumps({"top_quarter_size": quarter, "settings": results},
                                                             indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
