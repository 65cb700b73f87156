"""Fault injection: real batches, real signals. Each test states the fault and checks the promise:
no run killed in flight ever ends `ok`, a rerun completes exactly what is missing, and every finished
run survives byte for byte."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from nasdqn.batch import load_grid
from nasdqn.records import read_meta, run_status

BIN = Path(sys.executable).parent
# Four cells of ~10-20 s each on 2 workers: long enough to be caught in flight.
SLOW = """
name: faults
envs: [NASDQN/InvertedPendulum-v0]
methods: [fixed-small, fixed-medium]
seeds: 2
steps: 15000
overrides: {learning_starts: 500, eval_every: 5000, eval_episodes: 2}
"""


@pytest.fixture
def grid(tmp_path):
    path = tmp_path / "faults.yaml"
    path.write_text(SLOW)
    return path


def start_batch(grid: Path, root: Path) -> subprocess.Popen:
    return subprocess.Popen([BIN / "nasdqn", "batch", grid, "--root", root, "--workers", "2", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def statuses(grid: Path, root: Path) -> dict[str, str]:
    _, cells = load_grid(grid, root)
    return {c.label: run_status(c.out, c.config.config_hash) for c in cells}


def wait_for_training(root: Path, n: int, timeout: float = 120) -> None:
    """Until n runs say `running` (written when training starts), and a moment more."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if sum(run_status(d) == "running" for d in root.glob("runs/faults/*/*/seed=*")) >= n:
            time.sleep(1)
            return
        time.sleep(0.2)
    raise AssertionError("the batch did not start its runs")


def finished_files(grid: Path, root: Path) -> dict[Path, bytes]:
    _, cells = load_grid(grid, root)
    return {f: f.read_bytes() for c in cells if run_status(c.out) == "ok" for f in sorted(c.out.iterdir())
            if f.suffix in (".parquet", ".json")}


def rerun_completes_exactly_the_rest(grid: Path, root: Path, before: dict[str, str]) -> None:
    kept = finished_files(grid, root)
    out = subprocess.run([BIN / "nasdqn", "batch", grid, "--root", root, "--workers", "2", "--quiet"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    n_ok = sum(s == "ok" for s in before.values())
    assert f"{4 - n_ok} ok, 0 not ok, {n_ok} skipped" in out.stdout
    assert all(s == "ok" for s in statuses(grid, root).values())
    assert all(f.read_bytes() == data for f, data in kept.items())  # byte for byte


def assert_in_flight_never_ok(grid: Path, root: Path) -> dict[str, str]:
    """Wait for orphans to settle, then: every cell is ok (finished before the fault), interrupted or
    failed (in flight), or missing/incomplete (never started or killed outright)."""
    time.sleep(3)
    s = statuses(grid, root)
    assert set(s.values()) <= {"ok", "interrupted", "failed", "missing", "incomplete", "running"}
    assert sum(v == "ok" for v in s.values()) < 4, "the fault came too late to test anything"
    return s


def no_orphans_left(root: Path) -> None:
    """No process is still working on these runs (an orphan could mark a run ok later)."""
    deadline = time.time() + 20
    while time.time() < deadline:
        alive = [p for p in psutil.process_iter(["cmdline"]) if str(root) in " ".join(p.info["cmdline"] or [])]
        if not alive:
            return
        time.sleep(0.5)
    raise AssertionError(f"processes still running: {[p.pid for p in alive]}")


def test_ctrl_c_during_a_batch(grid, tmp_path):
    """Fault: SIGINT to the batch's process group (Ctrl-C in a terminal). Expected: exit 130, runs in
    flight marked interrupted, none ok; the rerun finishes the rest."""
    root = tmp_path / "data"
    batch = start_batch(grid, root)
    wait_for_training(root, 2)
    os.killpg(batch.pid, signal.SIGINT)
    _, err = batch.communicate(timeout=120)
    assert batch.returncode == 130, err
    assert "interrupted" in err
    s = assert_in_flight_never_ok(grid, root)
    assert list(s.values()).count("interrupted") == 2, s
    rerun_completes_exactly_the_rest(grid, root, s)


def test_batch_process_killed(grid, tmp_path):
    """Fault: SIGKILL of the batch process alone. Expected: its workers and their kernels notice,
    the runs in flight are marked interrupted (never ok), nothing keeps running; the rerun finishes."""
    root = tmp_path / "data"
    batch = start_batch(grid, root)
    wait_for_training(root, 2)
    batch.kill()
    batch.wait(timeout=30)
    no_orphans_left(root)
    s = assert_in_flight_never_ok(grid, root)
    interrupted = [k for k, v in s.items() if v == "interrupted"]
    assert len(interrupted) == 2, s
    _, cells = load_grid(grid, root)
    assert all("killed" in read_meta(c.out)["error"] for c in cells if c.label in interrupted)
    rerun_completes_exactly_the_rest(grid, root, s)


def test_worker_killed(grid, tmp_path):
    """Fault: SIGKILL of one pool worker mid-run. Expected: its run is marked interrupted by its kernel,
    the batch reports the loss and exits non-zero, nothing is marked ok that did not finish; the
    rerun finishes the rest."""
    root = tmp_path / "data"
    batch = start_batch(grid, root)
    wait_for_training(root, 2)
    workers = psutil.Process(batch.pid).children()
    assert len(workers) >= 2
    workers[0].kill()
    _, err = batch.communicate(timeout=180)
    assert batch.returncode != 0
    no_orphans_left(root)
    s = assert_in_flight_never_ok(grid, root)
    assert "interrupted" in s.values() or "failed" in s.values(), s
    rerun_completes_exactly_the_rest(grid, root, s)


def test_a_second_batch_on_the_same_experiment_is_refused(grid, tmp_path):
    root = tmp_path / "data"
    first = start_batch(grid, root)
    wait_for_training(root, 1)
    second = subprocess.run([BIN / "nasdqn", "batch", grid, "--root", root], capture_output=True, text=True,
                            timeout=60)
    assert second.returncode == 2
    assert "another batch is already running experiment 'faults'" in second.stderr
    os.killpg(first.pid, signal.SIGINT)
    first.communicate(timeout=120)
