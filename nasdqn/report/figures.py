"""The book's standard figures: learning curves, intervals, profiles, architecture counts and timelines,
and the colours that name each method in all of them."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from nasdqn import methods as registry
from nasdqn.analysis import BEST_FIXED
from nasdqn.metrics import eval_curve
from nasdqn.records import RunResult
from nasdqn.report.format import method_order
from nasdqn.report.load import Experiment, score_table
from nasdqn.stats import bootstrap_ci

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
