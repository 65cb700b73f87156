"""The paper's claims judged: one table of effects and verdicts per claim, shared by the results,
efficiency, stability, overhead and claims chapters."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from nasdqn import analysis
from nasdqn import methods as registry
from nasdqn.analysis import BEST_FIXED, PAPER_COMPARATORS, RANDOM_CONTROLS
from nasdqn.records import cached, run_fingerprint
from nasdqn.report.format import ci_text, method_order
from nasdqn.report.load import Experiment, arch_costs, cache_dir
from nasdqn.stats import bootstrap_ci, mean_difference_ci

BASELINES, RANDOM_CONTROLS = PAPER_COMPARATORS, RANDOM_CONTROLS


PLATEAU_TOLERANCE = 0.05  # normalised-score units: a change smaller than this counts as flat


def plateau_table(scores: pd.DataFrame, column: str = "score") -> pd.DataFrame:
    """Has each method's learning curve flattened? Mean over seeds of the score over the last quarter
    of the evaluations against the quarter before it; `flat` when they differ by less than
    PLATEAU_TOLERANCE (on the normalised score)."""
    rows = []
    for method in method_order(scores["method"]):
        curve = scores[scores["method"] == method].groupby("step")[column].mean()
        q = max(1, len(curve) // 4)
        last, before = curve.iloc[-q:].mean(), curve.iloc[-2 * q:-q].mean() if len(curve) >= 2 * q else np.nan
        rows.append({"method": method, "previous_quarter": before, "last_quarter": last,
                     "change": last - before, "flat": bool(abs(last - before) < PLATEAU_TOLERANCE)})
    return pd.DataFrame(rows).set_index("method")


def outcome(comparisons: pd.DataFrame) -> pd.Series:
    """One word per comparison in place of its boolean columns: better, worse (Welch, Holm), equivalent
    (TOST at the measure's margin, where one is stated) or "no difference shown"."""
    words = np.where(comparisons["better"], "better", np.where(comparisons["worse"], "worse", "no difference shown"))
    if "equivalent" in comparisons:
        words = np.where(comparisons["equivalent"].astype(bool), "equivalent", words)
    return pd.Series(words, index=comparisons.index, name="outcome")


COMPUTE_EXPERIMENT = "compute"


# The chapter where each claim's evidence is shown (the introduction links to it).
CLAIM_CHAPTERS = {
    "better final performance": "results", "better sample efficiency": "efficiency", "faster convergence": "efficiency",
    "more stable policy (within runs)": "stability", "more stable policy (short-term risk)": "stability",
    "learned search beats random search (final)": "dynamics", "learned search beats random search (AUC)": "dynamics",
    "architecture adaptation is necessary for optimal sample efficiency": "hindsight",
    "negligible overhead (the search's own cost)": "overhead", "negligible overhead (cost per step)": "overhead",
}


def _effect_row(comp: pd.DataFrame, digits: int = 3) -> dict:
    """The weakest comparison of a claim (NAS-DQN's smallest oriented difference) as table cells;
    none when no comparison has a value (e.g. too few evaluations for the measure)."""
    known = comp.dropna(subset=["difference"])
    if known.empty:
        return {}
    worst = known.loc[known["difference"].idxmin()]
    against = registry.arch_name(str(worst["against"]))
    if against == BEST_FIXED:
        against += f" ({worst['best_fixed_arch']})"
    return {"weakest effect [95% CI]": f"{ci_text(worst['difference'], worst['diff_low'], worst['diff_high'], digits)} "
                                       f"vs {against}",
            "its Holm p": f"{worst['welch_p_holm']:.3g}",
            "better / worse than": f"{int(comp['better'].sum())} / {int(comp['worse'].sum())} of {len(comp)}"}


def claims_table(exp: Experiment, sweep: pd.DataFrame | None = None,
                 method: str = registry.NAS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every claim of the paper, made for `method` (NAS-DQN as the paper describes it, or another
    NAS-DQN variant judged the same way), with its verdict by the rules of `nasdqn.analysis` (the
    claims chapter states them), and every comparison behind the comparative ones. Overhead claims
    are held to limits: the search's own share of wall time to 2%, the cost per step against
    fixed-medium to 1.1; the latter from the architectures each run trained, costed side by side
    (benchmarks/arch_cost.py), because the grids' wall times were measured under different loads. A
    population method trains many networks at once, so its cost per step is not that of the
    architectures it deploys: it gets no cost-per-step row (the halving chapter costs it).

    Several chapters judge the claims: the tables are computed once and cached under a digest of
    everything they are computed from (the metrics, the sweep, the method's runs' files, the costs)."""
    costs = arch_costs()
    digest = hashlib.sha256(method.encode())
    for frame in (exp.metrics, sweep, None if costs is None else costs.to_frame()):
        digest.update(b"-" if frame is None else pd.util.hash_pandas_object(frame).to_numpy().tobytes())
        digest.update(b"" if frame is None else ",".join(map(str, frame.columns)).encode())
    digest.update("".join(run_fingerprint(r.meta) for r in exp.runs if r.config.method == method).encode())
    return cached(cache_dir(), "claims", digest.hexdigest(), lambda: _claims_table(exp, sweep, costs, method))


def _claims_table(exp: Experiment, sweep: pd.DataFrame | None, costs: pd.Series | None,
                  method: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    table = exp.metrics
    rows, details = [], []
    present = method in set(table["method"])
    for claim in analysis.paper_claims(float(table["steps"].max()) + 1):
        comp = analysis.claim_comparisons(table, claim, sweep, method) if present else pd.DataFrame()
        row = {"claim": claim.name, "source": claim.source, "measure": claim.metric.label,
               "comparators": ", ".join(comp["against"]) if len(comp) else "", "verdict": analysis.verdict(comp)}
        if len(comp):
            steps = claim.metric.column.endswith("step")  # step counts are whole numbers
            row.update({**_effect_row(comp, 0 if steps else 3), "ties": analysis.tie_words(comp)})
            details.append(comp.assign(claim=claim.name))
        rows.append(row)
    if present and sweep is not None and len(sweep):
        need = analysis.necessity(table, sweep, analysis.paper_measures(0)["auc"], method)
        rows.append({"claim": "architecture adaptation is necessary for optimal sample efficiency",
                     "source": "abstract", "measure": "AUC",
                     "comparators": f"every fixed architecture of the search space ({need['archs']})",
                     **_effect_row(need["comparisons"]), "verdict": need["verdict"],
                     "ties": f"{len(need['at_least_as_good'])} of {need['archs']} have a mean AUC at least {method}'s"})
    if present:
        share = table.loc[table["method"] == method, "search_share"].to_numpy()
        s, lo, hi = bootstrap_ci(share)
        rows.append({"claim": "negligible overhead (the search's own cost)", "source": "abstract",
                     "measure": "controller + morphing share of wall time" if not registry.is_population(method)
                     else "share of wall time not spent training the deployed network", "comparators": "limit 2%",
                     "weakest effect [95% CI]": ci_text(100 * s, 100 * lo, 100 * hi, 3) + " %",
                     "verdict": analysis.threshold_verdict(float(s), float(hi), 0.02)})
        if costs is not None and not registry.is_population(method):
            mine = [r for r in exp.runs if r.config.method == method]
            cc = analysis.chosen_cost(mine, costs).set_index("seed")
            shares = table[table["method"] == method].set_index("seed")["search_share"]
            s, lo, hi = bootstrap_ci((cc["chosen_cost"] / (1 - shares.loc[cc.index])).to_numpy())
            rows.append({"claim": "negligible overhead (cost per step)", "source": "abstract",
                         "measure": "cost per step vs fixed-medium (architectures trained, plus the search)",
                         "comparators": "limit 1.1", "weakest effect [95% CI]": ci_text(s, lo, hi),
                         "verdict": analysis.threshold_verdict(float(s), float(hi), 1.1)})
    out = pd.DataFrame(rows).set_index("claim").fillna("")
    out["chapter"] = [CLAIM_CHAPTERS.get(c, "claims") for c in out.index]
    return out, (pd.concat(details, ignore_index=True) if details else pd.DataFrame())


def variant_claims(variants: dict[str, Experiment], sweep: pd.DataFrame | None) -> pd.DataFrame:
    """Every claim of the paper judged for each NAS-DQN variant by the same rules (`claims_table`),
    each on its own experiment (the paper grid, joined with the variant's own grid where it has one):
    one row per claim, a verdict column and a weakest-effect column per variant."""
    out = {}
    for method, exp in variants.items():
        judged, _ = claims_table(exp, sweep, method)
        out[f"{method}: verdict"] = judged["verdict"]
        out[f"{method}: weakest effect"] = judged["weakest effect [95% CI]"]
    return pd.DataFrame(out).fillna("not judged")


def claim_answers(claims: pd.DataFrame, comparisons: pd.DataFrame, chapter: str) -> str:
    """The verdicts of the claims a chapter judges, one sentence each, for the chapter's opening
    paragraph: `claims_table`'s two tables (the claims, and their comparisons, whose `better` and `worse`
    flags are counted here), so the same rule and numbers as the claims chapter."""
    rows = claims[claims["chapter"] == chapter]
    if rows.empty:
        return "No claim of the paper is judged on this chapter's data."
    out = []
    for claim, r in rows.iterrows():
        comp = comparisons[comparisons["claim"] == claim] if len(comparisons) else comparisons
        head = f"**The paper's claim \"{claim}\" ({r['source']}): {r['verdict']}.**"
        if comp.empty:
            out.append(f"{head} The weakest effect is {r['weakest effect [95% CI]']}.")
            continue
        out.append(f"{head} NAS-DQN is significantly better than {int(comp['better'].sum())} and worse than "
                   f"{int(comp['worse'].sum())} of its {len(comp)} comparators on {r['measure']}; "
                   f"the weakest effect is {r['weakest effect [95% CI]']} (Holm p {r['its Holm p']}).")
    return " ".join(out)


def nas_targets(exp: Experiment, claims: pd.DataFrame, hindsight: tuple | None) -> pd.DataFrame:
    """The reproduction's own targets for NAS-DQN, each with what was measured and whether it was met:
    against the hindsight best and fixed-medium, the total cost against the sweep's, the deployed
    architecture's rank, the random controls (from `claims`, `claims_table`'s first table), the search's
    share of wall time and (reported, no limit) the cost of the networks it chose."""
    table = exp.metrics
    methods = set(table["method"])
    if registry.NAS not in methods:
        return pd.DataFrame()

    def per_run(method: str, column: str) -> np.ndarray:
        return table.loc[table["method"] == method, column].to_numpy()

    targets = []
    if hindsight is not None:
        sweep, ranking = hindsight
        best = ranking.index[0]
        best_runs = sweep.metrics.loc[sweep.metrics["method"] == registry.fixed_method(best), "final_score"].to_numpy()
        d, lo, hi = mean_difference_ci(per_run(registry.NAS, "final_score"), best_runs)
        targets.append({"target": f"final score within 0.02 of the hindsight best ({best})",
                        "measured": ci_text(d, lo, hi, 3), "met": bool(d >= -0.02)})
        if registry.FIXED_MEDIUM in methods:
            d, lo, hi = mean_difference_ci(per_run(registry.NAS, "auc"), per_run(registry.FIXED_MEDIUM, "auc"))
            targets.append({"target": "AUC at least fixed-medium's", "measured": ci_text(d, lo, hi, 3),
                            "met": bool(d >= 0)})
        sweep_cost = sum(r.meta.get("wall_time") or 0 for r in sweep.runs)
        nas_cost = np.median([r.meta.get("wall_time") or 0 for r in exp.runs if r.config.method == registry.NAS])
        targets.append({"target": "total cost far below the sweep's", "measured":
                        f"one NAS-DQN run {nas_cost:.0f} s vs sweep {sweep_cost / 3600:.1f} h: ratio "
                        f"{nas_cost / sweep_cost:.4f}", "met": bool(nas_cost < 0.1 * sweep_cost)})
        quarter = analysis.top_quarter_size(len(ranking))
        ranks = analysis.final_arch_ranks(table, ranking)
        r = ranks.loc[ranks["method"] == registry.NAS, "hindsight_rank"]
        targets.append({"target": f"final architecture in the hindsight top quarter (rank <= {quarter}) in most seeds",
                        "measured": f"{int((r <= quarter).sum())} of {len(r)} seeds",
                        "met": bool((r <= quarter).sum() > len(r) / 2)})
    for claim in ("learned search beats random search (final)", "learned search beats random search (AUC)"):
        row = claims.loc[claim]
        targets.append({"target": f"beats every random control with Holm-corrected significance: "
                                  f"{claim.split('(')[1][:-1]}",
                        "measured": f"better / worse than {row['better / worse than']}",
                        "met": row["verdict"] == "reproduced"})
    share = per_run(registry.NAS, "search_share")
    targets.append({"target": "controller and morphing under 2% of wall time",
                    "measured": f"max {100 * share.max():.3f} % over runs", "met": bool(share.max() < 0.02)})
    costs = arch_costs()
    if costs is not None:
        cc = analysis.chosen_cost([r for r in exp.runs if r.config.method == registry.NAS], costs)
        targets.append({"target": "cost of the chosen architectures against fixed-medium (reported, no limit)",
                        "measured": ci_text(*bootstrap_ci(cc["chosen_cost"].to_numpy())) + " x relu-64x64",
                        "met": None})
    return pd.DataFrame(targets).set_index("target")
