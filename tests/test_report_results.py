"""The results chapter's table and texts, on hand-made metrics."""

from types import SimpleNamespace

import numpy as np
import pandas as pd

from nasdqn.report import results


def _table() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame([{"method": m, "seed": s, "final_score": v + rng.normal(0, 0.02), "final_return": 100 * v}
                         for m, v in (("nas", 0.9), ("fixed-small", 0.2)) for s in range(5)])


def test_the_final_table_has_a_row_per_method_and_the_hindsight_best_last():
    ranking = pd.DataFrame({"final_score": [0.95], "low": [0.9], "high": [0.99], "seeds": [3]},
                           index=pd.Index(["tanh-256"], name="arch"))
    sweep = SimpleNamespace(metrics=pd.DataFrame({"method": "fixed:tanh-256", "seed": [100, 101, 102],
                                                  "final_score": [0.93, 0.95, 0.97], "final_return": [90, 95, 100]}))
    out = results.final_table(_table(), (sweep, ranking))
    assert list(out.index) == ["fixed-small", "nas", "hindsight best: tanh-256 (sweep)"]
    assert list(out["seeds"]) == [5, 5, 3] and out.loc["hindsight best: tanh-256 (sweep)", "final return, mean"] == 95
    assert out.loc["hindsight best: tanh-256 (sweep)", "final score, mean [95% CI]"] == "0.95 [0.90, 0.99]"
    assert out.loc["nas", "final return, mean"] == 90
    assert len(results.final_table(_table(), None)) == 2
    text = results.hindsight_reference_text(ranking)
    assert "is `tanh-256` at 0.95 [0.90, 0.99] over its 3 sweep seeds" in text
    assert "no sweep data" in results.hindsight_reference_text(None)


def test_the_plateau_verdict_names_the_curves_still_moving():
    assert results.plateau_verdict(pd.DataFrame({"flat": [True, True]}, index=["a", "b"])).startswith("every curve")
    assert "the curves of b are still moving" in results.plateau_verdict(
        pd.DataFrame({"flat": [True, False]}, index=["a", "b"]))
