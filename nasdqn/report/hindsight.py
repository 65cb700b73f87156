"""The hindsight reference: every architecture of the search space trained as a fixed network, per
task, and how the searches' deployed architectures rank against it."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from nasdqn import analysis
from nasdqn import methods as registry
from nasdqn.analysis import hindsight_ranking
from nasdqn.report.figures import method_colour
from nasdqn.report.format import ci_text
from nasdqn.report.load import Experiment, joined_experiment, load_experiment


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


# -- what a chapter loads -------------------------------------------------------------------------------
SWEEP_EXPERIMENTS = ("sweep", "sweep-top")  # the sweep first: its name is the pooled one


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
