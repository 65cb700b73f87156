"""The pipeline: grid files, papermill execution on the local pool and on Dask, resume, status."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nasdqn.batch import Cell, cell_status, estimate_by_arch_cost, estimate_cpu_seconds, load_grid
from nasdqn.cli import main
from nasdqn.config import ConfigError
from nasdqn.records import read_run, run_status

TINY = """
name: tiny
envs: [NASDQN/InvertedPendulum-v0]
methods: [fixed-small, nas]
seeds: 1
steps: 600
overrides: {learning_starts: 100, eval_every: 300, eval_episodes: 2, horizon: 100, search_interval: 1}
"""


def write(tmp_path: Path, text: str, name: str = "grid.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_grid_expands_as_a_cross_product_with_per_cell_overrides(tmp_path):
    grid = write(tmp_path, TINY.replace("seeds: 1", "seeds: [3, 4]") +
                 "cells:\n  - match: {method: nas}\n    set: {search_interval: 5}\n")
    name, cells = load_grid(grid, tmp_path / "data")
    assert name == "tiny" and len(cells) == 4
    assert {(c.config.method, c.config.seed) for c in cells} == {(m, s) for m in ("fixed-small", "nas") for s in (3, 4)}
    assert {c.config.search_interval for c in cells if c.config.method == "nas"} == {5}
    assert {c.config.search_interval for c in cells if c.config.method != "nas"} == {1}
    assert all(c.out.is_relative_to(tmp_path / "data" / "runs" / "tiny") for c in cells)


@pytest.mark.parametrize("edit,match", [
    (lambda t: t + "colour: blue\n", "unknown key"),
    (lambda t: t.replace("fixed-small", "fixed-tiny"), "unknown method"),
    (lambda t: t.replace("NASDQN/InvertedPendulum-v0", "Nope-v0"), "unknown environment"),
    (lambda t: t.replace("seeds: 1", "seeds: 0"), "seeds"),
    (lambda t: t.replace("methods: [fixed-small, nas]", "methods: []"), "non-empty list"),
    (lambda t: t.replace("methods: [fixed-small, nas]", "methods: [nas, nas]"), "duplicate cell"),
    (lambda t: t.replace("steps: 600", "steps: -1"), "steps"),
    (lambda t: t.replace("horizon: 100", "horizonn: 100"), "unknown option"),
    (lambda t: t.replace("steps: 600", "steps: 600\ncells: [{match: {method: nas}, sett: {}}]"), "cells"),
    (lambda t: "just a string", "expected a mapping"),
    (lambda t: t + "  bad: [unclosed\n", "does not parse"),
])
def test_bad_grids_are_refused_in_one_line_before_anything_runs(tmp_path, capsys, edit, match):
    grid = write(tmp_path, edit(TINY))
    with pytest.raises(ConfigError, match=match):
        load_grid(grid, tmp_path / "data")
    assert main(["batch", str(grid), "--root", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match.split()[0] in err
    assert not (tmp_path / "data").exists()


def test_unanswering_scheduler_is_refused(tmp_path, capsys):
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    grid = write(tmp_path, TINY)
    assert main(["batch", str(grid), "--root", str(tmp_path / "data"), "--scheduler", f"tcp://127.0.0.1:{port}"]) == 2
    assert "does not answer" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def test_local_pool_runs_the_grid_then_resumes_only_missing_cells(tmp_path, capsys):
    grid = write(tmp_path, TINY.replace("seeds: 1", "seeds: 2"))
    root = tmp_path / "data"
    assert main(["batch", str(grid), "--root", str(root), "--workers", "2", "--quiet"]) == 0
    _, cells = load_grid(grid, root)
    assert all(run_status(c.out, c.config.config_hash) == "ok" for c in cells)
    assert all((c.out / "run.ipynb").exists() for c in cells)
    result = read_run(cells[0].out)
    assert len(result.evals) == 4

    # Lose two cells as a killed batch would (one never finished, one half-written), then resume.
    lost = [cells[1], cells[3]]
    (lost[0].out / "meta.json").unlink()
    (lost[1].out / "meta.json").write_text("{trunc")
    kept = {c.out: (c.out / "evals.parquet").read_bytes() for c in cells if c not in lost}
    capsys.readouterr()
    assert main(["batch", str(grid), "--root", str(root), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2 to run" in out and out.count("would run") == 2
    # Each lost cell is costed from the other seed's committed run of the same config.
    assert "estimated cost:" in out and "for 2 of the 2 cells" in out and "not estimated" not in out
    seconds, runs, unknown = estimate_cpu_seconds(lost, root)
    walls = {c.config.method: json.loads((c.out / "meta.json").read_text())["wall_time"]
             for c in cells if c not in lost}
    assert runs == 2 and not unknown
    assert seconds == pytest.approx(sum(walls[c.config.method] for c in lost))
    other = lost[0].config.replace(lr=0.5)  # a config nobody ran is left out, and named
    seconds, runs, unknown = estimate_cpu_seconds([Cell(other, lost[0].out)], root)
    assert (seconds, runs) == (0, 0) and [c.config for c in unknown] == [other]
    assert main(["batch", str(grid), "--root", str(root), "--quiet"]) == 0
    assert "2 ok, 0 not ok, 2 skipped" in capsys.readouterr().out
    assert all(run_status(c.out, c.config.config_hash) == "ok" for c in cells)
    assert all((out_dir / "evals.parquet").read_bytes() == data for out_dir, data in kept.items())
    # A fixed network nobody ran at these settings is scaled from the committed fixed network's runs by
    # the two cost ratios; a searching method, or a fixed network at other settings, is left unestimated.
    small = [c for c in cells if c.config.method == "fixed-small"]
    small_walls = sorted(json.loads((c.out / "meta.json").read_text())["wall_time"] for c in small)
    wide = Cell(small[0].config.replace(method="fixed:relu-256x256"), small[0].out)
    nas = next(c for c in cells if c.config.method == "nas")
    elsewhere = Cell(wide.config.replace(lr=0.5), wide.out)
    seconds, n, left = estimate_by_arch_cost([wide, nas, elsewhere], root, {"relu-32": 0.5, "relu-256x256": 2.0})
    assert n == 1 and left == [nas, elsewhere]
    assert seconds == pytest.approx(4 * sum(small_walls) / 2)  # the median of two runs is their mean
    assert main(["batch", str(grid), "--root", str(root), "--dry-run", "--force"]) == 0
    assert "estimated cost:" in capsys.readouterr().out

    assert main(["status", str(grid), "--root", str(root)]) == 0
    assert "tiny: 4 ok" in capsys.readouterr().out


def test_a_relative_data_root_is_relative_to_the_caller(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    grid = write(tmp_path, TINY.replace("methods: [fixed-small, nas]", "methods: [nas]"))
    assert main(["batch", str(grid), "--root", "data", "--quiet"]) == 0
    assert run_status(tmp_path / "data" / "runs" / "tiny" / "NASDQN-InvertedPendulum-v0" / "nas" / "seed=0") == "ok"


def test_a_failing_cell_is_recorded_and_does_not_stop_the_others(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    import nbformat

    import nasdqn.batch as batch

    # A copy of the run notebook that fails for one method, right after its parameters.
    nb = nbformat.read(batch.NOTEBOOK, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])) + 1
    nb.cells.insert(at, nbformat.v4.new_code_cell("if method == 'nas':\n    raise RuntimeError('boom')"))
    broken = tmp_path / "broken.ipynb"
    nbformat.write(nb, broken)
    _, cells = load_grid(write(tmp_path, TINY), tmp_path / "data")

    with ProcessPoolExecutor(2) as ex:
        outcome = batch.run_grid(cells, ex, 2, notebook=broken)
    assert len(outcome["ok"]) == 1 and len(outcome["failed"]) == 1
    failed = next(c for c in cells if c.config.method == "nas")
    assert run_status(failed.out) == "failed" and (failed.out / "run.ipynb").exists()
    assert "boom" in (failed.out / "meta.json").read_text()


@pytest.mark.parametrize("error, calls", [("Kernel didn't respond in 60 seconds", 2), ("boom", 1)])
def test_a_kernel_that_never_started_is_started_once_more(tmp_path, monkeypatch, error, calls):
    import papermill

    import nasdqn.batch as batch
    from nasdqn.config import RunConfig

    seen = []

    def fail(*args, **kwargs):
        seen.append(args)
        raise RuntimeError(error)

    monkeypatch.setattr(papermill, "execute_notebook", fail)
    out = tmp_path / "run"
    params = batch.notebook_parameters(RunConfig(steps=600), out)
    status, reason = batch.execute_cell(params, str(batch.NOTEBOOK), str(out / "run.ipynb"))
    assert len(seen) == calls and status == "failed" and reason == error
    assert error in (out / "meta.json").read_text()


@pytest.fixture(scope="module")
def dask_cluster():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs = [subprocess.Popen([bin_dir / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)]
    procs.append(subprocess.Popen([bin_dir / "dask", "worker", address, "--nthreads", "1", "--nworkers", "2",
                                   "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
    from distributed import Client

    deadline = time.time() + 60
    with Client(address, timeout="30s") as client:
        while len(client.scheduler_info()["workers"]) < 2 and time.time() < deadline:
            time.sleep(0.5)
    yield address
    for p in reversed(procs):
        p.terminate()
    for p in procs:
        p.wait(timeout=30)


def test_dask_cluster_runs_the_smoke_grid(tmp_path, dask_cluster):
    grid = Path(__file__).resolve().parent.parent / "experiments" / "smoke.yaml"
    root = tmp_path / "data"
    assert main(["batch", str(grid), "--root", str(root), "--scheduler", dask_cluster, "--quiet"]) == 0
    _, cells = load_grid(grid, root)
    assert len(cells) == 14 and all(cell_status(c) == "ok" for c in cells)


def test_run_notebook_parameters_cell_lists_every_option():
    import nbformat

    from nasdqn.batch import NOTEBOOK, parameters_source

    nb = nbformat.read(NOTEBOOK, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert cell.source == parameters_source(), (
        "notebooks/run.ipynb's parameters cell is out of date with RunConfig; run: python -c "
        "'from nasdqn.batch import sync_notebook_parameters; sync_notebook_parameters()'")


def test_results_are_identical_serially_on_the_pool_and_on_dask(tmp_path, dask_cluster):
    """Same config and seed, three ways of running it: the same tables (timings aside)."""
    import pandas as pd

    from nasdqn.train import train

    grid = write(tmp_path, TINY)
    for where, extra in (("pool", ["--workers", "2"]), ("dask", ["--scheduler", dask_cluster])):
        assert main(["batch", str(grid), "--root", str(tmp_path / where), "--quiet", *extra]) == 0
    _, cells = load_grid(grid, tmp_path / "pool")
    _, dask_cells = load_grid(grid, tmp_path / "dask")
    for cell, dask_cell in zip(cells, dask_cells, strict=True):
        serial = train(cell.config)
        for other in (read_run(cell.out), read_run(dask_cell.out)):
            for table in ("episodes", "evals", "arch_events"):
                pd.testing.assert_frame_equal(getattr(other, table), getattr(serial, table))
            assert other.anchors == serial.anchors


def test_random_matched_runs_after_its_nas_run_and_switches_at_its_times(tmp_path, capsys):
    grid = write(tmp_path, TINY.replace("methods: [fixed-small, nas]", "methods: [random-matched, nas]")
                 .replace("steps: 600", "steps: 1500"))
    root = tmp_path / "data"
    _, cells = load_grid(grid, root)
    matched = next(c for c in cells if c.config.method == "random-matched")
    assert matched.source is not None and matched.source.config.method == "nas"
    assert main(["status", str(grid), "--root", str(root)]) == 0
    assert "waiting" in capsys.readouterr().out  # nothing to copy from yet
    # One worker, matched cell listed first: it must still wait for the nas run.
    assert main(["batch", str(grid), "--root", str(root), "--workers", "1", "--quiet"]) == 0
    nas_events = read_run(matched.source.out).arch_events
    copy = read_run(matched.out)
    switch_episodes = tuple(int(e) for e in nas_events.loc[nas_events["from_arch"].notna(), "episode"])
    assert switch_episodes, "the tiny nas run made no switch: the test would check nothing"
    assert copy.config.switch_at == switch_episodes
    copied = copy.arch_events.loc[copy.arch_events["from_arch"].notna(), "episode"]
    assert tuple(int(e) for e in copied) == switch_episodes
    assert main(["batch", str(grid), "--root", str(root), "--quiet"]) == 0  # both ok now: nothing to redo
    assert "0 to run" in capsys.readouterr().out


def test_random_matched_without_its_nas_cell_is_refused(tmp_path):
    grid = write(tmp_path, TINY.replace("methods: [fixed-small, nas]", "methods: [random-matched]"))
    with pytest.raises(ConfigError, match="needs a nas cell"):
        load_grid(grid, tmp_path / "data")


def test_replay_makes_another_grids_nas_changes_again_with_no_feedback(tmp_path, capsys):
    """A replay cell copies the changes of a nas run of the grid named by schedule_from (seed +
    schedule_offset) and makes exactly those, at those episodes; it waits while that run is not ok."""
    source = write(tmp_path, TINY.replace("name: tiny", "name: src").replace("methods: [fixed-small, nas]",
                   "methods: [nas]").replace("seeds: 1", "seeds: 2").replace("steps: 600", "steps: 1500"),
                   "src.yaml")
    replay = write(tmp_path, TINY.replace("name: tiny", "name: rep").replace("methods: [fixed-small, nas]",
                   "methods: [replay]").replace("steps: 600", "steps: 1500").replace(
                   "search_interval: 1}", "search_interval: 1, schedule_from: src, schedule_offset: 1}"), "rep.yaml")
    root = tmp_path / "data"
    _, cells = load_grid(replay, root)
    assert cells[0].source is not None and cells[0].source.config.seed == 1
    assert main(["status", str(replay), "--root", str(root)]) == 0
    assert "waiting" in capsys.readouterr().out
    assert main(["batch", str(source), "--root", str(root), "--workers", "1", "--quiet"]) == 0
    assert main(["batch", str(replay), "--root", str(root), "--workers", "1", "--quiet"]) == 0
    nas = read_run(cells[0].source.out).arch_events
    copy = read_run(cells[0].out)
    wanted = [(int(e.episode), e.to_arch) for e in nas[nas["from_arch"].notna()].itertuples()]
    assert wanted, "the tiny nas run made no change: the test would check nothing"
    made = [(int(e.episode), e.to_arch) for e in copy.arch_events[copy.arch_events["from_arch"].notna()].itertuples()]
    assert made == wanted and copy.config.schedule == tuple(f"{e}:{a}" for e, a in wanted)


def test_replay_without_a_source_is_refused_in_one_line(tmp_path):
    grid = write(tmp_path, TINY.replace("methods: [fixed-small, nas]", "methods: [replay]").replace(
        "search_interval: 1}", "search_interval: 1, schedule_from: nowhere}"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_grid(grid, tmp_path / "data")
    bare = write(tmp_path, TINY.replace("methods: [fixed-small, nas]", "methods: [replay]"), "bare.yaml")
    with pytest.raises(ConfigError, match="needs a schedule"):
        load_grid(bare, tmp_path / "data")
