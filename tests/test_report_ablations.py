"""The ablations chapter's texts and table, on hand-made comparisons."""

import numpy as np
import pandas as pd

from nasdqn.report.ablations import Ablations, ablation_table, ablation_text


def _ablations(breaks: int = 0) -> Ablations:
    rng = np.random.default_rng(5)
    table = pd.DataFrame([{"method": m, "seed": s, "final_score": v + rng.normal(0, 0.01), "auc": v,
                           "breaking_switches": breaks if m == "nas" else 0}
                          for m, v in (("nas", 0.9), ("ablation-x", 0.5), ("controller: random", 0.9))
                          for s in range(4)])

    def comp(metric, better, worse):
        return pd.DataFrame({"against": ["ablation-x", "controller: random"], "metric": metric,
                             "better": better, "worse": worse, "difference": [0.4, 0.0], "diff_low": [0.3, -0.1],
                             "diff_high": [0.5, 0.1], "welch_p_holm": [0.001, 0.9]})

    return Ablations(table, {"ablation-x": "x removed", "controller: random": "a uniform draw"}, [],
                     {"ablation-x": 0.25}, {"final_score": comp("final score", [True, False], [False, False]),
                                            "auc": comp("AUC", [False, False], [False, True])})


def test_the_ablation_text_names_what_each_change_moves_and_what_it_cost():
    text = ablation_text(_ablations())
    assert text.startswith("Variants with data: 2. Parts whose removal significantly lowers the final score: "
                           "`ablation-x`; whose change significantly raises it: none. On AUC (sample efficiency): "
                           "lowered by none; raised by `controller: random`. Ablation grids: `ablation-x` 0.2 "
                           "CPU-hours (as run).")
    assert "made 0 such moves" in text
    assert "distillation" not in ablation_text(_ablations(breaks=2))


def test_the_ablation_table_sets_each_variant_beside_the_reference():
    out, reference = ablation_table(_ablations())
    assert list(out.index) == ["ablation-x", "controller: random"] and list(out["seeds"]) == [4, 4]
    assert out.loc["ablation-x", "effect on final score"] == "0.40 [0.30, 0.50]"
    assert out.loc["controller: random", "Holm p (AUC)"] == 0.9
    assert reference.startswith("0.9")
