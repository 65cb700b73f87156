"""The few helpers the notebooks and book chapters share: loading runs and standard plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from nasdqn.metrics import eval_curve
from nasdqn.records import RunDirError, RunResult, read_run


def load_runs(root: str | Path, experiment: str) -> tuple[list[RunResult], list[str]]:
    """Every finished run of an experiment, and a line for each run directory that was refused."""
    results, refused = [], []
    for path in sorted((Path(root) / "runs" / experiment).glob("*/*/seed=*")):
        try:
            results.append(read_run(path))
        except RunDirError as e:
            refused.append(str(e))
    return results, refused


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


def tidy_evals(results: list[RunResult]) -> pd.DataFrame:
    """All runs' evaluation returns in one long table with the run's method, env and seed."""
    frames = [r.evals.assign(env=r.config.env, method=r.config.method, seed=r.config.seed) for r in results]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
