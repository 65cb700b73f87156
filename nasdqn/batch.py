"""Grids of runs: expansion and validation of `experiments/*.yaml`, execution of `notebooks/run.ipynb`
with papermill for every cell on a local process pool or a Dask cluster (one code path: both are
`concurrent.futures` executors), resume, progress and status.

A grid file:

    name: smoke                      # the experiment: data/runs/<name>/...
    envs: [NASDQN/InvertedPendulum-v0]
    methods: [fixed-small, nas]
    seeds: 3                         # a count (0, 1, 2) or a list of seeds
    steps: 2000
    overrides: {eval_every: 500}     # any RunConfig option, for every cell
    cells:                           # per-cell overrides, applied where `match` fits
      - match: {method: nas}
        set: {search_interval: 2}
"""

from __future__ import annotations

import itertools
import math
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nasdqn import REPO_ROOT
from nasdqn import methods as registry
from nasdqn.config import ConfigError, RunConfig
from nasdqn.records import (
    RunDirError,
    RunResult,
    read_meta,
    read_run,
    run_dir,
    run_status,
    write_failure,
    write_run,
    write_running,
)

GRID_KEYS = {"name", "description", "envs", "methods", "seeds", "steps", "overrides", "cells"}
CELL_KEYS = {"match", "set"}
MAX_CELLS = 10_000
NOTEBOOK = REPO_ROOT / "notebooks" / "run.ipynb"


# -- processes that must not outlive their batch ----------------------------------------------------
WATCH_PARENT_ENV = "NASDQN_WATCH_PARENT"


def watch_parent(on_orphan: Callable[[], None], interval: float = 0.5) -> None:
    """Call `on_orphan` (from a daemon thread) once this process's parent has gone.

    A batch runs a pool worker per core, and each worker a notebook kernel. Killed parents do not take
    their children with them; an orphaned kernel would finish its run and mark it `ok` after the
    batch that owned it was gone (racing with the rerun). So each watches its parent.
    """
    import threading

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        on_orphan()

    threading.Thread(target=watch, name="nasdqn-watch-parent", daemon=True).start()


def _forward_interrupt(signum: int, frame: Any) -> None:
    """Ctrl-C in a pool worker: pass it on to the kernel, as Jupyter's "interrupt kernel" does.

    Kernels run in sessions of their own, so a terminal's Ctrl-C does not reach them; interrupted,
    the kernel records its run as interrupted and papermill returns. The worker itself carries on
    (an interrupted worker would kill its kernel before the run could be recorded)."""
    import psutil

    for child in psutil.Process().children():
        try:
            child.send_signal(signal.SIGINT)
        except psutil.Error:
            pass


# The cell a pool worker is running: (run directory, config), for the worker's last act if orphaned.
_in_flight: tuple[str, RunConfig] | None = None


def _worker_orphaned() -> None:
    """The batch process is gone: record the run in flight as interrupted, then exit. The kernel,
    orphaned in turn, also records it, but ipykernel's own parent poller may end the kernel first
    (seen under load: the run was left `running`), so the worker records it before it goes."""
    if _in_flight is not None:
        out, config = _in_flight
        if run_status(out) in ("missing", "incomplete", "running"):
            record_failure(out, config, "interrupted", "the batch worker running it was killed")
    os._exit(1)


def _worker_init() -> None:
    """Pool workers forward Ctrl-C to their kernels, and exit when the batch process is gone (their
    kernels then see their own parent go)."""
    signal.signal(signal.SIGINT, _forward_interrupt)
    watch_parent(_worker_orphaned)


# -- one run ------------------------------------------------------------------------------------
def run_and_record(config: RunConfig, out: str | Path, progress: Callable[[int], None] | None = None
                   ) -> RunResult | None:
    """Train `config` and write its run directory: `ok` with the tables, or `diverged` /
    `interrupted` / `failed` with the error. Returns the result, or None when the run did not finish."""
    from nasdqn.train import Diverged, train

    def orphaned() -> None:
        # Record at once, from this thread, and leave: ipykernel's own parent poller ends an orphaned
        # kernel within a second, and the main thread may be inside a long operation.
        record_failure(out, config, "interrupted", "the batch worker running it was killed")
        os._exit(1)

    if os.environ.get(WATCH_PARENT_ENV) == "1":  # a batch's kernel: stop when the worker is gone
        watch_parent(orphaned, interval=0.1)
    write_running(out, config)
    try:
        result = train(config, progress=progress)
    except Diverged as e:
        record_failure(out, config, "diverged", str(e))
        return None
    except KeyboardInterrupt:
        record_failure(out, config, "interrupted", "interrupted (SIGINT)")
        raise
    except Exception as e:
        record_failure(out, config, "failed", f"{type(e).__name__}: {e}")
        raise
    try:
        write_run(out, result)
    except OSError as e:  # disk full, read-only, gone: the run is lost, but never left looking ok
        record_failure(out, config, "failed", f"could not write the run: {e}")
        raise
    return result


# -- grids --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    config: RunConfig
    out: Path
    # random-matched: the nas cell (same env and seed) whose switch times this run copies; replay: the nas
    # cell (of the grid schedule_from, seed + schedule_offset) whose changes it makes again.
    source: Cell | None = None

    @property
    def label(self) -> str:
        c = self.config
        return f"{c.env} {c.method} seed={c.seed}"

    def resolved(self) -> Cell | None:
        """This cell with `switch_at` (random-matched) or `schedule` (replay) taken from its source's
        finished run, or None while that run is not `ok`. Cells without a source are returned as they are."""
        if self.source is None:
            return self
        src = self.source
        if run_status(src.out, src.config.config_hash) != "ok":
            return None
        events = read_run(src.out, src.config.config_hash).arch_events
        changes = events[events["from_arch"].notna()]
        if registry.get(self.config.method).copies == "schedule":
            schedule = tuple(f"{int(e.episode)}:{e.to_arch}" for e in changes.itertuples())
            return Cell(self.config.replace(schedule=schedule), self.out, src)
        switches = tuple(sorted(int(e) for e in changes["episode"]))
        return Cell(self.config.replace(switch_at=switches), self.out, src)


def _as_list(value: Any, key: str) -> list:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return [value]
    if isinstance(value, list) and value:
        return value
    raise ConfigError(f"grid key {key!r}: expected a non-empty list, got {value!r}")


def _seeds(value: Any) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ConfigError(f"grid key 'seeds': {value} seeds; give a count >= 1 or a list of seeds")
        return list(range(value))
    seeds = _as_list(value, "seeds")
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ConfigError(f"grid key 'seeds': {seeds!r} is not a list of whole numbers")
    return seeds


def load_grid(path: str | Path, data_root: str | Path = "data") -> tuple[str, list[Cell]]:
    """Expand a grid file into validated cells; any problem is one ConfigError, before anything runs.

    Run directories are absolute: the notebook runs in another working directory than the batch."""
    path = Path(path)
    data_root = Path(data_root).resolve()
    try:
        spec = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"grid file {path} does not exist") from None
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"grid file {path} does not parse: {str(e).splitlines()[0]}") from None
    if not isinstance(spec, dict):
        raise ConfigError(f"grid file {path}: expected a mapping with keys {', '.join(sorted(GRID_KEYS))}")
    unknown = sorted(set(spec) - GRID_KEYS)
    if unknown:
        raise ConfigError(f"grid file {path}: unknown key(s) {', '.join(unknown)}; "
                          f"allowed: {', '.join(sorted(GRID_KEYS))}")
    for key in ("name", "envs", "methods", "seeds"):
        if key not in spec:
            raise ConfigError(f"grid file {path}: missing key {key!r}")
    overrides = spec.get("overrides") or {}
    cells_spec = spec.get("cells") or []
    if not isinstance(overrides, dict):
        raise ConfigError(f"grid file {path}: 'overrides' must be a mapping of run options")
    if not isinstance(cells_spec, list) or not all(isinstance(c, dict) and set(c) <= CELL_KEYS for c in cells_spec):
        raise ConfigError(f"grid file {path}: 'cells' must be a list of {{match: ..., set: ...}}")
    identity = ("experiment", "env", "method", "seed")  # they place the run: only the grid's keys set them
    for forbidden in identity:
        if forbidden in overrides or any(forbidden in (c.get("set") or {}) for c in cells_spec):
            raise ConfigError(f"grid file {path}: set {forbidden!r} with the grid's own key, not in overrides/cells")

    envs, methods, seeds = _as_list(spec["envs"], "envs"), _as_list(spec["methods"], "methods"), _seeds(spec["seeds"])
    n = len(envs) * len(methods) * len(seeds)
    if n > MAX_CELLS:
        raise ConfigError(f"grid file {path}: {n} cells; at most {MAX_CELLS} are allowed")
    cells: list[Cell] = []
    seen: dict[Path, str] = {}
    for env, method, seed in itertools.product(envs, methods, seeds):
        values = {"experiment": spec["name"], "env": env, "method": method, "seed": seed, **overrides}
        if "steps" in spec:
            values["steps"] = spec["steps"]
        for rule in cells_spec:
            match = rule.get("match") or {}
            if all(values.get(k) == v for k, v in match.items()):
                values.update(rule.get("set") or {})
        try:
            config = RunConfig.from_dict(values)
        except ConfigError as e:
            raise ConfigError(f"grid file {path}, cell {env} {method} seed={seed}: {e}") from None
        out = run_dir(data_root, config)
        if out in seen:
            raise ConfigError(f"grid file {path}: duplicate cell {env} {method} seed={seed}")
        seen[out] = method
        cells.append(Cell(config, out))
    if not cells:
        raise ConfigError(f"grid file {path}: the grid is empty")
    return str(spec["name"]), [_with_source(c, cells, path, data_root) for c in cells]


def _with_source(cell: Cell, cells: list[Cell], path: Path, data_root: Path) -> Cell:
    c = cell.config
    copies = registry.get(c.method).copies
    if copies == "schedule":
        return _replay_source(cell, path, data_root)
    if copies is None:
        return cell
    if getattr(c, copies):
        raise ConfigError(f"grid file {path}: {c.method} takes {copies} from the {registry.COPIED_FROM} run of its "
                          "seed; do not set it in the grid")
    source = _nas_cell(cells, c.env, c.seed)
    if source is not None:
        return Cell(c, cell.out, source)
    raise ConfigError(f"grid file {path}: {c.method} seed={c.seed} on {c.env} needs a {registry.COPIED_FROM} cell "
                      "with the same env and seed in the grid (it copies that run's switch times)")


def _nas_cell(cells: list[Cell], env: str, seed: int) -> Cell | None:
    """The nas cell of `cells` on `env` with `seed` (the source a random-matched or replay cell copies)."""
    return next((c for c in cells if c.config.method == registry.COPIED_FROM
                 and (c.config.env, c.config.seed) == (env, seed)), None)


def _replay_source(cell: Cell, path: Path, data_root: Path) -> Cell:
    """A replay cell with its source: the nas cell of grid `schedule_from` (experiments/<name>.yaml beside
    this grid file) on the same env, seed + `schedule_offset`. A replay with its own `schedule` has none."""
    c = cell.config
    if c.schedule:
        if c.schedule_from:
            raise ConfigError(f"grid file {path}: replay takes its schedule from schedule_from or from schedule, "
                              "not both")
        return cell
    source_grid = path.parent / f"{c.schedule_from}.yaml"
    if source_grid.resolve() == path.resolve():
        raise ConfigError(f"grid file {path}: replay's schedule_from names this grid; name the grid of the nas runs")
    _, source_cells = load_grid(source_grid, data_root)
    seed = c.seed + c.schedule_offset
    source = _nas_cell(source_cells, c.env, seed)
    if source is not None:
        return Cell(c, cell.out, source)
    raise ConfigError(f"grid file {path}: replay seed={c.seed} on {c.env} needs a nas cell of seed {seed} on that "
                      f"env in {source_grid.name}")


def notebook_parameters(config: RunConfig, out: Path) -> dict[str, Any]:
    return {**config.to_dict(), "out_dir": str(out)}


def parameters_source() -> str:
    """The text of the run notebook's `parameters` cell: every RunConfig option with its default."""
    defaults = RunConfig().to_dict()
    lines = ["# Every run option (defaults from nasdqn.config.RunConfig); papermill overrides them per grid cell."]
    lines += [f"{name} = {value!r}" for name, value in defaults.items()]
    lines.append('out_dir = ""  # the run directory; empty means the default under ../data')
    return "\n".join(lines)


def sync_notebook_parameters(notebook: Path = NOTEBOOK) -> None:
    """Rewrite the run notebook's parameters cell after RunConfig gained or changed an option."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = parameters_source()
    nbformat.write(nb, notebook)


# -- execution ----------------------------------------------------------------------------------
@contextmanager
def _stderr_to(path: Path):
    """Send this process's stderr (and so the kernel's, which inherits it) to a file: the batch's own
    output stays readable and each run keeps its kernel log. Workers run one cell at a time."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


# A kernel that never started: with two workers, two kernels can pick the same free TCP port and one
# dies with "Address already in use" (seen once in 300 runs). Nothing of the run has begun, so the
# cell is started once more.
KERNEL_START_ERRORS = ("Kernel didn't respond", "Kernel died before replying")


def execute_cell(params: dict[str, Any], notebook: str, output: str, attempts: int = 2) -> tuple[str, str]:
    """Run the run notebook for one cell (in a worker process); returns (status, error)."""
    import papermill

    global _in_flight
    Path(output).parent.mkdir(parents=True, exist_ok=True)  # here, so cells never started stay `missing`
    os.environ[WATCH_PARENT_ENV] = "1"  # the kernel inherits it and stops if this process dies
    config = RunConfig.from_dict({k: v for k, v in params.items() if k != "out_dir"})
    _in_flight = (params["out_dir"], config)
    try:
        with _stderr_to(Path(output).parent / "kernel.log"):
            papermill.execute_notebook(notebook, output, parameters=params, kernel_name="python3",
                                       progress_bar=False, log_output=False, cwd=str(Path(notebook).parent))
    except Exception as e:  # the notebook failed; its executed copy keeps the traceback
        reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        status = run_status(params["out_dir"])
        # No meta.json yet: the run itself never began.
        if attempts > 1 and status in ("missing", "incomplete") and any(k in reason for k in KERNEL_START_ERRORS):
            return execute_cell(params, notebook, output, attempts - 1)
        if status in ("missing", "incomplete", "running"):  # never overwrite a finished or recorded run
            stopped = "KeyboardInterrupt" in reason  # interrupted before the run itself had started
            record_failure(params["out_dir"], config, "interrupted" if stopped else "failed",
                           f"notebook failed: {reason}")
        return run_status(params["out_dir"]), reason
    finally:
        _in_flight = None
    status = run_status(params["out_dir"])
    return status, "" if status == "ok" else f"the notebook finished but the run directory says {status!r}"


@contextmanager
def experiment_lock(data_root: str | Path, experiment: str) -> Iterator[None]:
    """Hold an exclusive lock on an experiment's runs for the whole batch; a second batch on the same
    experiment is refused. flock is released by the kernel when the holder dies, however it dies,
    so a killed batch never leaves a stale lock behind."""
    import fcntl

    lock_dir = Path(data_root).resolve() / "runs" / experiment
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / ".batch.lock", "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            raise ConfigError(f"another batch is already running experiment {experiment!r} "
                              f"(pid {holder}); wait for it or stop it first") from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def record_failure(out: str | Path, config: RunConfig, status: str, error: str) -> bool:
    """write_failure where the disk may be full or read-only: False if even that could not be written
    (the run then has no `ok` status, which is what matters: it is redone on resume)."""
    try:
        write_failure(out, config, status, error)
        return True
    except OSError:
        return False


def reap_stale(cells: Iterable[Cell]) -> list[Cell]:
    """Mark runs still saying `running` as interrupted. Call it holding the experiment lock: then no
    batch owns them, and a process that was killed outright (SIGKILL, power loss) left them behind."""
    stale = [c for c in cells if run_status(c.out) == "running"]
    for c in stale:
        record_failure(c.out, c.config, "interrupted", "found running after its batch had ended (killed)")
    return stale


def cell_status(cell: Cell) -> str:
    """run_status against the cell's config; `waiting` for a random-matched or replay cell whose nas run is
    not ok."""
    ready = cell.resolved()
    return "waiting" if ready is None else run_status(ready.out, ready.config.config_hash)


def pending(cells: Iterable[Cell], force: bool = False) -> list[Cell]:
    """Cells to run: all with `force`, else those without an `ok` run of the same config."""
    return [c for c in cells if force or cell_status(c) != "ok"]


def _seedless_hash(config: RunConfig) -> str:
    """The config's hash with the seed and the experiment left out: runs that differ only there cost alike."""
    return config.replace(seed=0, experiment="estimate").config_hash


def estimate_cpu_seconds(cells: Iterable[Cell], root: str | Path,
                         walls: Sequence[tuple[RunConfig, float]] | None = None) -> tuple[float, int, list[Cell]]:
    """What running `cells` should cost, from the committed runs of the same configs (other seeds,
    any experiment) under `root`: the sum of their median wall times (one core per run), how many
    committed runs that rests on, and the cells with no such run (left out of the sum). `walls`:
    `committed_walls(root)` when the caller has already read it."""
    wanted: dict[str, list[Cell]] = {}
    for cell in cells:
        wanted.setdefault(_seedless_hash(cell.config), []).append(cell)
    seconds: dict[str, list[float]] = {}
    for config, wall in committed_walls(root) if walls is None else walls:
        key = _seedless_hash(config)
        if key in wanted:
            seconds.setdefault(key, []).append(wall)
    total = sum(statistics.median(seconds[k]) * len(v) for k, v in wanted.items() if k in seconds)
    unknown = [c for k, v in wanted.items() if k not in seconds for c in v]
    return total, sum(len(v) for v in seconds.values()), unknown


def committed_walls(root: str | Path) -> list[tuple[RunConfig, float]]:
    """(config, wall time) of every finished run under `root` that says what it cost (one read of
    every run's metadata: the estimators share it)."""
    out = []
    for meta_path in Path(root, "runs").glob("*/*/*/seed=*/meta.json"):
        try:
            meta = read_meta(meta_path.parent)
            if meta["status"] != "ok" or not meta.get("wall_time"):
                continue
            out.append((RunConfig.from_dict(meta["config"]), float(meta["wall_time"])))
        except (RunDirError, ValueError, KeyError, TypeError):
            continue  # a damaged or foreign run directory says nothing about cost
    return out


def estimate_by_arch_cost(cells: Iterable[Cell], root: str | Path, costs: Mapping[str, float],
                          walls: Sequence[tuple[RunConfig, float]] | None = None) -> tuple[float, int, list[Cell]]:
    """For fixed-network cells no committed run shares a config with: scale the committed runs of
    another fixed architecture on the same settings by the two architectures' cost per step
    (`costs`, e.g. benchmarks/results/arch_cost.json's ratios). The reference is the committed
    architecture nearest in cost, since the ratios were measured at the paper's settings and stretch
    at other batch sizes and update rates. Returns the seconds, the cells estimated, and the rest.
    `walls`: `committed_walls(root)` when the caller has already read it."""
    def settings(config: RunConfig) -> str:  # the network left out too: every fixed method as fixed-medium
        return _seedless_hash(config.replace(method=registry.FIXED_MEDIUM))

    by_arch: dict[str, dict[str, list[float]]] = {}
    for config, wall in committed_walls(root) if walls is None else walls:
        arch = registry.get(config.method).arch
        if arch in costs:
            by_arch.setdefault(settings(config), {}).setdefault(arch, []).append(wall)
    total, done, left = 0.0, 0, []
    for cell in cells:
        arch = registry.get(cell.config.method).arch
        known = by_arch.get(settings(cell.config), {}) if arch in costs else {}
        if not known:
            left.append(cell)
            continue
        ref = min(known, key=lambda a: abs(math.log(costs[a] / costs[arch])))
        total += statistics.median(known[ref]) * costs[arch] / costs[ref]
        done += 1
    return total, done, left


@contextmanager
def open_executor(workers: int, scheduler: str | None) -> Iterator[tuple[Executor, int]]:
    """A local process pool, or the executor of a Dask cluster: the same interface, one code path.
    Yields the executor and how many runs it can take at once. On leaving (also by Ctrl-C), the
    pool or client is closed."""
    if scheduler is None:
        pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init)
        try:
            yield pool, workers
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return
    from distributed import Client

    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as e:
        raise ConfigError(f"Dask scheduler {scheduler} does not answer ({type(e).__name__}); "
                          "start one with `dask scheduler` or run locally without --scheduler") from None
    try:
        yield client.get_executor(), max(1, sum(client.nthreads().values()))
    finally:
        client.close()


def run_grid(cells: list[Cell], executor: Executor, slots: int, notebook: Path = NOTEBOOK,
             on_done: Callable[[Cell, str, str], None] | None = None) -> dict[str, list[str]]:
    """Run every cell, at most `slots` at a time; report each as it finishes; return labels by status.

    Cells are submitted only as slots free up (executors queue work ahead otherwise), so after a
    Ctrl-C or a failure of the batch nothing is left queued to start.
    """
    queue = sorted(cells, key=lambda c: c.source is not None)  # sources (nas runs) before their copies
    running: dict[Future, Cell] = {}
    outcome: dict[str, list[str]] = {}
    while queue or running:
        while queue and len(running) < slots:
            cell = queue[0]
            if cell.source is not None and any(r.out == cell.source.out for r in running.values()):
                break  # its nas run is still going: wait for it
            queue.pop(0)
            ready = cell.resolved()
            if ready is None:
                error = f"its source, {cell.source.label}, is not ok, so there are no changes to copy"
                outcome.setdefault("failed", []).append(cell.label)
                if on_done is not None:
                    on_done(cell, "failed", error)
                continue
            params = notebook_parameters(ready.config, ready.out)
            running[executor.submit(execute_cell, params, str(notebook), str(ready.out / "run.ipynb"))] = ready
        if not running:
            continue
        future = next(as_completed(running))
        cell = running.pop(future)
        try:
            status, error = future.result()
        except Exception as e:  # the worker itself died (killed, out of memory, lost)
            status, error = "failed", f"worker lost: {type(e).__name__}: {e}"
            if run_status(cell.out) in ("missing", "incomplete", "running"):
                record_failure(cell.out, cell.config, "failed", error)
            status = run_status(cell.out)
        outcome.setdefault(status, []).append(cell.label)
        if on_done is not None:
            on_done(cell, status, error)
    return outcome


def status_table(cells: list[Cell]) -> list[tuple[str, str, str, str]]:
    return [(c.config.env, c.config.method, str(c.config.seed), cell_status(c)) for c in cells]

