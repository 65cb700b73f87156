"""The results chapter: final performance of the paper grid's methods beside the hindsight best."""

from __future__ import annotations

import pandas as pd

from nasdqn import analysis
from nasdqn import methods as registry
from nasdqn.report.format import ci_text, method_order
from nasdqn.stats import iqm


def hindsight_reference_text(ranking: pd.DataFrame | None) -> str:
    """Where the best fixed architecture in hindsight stands, for the final-performance paragraph."""
    if ranking is None:
        return "There are no sweep data in this data root, so no hindsight reference row."
    top = ranking.iloc[0]
    return (f"The best fixed architecture in hindsight (the sweep of the search space, in the hindsight chapter) is "
            f"`{ranking.index[0]}` at {top['final_score']:.2f} [{top['low']:.2f}, {top['high']:.2f}] over its "
            f"{int(top['seeds'])} sweep seeds; it is shown as a reference row in the table.")


def final_table(table: pd.DataFrame, hindsight: tuple | None) -> pd.DataFrame:
    """Per method: seeds, final score's mean and IQM with 95% bootstrap intervals, and the mean final
    return; with `hindsight` (sweep experiment, ranking), the hindsight best's sweep runs as a last row."""
    final = analysis.summary(table, "final_score")
    final_iqm = analysis.summary(table, "final_score", statistic=iqm)
    rows = pd.DataFrame({
        "seeds": final["runs"],
        "final score, mean [95% CI]": [ci_text(*final.loc[m, ["final_score", "low", "high"]]) for m in final.index],
        "final score, IQM [95% CI]": [ci_text(*final_iqm.loc[m, ["final_score", "low", "high"]]) for m in final.index],
        "final return, mean": table.groupby("method", sort=False)["final_return"].mean().round(0),
    }).loc[method_order(table["method"])]
    if hindsight is not None:
        sweep, ranking = hindsight
        best_fixed = ranking.index[0]
        sub = sweep.metrics[sweep.metrics["method"] == registry.fixed_method(best_fixed)]
        rows.loc[f"hindsight best: {best_fixed} (sweep)"] = [
            len(sub), ci_text(*ranking.loc[best_fixed, ["final_score", "low", "high"]]),
            ci_text(*analysis.summary(sub, "final_score", statistic=iqm).iloc[0][["final_score", "low", "high"]]),
            round(sub["final_return"].mean())]
    return rows


def plateau_verdict(plateau: pd.DataFrame) -> str:
    """Whether every method's curve is flat by `claims.plateau_table`'s rule, or which still move."""
    still_moving = [m for m, flat in plateau["flat"].items() if not flat]
    return ("every curve is flat by this rule." if not still_moving else
            f"the curves of {', '.join(still_moving)} are still moving, so for them final performance is not "
            "converged performance.")
