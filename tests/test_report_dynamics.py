"""The dynamics chapter's texts and tables, on a hand-made ranking and runs."""

from types import SimpleNamespace

import numpy as np
import pandas as pd

from nasdqn.report import dynamics

ARCHS = [f"relu-{w}" for w in (32, 64, 128, 256)] + [f"tanh-{w}" for w in (32, 64, 128, 256)]
RANKING = pd.DataFrame({"rank": range(1, 9)}, index=pd.Index(ARCHS, name="arch"))  # relu-32 best; quarter = 2


def _table() -> pd.DataFrame:
    rows = [{"method": "nas", "seed": s, "final_arch": a, "final_score": 0.8, "auc": 0.6}
            for s, a in enumerate(["relu-32", "relu-64", "relu-64", "tanh-256"])]
    rows += [{"method": "random-freeze", "seed": s, "final_arch": a, "final_score": 0.5, "auc": 0.4}
             for s, a in enumerate(["tanh-32", "tanh-64", "relu-256", "relu-32"])]
    rows += [{"method": "fixed-small", "seed": s, "final_arch": "relu-32", "final_score": 0.1, "auc": 0.1}
             for s in range(4)]
    return pd.DataFrame(rows)


def _beliefs() -> pd.DataFrame:
    # seed 0: mass on the top 3 goes 3/8 -> 0.9; seed 1: 3/8 -> 3/8
    rows = []
    for seed, last in ((0, [0.3, 0.3, 0.3] + [0.02] * 5), (1, [1 / 8] * 8)):
        for step, p in ((0, [1 / 8] * 8), (100, last)):
            rows += [{"method": "nas", "seed": seed, "step": step, "arch": a, "p_best": q}
                     for a, q in zip(ARCHS, p, strict=True)]
    return pd.DataFrame(rows)


def test_the_dynamics_text_counts_top_quarter_deployments_and_belief_mass():
    text = dynamics.dynamics_text(_table(), RANKING, _beliefs())
    assert ("`nas`: final architecture in the hindsight top quarter (rank <= 2) in 3 of 4 seeds "
            "(median rank 2 of 8).") in text
    assert "`random-freeze`: final architecture in the hindsight top quarter (rank <= 2) in 1 of 4 seeds" in text
    assert "fixed-small" not in text
    assert "0.38 at its first decision, 0.64 at its last (mean over seeds; it rose in 1 of 2 seeds; uniform" in text
    assert "cannot be judged" in dynamics.dynamics_text(_table(), None, _beliefs())


def test_the_answer_applies_does_it_learn_and_says_its_rule():
    answer = dynamics.learns_answer(_table(), RANKING, _beliefs())
    # 3 of 4 in the top quarter, but not significantly more often than random-freeze's 1 of 4
    assert answer.startswith("**No.** NAS-DQN's final architecture is in the hindsight top quarter (rank <= 2) "
                             "in 3 of 4")
    assert "`random-freeze` 1 of 4" in answer and "top 3 at the last decision is 0.64 against a uniform 0.38" in answer
    assert "no NAS-DQN runs" in dynamics.learns_answer(_table()[lambda t: t.method != "nas"], RANKING, _beliefs())


def test_per_seed_ranks_and_the_chance_table():
    per_seed = dynamics.per_seed_ranks(_table(), RANKING, None)
    assert list(per_seed.index) == ["random-freeze", "nas"]  # the book's method order; fixed networks left out
    assert list(per_seed.loc["nas", ["seed 0", "seed 1", "seed 3"]]) == [1, 2, 8]
    assert per_seed.loc["nas", "top quarter (rank <= 2)"] == "3 of 4"
    sweep = pd.DataFrame({"method": [f"fixed:{a}" for a in ARCHS for _ in range(2)],
                          "final_score": np.repeat(np.linspace(0.9, 0.2, 8), 2),
                          "auc": np.repeat(np.linspace(0.8, 0.1, 8), 2)})
    chance = dynamics.chance_table(_table(), sweep, RANKING)
    assert chance.loc["random-freeze, expected from the sweep", "final architecture in the top quarter"] == "0.25"
    assert chance.loc["random-freeze, expected from the sweep", "final score"].startswith("0.550 [")
    assert chance.loc["nas, 4 runs", "final architecture in the top quarter"] == "0.75"


def test_compute_aware_sets_the_charged_runs_beside_nas(monkeypatch):
    monkeypatch.setattr(dynamics, "arch_costs", lambda: None)
    table = _table().assign(final_params=1000)
    charged = pd.DataFrame({"method": "nas", "seed": range(2), "final_score": [0.6, 0.7], "auc": 0.5,
                            "final_params": [100, 300]})
    exp = SimpleNamespace(metrics=table, runs=[])
    compute = SimpleNamespace(metrics=charged, runs=[SimpleNamespace(config=SimpleNamespace(ctrl_cost_weight=0.2))])
    out, text = dynamics.compute_aware(exp, compute)
    assert text == ("Mean over seeds: compute-aware (weight 0.2): final score 0.65, AUC 0.50, 200 parameters at the "
                    "end; return only: final score 0.80, AUC 0.60, 1000 parameters at the end.")
    assert out.loc["compute-aware (weight 0.2)", ("final_params", "median")] == 200
