"""The dynamics chapter: which architectures the searching methods trained and deployed, and whether
NAS-DQN's controller moved its beliefs toward the hindsight best."""

from __future__ import annotations

import pandas as pd

from nasdqn import analysis
from nasdqn import methods as registry
from nasdqn.report.format import ci_text, method_order, summary_cell
from nasdqn.report.hindsight import selection_quality_text
from nasdqn.report.load import Experiment, arch_costs

# the paper grid's searching methods
SEARCHING = (registry.NAS, registry.RANDOM, registry.RANDOM_MATCHED, registry.RANDOM_FREEZE)
TOP_K = 3  # the belief mass is measured on the hindsight top K


def searching_methods(table: pd.DataFrame) -> list[str]:
    return [m for m in method_order(table["method"]) if m in SEARCHING]


def dynamics_text(table: pd.DataFrame, ranking: pd.DataFrame | None, beliefs: pd.DataFrame) -> str:
    """Per searching method, its deployed architectures' top-quarter count and median rank; NAS-DQN's
    belief mass on the hindsight top K at its first and last decision."""
    searching = searching_methods(table)
    if ranking is None or not searching:
        return ("Without sweep data (or searching runs) the controller's choices cannot be judged against a "
                "hindsight ranking here.")
    ranks = analysis.final_arch_ranks(table, ranking)
    quarter = analysis.top_quarter_size(len(ranking))
    text = []
    for m in searching:
        r = ranks.loc[ranks.method == m, "hindsight_rank"]
        text.append(f"`{m}`: final architecture in the hindsight top quarter (rank <= {quarter}) in "
                    f"{int((r <= quarter).sum())} of {len(r)} seeds (median rank {r.median():.0f} of {len(ranking)}).")
    if len(beliefs):
        mass = analysis.top_mass(beliefs, ranking, TOP_K)
        first, last = mass.groupby("seed").first()["top_mass"], mass.groupby("seed").last()["top_mass"]
        text.append(f"NAS-DQN's belief mass on the hindsight top {TOP_K}: {first.mean():.2f} at its first decision, "
                    f"{last.mean():.2f} at its last (mean over seeds; it rose in {int((last > first).sum())} of "
                    f"{len(last)} seeds; uniform belief would put {TOP_K / len(ranking):.2f} there).")
    return " ".join(text)


def learns_answer(table: pd.DataFrame, ranking: pd.DataFrame | None, beliefs: pd.DataFrame) -> str:
    """The chapter's answer, by `analysis.does_it_learn`'s rule."""
    if ranking is None or registry.NAS not in searching_methods(table):
        return "This experiment has no NAS-DQN runs or no hindsight ranking to judge them by."
    a = analysis.does_it_learn(table, ranking, beliefs)
    controls = ", ".join(f"`{m}` {t} of {n}" for m, (t, n) in a["controls"].items())
    return (f"**{'Yes' if a['learns'] else 'No'}.** NAS-DQN's final architecture is in the hindsight top quarter "
            f"(rank <= {a['quarter']}) in {a['top']} of {a['seeds']} seeds (random controls: {controls}; against "
            f"`{a['control']}`, one-sided Fisher exact p = {a['fisher_p']:.2f}), and its belief mass on the hindsight "
            f"top {a['k']} at the last decision is {a['last_mass']:.2f} against a uniform {a['uniform_mass']:.2f}. "
            "The rule (`nasdqn.analysis.does_it_learn`): top quarter in more than half the seeds, significantly more "
            "often than random-freeze, and more belief mass on the top than uniform.")


def halving_line(table: pd.DataFrame, ranking: pd.DataFrame | None, halving: Experiment | None) -> str:
    """Halving judged by its own pre-registered rule (`analysis.selection_quality`)."""
    if ranking is None or halving is None or registry.HALVING not in set(halving.metrics.get("method", [])):
        return "there are no halving runs (or no hindsight ranking) in this data root."
    quality = analysis.selection_quality(pd.concat([table, halving.metrics], ignore_index=True), ranking,
                                         registry.HALVING, registry.HALVING_RANDOM)
    return selection_quality_text(quality)


def per_seed_ranks(table: pd.DataFrame, ranking: pd.DataFrame, halving: Experiment | None) -> pd.DataFrame:
    """Per searching method (population methods from their own grid) and seed, the deployed
    architecture's hindsight rank, blank where not run, and its top-quarter count."""
    both = pd.concat([table, halving.metrics], ignore_index=True) if halving is not None else table
    deployed = analysis.final_arch_ranks(both, ranking)
    order = [m for m in method_order(deployed["method"]) if m != registry.REPLAY]
    per_seed = deployed.pivot_table(index="method", columns="seed", values="hindsight_rank",
                                    aggfunc="first").reindex(order)
    per_seed = per_seed.astype("Int64").astype(object).where(per_seed.notna(), "")  # whole ranks
    quarter = analysis.top_quarter_size(len(ranking))
    per_seed.columns = [f"seed {s}" for s in per_seed.columns]
    per_seed[f"top quarter (rank <= {quarter})"] = [
        f"{int((g <= quarter).sum())} of {len(g)}"
        for g in (deployed.loc[deployed.method == m, "hindsight_rank"] for m in order)]
    return per_seed


def chance_table(table: pd.DataFrame, sweep: pd.DataFrame, ranking: pd.DataFrame) -> pd.DataFrame:
    """What a uniform draw kept for the run is expected to score (from the sweep, exactly), beside the
    random-freeze and nas runs: final score, AUC and the share deployed in the top quarter."""
    quarter = analysis.top_quarter_size(len(ranking))
    ranks = analysis.final_arch_ranks(table, ranking)
    measures = (("final_score", "final score"), ("auc", "AUC"))
    expected = {label: ci_text(*analysis.uniform_draw_expectation(sweep, col), 3) for col, label in measures}
    rows = {"random-freeze, expected from the sweep": {
        **expected, "final architecture in the top quarter": f"{quarter / len(ranking):.2f}"}}
    for m in [m for m in (registry.RANDOM_FREEZE, registry.NAS) if m in set(table["method"])]:
        rows[f"{m}, {int((table.method == m).sum())} runs"] = {
            **{label: summary_cell(analysis.summary(table, col).loc[m], col, digits=3) for col, label in measures},
            "final architecture in the top quarter":
                f"{(ranks.loc[ranks.method == m, 'hindsight_rank'] <= quarter).mean():.2f}"}
    return pd.DataFrame(rows).T


def compute_aware(exp: Experiment, compute: Experiment) -> tuple[pd.DataFrame, str]:
    """NAS-DQN with and without a charge on network size: final score, AUC, final parameters and (with
    the measured arch costs) the chosen networks' cost per step, mean and median over seeds."""
    table = exp.metrics
    aware = f"compute-aware (weight {compute.runs[0].config.ctrl_cost_weight})"
    both = pd.concat([table[table.method == registry.NAS].assign(setting="return only"),
                      compute.metrics.assign(setting=aware)])
    costs = arch_costs()
    if costs is not None:
        nas_runs = [r for r in exp.runs if r.config.method == registry.NAS]
        cc = analysis.chosen_cost(nas_runs + list(compute.runs), costs)
        cc["setting"] = ["return only"] * len(nas_runs) + [aware] * len(compute.runs)
        both = both.merge(cc[["seed", "setting", "chosen_cost"]], on=["seed", "setting"])
    cols = ["final_score", "auc", "final_params"] + (["chosen_cost"] if costs is not None else [])
    s = both.groupby("setting")[cols].mean()
    text = "Mean over seeds: " + "; ".join(
        f"{k}: final score {v['final_score']:.2f}, AUC {v['auc']:.2f}, {v['final_params']:.0f} parameters at the end"
        + (f", networks costing {v['chosen_cost']:.2f}x relu-64x64 per step" if costs is not None else "")
        for k, v in s.iterrows()) + "."
    return both.groupby("setting")[cols].agg(["mean", "median"]).round(3), text
