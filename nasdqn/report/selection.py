"""Selection by a population (halving, racing and their random-survivor controls): what each deploys,
how it ranks in the task's hindsight sweep, and what it costs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import yaml

from nasdqn import analysis
from nasdqn import methods as registry
from nasdqn import stats as S
from nasdqn.records import RunResult
from nasdqn.report.figures import method_colour
from nasdqn.report.format import ci_text, method_order
from nasdqn.report.hindsight import SWEEP_EXPERIMENTS, hindsight_sweeps
from nasdqn.report.load import Experiment, grid_file, load_experiment, score_table


def halving_cost_table(cost: pd.DataFrame) -> pd.DataFrame:
    """`analysis.population_cost` formatted for reading."""
    return pd.DataFrame({
        "CPU-minutes per run": (cost["run_seconds"] / 60).map("{:.1f}".format),
        "candidate-updates per run": cost["candidate_updates"].map("{:,.0f}".format),
        "deployed network's updates": cost["deployed_updates"].map("{:,.0f}".format),
        "search's own share of the time": cost["search_share"].map("{:.0%}".format),
        "x one fixed-medium run": cost["x_fixed_medium"].map("{:.1f}".format),
        "x one NAS-DQN run": cost["x_nas"].map("{:.1f}".format),
        "share of the sweep": cost["sweep_share"].map("{:.0%}".format),
        "x one fixed-medium run, cost-weighted updates": cost["weighted_x_fixed_medium"].map("{:.1f}".format),
        "share of the sweep, cost-weighted updates": cost["weighted_sweep_share"].map("{:.0%}".format),
    })


def halving_cost_text(cost: pd.DataFrame, method: str = registry.HALVING) -> str:
    """The cost paragraph. The target is judged on cost-weighted updates: wall times as run include
    whatever else the machine was doing, which differed between the grids."""
    c = cost.loc[method]
    return (f"As run, one {method} run took {c['run_seconds'] / 60:.1f} CPU-minutes: {c['x_fixed_medium']:.1f} times "
            f"a fixed-medium run and {c['sweep_share']:.0%} of the sweep, wall times that include other load on the "
            f"machine. Counted in updates weighted by each network's cost per step (measured side by side, "
            f"`benchmarks/arch_cost.py`), which load does not change, it is {c['weighted_x_fixed_medium']:.1f} "
            f"fixed-medium runs and **{c['weighted_sweep_share']:.1%} of the sweep** (target: at most a fifth, "
            f"**{'met' if c['weighted_sweep_share'] <= 0.2 else 'missed'}**). The search's own share of the wall "
            f"time (everything but the deployed network's training) is {c['search_share']:.0%}.")


def heldout_td_text(premise: dict) -> str:
    """The held-out TD test of the premise benchmark (`benchmarks/shadow_premise.py`'s summary with
    held-out TD): how often the lowest-TD-error candidate, and the best single validation score, land
    in the hindsight top quarter over all checkpoints and seeds, its most frequent pick, and whether the
    error follows capacity more than return."""
    checkpoints = premise["checkpoints"]
    picks = [a for c in checkpoints.values() for a in c["td_picks"].values()]
    common = max(set(picks), key=picks.count)
    td_top = sum(c["td_picks_in_top_quarter"] for c in checkpoints.values())
    score_top = sum(c["score_picks_in_top_quarter"] for c in checkpoints.values())
    capacity = sum(c["td_spearman_vs_params"] > c["td_spearman_vs_hindsight_auc"] for c in checkpoints.values())
    steps = ", ".join(f"{int(s) // 1000}k" for s in sorted(checkpoints, key=int))
    return (f"Over the {len(checkpoints)} checkpoints ({steps} steps) and {len(premise['seeds'])} seeds, the "
            f"lowest held-out TD error picks a hindsight top-quarter architecture {td_top} of {len(picks)} times, "
            f"the best single validation score {score_top} times (halving itself ranks by the mean of the last "
            f"three validation scores). The TD pick is most often `{common}` ({picks.count(common)} of "
            f"{len(picks)}), and the negated error correlates more with the parameter count than with the "
            f"hindsight AUC at {capacity} of {len(checkpoints)} checkpoints: a held-out loss "
            + ("rewards capacity, as expected, and is no substitute for the return." if capacity == len(checkpoints)
               else "does not simply follow capacity here."))


def final_score_spread_text(table: pd.DataFrame, ranking: pd.DataFrame, method: str = registry.HALVING) -> str:
    """Where a method's final-score gap comes from: its seeds' final scores, and the lowest seed's
    deployed architecture with its hindsight rank by AUC (`ranking`: `hindsight_ranking`)."""
    rows = table[table["method"] == method].sort_values("seed")
    if rows.empty:
        return ""
    worst = rows.loc[rows["final_score"].idxmin()]
    rank = int(ranking.loc[worst["final_arch"], "rank"])
    rest = rows.drop(index=worst.name)["final_score"]
    return (f"Per seed, {method}'s final scores are " + ", ".join(f"{v:.2f}" for v in rows["final_score"])
            + f". The lowest, seed {int(worst['seed'])} ({worst['final_score']:.2f}), deployed "
            f"`{worst['final_arch']}` (hindsight rank {rank} by AUC): its final greedy return is "
            f"{worst['final_return']:.0f} against a peak of {worst['peak_return']:.0f} earlier in the run. The other "
            f"seeds' final scores lie between {rest.min():.2f} and {rest.max():.2f}.")


def population_update_table(result: dict) -> pd.DataFrame:
    """`benchmarks/population_update.py`'s result as a table: per hidden shape, its candidates' updates
    one after another against their stack's one update; then the whole population, and the lone
    fixed networks for scale. Milliseconds per update step, medians over repetitions."""
    rows = {f"{shape} ({', '.join(v['members'])})": {
        "one update per candidate, in turn (ms)": v["loop_ms"], "stacked (ms)": v["stacked_ms"],
        "stacked / in turn": v["stacked_over_loop"]} for shape, v in result["per_shape"].items()}
    ms = result["ms_per_update_step"]
    rows[f"all {result['candidates']} candidates ({result['stacks']} stacks)"] = {
        "one update per candidate, in turn (ms)": ms["loop"], "stacked (ms)": ms["stacked"],
        "stacked / in turn": result["stacked_over_loop"]}
    for name in (registry.FIXED_MEDIUM, registry.FIXED_LARGE):
        rows[f"{name} alone"] = {"one update per candidate, in turn (ms)": ms[name]}
    table = pd.DataFrame(rows).T
    return table.apply(lambda col: col.map(lambda v: "" if pd.isna(v) else f"{v:.2f}"))


def population_update_text(result: dict) -> str:
    """What one update of the whole population costs, stacked and not, against the lone fixed networks."""
    ms, shapes = result["ms_per_update_step"], result["per_shape"]
    ratios = [v["stacked_over_loop"] for v in shapes.values()]
    widest = max(max(map(int, k.split("x"))) for k in shapes)
    wide = [k for k in shapes if max(map(int, k.split("x"))) == widest]
    wide_share = sum(shapes[k]["stacked_ms"] for k in wide) / sum(v["stacked_ms"] for v in shapes.values())
    load = result.get("load_average")
    return (f"One update of all {result['candidates']} candidates on a shared minibatch costs {ms['stacked']:.1f} ms "
            f"stacked ({result['stacks']} stacks) against {ms['loop']:.1f} ms for each candidate's own update in "
            f"turn (the sum of the standalone updates): a ratio of {result['stacked_over_loop']:.2f}. That is "
            f"{result['stacked_over_fixed_large']:.1f} times one `fixed-large` update and "
            f"{result['stacked_over_fixed_medium']:.0f} times one `fixed-medium` update. Timed one shape at a time, "
            f"a stack costs {min(ratios):.2f} to {max(ratios):.2f} times its members' updates in turn (faster on "
            f"{sum(r < 1 for r in ratios)} of {len(ratios)} shapes): with two members per stack there is little "
            f"overhead to share, and the width-{widest} stacks, whose arithmetic no stacking reduces, take "
            f"{wide_share:.0%} of the time. The population's update costs about the sum of its candidates' "
            f"standalone updates. Measured side by side in one process, one torch thread, medians of "
            f"{result['reps']} repetitions of {result['updates']} updates (`benchmarks/population_update.py`)"
            + (f", at a load average of {load:.1f} on the {result.get('cpus', 2)}-core machine." if load is not None
               else "; the machine's load was not recorded."))


def halving_answer(quality: dict, comps: dict[str, pd.DataFrame], table: pd.DataFrame, best_runs: pd.DataFrame,
                   cost: pd.DataFrame, matched: dict[str, str] | None = None) -> str:
    """The chapter's opening answer: does halving select, does it perform, what does it cost, each
    against its pre-registered target; `matched` maps the compute-matched single networks' method
    labels to what each matches (`COMPUTE_MATCHED`)."""
    auc = comps["auc"].set_index("against")

    def effect(against: str) -> str:
        if against not in auc.index:
            return f"not compared (no {against} runs)"
        r = auc.loc[against]
        word = "better than" if r["better"] else "worse than" if r["worse"] else "not distinguishable from"
        return f"{word} `{against}` ({ci_text(r['difference'], r['diff_low'], r['diff_high'])}, Holm p " \
               f"{r['welch_p_holm']:.2g})"

    mine = table.loc[table["method"] == registry.HALVING, "final_score"].to_numpy(dtype=float)
    gap, low, high = S.mean_difference_ci(mine, best_runs["final_score"].to_numpy(dtype=float))
    near = high >= -0.02 and gap >= -0.02
    share = float(cost.loc[registry.HALVING, "weighted_sweep_share"])
    decided = "Yes" if quality["met"] else "No" if quality["control_seeds"] else "Not decided yet"
    return (f"**Does it select?** {decided}: the survivor was in the hindsight top "
            f"quarter in {quality['top']} of {quality['seeds']} seeds (target {quality['needed']}; " + (
                f"random selection {quality['control_top']} of {quality['control_seeds']}" if quality["control_seeds"]
                else "the random-selection control has no runs yet, so the test against it is open") +
            "). **Does it perform?** On AUC it is "
            f"{effect(registry.FIXED_MEDIUM)} and {effect(registry.HALVING_RANDOM)}"
            + "".join(f"; against one network given about its {how} it is {effect(label)}"
                      for label, how in (matched or {}).items())
            + ". Its final score minus the hindsight best's "
            f"is {ci_text(gap, low, high)} (target: within 0.02, {'met' if near else 'missed'}). **Cost:** one run "
            f"is {share:.1%} of the sweep's compute in cost-weighted updates (target: at most 20%, "
            f"{'met' if share <= 0.2 else 'missed'}).")


# The compute-matched single networks for halving: fixed-medium with more updates per step, one grid
# per way of matching a halving run's compute.
COMPUTE_MATCHED = {"compute-matched": "cost-weighted updates", "compute-matched-cpu": "CPU time"}


def load_compute_matched(root: Path | None = None) -> dict[str, Experiment]:
    """The compute-matched grids that have runs, keyed by their method label (`fixed-medium, N updates
    per step`, so that they never pool with the paper grid's fixed-medium); each keeps its grid name."""
    out = {}
    for name in COMPUTE_MATCHED:
        exp = load_experiment(name, root)
        if exp is not None and exp.runs:
            label = f"fixed-medium, {exp.runs[0].config.gradient_steps} updates per step"
            out[label] = Experiment(name, exp.runs, exp.refused, exp.metrics.assign(method=label))
    return out


def compute_matched_text(matched: dict[str, Experiment], halving_runs: Sequence[RunResult],
                         auc: pd.DataFrame) -> str:
    """One sentence per compute-matched single network: what it matches, its CPU time per run as run
    beside halving's, and halving minus it on AUC (`auc`: `analysis.compare`'s table)."""
    def minutes(runs: Sequence[RunResult]) -> float:
        return float(np.median([r.meta.get("wall_time") or 0 for r in runs])) / 60

    own = minutes([r for r in halving_runs if r.config.method == registry.HALVING])
    auc = auc.set_index("against")
    out = []
    for label, exp in matched.items():
        a = auc.loc[label]
        verdict = ("the search is worth more than this compute spent on one network" if a["better"] else
                   "this compute spent on one network does better" if a["worse"] else
                   "the data cannot tell the search from this compute spent on one network")
        out.append(f"`{label}` (`experiments/{exp.name}.yaml`, matched in {COMPUTE_MATCHED[exp.name]}), "
                   f"{len(exp.runs)} seeds, a median "
                   f"{minutes(exp.runs):.1f} CPU-minutes per run as run against halving's {own:.1f}. Halving minus "
                   f"it on AUC: {ci_text(a['difference'], a['diff_low'], a['diff_high'], 3)} (Holm p "
                   f"{a['welch_p_holm']:.3g}): {verdict}.")
    return " ".join(out)


# -- selection on every task: racing (issue 31) ---------------------------------------------------------
RACING_EXPERIMENT = registry.RACING  # the grid is named after its method


SELECTORS = (registry.RACING, registry.RACING_RANDOM, registry.HALVING)  # the racing chapter's order


PRESET_NETWORK = "preset network"  # each task's preset network, whatever its method name in its grid


MATCHED_PRESET = "preset network, racing's CPU"  # the same, more gradient steps: about a racing run's CPU


# One grid per preset network (a grid crosses all its envs with all its methods).
MATCHED_EXPERIMENTS = ("racing-matched-cpu", "racing-matched-cpu-pendulum")


# Where halving's runs of the racing grid's tasks and seeds are, and the preset networks'.
HALVING_GRIDS = ("envs-preset-search", registry.HALVING)  # the pendulum's grid is named after the method


PRESET_GRIDS = ("envs-preset", "paper")


@dataclass
class Selection:
    table: pd.DataFrame  # per-run metrics: racing, racing-random, halving, PRESET_NETWORK and MATCHED_PRESET, same
    # tasks and seeds
    sweep: pd.DataFrame  # every task's sweep (`hindsight_sweeps`), seeds apart from `table`'s
    racing: Experiment
    planned: list[str]  # the racing grid's tasks without a run yet
    population_runs: list[RunResult]  # halving's and racing's runs (records.Run) on `table`'s tasks, for their compute


def load_selection(root: Path | None = None) -> Selection | None:
    """The racing grid's runs beside halving's and the preset network's on the same tasks (the
    preset network: each task's `PRESETS` network, `fixed-medium` on the two pendulums), and every
    task's sweep; None before any racing run."""
    from nasdqn.config import TASK_PRESET, preset_for

    racing = load_experiment(RACING_EXPERIMENT, root)
    if racing is None or racing.metrics.empty:
        return None
    envs = list(dict.fromkeys(racing.metrics["env"]))
    parts = [racing.metrics]
    population_runs = [r for r in racing.runs if r.config.env in envs]
    for name in HALVING_GRIDS:
        e = load_experiment(name, root)
        if e is not None and not e.metrics.empty:
            parts.append(e.metrics[e.metrics["method"] == registry.HALVING])
            population_runs += [r for r in e.runs if r.config.env in envs and r.config.method == registry.HALVING]
    for name in PRESET_GRIDS:
        e = load_experiment(name, root)
        if e is None or e.metrics.empty:
            continue
        m = e.metrics
        net = m["env"].map(lambda env: preset_for(TASK_PRESET, env).net_arch)
        fixed = m["method"].map(registry.is_fixed) & (m["final_arch"] == net)
        parts.append(m[fixed].assign(method=PRESET_NETWORK))
    for name in MATCHED_EXPERIMENTS:
        matched = load_experiment(name, root)
        if matched is not None and not matched.metrics.empty:
            parts.append(matched.metrics.assign(method=MATCHED_PRESET))
    table = pd.concat(parts, ignore_index=True)
    planned_file = grid_file(RACING_EXPERIMENT, planned=True)
    planned_grid = yaml.safe_load(planned_file.read_text()) if planned_file.exists() else {"envs": envs}
    return Selection(table[table["env"].isin(envs)].reset_index(drop=True), hindsight_sweeps(root), racing,
                     [e for e in planned_grid["envs"] if e not in envs], population_runs)


SELECTION_CUTS = {"candidates": "candidates", "cut_early": "cut before the last checkpoint", "cut_last": "cut at it",
                  "mean_cut_fraction": "mean cut, fraction of budget",
                  "training_runs": "candidate-updates, x deployed's", "search_share": "search share of wall time"}


def selection_cuts(selection: Selection) -> pd.DataFrame:
    """What halving's and racing's cuts did, mean per task and method (`analysis.population_compute`)."""
    spent = analysis.population_compute(selection.population_runs)
    means = spent.groupby(["env", "method"], sort=False)[list(SELECTION_CUTS)].mean()
    return means.round(2).rename(columns=SELECTION_CUTS)


def selection_table(report: pd.DataFrame) -> pd.DataFrame:
    """`analysis.selection_report` formatted for reading, one row per task and method."""
    return pd.DataFrame({
        "task": report["env"], "method": report["method"],
        "deployed ranks (seeds 0-9)": report["ranks"].map(lambda r: ", ".join(map(str, r))),
        "top quarter": [f"{t} of {n}" for t, n in report[["top_quarter_runs", "runs"]].to_numpy()],
        "AUC": report["auc"].round(3),
        "regret to hindsight best [95% CI]": [ci_text(*r, digits=3) for r in
                                              report[["regret", "regret_low", "regret_high"]].to_numpy()],
        "final score": report["final_score"].round(2),
        "CPU, x preset network": report["x_preset"].map("{:.2f}".format),
        "CPU, share of sweep": report["sweep_share"].map("{:.1%}".format),
    }).set_index(["task", "method"])


def plot_selection_by_task(report: pd.DataFrame) -> plt.Figure:
    """Per task: the hindsight rank of every seed's deployed architecture, one column of dots per
    method, the top quarter shaded; beside it, each method's regret with its interval."""
    envs = list(dict.fromkeys(report["env"]))
    shown = [m for m in method_order(report["method"].unique())]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 0.9 + 0.75 * len(envs) * 1.4), sharey=False)
    width = 0.8 / max(1, len(shown))
    for i, env in enumerate(envs):
        rows = report[report["env"] == env].set_index("method")
        quarter, swept = int(rows["quarter"].iloc[0]), int(rows["swept"].iloc[0])
        ax.add_patch(plt.Rectangle((0.5, i - 0.45), quarter, 0.9, color="grey", alpha=0.15, lw=0))
        for j, method in enumerate(shown):
            if method not in rows.index:
                continue
            y = i - 0.4 + width * (j + 0.5)
            ranks = np.array(rows.loc[method, "ranks"], dtype=float)
            ax.scatter(ranks, np.full(len(ranks), y), s=14, alpha=0.7, color=method_colour(method),
                       label=method if i == 0 else None)
            r = rows.loc[method]
            bx.errorbar(r["regret"], y, xerr=[[r["regret"] - r["regret_low"]], [r["regret_high"] - r["regret"]]],
                        fmt="o", ms=4, color=method_colour(method))
        ax.text(swept + 0.3, i, f"of {swept}", va="center", fontsize="x-small")
    for a in (ax, bx):
        a.set_yticks(range(len(envs)), envs)
        a.set_ylim(len(envs) - 0.5, -0.5)
    ax.set_xlabel("hindsight rank of the deployed architecture (1 = best; shaded: top quarter)")
    bx.axvline(0, color="black", lw=0.8)
    bx.axvline(-analysis.SELECTION_TARGETS["regret"], color="grey", ls=":", lw=0.8)
    bx.set_xlabel("AUC minus the hindsight best's (95% CI; dotted: the -0.02 target)")
    bx.set_yticklabels([])
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    return fig


def selection_answer(report: pd.DataFrame, targets: pd.DataFrame, planned: Sequence[str],
                     method: str = registry.RACING, baseline: str = registry.HALVING) -> str:
    """The racing chapter's answer, from its numbers: per task, the top-quarter counts of `method`
    and `baseline`, and each target met or missed."""
    mine = report.set_index(["env", "method"])
    envs = list(dict.fromkeys(report["env"]))

    def count(env: str, m: str) -> str:
        return f"{mine.loc[(env, m), 'top_quarter_runs']}/{mine.loc[(env, m), 'runs']}" if (env, m) in mine.index \
            else "not run"

    met = targets["met"].sum()
    return (f"On the {len(envs)} task{'s' if len(envs) > 1 else ''} run so far, `{method}` deployed a hindsight "
            "top-quarter architecture in " + "; ".join(f"{e} {count(e, method)} (`{baseline}` {count(e, baseline)})"
                                                      for e in envs)
            + f" seeds. Of the {len(targets)} selection targets, {met} {'is' if met == 1 else 'are'} met on these "
            "tasks: " + "; ".join(f"{t} — {'met' if ok else 'missed'} ({m})"
                                  for t, m, ok in targets[["target", "measured", "met"]].to_numpy()) + "."
            + (f" Not run yet: {', '.join(planned)}; the targets count tasks out of those run." if planned else ""))


def matched_text(table: pd.DataFrame, method: str = registry.RACING, metric: str = "auc") -> str:
    """`method` against the preset network given about its CPU (`MATCHED_PRESET`), per task where that
    control was run: the difference of mean `metric` (positive: `method` better) with a bootstrap
    interval."""
    rows = []
    for env, g in table.groupby("env", sort=False):
        x, y = (g.loc[g["method"] == m, metric].to_numpy(float) for m in (method, MATCHED_PRESET))
        if len(x) > 1 and len(y) > 1:
            rows.append(f"{env} {ci_text(*S.mean_difference_ci(x, y), digits=3)}")
    if not rows:
        return f"The preset network given about a `{method}` run's CPU has no runs yet."
    return (f"`{method}` minus the preset network given about its CPU, {metric.upper()} (95% CI; positive: "
            f"`{method}` better): " + "; ".join(rows) + ".")


def selection_cost_text(report: pd.DataFrame, compute: pd.DataFrame, method: str = registry.RACING) -> str:
    """Why `method`'s CPU targets are missed where they are: on each task over a target, its
    candidate-updates in units of the deployed network's and its search share (`compute`:
    `analysis.population_compute` rows), beside the preset network's and the sweep's CPU."""
    t = analysis.SELECTION_TARGETS
    mine = report[report["method"] == method].set_index("env")
    over = mine[(mine["x_preset"] > t["x_preset"]) | (mine["sweep_share"] > t["sweep_share"])]
    if over.empty:
        return f"`{method}` is within both CPU targets on every task run."
    spent = compute[compute["method"] == method].groupby("env")[["training_runs", "search_share"]].mean()
    return "Where a CPU target is missed: " + "; ".join(
        f"on {env}, a run cost {r['x_preset']:.2f}x the preset network ({r['cpu_seconds']:.0f} s against "
        f"{r['cpu_seconds'] / r['x_preset']:.0f} s) and {r['sweep_share']:.1%} of the sweep: it made "
        f"{spent.loc[env, 'training_runs']:.2f}x the deployed network's updates, and the search (the other "
        f"candidates' updates and the validation episodes) took {spent.loc[env, 'search_share']:.0%} of its wall time"
        for env, r in over.iterrows()) + "."


MOST_DEPLOYED = "its most deployed architecture, alone (sweep seeds)"


def racing_curve_scores(selection: Selection, root: Path | None = None) -> pd.DataFrame:
    """Score tables (`score_table`) of the racing runs, their control's, and, per task, the sweep's own
    runs of the architecture racing deployed most often there (method `MOST_DEPLOYED`): the same
    network trained alone, to set the survivor's curve against."""
    t = selection.table
    deployed = t[t["method"] == registry.RACING].groupby("env")["final_arch"].agg(lambda a: a.mode().iloc[0])
    swept = [r for name in ("sweep-preset", *SWEEP_EXPERIMENTS) if (e := load_experiment(name, root)) is not None
             for r in e.runs if r.config.env in deployed.index and r.config.method == registry.fixed_method(
                 deployed[r.config.env])]
    scores = score_table([*selection.racing.runs, *swept])
    return scores.assign(method=scores["method"].where(~scores["method"].map(registry.is_fixed_pattern), MOST_DEPLOYED))


def racing_curves_text(scores: pd.DataFrame, last: int = 5) -> str:
    """Per task of `racing_curve_scores`: racing's and its most deployed architecture's (trained alone)
    mean normalised score over the last `last` evaluations."""
    parts = []
    for env, g in scores.groupby("env", sort=False):
        steps = sorted(g["step"].unique())[-last:]
        end = g[g["step"].isin(steps)].groupby("method")["score"].mean()
        parts.append(f"{env} {end[registry.RACING]:.2f} against {end[MOST_DEPLOYED]:.2f}")
    return (f"Mean normalised score over the last {last} evaluations, racing against its most deployed "
            "architecture trained alone: " + "; ".join(parts) + ".")
