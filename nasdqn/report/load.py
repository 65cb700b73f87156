"""Finding and reading committed runs for the book: the data root, the cache, one experiment's runs
(held against its grid file), tidy score tables, and the benchmark results chapters share."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from nasdqn import REPO_ROOT
from nasdqn.analysis import run_metrics
from nasdqn.metrics import eval_curve, normalised
from nasdqn.records import RunDirError, RunResult, read_run

# The book shows the first of these experiments present under the data root, unless the environment
# variable NASDQN_BOOK_EXPERIMENT names one.
BOOK_EXPERIMENTS = ("paper", "smoke")


EXPERIMENTS_DIR = REPO_ROOT / "experiments"


def grid_file(name: str, planned: bool = False) -> Path:
    """The grid file of experiment `name` (`planned`: the one in experiments/planned/, not yet complete).
    Every module reads grid files through here, so EXPERIMENTS_DIR is looked up once, at call time."""
    return (EXPERIMENTS_DIR / "planned" if planned else EXPERIMENTS_DIR) / f"{name}.yaml"


def grid_names(prefix: str) -> list[str]:
    """The experiments whose grid file in experiments/ starts with `prefix`, by name."""
    return sorted(p.stem for p in EXPERIMENTS_DIR.glob(f"{prefix}*.yaml"))


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

    grid = grid_file(experiment)
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


def grid_description(name: str) -> str:
    """The `description` line of experiments/<name>.yaml."""
    return str(yaml.safe_load(grid_file(name).read_text()).get("description", name))


def joined_experiment(name: str, parts: Sequence[Experiment]) -> Experiment:
    """Several experiments' runs as one (e.g. the paper grid and a variant's grid of the same seeds)."""
    return Experiment(name, [r for e in parts for r in e.runs], [x for e in parts for x in e.refused],
                      pd.concat([e.metrics for e in parts], ignore_index=True))


ARCH_COST_FILES = ("arch_cost.json", "arch_cost_reported.json")  # the default space's, then the reported one's


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
