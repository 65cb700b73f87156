"""The overhead chapter: the search's own cost, the cost of what it chose, and how the controller's
cost grows with the search space."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from nasdqn import REPO_ROOT, analysis
from nasdqn import methods as registry
from nasdqn.records import TIMING_KEYS
from nasdqn.report.format import ci_text, method_order
from nasdqn.report.load import Experiment

SEARCH_OVERHEAD = REPO_ROOT / "benchmarks" / "results" / "search_overhead.json"


def overhead_table(exp: Experiment, costs: pd.Series | None) -> tuple[pd.DataFrame, str]:
    """Per method: seconds and steps per second as run (median), the controller + morphing share of
    wall time (mean with a 95% bootstrap interval, and max), and with the measured `costs` the
    time-weighted cost of the architectures trained against relu-64x64; and NAS-DQN's in a sentence."""
    table = exp.metrics
    methods = method_order(table["method"])
    share = analysis.summary(table, "search_share")
    per_step = table.groupby("method", sort=False)["sec_per_step"].median()
    chosen = analysis.chosen_cost(exp.runs, costs) if costs is not None else pd.DataFrame()
    chosen_summary = analysis.summary(chosen, "chosen_cost") if len(chosen) else pd.DataFrame()
    max_share = table.groupby("method")["search_share"].max()
    rows = pd.DataFrame(index=methods)
    rows["seconds per step as run (median)"] = (per_step * 1e3).round(3).astype(str) + " ms"
    rows["steps per second as run (median)"] = (1 / per_step).round(0)
    rows["controller + morphing share, mean [95% CI]"] = [
        ci_text(*(100 * share.loc[m, ["search_share", "low", "high"]]), 3) + " %" for m in methods]
    rows["max share"] = [f"{100 * max_share[m]:.3f} %" for m in methods]
    if len(chosen_summary):
        rows["cost of the architectures trained vs relu-64x64"] = [
            ci_text(*chosen_summary.loc[m, ["chosen_cost", "low", "high"]]) if m in chosen_summary.index else ""
            for m in methods]
    if registry.NAS not in methods:
        return rows, "There are no nas runs in this experiment."
    s = share.loc[registry.NAS]
    text = (f"NAS-DQN's controller and morphing took {100 * s['search_share']:.3f} % of its wall time on average "
            f"(95% CI {100 * s['low']:.3f} to {100 * s['high']:.3f} %, at most "
            f"{100 * max_share[registry.NAS]:.3f} % in any run). ")
    if len(chosen_summary) and registry.NAS in chosen_summary.index:
        c = chosen_summary.loc[registry.NAS]
        text += (f"The networks it chose cost {c['chosen_cost']:.2f} times `relu-64x64` per step "
                 f"(95% CI {c['low']:.2f} to {c['high']:.2f}), time-weighted over training.")
    return rows, text


def time_shares(exp: Experiment) -> pd.DataFrame:
    """Per method, the mean share of wall time of each timed component, and the rest as `other`."""
    parts = pd.DataFrame([{**{k: r.timing.get(k, 0.0) / r.timing["total"] for k in TIMING_KEYS},
                           "method": r.config.method} for r in exp.runs])
    parts = parts.groupby("method").mean().reindex(method_order(exp.metrics["method"]))
    parts["other"] = 1 - parts.sum(axis=1)
    return parts


def search_growth(path: Path = SEARCH_OVERHEAD) -> tuple[pd.DataFrame, str]:
    """What `benchmarks/search_overhead.py` measured: the controller's cost per decision, its share of a
    paper-budget run and its peak memory per search-space size; empty when it has not been run."""
    if not path.exists():
        return pd.DataFrame(), ("The benchmark has not been run on this checkout "
                                "(`python benchmarks/search_overhead.py`).")
    grow = pd.DataFrame(json.loads(path.read_text())["spaces"]).set_index("space")
    paper, largest = grow.loc["paper default (equal widths)"], grow.sort_values("architectures").iloc[-1]
    return grow, (
        f"At the paper's size ({int(paper['architectures'])} architectures) a decision costs "
        f"{paper['ms_per_decision']:.2f} ms and the search {100 * paper['share_of_paper_run']:.3f} % of a run; at "
        f"{int(largest['architectures'])} architectures, {largest['ms_per_decision']:.1f} ms and "
        f"{100 * largest['share_of_paper_run']:.2f} % (peak memory {largest['peak_memory_mb']:.1f} MB). The cost grows "
        "with the cube of the model's size (one Cholesky factorisation per measured gain) and linearly with the "
        "number of architectures scored for the beliefs logged at each decision.")
