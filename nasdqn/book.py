"""The few helpers the notebooks and book chapters share: finding and loading runs, tidy tables and
standard plots. Chapters stay thin: they call these and glue the numbers into their prose."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import yaml

from nasdqn import REPO_ROOT, analysis
from nasdqn import methods as registry
from nasdqn import stats as S
from nasdqn.analysis import BEST_FIXED, PAPER_COMPARATORS, RANDOM_CONTROLS, hindsight_ranking, run_metrics
from nasdqn.metrics import eval_curve, normalised
from nasdqn.records import RunDirError, RunResult, cached, read_run, run_fingerprint
from nasdqn.stats import bootstrap_ci

# The book shows the first of these experiments present under the data root, unless the environment
# variable NASDQN_BOOK_EXPERIMENT names one.
BOOK_EXPERIMENTS = ("paper", "smoke")
EXPERIMENTS_DIR = REPO_ROOT / "experiments"
METHOD_ORDER = tuple(m.name for m in registry.entries() if m.listed)  # the methods' place in tables and figures
BASELINES, RANDOM_CONTROLS = PAPER_COMPARATORS, RANDOM_CONTROLS


def data_root() -> Path:
    """The data root: NASDQN_DATA, else the repository's data/ (chapters run from book/)."""
    return Path(os.environ.get("NASDQN_DATA", REPO_ROOT / "data"))


def cache_dir() -> Path | None:
    """Where the chapters keep each run's parsed tables and metrics, keyed by the run's fingerprint (so
    nothing stale can be served): NASDQN_CACHE, else ~/.cache/nasdqn; NASDQN_CACHE=off keeps nothing."""
    chosen = os.environ.get("NASDQN_CACHE")
    if chosen == "off":
        return None
    return Path(chosen) if chosen else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nasdqn"


def book_experiment(root: Path | None = None) -> str:
    root = root or data_root()
    chosen = os.environ.get("NASDQN_BOOK_EXPERIMENT")
    if chosen:
        return chosen
    for name in BOOK_EXPERIMENTS:
        if (root / "runs" / name).is_dir():
            return name
    raise FileNotFoundError(f"no run data under {root / 'runs'}: expected one of {', '.join(BOOK_EXPERIMENTS)} "
                            "(run `nasdqn batch experiments/smoke.yaml` or set NASDQN_BOOK_EXPERIMENT)")


def load_runs(root: str | Path, experiment: str) -> tuple[list[RunResult], list[str]]:
    """Every finished run of an experiment, and a line for each run that was refused.

    When the experiment's grid (experiments/<name>.yaml) exists, exactly its cells are read, each
    against the grid's config hash: a run left from an older config (stale) or not yet run is
    refused with the reason, never shown. Without a grid file every run directory is read."""
    from nasdqn.batch import load_grid

    grid = EXPERIMENTS_DIR / f"{experiment}.yaml"
    results, refused = [], []
    if grid.exists():
        _, cells = load_grid(grid, root)
        for cell in cells:
            ready = cell.resolved()
            if ready is None:
                refused.append(f"{cell.out}: waiting for its nas run (random-matched copies its switch times)")
                continue
            try:
                results.append(read_run(ready.out, ready.config.config_hash, cache_dir()))
            except RunDirError as e:
                refused.append(str(e))
        prefix = f"{Path(root).resolve()}/"  # run paths as the data contract writes them, not this machine's
        return results, [line.replace(prefix, "") for line in refused]
    for path in sorted((Path(root) / "runs" / experiment).glob("*/*/seed=*")):
        try:
            results.append(read_run(path, cache=cache_dir()))
        except RunDirError as e:
            refused.append(str(e))
    return results, refused


def run_table(root: str | Path, experiment: str) -> pd.DataFrame:
    """Every run directory of an experiment with its status and, when it is not ok, why: diverged,
    failed or interrupted runs are reported in the book, not silently left out."""
    from nasdqn.records import read_meta, run_status

    rows = []
    for path in sorted((Path(root) / "runs" / experiment).glob("*/*/seed=*")):
        status = run_status(path)
        try:
            error = read_meta(path).get("error", "") if status != "ok" else ""
        except RunDirError as e:
            error = str(e)
        rows.append({"env": path.parent.parent.name, "method": path.parent.name,
                     "seed": int(path.name.split("=", 1)[1]), "status": status, "error": error})
    return pd.DataFrame(rows, columns=["env", "method", "seed", "status", "error"])


# Methods without a colour of their own in the registry (fixed:<arch>, ablation variants, peers) take
# the palette's spare colours by first sight.
_extra_colours: dict[str, str] = {}


def method_colour(method: str) -> str:
    """The colour `method` has in every figure of the book."""
    own = registry.colour(method)
    if own is not None:
        return own
    if method not in _extra_colours:
        spare = registry.SPARE_COLOURS
        _extra_colours[method] = spare[len(_extra_colours) % len(spare)]
    return _extra_colours[method]


def method_order(methods) -> list[str]:
    return registry.order(methods)


def score_table(results: list[RunResult]) -> pd.DataFrame:
    """One row per run and evaluation step: the mean greedy return over the evaluation starts, and
    the normalised score (0 = random policy, 1 = reference controller; NaN without a reference)."""
    rows = []
    for r in results:
        curve = eval_curve(r.evals)
        rand, ref = r.anchors.get("random_return"), r.anchors.get("reference_return")
        for step, value in curve.items():
            rows.append({"env": r.config.env, "method": r.config.method, "seed": r.config.seed, "step": int(step),
                         "return": float(value),
                         "score": normalised(value, rand, ref) if ref is not None else np.nan})
    return pd.DataFrame(rows)


def plot_learning_curves(scores: pd.DataFrame, column: str = "score", statistic=np.mean,
                         methods: list[str] | None = None, ax: plt.Axes | None = None) -> plt.Figure:
    """`statistic` (mean, or stats.iqm) over seeds per method and evaluation step, with a 95%
    bootstrap CI band; on `ax` if given."""
    fig, ax = plt.subplots(figsize=(8, 4.5)) if ax is None else (ax.figure, ax)
    for method in methods or method_order(scores["method"]):
        wide = scores[scores["method"] == method].pivot(index="seed", columns="step", values=column)
        point, low, high = bootstrap_ci(wide.to_numpy(), statistic)
        colour = method_colour(method)
        ax.plot(wide.columns, point, label=f"{registry.label(method)} ({len(wide)} seeds)", color=colour)
        ax.fill_between(wide.columns, low, high, alpha=0.2, color=colour)
    ax.set_xlabel("environment step")
    ax.set_ylabel("normalised score" if column == "score" else "greedy return")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_task_curves(scores: pd.DataFrame, methods: list[str] | None = None, statistic=np.mean) -> plt.Figure:
    """Learning curves of several tasks, one panel each (normalised scores, CI bands)."""
    envs = list(dict.fromkeys(scores["env"]))
    cols = min(3, len(envs))
    rows = -(-len(envs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False)
    for ax, env in zip(axes.flat, envs, strict=False):
        plot_learning_curves(scores[scores["env"] == env], statistic=statistic, methods=methods, ax=ax)
        ax.set_title(env)
        ax.legend().set_visible(ax is axes.flat[0])
    for ax in list(axes.flat)[len(envs):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def plot_intervals(labels: list[str], point, low, high, xlabel: str, title: str = "",
                   reference: float | None = None) -> plt.Figure:
    """One row per label: a point with its confidence interval (aggregate scores, effects)."""
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.45 * max(1, len(labels))))
    y = np.arange(len(labels))
    point = np.asarray(point, dtype=float)
    err = np.vstack([point - np.asarray(low, dtype=float), np.asarray(high, dtype=float) - point])
    for i, label in enumerate(labels):
        ax.errorbar(point[i], y[i], xerr=err[:, i:i + 1], fmt="o", capsize=4, color=method_colour(str(label)))
    if reference is not None:
        ax.axvline(reference, color="grey", linestyle="--")
    ax.set_yticks(y, labels)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_performance_profiles(profiles: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                              taus: np.ndarray) -> plt.Figure:
    """Score distributions (Agarwal et al. 2021): the fraction of runs above each normalised score,
    per method, with stratified-bootstrap CI bands."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for method, (point, low, high) in profiles.items():
        ax.plot(taus, point, label=method, color=method_colour(method))
        ax.fill_between(taus, low, high, alpha=0.2, color=method_colour(method))
    ax.set_xlabel("normalised score tau")
    ax.set_ylabel("fraction of runs with score > tau")
    ax.set_ylim(0, 1)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_task_hindsight(hindsight: pd.DataFrame, marked: dict[str, str] | None = None, metric: str = "auc"
                        ) -> plt.Figure:
    """One panel per task: every swept architecture's `metric` with its 95% CI, best at the top,
    coloured by activation; the architectures of `marked` (label -> arch, e.g. the fixed baselines)
    are named on the right of their rows."""
    envs = list(dict.fromkeys(hindsight["env"]))
    n = hindsight.groupby("env").size().max()
    fig, axes = plt.subplots(1, len(envs), figsize=(4.2 * len(envs), 0.8 + 0.22 * n), squeeze=False)
    activations = sorted(hindsight["arch"].str.split("-").str[0].unique())
    colours = dict(zip(activations, registry.PALETTE, strict=False))
    for ax, env in zip(axes[0], envs, strict=True):
        t = hindsight[hindsight["env"] == env].sort_values("rank")
        y = np.arange(len(t))[::-1]
        for yi, (_, row) in zip(y, t.iterrows(), strict=True):
            colour = colours[row["arch"].split("-")[0]]
            ax.errorbar(row[metric], yi, xerr=[[row[metric] - row["low"]], [row["high"] - row[metric]]], fmt="o",
                        color=colour, capsize=2, markersize=4)
            names = [label for label, arch in (marked or {}).items() if arch == row["arch"]]
            if names:
                ax.annotate(", ".join(names), (1.0, yi), xycoords=("axes fraction", "data"), xytext=(4, 0),
                            textcoords="offset points", va="center", fontsize="x-small")
        quarter = int(t["top_quarter"].sum())
        ax.axhline(y[quarter - 1] - 0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_yticks(y, t["arch"], fontsize="x-small")
        ax.set_title(env, fontsize="small")
        ax.set_xlabel(f"{'AUC' if metric == 'auc' else metric} (normalised)")
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=c, label=a) for a, c in colours.items()]
    axes[0][-1].legend(handles=handles, fontsize="x-small", loc="lower right")
    fig.tight_layout()
    return fig


def task_hindsight_table(hindsight: pd.DataFrame, named: dict[str, str], best: int = 3) -> pd.DataFrame:
    """Per task: the `best` architectures by rank with AUC [95% CI] and P(top quarter), each named
    architecture's rank (of n), and the sweep's CPU-hours as run."""
    rows = {}
    for env, t in hindsight.groupby("env", sort=False):
        t = t.set_index("arch").sort_values("rank")
        row = {f"#{i + 1}": f"{arch}: {ci_text(*t.loc[arch, ['auc', 'low', 'high']])}, "
                            f"P(top quarter) {t.loc[arch, 'p_top_quarter']:.2f}"
               for i, arch in enumerate(t.index[:best])}
        for label, arch in named.items():
            row[f"{label} rank"] = f"{int(t.loc[arch, 'rank'])} of {len(t)}" if arch in t.index else "not swept"
        row["seeds per architecture"] = f"{t['seeds'].min()}" if t["seeds"].nunique() == 1 else \
            f"{t['seeds'].min()}-{t['seeds'].max()}"
        row["sweep CPU-hours"] = f"{t['cpu_seconds'].sum() / 3600:.2f}"
        rows[env] = row
    return pd.DataFrame(rows).T


def plot_search_against_hindsight(against: pd.DataFrame, reference: str = registry.FIXED_MEDIUM) -> plt.Figure:
    """One panel per task: each searching method's AUC minus the task's hindsight best, with its 95%
    CI (`analysis.search_against_hindsight`); the solid line at 0 is the hindsight best, the dotted
    line where `reference` stands (its mean against the same best)."""
    envs = list(dict.fromkeys(against["env"]))
    methods = list(dict.fromkeys(against["method"]))
    fig, axes = plt.subplots(1, len(envs), figsize=(3.6 * len(envs), 0.9 + 0.36 * len(methods)), squeeze=False,
                             sharey=True)
    for ax, env in zip(axes[0], envs, strict=True):
        t = against[against["env"] == env].set_index("method")
        for y, m in enumerate(methods):
            if m not in t.index or not np.isfinite(t.loc[m, "best_difference"]):
                continue
            d, lo, hi = t.loc[m, ["best_difference", "best_low", "best_high"]]
            ax.errorbar(d, y, xerr=[[d - lo], [hi - d]], fmt="o", color=method_colour(m), capsize=3)
        ax.axvline(0, color="black", linewidth=1)
        # Every method's pair of differences gives the reference's offset from the hindsight best.
        offset = (t["best_difference"] - t["reference_difference"]).dropna()
        if not offset.empty:
            ax.axvline(float(offset.iloc[0]), color="grey", linestyle=":", linewidth=1.2)
            ax.annotate(reference, (float(offset.iloc[0]), 1.0), xycoords=("data", "axes fraction"),
                        xytext=(2, -10), textcoords="offset points", fontsize="x-small", color="grey")
        ax.set_yticks(range(len(methods)), methods, fontsize="small")
        ax.set_ylim(len(methods) - 0.5, -0.8)
        ax.set_title(f"{env} (best: {t['hindsight_best'].iloc[0]})", fontsize="small")
        ax.set_xlabel("AUC minus hindsight best")
        ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def selection_quality_text(q: dict) -> str:
    """The selection test's outcome in words (`analysis.selection_quality`)."""
    ranks = ", ".join(str(r) for r in q["ranks"].values())
    return (f"The survivor was in the hindsight top quarter (the best {q['quarter']} by AUC) in **{q['top']} of "
            f"{q['seeds']} seeds** (target: at least {q['needed']}); its ranks per seed: {ranks}. Against chance "
            f"(0.25): binomial p = {q['binomial_p']:.3g}. "
            + (f"The random-selection control landed there in {q['control_top']} of {q['control_seeds']} seeds; "
               f"Fisher's exact p = {q['fisher_p']:.3g}. The target is **{'met' if q['met'] else 'missed'}**."
               if q["control_seeds"] else
               f"The random-selection control (`{q['control']}`) has no runs yet, so the comparison with it, and "
               "with it the target, is still open."))


def plot_selection_ranks(q: dict, n_archs: int) -> plt.Figure:
    """Per seed: the hindsight AUC rank of the deployed architecture, for a method and its control,
    with the top quarter shaded."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.axhspan(0.5, q["quarter"] + 0.5, color="grey", alpha=0.15, label="hindsight top quarter")
    for ranks, method, shift in ((q["ranks"], q["method"], -0.12), (q["control_ranks"], q["control"], 0.12)):
        seeds = np.array(list(ranks), dtype=float)
        ax.scatter(seeds + shift, list(ranks.values()), color=method_colour(method), label=method, zorder=3)
    ax.set_ylim(n_archs + 0.5, 0.5)
    ax.set_xlabel("seed")
    ax.set_ylabel("hindsight rank by AUC (1 = best)")
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    return fig


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


def plot_run(result: RunResult) -> plt.Figure:
    """One run: greedy evaluation returns (mean and range over the evaluation starts) and the
    architecture in use over time."""
    fig, (ax, ax_arch) = plt.subplots(2, 1, figsize=(8, 5), sharex=True, height_ratios=(3, 1))
    curve = eval_curve(result.evals)
    spread = result.evals.groupby("step")["return"].agg(["min", "max"])
    ax.plot(curve.index, curve.values, label="greedy evaluation (mean)")
    ax.fill_between(spread.index, spread["min"], spread["max"], alpha=0.2, label="min-max over starts")
    for name, style in (("random_return", ":"), ("reference_return", "--")):
        value = result.anchors.get(name)
        if value is not None:
            ax.axhline(value, color="grey", linestyle=style, label=name.replace("_return", " policy"))
    ax.set_ylabel("return")
    ax.legend(loc="lower right", fontsize="small")
    c = result.config
    ax.set_title(f"{c.env}, {c.method}, seed {c.seed}")

    events = result.arch_events
    archs = list(dict.fromkeys(events["to_arch"]))
    ends = [*events["step"].iloc[1:], max(int(result.evals["step"].max()), 1)]
    for (_, e), end in zip(events.iterrows(), ends, strict=True):
        ax_arch.barh(archs.index(e["to_arch"]), end - e["step"], left=e["step"], height=0.6)
    ax_arch.set_yticks(range(len(archs)), archs, fontsize="x-small")
    ax_arch.set_xlabel("environment step")
    fig.tight_layout()
    return fig


def grid_table(results: list[RunResult]) -> pd.DataFrame:
    rows = [{"env": r.config.env, "method": r.config.method, "seed": r.config.seed, "steps": r.config.steps,
             "wall_time_s": r.meta.get("wall_time")} for r in results]
    df = pd.DataFrame(rows)
    table = df.groupby(["env", "method"], sort=False).agg(
        seeds=("seed", "nunique"), steps=("steps", "max"), median_wall_time_s=("wall_time_s", "median"))
    order = {m: i for i, m in enumerate(method_order(df["method"]))}
    return table.sort_index(key=lambda idx: idx.map(order) if idx.name == "method" else idx).round(1)


def config_tables(results: list[RunResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Options equal in every run (option, value), and the others per method (method x option)."""
    configs = pd.DataFrame([{k: str(v) for k, v in r.config.to_dict().items()} for r in results])
    per_run = {"experiment", "env", "method", "seed"}
    same = [c for c in configs.columns if c not in per_run and configs[c].nunique() == 1]
    differ = [c for c in configs.columns if c not in per_run and c not in same]
    common = pd.DataFrame({"option": same, "value": [configs[c].iloc[0] for c in same]}).set_index("option")
    varying = configs.groupby("method")[differ].agg(lambda s: ", ".join(sorted(set(s)))) if differ else \
        pd.DataFrame(index=pd.Index(sorted(configs["method"].unique()), name="method"))
    return common, varying


def provenance_table(results: list[RunResult]) -> pd.DataFrame:
    rows = [{**r.meta.get("versions", {}), "git_commit": (r.meta.get("git_commit") or "")[:10],
             "cpus": r.meta.get("host", {}).get("cpus")} for r in results]
    # a library older runs did not record shows as such, not as "nan"
    df = pd.DataFrame(rows).fillna("not recorded").astype(str)
    return df.value_counts().rename("runs").reset_index()


def processor_table(root: Path | None = None) -> pd.DataFrame:
    """Per committed experiment: its runs, how many were made under the math kernels' pins
    (`nasdqn.kernels`; bit for bit reproducible on any x86-64 processor with AVX2), and the
    processors its runs were made on (from each `ok` run's meta.json; older runs recorded none)."""
    rows = []
    for meta_path in sorted((root or data_root()).glob("runs/*/*/*/seed=*/meta.json")):
        meta = json.loads(meta_path.read_text())
        if meta.get("status") != "ok":
            continue
        host = meta.get("host") if isinstance(meta.get("host"), dict) else {}  # the oldest runs: a host name
        kind = host.get("cpu_model") or "not recorded"
        if host.get("avx512") is not None:
            kind += ", AVX-512" if host["avx512"] else ", no AVX-512"
        rows.append({"experiment": meta_path.parts[-5], "pinned": host.get("pinned") is True, "processor": kind})
    if not rows:
        return pd.DataFrame(columns=["runs", "pinned runs", "processors"])
    runs = pd.DataFrame(rows)
    return runs.groupby("experiment").agg(**{"runs": ("pinned", "size"), "pinned runs": ("pinned", "sum"),
                                            "processors": ("processor", lambda p: "; ".join(sorted(set(p))))})


def pins_evidence_text(path: Path | None = None) -> str:
    """What `benchmarks/pins.py` measured: whether pinned runs kept their bytes under every emulation
    of another processor, and which emulations changed the unpinned runs, on which machine."""
    path = path or REPO_ROOT / "benchmarks" / "results" / "pins_bytes.json"
    if not path.exists():
        return "The emulation check (`benchmarks/pins.py`) has not been run yet."
    d = json.loads(path.read_text())
    cells = pd.DataFrame(d["cells"])
    pinned, unpinned = cells[cells["pinned"]], cells[~cells["pinned"]]
    emulations = [e for e in dict.fromkeys(cells["emulation"]) if e != "none"]
    inert = [e for e in emulations if not unpinned.loc[unpinned["emulation"] == e, "changed"].any()]
    m = d["machine"]
    emulated = pinned[pinned["emulation"] != "none"]
    return (f"On one {m['cpu_model']} ({m['cpu_vendor']}, {'with' if m['avx512'] else 'no'} AVX-512), "
            f"{cells['case'].nunique()} small runs ({', '.join(cells['case'].unique())}; {d['steps']} steps), "
            f"each under {len(emulations)} emulations of another processor ({', '.join(emulations)}): the pinned "
            f"runs kept their bytes in {int((~emulated['changed']).sum())} of {len(emulated)} (run, emulation) "
            f"cells; the unpinned runs changed under {', '.join(d['emulations_reaching_unpinned']) or 'none'}"
            + (f", and not under {', '.join(inert)}, which on this machine reach no kernel these runs use"
               if inert else "") + ".")


# benchmarks/versions.py's case names; a case not listed (the search methods) is shown by its name
PINS_COST_CASES = {"pendulum": "fixed-medium on the pendulum", "cartpole": "fixed-medium on CartPole",
                   "large": "fixed-large on the pendulum"}


def pins_cost_text(path: Path | None = None) -> str:
    """Pinned over unpinned steps per CPU-second, per case measured (`benchmarks/versions.py`)."""
    path = path or REPO_ROOT / "benchmarks" / "results" / "pins_speed.json"
    if not path.exists():
        return "not measured yet."
    cases = json.loads(path.read_text())["cases"]
    return "; ".join(f"{PINS_COST_CASES.get(c, c)} runs at {r['ratio_of_medians']:.2f}x the unpinned speed"
                     for c, r in cases.items()) + (
        " (MKL's COMPATIBLE path does without AVX2 in matrix products: the larger the network, the more it costs).")


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


def ci_text(point: float, low: float, high: float, digits: int = 2) -> str:
    """'point [low, high]' for tables ('no value' where there is none, the point alone where there is
    no interval, e.g. from one seed; never 'nan')."""
    if not np.isfinite(point):
        return "no value"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{point:.{digits}f} (no interval)"
    return f"{point:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def search_table(table: pd.DataFrame, by: str | list[str] = "method") -> pd.DataFrame:
    """`analysis.search_summary` for reading: the first switch as a whole step, or `none` where no run
    of the group switched."""
    out = analysis.search_summary(table, by)
    out["first_switch"] = ["none" if pd.isna(v) else f"{v:.0f}" for v in out["first_switch"]]
    return out


def summary_cell(row: pd.Series, column: str, digits: int = 2) -> str:
    """One `analysis.summary` row as a table cell: the statistic with its interval over the runs that
    got there, and how many never did (a censored time is counted, never averaged as a number)."""
    runs, missing = int(row["runs"]), int(row["missing"])
    if missing == runs:
        return f"never ({runs} of {runs} runs)"
    text = ci_text(row[column], row["low"], row["high"], digits)
    return text + (f"; {missing} of {runs} never" if missing else "")


GROWTH_CONTROL = "ablation-growth"  # another seed's NAS-DQN moves, made at its times, with no feedback
FIXED_SCHEDULE_FRESH = "ablation-schedule-fresh"  # the same seed's moves and times, fresh weights


def ablation_answer(comps: dict[str, pd.DataFrame]) -> str:
    """The ablations chapter's answer, from its comparisons (full NAS-DQN minus each variant, one table
    per metric, Holm over the variants): does NAS-DQN learn from its scores, or does it only grow; and what
    inheriting the weights is worth with the moves held fixed."""
    def effect(variant: str, key: str) -> str:
        row = comps[key].set_index("against").loc[variant]
        return (f"{row['metric']} {ci_text(row['difference'], row['diff_low'], row['diff_high'], 3)} "
                f"(Holm p {row['welch_p_holm']:.2g})")

    def has(variant: str) -> bool:
        return all(variant in set(c["against"]) for c in comps.values())

    def significant(variant: str) -> tuple[bool, bool]:
        rows = [c.set_index("against").loc[variant] for c in comps.values()]
        return any(bool(r["better"]) for r in rows), any(bool(r["worse"]) for r in rows)

    labels = list(comps)
    parts = []
    if has(GROWTH_CONTROL):
        better, worse = significant(GROWTH_CONTROL)
        words = ("NAS-DQN beats the same kind of growth made without feedback: its scores add something beyond "
                 "growing." if better and not worse else
                 "The controller-free growth schedule is significantly better than NAS-DQN." if worse else
                 "NAS-DQN does no better than growth moves made without any feedback: on these data, what it does "
                 "is grow, not learn which architecture is best.")
        parts.append(f"**Learned or grew?** {words} Full NAS-DQN minus the controller-free growth schedule "
                     f"(`{GROWTH_CONTROL}`: another seed's moves at its times, no scores read): "
                     + "; ".join(effect(GROWTH_CONTROL, lab) for lab in labels) + ".")
    if has(FIXED_SCHEDULE_FRESH):
        better, worse = significant(FIXED_SCHEDULE_FRESH)
        words = ("Inheriting the weights helps" if better and not worse else
                 "Inheriting the weights hurts" if worse else "Inheriting the weights makes no significant difference")
        parts.append(f"**Weight inheritance, the moves held fixed.** {words}: full NAS-DQN minus the same moves at "
                     f"the same episodes with a fresh network at every change (`{FIXED_SCHEDULE_FRESH}`): "
                     + "; ".join(effect(FIXED_SCHEDULE_FRESH, lab) for lab in labels) + ".")
    return " ".join(parts)


def outcome(comparisons: pd.DataFrame) -> pd.Series:
    """One word per comparison in place of its boolean columns: better, worse (Welch, Holm), equivalent
    (TOST at the measure's margin, where one is stated) or "no difference shown"."""
    words = np.where(comparisons["better"], "better", np.where(comparisons["worse"], "worse", "no difference shown"))
    if "equivalent" in comparisons:
        words = np.where(comparisons["equivalent"].astype(bool), "equivalent", words)
    return pd.Series(words, index=comparisons.index, name="outcome")


def plot_arch_counts(counts: pd.DataFrame, ranking: pd.DataFrame | None = None, title: str = "") -> plt.Figure:
    """How many runs of each method (columns) end on each architecture (rows, counts as numbers and
    disc areas), architectures in hindsight-rank order when a ranking is given (best at the top)."""
    counts = counts.fillna(0)
    if ranking is not None:
        order = sorted(counts.index, key=lambda a: ranking["rank"].get(a, len(ranking) + 1))
        labels = [f"{a} (rank {int(ranking['rank'][a])})" if a in ranking.index else f"{a} (not swept)" for a in order]
    else:
        order, labels = sorted(counts.index), sorted(counts.index)
    counts = counts.loc[order]
    methods = list(counts.columns)
    fig, ax = plt.subplots(figsize=(1.2 + 1.3 * len(methods), 0.9 + 0.32 * len(order)))
    biggest = max(float(counts.to_numpy().max()), 1.0)
    for x, m in enumerate(methods):
        for y, n in enumerate(counts[m].to_numpy()):
            if n > 0:
                ax.scatter(x, y, s=600 * n / biggest, color=method_colour(m), alpha=0.35, linewidths=0)
                ax.annotate(str(int(n)), (x, y), ha="center", va="center", fontsize="small")
    ax.set_xticks(range(len(methods)), methods, rotation=20, ha="right")
    ax.set_yticks(range(len(order)), labels, fontsize="small")
    ax.set_xlim(-0.6, len(methods) - 0.4)
    ax.set_ylim(len(order) - 0.5, -0.5)
    ax.grid(alpha=0.3)
    ax.set_title(title or "runs ending on each architecture", fontsize="medium")
    fig.tight_layout()
    return fig


def plot_forest(comparisons: pd.DataFrame) -> plt.Figure:
    """Every comparison behind the claims (`claims_table`'s second table): NAS-DQN's difference from
    each comparator with its 95% interval, one panel per claim (positive favours NAS-DQN); green
    where significantly better, red where significantly worse (Holm), grey otherwise."""
    claims = list(dict.fromkeys(comparisons["claim"]))
    fig, axes = plt.subplots(len(claims), 1, figsize=(8, sum(0.5 + 0.32 * (comparisons["claim"] == c).sum()
                                                            for c in claims)), squeeze=False)
    for ax, claim in zip(axes[:, 0], claims, strict=True):
        c = comparisons[comparisons["claim"] == claim].reset_index(drop=True)
        labels = [a if a != BEST_FIXED else f"{a} ({b})" for a, b in
                  zip(c["against"], c.get("best_fixed_arch", [""] * len(c)), strict=True)]
        y = np.arange(len(c))
        colours = np.where(c["better"], "#029e73", np.where(c["worse"], "#d55e00", "#949494"))
        for i, (d, lo, hi) in enumerate(c[["difference", "diff_low", "diff_high"]].to_numpy()):
            ax.errorbar(d, y[i], xerr=[[d - lo], [hi - d]], capsize=3, fmt="o", color=colours[i])
        ax.axvline(0, color="grey", lw=0.8, ls="--")
        ax.set_yticks(y, labels, fontsize="small")
        ax.invert_yaxis()
        ax.set_title(claim, fontsize="medium", loc="left")
    axes[-1, 0].set_xlabel("NAS-DQN minus comparator (positive favours NAS-DQN), 95% interval")
    fig.tight_layout()
    return fig


def plot_probability_of_improvement(comparisons: pd.DataFrame, title: str) -> plt.Figure:
    """Probability of improvement of one method over each other (rows of `analysis.compare`), with CIs."""
    fig = plot_intervals(list(comparisons["against"]), comparisons["poi"], comparisons["poi_low"],
                         comparisons["poi_high"], "P(NAS-DQN run > other method's run)", title, reference=0.5)
    fig.axes[0].set_xlim(0, 1)
    return fig


def plot_arch_timelines(runs: list[RunResult], methods: list[str], ranking: pd.DataFrame | None = None
                        ) -> plt.Figure:
    """For each searching run, one row per seed: the architecture in use over time, coloured by its
    rank in the hindsight ranking when one is given (1 = the best fixed architecture; grey: not in the
    ranking), else by its parameter count (log scale)."""
    from matplotlib.colors import LogNorm, Normalize

    chosen = [r for r in runs if r.config.method in methods]
    seeds = sorted({r.config.seed for r in chosen})
    fig, axes = plt.subplots(1, len(methods), figsize=(4.2 * len(methods), 0.9 + 0.28 * len(seeds)), sharey=True,
                             squeeze=False)
    cmap = plt.get_cmap("viridis_r" if ranking is not None else "viridis")
    if ranking is not None:
        norm = Normalize(1, len(ranking))
    else:
        params = [p for r in chosen for p in r.arch_events["params"]]
        norm = LogNorm(max(1, min(params, default=1)), max(params, default=10))
    for ax, method in zip(axes[0], methods, strict=True):
        for row, seed in enumerate(seeds):
            run = next((r for r in chosen if r.config.method == method and r.config.seed == seed), None)
            if run is None:
                continue
            ev = run.arch_events.sort_values("step")
            ends = [*ev["step"].tolist()[1:], run.config.steps]
            for start, end, arch, n in zip(ev["step"], ends, ev["to_arch"], ev["params"], strict=True):
                value = ranking["rank"].get(arch, np.nan) if ranking is not None else n
                colour = "lightgrey" if not np.isfinite(value) else cmap(norm(value))
                ax.barh(row, end - start, left=start, height=0.8, color=colour, edgecolor="white", linewidth=0.3)
        ax.set_title(method)
        ax.set_xlabel("environment step")
    axes[0][0].set_yticks(range(len(seeds)), [f"seed {s}" for s in seeds])
    axes[0][0].invert_yaxis()
    bar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes[0].tolist(), fraction=0.03, pad=0.02)
    bar.set_label("hindsight rank (1 = best)" if ranking is not None else "parameters")
    if ranking is not None:
        bar.ax.invert_yaxis()
    return fig


def plot_top_mass(mass: pd.DataFrame, k: int) -> plt.Figure:
    """The learned controller's belief mass on the hindsight top-k architectures and the entropy of its
    belief, per seed over training."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for _, g in mass.groupby("seed"):
        ax1.plot(g["step"], g["top_mass"], alpha=0.6)
        ax2.plot(g["step"], g["entropy"], alpha=0.6)
    for ax in (ax1, ax2):
        ax.set_xlabel("environment step")
    ax1.set_ylabel(f"P(best is a hindsight top-{k})")
    ax1.set_ylim(0, 1)
    ax2.set_ylabel("entropy of P(best) (nats)")
    fig.tight_layout()
    return fig


# -- what a chapter loads -------------------------------------------------------------------------------
SWEEP_EXPERIMENTS = ("sweep", "sweep-top")  # the sweep first: its name is the pooled one
COMPUTE_EXPERIMENT = "compute"
ENVS_EXPERIMENT = "envs"


@dataclass
class Experiment:
    """An experiment's finished runs, the run directories refused, and the per-run metrics table."""

    name: str
    runs: list[RunResult]
    refused: list[str]
    metrics: pd.DataFrame

    @property
    def cpu_hours(self) -> float:
        """The runs' summed wall time (one core each): the experiment's compute, as run."""
        return sum(r.meta.get("wall_time") or 0 for r in self.runs) / 3600

    def by_method(self, metric: str) -> dict[str, np.ndarray]:
        return {m: g[metric].to_numpy(dtype=float) for m, g in self.metrics.groupby("method", sort=False)}


def load_experiment(name: str | None = None, root: Path | None = None) -> Experiment | None:
    """The book's experiment (`book_experiment`) or a named one; None when its data are absent."""
    root = root or data_root()
    name = name or book_experiment(root)
    if not (root / "runs" / name).is_dir():
        return None
    runs, refused = load_runs(root, name)
    return Experiment(name, runs, refused, run_metrics(runs, cache_dir()))


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


def load_hindsight(root: Path | None = None) -> tuple[Experiment, pd.DataFrame] | None:
    """The pendulum's hindsight reference, pooled over its grids (the sweep and the extra seeds of
    its top half, `SWEEP_EXPERIMENTS`), and its ranking by AUC; None without sweep data."""
    parts = [e for e in (load_experiment(name, root) for name in SWEEP_EXPERIMENTS) if e is not None]
    if not parts or parts[0].metrics.empty:
        return None
    sweep = joined_experiment(SWEEP_EXPERIMENTS[0], parts)
    return sweep, hindsight_ranking(sweep.metrics)


def all_task_sweeps(root: Path | None = None) -> pd.DataFrame:
    """Every task's sweep of fixed architectures, one metrics table: the other tasks' at their presets
    (`sweep-preset`, seeds 100-102) and the paper pendulum's (`load_hindsight`'s grids). Empty without
    sweep data. The racing grids' prior is computed from exactly these grids: seeds added later to
    a hindsight ranking go in grids of their own, so that they do not move the prior."""
    parts = [e.metrics for e in (load_experiment("sweep-preset", root), (load_hindsight(root) or (None,))[0])
             if e is not None and not e.metrics.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


HINDSIGHT_EXTRA = "sweep-preset-top"  # more seeds of the other tasks' top halves (experiments/planned)


def hindsight_sweeps(root: Path | None = None) -> pd.DataFrame:
    """What selections are scored against: `all_task_sweeps` and, where run, the extra seeds of the
    other tasks' top halves (`HINDSIGHT_EXTRA`)."""
    extra = load_experiment(HINDSIGHT_EXTRA, root)
    parts = [all_task_sweeps(root)] + ([extra.metrics] if extra is not None and not extra.metrics.empty else [])
    return pd.concat(parts, ignore_index=True)


def prior_orders(root: Path | None = None) -> dict[str, list[str]]:
    """Per swept task, the leave-one-task-out prior order of architectures (`analysis.prior_order`)."""
    sweeps = all_task_sweeps(root)
    return {env: analysis.prior_order(sweeps, env) for env in dict.fromkeys(sweeps.get("env", []))}


def grid_description(name: str) -> str:
    """The `description` line of experiments/<name>.yaml."""
    return str(yaml.safe_load((EXPERIMENTS_DIR / f"{name}.yaml").read_text()).get("description", name))


def ablation_experiments() -> list[str]:
    """The ablation grids (experiments/ablation-*.yaml), by name."""
    return sorted(p.stem for p in EXPERIMENTS_DIR.glob("ablation-*.yaml"))


# A transfer grid transfer-<task> has a fresh reference, transfer-<task>-fresh, and may have a control,
# transfer-<task>-start: a fresh controller started at the architecture the transferred model values most.
TRANSFER_PREFIX, FRESH_SUFFIX, START_SUFFIX = "transfer-", "-fresh", "-start"


@dataclass
class Transfer:
    """A transfer grid's runs, those of its fresh reference and, if run, of its start control."""

    task: str
    transfer: Experiment
    fresh: Experiment
    start: Experiment | None


def transfer_experiments() -> list[str]:
    """The controller-transfer grids (experiments/transfer-*.yaml, without their references and controls)."""
    return sorted(p.stem for p in EXPERIMENTS_DIR.glob(f"{TRANSFER_PREFIX}*.yaml")
                  if not p.stem.endswith((FRESH_SUFFIX, START_SUFFIX)))


def load_transfer(name: str, root: Path | None = None) -> Transfer | None:
    """A transfer grid with its fresh reference and start control; None when the transfer grid or its
    reference has no runs (the control is optional)."""
    transfer, fresh = load_experiment(name, root), load_experiment(name + FRESH_SUFFIX, root)
    if transfer is None or fresh is None or not transfer.runs or not fresh.runs:
        return None
    start = load_experiment(name + START_SUFFIX, root)
    return Transfer(name.removeprefix(TRANSFER_PREFIX), transfer, fresh, start if start and start.runs else None)


COMPETENCE_EXPERIMENT, PEER_SUFFIX = "competence", "-sb3"


def preset_table() -> pd.DataFrame:
    """Every settings preset as a column: its env, the options it sets (blank: the RunConfig
    default) and the network it was tuned for; `preset_sources` says where each comes from."""
    from nasdqn.config import PRESETS, RunConfig

    defaults = RunConfig().to_dict()
    names = list(dict.fromkeys(k for p in PRESETS.values() for k in p.options))
    rows = {"env": {n: p.env for n, p in PRESETS.items()}}
    for option in names:
        rows[option] = {n: p.options.get(option, "") for n, p in PRESETS.items()}
    rows["tuned for"] = {n: p.net_arch for n, p in PRESETS.items()}
    table = pd.DataFrame(rows).T
    table.insert(0, "default", [defaults.get(o, "") for o in table.index])
    return table


def preset_sources() -> str:
    """One Markdown line per preset: its name, env and source."""
    from nasdqn.config import PRESETS

    return "\n".join(f"- `{n}` ({p.env}): {p.source}." for n, p in PRESETS.items())


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


def joined_experiment(name: str, parts: Sequence[Experiment]) -> Experiment:
    """Several experiments' runs as one (e.g. the paper grid and a variant's grid of the same seeds)."""
    return Experiment(name, [r for e in parts for r in e.runs], [x for e in parts for x in e.refused],
                      pd.concat([e.metrics for e in parts], ignore_index=True))


def with_paper_task(tasks: Experiment, paper: Experiment | None) -> Experiment:
    """The other tasks' grid with the paper's pendulum as one more task (its own grid, budget and
    settings), keeping only the paper grid's methods that the other grid also ran: the six-task set
    the aggregates are computed over. Scores are normalised alike (0 random, 1 the task's reference)."""
    if paper is None or paper.metrics.empty:
        return tasks
    shared = set(tasks.metrics["method"])
    kept = Experiment(paper.name, [r for r in paper.runs if r.config.method in shared], [],
                      paper.metrics[paper.metrics["method"].isin(shared)])
    return joined_experiment(f"{tasks.name}+{paper.name}", [tasks, kept])


def across_tasks_text(table: pd.DataFrame, method: str, others: Sequence[str], metric: str = "final_score") -> str:
    """One sentence: `method`'s average probability of improvement over each of `others` across the
    tasks of `table` (`analysis.average_improvement`), with its interval and the tasks it spans."""
    poi = analysis.average_improvement(table, metric, method, others)
    if poi.empty:
        return f"`{method}` shares no task with {', '.join(others)}."
    parts = [f"`{o}` {ci_text(*poi.loc[o, ['poi', 'low', 'high']])}" for o in poi.index]
    spans = sorted(set(poi["tasks"]))
    return (f"Average probability that a `{method}` run beats a run of the other method on the same task "
            f"(0.5: no difference; {' or '.join(str(t) for t in spans)} tasks): " + "; ".join(parts) + ".")


def verdict_table(verdicts: pd.DataFrame, control: str = registry.RANDOM) -> pd.DataFrame:
    """`analysis.task_verdicts` as the book shows it: one row per task, intervals as text."""
    def cis(prefix: str) -> list[str]:
        return [ci_text(*r) for r in verdicts[[f"{prefix}_difference", f"{prefix}_low", f"{prefix}_high"]].to_numpy()]

    return pd.DataFrame({
        "best fixed": verdicts["best_fixed"],
        "NAS-DQN minus best fixed [95% CI]": cis("fixed"),
        "P(NAS-DQN run > best fixed run) [95% CI]": [
            ci_text(*r) for r in verdicts[["fixed_poi", "fixed_poi_low", "fixed_poi_high"]].to_numpy()],
        "better than / worse than (of 3 fixed)": [
            f"{b} / {w}" for b, w in verdicts[["better_than", "worse_than"]].to_numpy()],
        "verdict": verdicts["verdict"],
        "detectable difference (80% power)": verdicts["fixed_mde"].round(2),
        f"NAS-DQN minus {control} [95% CI]": cis("control"),
        f"beats {control}": verdicts["beats_control"],
    })


def verdict_text(final: pd.DataFrame, auc: pd.DataFrame, control: str = "the paper's random search") -> str:
    """The per-task verdicts on final score and AUC (`analysis.task_verdicts`) in words, with the range
    of differences the seeds could have detected, so that a `ties` is not read as an equivalence."""
    def listing(v: pd.DataFrame, word: str) -> str:
        tasks = [e for e, x in v["verdict"].items() if x == word]
        return f"{word} on {', '.join(tasks) if tasks else 'none'}"

    def span(v: pd.DataFrame) -> str:
        mde = v["fixed_mde"]
        if len(mde) == 1:
            return f"{mde.iloc[0]:.2f}"
        return f"{mde.min():.2f} to {mde.max():.2f} (median {mde.median():.2f})"

    ran = int(final["control_difference"].notna().sum())
    if not ran:
        against_control = f"{control[0].upper()}{control[1:]} has not run on these tasks yet."
    else:
        where = "" if ran == len(final) else " where it ran"
        against_control = (f"It beats {control} on final score on {int(final['beats_control'].sum())} of the "
                           f"{ran} tasks{where}.")
    return (f"On final score NAS-DQN {listing(final, 'helps')}; {listing(final, 'hurts')}; {listing(final, 'ties')}. "
            f"On the area under the learning curve (sample efficiency) it {listing(auc, 'helps')}; "
            f"{listing(auc, 'hurts')}; {listing(auc, 'ties')}. {against_control} A tie is not a shown "
            f"equivalence: with these seeds a difference to the best fixed network had to be about {span(final)} "
            "in final score and "
            f"{span(auc)} in AUC to be found with 80% power at the strictest Holm threshold (column 'detectable "
            "difference'); smaller effects could hide in every 'ties'.")


ARCH_COST_FILES = ("arch_cost.json", "arch_cost_reported.json")  # the default space's, then the reported one's


def claim_answers(claims: pd.DataFrame, chapter: str) -> str:
    """The verdicts of the claims a chapter judges (`claims_table`'s first table), one sentence each, for
    the chapter's opening paragraph: the same rule and numbers as the claims chapter."""
    rows = claims[claims["chapter"] == chapter]
    if rows.empty:
        return "No claim of the paper is judged on this chapter's data."
    out = []
    for claim, r in rows.iterrows():
        better, worse = str(r["better / worse than"]).split(" of ")[0].split(" / ")
        total = str(r["better / worse than"]).split(" of ")[-1]
        out.append(f"**The paper's claim \"{claim}\" ({r['source']}): {r['verdict']}.** NAS-DQN is significantly "
                   f"better than {better} and worse than {worse} of its {total} comparators on {r['measure']}; "
                   f"the weakest effect is {r['weakest effect [95% CI]']} (Holm p {r['its Holm p']}).")
    return " ".join(out)


def arch_costs() -> pd.Series | None:
    """Cost per step of each architecture relative to relu-64x64, measured side by side by
    benchmarks/arch_cost.py (the default space's file first, then the reported protocol's for the
    architectures it adds), or None if that benchmark has not been run."""
    import json

    paths = [REPO_ROOT / "benchmarks" / "results" / name for name in ARCH_COST_FILES]
    parts = [pd.Series(json.loads(p.read_text())["ratio_to_reference"]) for p in paths if p.exists()]
    if not parts:
        return None
    costs = pd.concat(parts)
    return costs[~costs.index.duplicated()].rename("cost_vs_relu-64x64")


# -- the paper's protocol as a third party reported it ------------------------------------------------
REPORTED_EXPERIMENT = "paper-reported"
# Our learned controllers in that protocol: each one's nas runs come from its own grid.
REPORTED_CONTROLLERS = {"gain": REPORTED_EXPERIMENT, "reinforce": REPORTED_EXPERIMENT + "-reinforce"}
ROLES = registry.of_family(registry.FIXED)  # the paper's three fixed networks, small to large
OURS_LIKE = "ours, paper's comparators"  # our protocol's verdict against the comparators both protocols have


def reported_roles(exp: Experiment) -> dict[str, str]:
    """The reported grid's fixed networks in the roles of the paper's three baselines, by size."""
    fixed = exp.metrics[exp.metrics["method"].map(registry.is_fixed_pattern).astype(bool)]
    by_size = fixed.groupby("method")["final_params"].first().sort_values().index
    return dict(zip(by_size, ROLES, strict=False))


def _replace_nas(base: Experiment, nas: Experiment, name: str) -> Experiment:
    learned = registry.NAS
    keep = [r for r in base.runs if r.config.method != learned] + [r for r in nas.runs if r.config.method == learned]
    metrics = pd.concat([base.metrics[base.metrics["method"] != learned],
                         nas.metrics[nas.metrics["method"] == learned]], ignore_index=True)
    return Experiment(name, keep, base.refused + nas.refused, metrics)


def load_reported(root: Path | None = None) -> dict[str, Experiment]:
    """The reported protocol's grid once per learned controller (its nas runs swapped in), with the
    fixed networks renamed to the baseline roles; empty without its data."""
    base = load_experiment(REPORTED_EXPERIMENT, root)
    if base is None or base.metrics.empty:
        return {}
    roles = reported_roles(base)
    out = {}
    for ctrl, name in REPORTED_CONTROLLERS.items():
        nas = base if name == REPORTED_EXPERIMENT else load_experiment(name, root)
        if nas is None or registry.NAS not in set(nas.metrics.get("method", [])):
            continue
        exp = _replace_nas(base, nas, name) if nas is not base else base
        out[ctrl] = Experiment(exp.name, exp.runs, exp.refused, analysis.with_roles(exp.metrics, roles))
    return out


def protocol_verdicts(ours: Experiment, sweep: pd.DataFrame | None, reported: dict[str, Experiment]) -> pd.DataFrame:
    """Every claim's verdict in our protocol (as the claims chapter gives it, and against the paper's
    own comparators only, without the sweep's best fixed design) beside its verdict in the reported
    protocol for each learned controller (there is no sweep of that space: the paper's comparators),
    with the weakest effect behind each reported verdict."""
    cols = {"ours": claims_table(ours, sweep)[0], OURS_LIKE: claims_table(ours, None)[0]}
    for ctrl, exp in reported.items():
        cols[f"reported, {ctrl}"] = claims_table(exp, None)[0]
    claims = list(dict.fromkeys(c for t in cols.values() for c in t.index))
    out = pd.DataFrame(index=pd.Index(claims, name="claim"))
    out["source"] = [next(t.loc[c, "source"] for t in cols.values() if c in t.index) for c in claims]
    for name, t in cols.items():
        out[name] = t["verdict"].reindex(claims).fillna("not judged")
    for ctrl in reported:
        t = cols[f"reported, {ctrl}"]
        effect = t.get("weakest effect [95% CI]", pd.Series(dtype=str))
        out[f"weakest effect, {ctrl}"] = effect.reindex(claims).fillna("")
    like = out[OURS_LIKE]
    out["changed for"] = [", ".join(ctrl for ctrl in reported if out.loc[c, f"reported, {ctrl}"] != like[c])
                          for c in out.index]
    return out


def reported_searches(reported: dict[str, Experiment]) -> dict[str, list[RunResult]]:
    """The searching runs of the reported protocol by label: random, random-freeze and NAS-DQN with each
    learned controller (`nas (gain)`, `nas (reinforce)`)."""
    out: dict[str, list[RunResult]] = {}
    first = next(iter(reported), None)  # the random controls are the same runs in every controller's grid
    for ctrl, exp in reported.items():
        for r in exp.runs:
            if r.config.method == registry.NAS:
                out.setdefault(f"{registry.NAS} ({ctrl})", []).append(r)
            elif r.config.method in (registry.RANDOM, registry.RANDOM_FREEZE) and ctrl == first:
                out.setdefault(r.config.method, []).append(r)
    return out


def plot_threshold_survival(table: pd.DataFrame, methods: list[str], budget: float) -> plt.Figure:
    """Steps to threshold as survival curves: per method, the fraction of runs not yet at the
    threshold after each step. A run that never got there stays in to the end of the budget (it is
    censored there), so nothing is dropped and no time is invented for it."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    steps = np.linspace(0, budget, 201)
    for m in methods:
        reached = table.loc[table["method"] == m, "steps_to_threshold"].to_numpy(dtype=float)
        waiting = [(~(reached <= s)).mean() for s in steps]  # NaN (never) is never <= s
        never = int((~np.isfinite(reached)).sum())
        ax.step(steps, waiting, where="post", color=method_colour(m),
                label=f"{m} ({never} of {len(reached)} never)" if never else m)
    ax.set_xlabel("environment step")
    ax.set_ylabel("fraction of runs not yet at the threshold")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_per_seed(table: pd.DataFrame, columns: list[tuple[str, str]], methods: list[str]) -> plt.Figure:
    """One panel per (column, label): every run's value as a dot, per method, with the mean and its
    95% bootstrap interval beside the dots."""
    fig, axes = plt.subplots(1, len(columns), figsize=(4.2 * len(columns), 0.6 + 0.42 * len(methods)), squeeze=False)
    rng = np.random.default_rng(0)  # the dots' vertical jitter only
    for ax, (column, label) in zip(axes.flat, columns, strict=True):
        for i, m in enumerate(methods):
            v = table.loc[table["method"] == m, column].to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            if not len(v):
                continue
            ax.scatter(v, i + rng.uniform(-0.15, 0.15, len(v)), s=12, alpha=0.6, color=method_colour(m))
            point, low, high = bootstrap_ci(v)
            ax.errorbar(point, i + 0.35, xerr=[[point - low], [high - point]], fmt="D", capsize=3, color="black",
                        markersize=4)
        ax.set_yticks(range(len(methods)), methods if ax is axes.flat[0] else [""] * len(methods))
        ax.invert_yaxis()
        ax.set_xlabel(label)
    fig.tight_layout()
    return fig


def protocol_answer(verdicts: pd.DataFrame, controllers: list[str]) -> str:
    """The protocol chapter's first paragraph, from `protocol_verdicts`: the reported protocol's
    verdicts with the first controller, and every claim whose verdict differs from our protocol's
    against the same comparators."""
    col = f"reported, {controllers[0]}"
    counts = ", ".join(f"{n} {v}" for v, n in verdicts[col].value_counts().items())
    changed = verdicts[verdicts["changed for"] != ""]
    supported = ("reproduced", "partly")
    theirs = int(verdicts[col].isin(supported).sum())
    mine = int(verdicts[OURS_LIKE].isin(supported).sum())
    fare = "better" if theirs > mine else "worse" if theirs < mine else "neither better nor worse"
    contra = [int((verdicts[c] == "contradicted").sum()) for c in (col, OURS_LIKE)]
    text = (f"**Run as reported, the paper's claims fare {fare} than in our protocol**: {theirs} reproduced or "
            f"partly reproduced against {mine} in ours and {contra[0]} contradicted against {contra[1]}, against "
            f"the same comparators. With our {controllers[0]} controller the {len(verdicts)} claims read: {counts}. ")
    if not len(changed):
        return text + "Against the same comparators, no verdict differs from our protocol's."
    parts = []
    for claim, row in changed.iterrows():
        theirs = ", ".join(f"{row[f'reported, {c}']} with {c}" for c in controllers)
        parts.append(f"*{claim}* ({row[OURS_LIKE]} in ours; {theirs})")
    return (text + f"Against the same comparators, {len(changed)} verdict(s) differ from our protocol's: "
            + "; ".join(parts) + ".")


def option_values() -> dict[str, str]:
    """Every `RunConfig` option's default, and every metric constant of `nasdqn.metrics`, as the text
    the methods chapter shows inline (so no value there is typed by hand)."""
    import dataclasses

    from nasdqn import metrics
    from nasdqn.config import RunConfig

    def text(v) -> str:
        if isinstance(v, tuple):
            return ", ".join(text(x) for x in v) if v else "none"
        if isinstance(v, float):
            return f"{v:g}"
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10_000:
            return f"{v:,}"
        return str(v) if v != "" else "empty"

    out = {f.name: text(f.default) for f in dataclasses.fields(RunConfig)}
    for name in ("SMOOTH", "THRESHOLD", "EARLY_FRACTION", "BAND", "FINAL_FRACTION", "CVAR_ALPHA"):
        out[name] = text(getattr(metrics, name))
    return out


def mark_reference_and_switches(ax: plt.Axes, runs: list[RunResult], method: str = registry.NAS,
                                sweep: Experiment | None = None, ranking: pd.DataFrame | None = None) -> None:
    """On a learning-curve panel: the hindsight best fixed architecture's mean curve (from the sweep's
    runs) as a dashed reference line, and every architecture switch of `method`'s runs as a tick at
    the bottom of the panel (one row of ticks per seed)."""
    if sweep is not None and ranking is not None and len(ranking):
        best = str(ranking.index[0])
        mine = [r for r in sweep.runs if r.config.method == registry.fixed_method(best)]
        if mine:
            curve = score_table(mine).groupby("step")["score"].mean()
            ax.plot(curve.index, curve.to_numpy(), linestyle="--", color="black", linewidth=1,
                    label=f"hindsight best: {best} (mean of {len(mine)} seeds)")
    seeds = sorted({r.config.seed for r in runs if r.config.method == method})
    low = ax.get_ylim()[0]
    for k, seed in enumerate(seeds):
        run = next(r for r in runs if r.config.method == method and r.config.seed == seed)
        steps = run.arch_events.loc[run.arch_events["from_arch"].notna(), "step"].to_numpy()
        height = low + 0.012 * (k + 1) * (ax.get_ylim()[1] - low)
        ax.plot(steps, np.full(len(steps), height), "|", color=method_colour(method), markersize=5,
                label=f"{method}'s switches (one row per seed)" if k == 0 else None)
    ax.legend(fontsize="small")


def label_points(ax: plt.Axes, xs, ys, labels, fontsize: str = "x-small") -> None:
    """Label scatter points so that no two labels overlap: each label goes just right of its point,
    moved up in small steps while it would overlap one already placed (in axes fractions, so log
    axes work too)."""
    ax.get_xlim()  # settle the autoscaled limits before positions are read
    to_axes = ax.transAxes.inverted()
    placed: list[tuple[float, float]] = []
    width, height = 0.11, 0.045  # a short label's box, in axes fractions
    order = np.argsort(np.asarray(ys, dtype=float))
    for i in order:
        fx, fy = to_axes.transform(ax.transData.transform((xs[i], ys[i])))
        lx, ly = fx + 0.01, fy
        while any(abs(lx - px) < width and abs(ly - py) < height for px, py in placed):
            ly += height / 2
        placed.append((lx, ly))
        ax.annotate(labels[i], (xs[i], ys[i]), xytext=(lx, ly), textcoords="axes fraction", fontsize=fontsize,
                    arrowprops={"arrowstyle": "-", "color": "grey", "linewidth": 0.5} if ly - fy > height else None)


# -- AgileRL, a peer (benchmarks/agilerl_peer.py) -------------------------------------------------------
AGILERL_RESULTS = REPO_ROOT / "benchmarks" / "results" / "agilerl.parquet"


def load_agilerl() -> tuple[pd.DataFrame, dict] | None:
    """AgileRL's rounds (every agent, every round) and the settings it ran with; None if not run."""
    import json

    settings = AGILERL_RESULTS.with_name("agilerl.json")
    if not AGILERL_RESULTS.exists() or not settings.exists():
        return None
    return pd.read_parquet(AGILERL_RESULTS), json.loads(settings.read_text())


def agilerl_answer(paper: Experiment, elite: pd.DataFrame, population: int) -> str:
    """AgileRL's elite against NAS-DQN on the paper's pendulum: at the end of training (its last
    round against NAS-DQN's final score, Welch), at the last step count both were evaluated at, and
    the CPU-seconds of a run."""
    pend = elite[elite["task"] == "paper-pendulum"]
    last = pend[pend["round"] == pend["round"].max()]
    theirs = last["score"].to_numpy(dtype=float)
    nas = paper.metrics[paper.metrics["method"] == registry.NAS]
    mine = nas["final_score"].to_numpy(dtype=float)
    if len(theirs) < 2 or len(mine) < 2:
        return f"AgileRL has {len(theirs)} finished seed(s) on the pendulum: too few to compare."
    d, dlo, dhi = S.welch_difference_ci(mine, theirs)
    words = "ahead of" if dhi < 0 else "behind" if dlo > 0 else "not distinguishable from"
    text = (f"**On the paper's pendulum, AgileRL's elite is {words} NAS-DQN at the end of training** (NAS-DQN minus "
            f"AgileRL {ci_text(d, dlo, dhi)}, Welch). After {int(last['total_steps'].iloc[0]):,} environment steps "
            f"of its population of {population}, its best agent scores {ci_text(*S.t_ci(theirs))} ({len(theirs)} "
            f"seeds), against NAS-DQN's final {ci_text(*bootstrap_ci(mine))} after {int(nas['steps'].max()):,} steps")
    eq = analysis.at_equal_steps(score_table([r for r in paper.runs if r.config.method == registry.NAS]), pend,
                                 registry.NAS)
    peer = eq[eq["method"] == analysis.AGILERL].sort_values("step")
    if len(peer) and "ref_minus_agilerl" in peer and np.isfinite(peer["ref_minus_agilerl"].iloc[-1]):
        row = peer.iloc[-1]
        text += (f"; at {int(row['step']):,} steps, where both were evaluated, NAS-DQN minus AgileRL is "
                 f"{ci_text(row['ref_minus_agilerl'], row['diff_low'], row['diff_high'])}")
    cpu = float(last["cpu_s"].median())
    nas_cpu = float((nas["sec_per_step"] * nas["steps"]).median())
    return text + (f". A run costs a median {cpu:,.0f} CPU-seconds against NAS-DQN's {nas_cpu:,.0f} wall-clock "
                   f"seconds on one core (as run; the machine was shared).")


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
    planned_grid = yaml.safe_load((EXPERIMENTS_DIR / "planned" / f"{RACING_EXPERIMENT}.yaml").read_text()) \
        if (EXPERIMENTS_DIR / "planned" / f"{RACING_EXPERIMENT}.yaml").exists() else {"envs": envs}
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
