"""Reproduction checks: cells of a grid regenerated into another data root and compared, run by run,
with their committed twins.

A run is a pure function of its config and seed, so on the same software a regenerated run's tables
(`episodes`, `evals`, `arch_events`) must equal the committed run's bit for bit; wall times differ and
are not compared. Where tables differ (another processor or library build can change the last bits
of floating-point sums, and the differences grow through training), the comparison reports the
largest difference of an evaluation return and whether the regenerated runs' metrics agree with the
committed ones within their intervals (per env and method: Welch's 95% interval of the difference
of mean final score and of mean AUC covers 0; a method sampled at a single seed (`--sample`) is judged
instead by whether its run lies within the 95% prediction interval of the grid's other committed seeds,
a weaker check, and where the grid has fewer than 3 other seeds agreement is not claimed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from nasdqn import stats as S
from nasdqn.analysis import run_metrics
from nasdqn.batch import Cell, load_grid
from nasdqn.config import ConfigError
from nasdqn.kernels import kernel_summary
from nasdqn.records import TABLES, RunDirError, RunResult, library_summary, read_run

AGREEMENT_METRICS = ("final_score", "auc")


def select_cells(cells: Sequence[Cell], seeds: Sequence[int] | None = None,
                 methods: Sequence[str] | None = None, sample: bool = False) -> list[Cell]:
    """The cells of the given seeds and methods (all when None), with `sample` only the lowest of those
    seeds for each env and method; a random-matched cell brings the nas cell it copies its switch
    times from. Asking for seeds or methods the grid lacks is an error."""
    for name, wanted, have in (("seed", seeds, {c.config.seed for c in cells}),
                               ("method", methods, {c.config.method for c in cells})):
        missing = sorted(set(wanted or ()) - have, key=str)
        if missing:
            raise ConfigError(f"{name}(s) {', '.join(map(str, missing))} not in the grid; "
                              f"allowed: {', '.join(map(str, sorted(have, key=str)))}")
    chosen = [c for c in cells if (seeds is None or c.config.seed in seeds)
              and (methods is None or c.config.method in methods)]
    if sample:
        lowest = sample_seeds(chosen)
        chosen = [c for c in chosen if c.config.seed == lowest[(c.config.env, c.config.method)]]
    sources = [c.source for c in chosen if c.source is not None and c.source not in chosen]
    return [c for c in cells if c in chosen or c in sources]


def compare_runs(new: RunResult, old: RunResult) -> dict:
    """Which tables of two runs of one cell differ, and by how much their evaluation returns do."""
    differing = [t for t in TABLES if not getattr(new, t).equals(getattr(old, t))]
    largest = 0.0
    if "evals" in differing:
        keys = ["step", "eval_episode"]
        both = new.evals.merge(old.evals, on=keys, suffixes=("_new", "_old"), how="outer")
        gap = (both["return_new"] - both["return_old"]).abs()
        largest = float("inf") if gap.isna().any() else float(gap.max())
    return {"identical": not differing, "differing_tables": ", ".join(differing), "largest_eval_difference": largest}


def compare_grids(regenerated: Sequence[Cell], committed: Sequence[Cell]) -> pd.DataFrame:
    """One row per regenerated cell: its comparison with the committed run of the same cell (a cell
    without an `ok` committed or regenerated run is reported with the reason)."""
    twins = {(c.config.env, c.config.method, c.config.seed): c for c in committed}
    rows = []
    for cell in regenerated:
        c = cell.config
        row = {"env": c.env, "method": c.method, "seed": c.seed}
        old_cell = twins[(c.env, c.method, c.seed)]
        try:
            new = read_run(cell.out, None)
            old = read_run(old_cell.out, None)
        except RunDirError as e:
            rows.append({**row, "identical": False, "differing_tables": "", "largest_eval_difference": np.nan,
                         "problem": str(e)})
            continue
        if new.config.config_hash != old.config.config_hash:
            rows.append({**row, "identical": False, "differing_tables": "", "largest_eval_difference": np.nan,
                         "problem": "the committed run has another configuration (stale)"})
            continue
        metrics = run_metrics([new, old])
        sides = (("new", new), ("old", old))
        hosts = {f"host_{side}": _host(r.meta) for side, r in sides}
        libraries = {f"libraries_{side}": library_summary(r.meta.get("versions") or {}) for side, r in sides}
        rows.append({**row, **compare_runs(new, old), "problem": "", **hosts, **libraries,
                     "commit_new": new.meta.get("git_commit"), "commit_old": old.meta.get("git_commit"),
                     **{f"{m}_new": metrics[m].iloc[0] for m in AGREEMENT_METRICS},
                     **{f"{m}_old": metrics[m].iloc[1] for m in AGREEMENT_METRICS}})
    return pd.DataFrame(rows)


def _host(meta: dict) -> str:
    """What a run's meta.json says of its machine and kernels (older runs recorded less)."""
    return kernel_summary(meta.get("host") or {})


# How a method's agreement was judged, in the order tried.
BY_IDENTITY, BY_WELCH, BY_PREDICTION = "bit identity", "Welch interval", "prediction interval"
MIN_OTHER_SEEDS = 3  # below this a prediction interval (t with n-1 degrees of freedom) says nothing


def agreement(comparison: pd.DataFrame, committed: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per env and method: whether the regenerated runs' metrics (final score and AUC) agree with the
    committed ones. `agrees` is True when every run is bit-identical; else, with two or more seeds,
    when Welch's 95% interval of the difference of means covers 0; else (one sampled seed) when the
    run lies within the 95% prediction interval of `committed`'s other seeds of that env and method
    (one row per committed run: env, method, seed and the metrics). None: too few seeds to judge."""
    rows = []
    ok = comparison[comparison["problem"] == ""]
    for (env, method), g in ok.groupby(["env", "method"], sort=False):
        row = {"env": env, "method": method, "runs": len(g), "bit_identical": int(g["identical"].sum())}
        for m in AGREEMENT_METRICS:
            row[f"{m}_difference"] = float(g[f"{m}_new"].mean() - g[f"{m}_old"].mean())
        others = (committed[(committed["env"] == env) & (committed["method"] == method)
                            & ~committed["seed"].isin(g["seed"])] if committed is not None else pd.DataFrame())
        if g["identical"].all():
            row["agrees"], row["judged_by"] = True, BY_IDENTITY
        elif len(g) >= 2:
            covers = [low <= 0 <= high for m in AGREEMENT_METRICS
                      for _, low, high in [S.welch_difference_ci(g[f"{m}_new"].to_numpy(float),
                                                                 g[f"{m}_old"].to_numpy(float))]]
            row["agrees"], row["judged_by"] = all(covers), BY_WELCH
        elif len(others) >= MIN_OTHER_SEEDS:
            inside = []
            for m in AGREEMENT_METRICS:
                low, high = S.prediction_interval(others[m].to_numpy(float))
                inside.append(bool(((g[f"{m}_new"] >= low) & (g[f"{m}_new"] <= high)).all()))
            row["agrees"], row["judged_by"] = all(inside), BY_PREDICTION
        else:
            row["agrees"], row["judged_by"] = None, ""
        rows.append(row)
    return pd.DataFrame(rows, columns=["env", "method", "runs", "bit_identical",
                                       *(f"{m}_difference" for m in AGREEMENT_METRICS), "agrees", "judged_by"])


def sample_seeds(cells: Sequence[Cell]) -> dict[tuple[str, str], int]:
    """One seed per env and method, the lowest: the sample an older grid is verified by."""
    chosen: dict[tuple[str, str], int] = {}
    for c in cells:
        key = (c.config.env, c.config.method)
        chosen[key] = min(chosen.get(key, c.config.seed), c.config.seed)
    return chosen


def committed_metrics(cells: Sequence[Cell]) -> pd.DataFrame:
    """The agreement metrics of every committed `ok` run of `cells` (runs that cannot be read are left
    out: the comparison reports them)."""
    runs = []
    for cell in cells:
        try:
            runs.append(read_run(cell.out, None))
        except RunDirError:
            continue
    if not runs:
        return pd.DataFrame(columns=["env", "method", "seed", *AGREEMENT_METRICS])
    return run_metrics(runs)[["env", "method", "seed", *AGREEMENT_METRICS]]


def regenerate_and_compare(grid: str | Path, into: str | Path, committed_root: str | Path, executor, slots: int,
                           seeds: Sequence[int] | None = None, methods: Sequence[str] | None = None,
                           on_done=None, sample: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the selected cells of `grid` into the data root `into` (cells already `ok` there are kept,
    so an interrupted check resumes), then compare them with the committed runs under
    `committed_root`. Returns (per-run comparison, per-method agreement)."""
    from nasdqn.batch import pending, run_grid

    into, committed_root = Path(into).resolve(), Path(committed_root).resolve()
    if into == committed_root:
        raise ConfigError(f"--into {into} is the committed data root; regenerate into another directory")
    name, fresh = load_grid(grid, into)
    _, kept = load_grid(grid, committed_root)
    target = (into / "runs" / name).resolve()
    if target.is_relative_to(committed_root):  # e.g. a link `make reproduce` made to a committed experiment
        raise ConfigError(f"{into / 'runs' / name} leads into the committed data ({target}); "
                          "regenerate into a directory of its own")
    fresh = select_cells(fresh, seeds, methods, sample)
    run_grid(pending(fresh), executor, slots, on_done=on_done)
    comparison = compare_grids(fresh, kept)
    # Only a method regenerated at a single seed is judged by the grid's other seeds: read those alone
    # (a whole-grid check such as `make reproduce` would otherwise read every committed run again).
    seeds_per_method = Counter((c.config.env, c.config.method) for c in fresh)
    single = {key for key, n in seeds_per_method.items() if n == 1}
    judged_by_others = [c for c in kept if (c.config.env, c.config.method) in single]
    return comparison, agreement(comparison, committed_metrics(judged_by_others))
