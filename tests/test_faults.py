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


def _as_in_a_terminal() -> None:
    # A terminal's foreground process has the default SIGINT disposition. Whoever launched pytest may
    # have had it ignored (bash does so for background jobs), and an ignored signal is inherited:
    # Python would then never raise KeyboardInterrupt, whatever nasdqn does.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_batch(grid: Path, root: Path) -> subprocess.Popen:
    return subprocess.Popen([BIN / "nasdqn", "batch", grid, "--root", root, "--workers", "2", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_as_in_a_terminal)


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


# -- the disk ----------------------------------------------------------------------------------------
@pytest.fixture
def tmpfs(tmp_path):
    """A real, tiny filesystem (root only; skipped elsewhere, so CI, which runs as root, always runs it)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", "-l", mnt], capture_output=True)


TRAIN = ["--steps", "4000", "--learning-starts", "200", "--eval-every", "2000", "--eval-episodes", "2", "--quiet"]


def test_disk_full_at_the_end_of_a_run_is_a_clean_failure(tmpfs):
    """Fault: the disk fills up while the run trains. Expected: exit 1, one line naming the problem,
    no `ok` (a rerun would redo it)."""
    out = tmpfs / "run"
    train = subprocess.Popen([BIN / "nasdqn", "train", *TRAIN, "--out", out], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while run_status(out) != "running" and time.time() < deadline:
        time.sleep(0.1)
    fd = os.open(tmpfs / "filler", os.O_WRONLY | os.O_CREAT)
    try:  # fill every byte that is left
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    _, err = train.communicate(timeout=120)
    assert train.returncode == 1
    assert "could not write the run" in err and "No space left on device" in err
    assert len(err.strip().splitlines()) == 1
    assert run_status(out) != "ok"


def test_output_turning_read_only_during_a_run_is_a_clean_failure(tmpfs):
    out = tmpfs / "run"
    train = subprocess.Popen([BIN / "nasdqn", "train", *TRAIN, "--out", out], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while run_status(out) != "running" and time.time() < deadline:
        time.sleep(0.1)
    assert subprocess.run(["mount", "-o", "remount,ro", tmpfs]).returncode == 0
    _, err = train.communicate(timeout=120)
    assert train.returncode == 1
    assert "Read-only file system" in err and len(err.strip().splitlines()) == 1
    assert run_status(out) == "running"  # what was there before; never ok


# -- divergence --------------------------------------------------------------------------------------
def test_divergence_stops_the_run_and_is_recorded_with_diagnostics(tmp_path):
    """Fault: NaN rewards poison the learning. Expected: the run stops, status `diverged` with a
    diagnosis; `nasdqn train` exits 1; the batch reports it as not ok; the book lists it."""
    from nasdqn.report.load import run_table

    script = tmp_path / "poison.py"
    script.write_text(POISON)
    out = tmp_path / "data" / "runs" / "faults" / "x" / "nas" / "seed=0"
    r = subprocess.run([sys.executable, script, str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    meta = read_meta(out)
    assert meta["status"] == "diverged"
    assert "non-finite values at step" in meta["error"] and "gradient norm nan" in meta["error"]
    table = run_table(tmp_path / "data", "faults")
    assert table.loc[0, "status"] == "diverged" and "non-finite" in table.loc[0, "error"]


POISON = """
import sys
import gymnasium as gym
from nasdqn.cli import main
from nasdqn.envs import InvertedPendulumEnv

class Poisoned(InvertedPendulumEnv):
    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, float("nan") if self.t % 50 == 0 else reward, terminated, truncated, info

gym.register("Test/Poisoned-v0", entry_point=Poisoned)
sys.exit(main(["train", "--env", "Test/Poisoned-v0", "--method", "nas", "--steps", "3000",
               "--learning-starts", "200", "--quiet", "--out", sys.argv[1]]))
"""


# -- hostile input -----------------------------------------------------------------------------------
PWNED = "/tmp/nasdqn-pwned"
BASE = {"name": "hostile", "envs": ["NASDQN/InvertedPendulum-v0"], "methods": ["nas"], "seeds": 1, "steps": 500}
HOSTILE_GRIDS = [
    ({"colour": "blue"}, "unknown key"),
    ({"overrides": {"stepz": 5}}, "unknown option"),
    ({"overrides": {"out_dir": "/etc"}}, "unknown option"),
    ({"steps": "abc"}, "not a valid int"),
    ({"steps": True}, "not a valid int"),
    ({"seeds": "three"}, "seeds"),
    ({"envs": 5}, "not a string"),
    ({"steps": -100}, "steps"),
    ({"steps": 10**12}, "steps"),
    ({"seeds": 0}, "seeds"),
    ({"seeds": 10**6}, "cells; at most"),
    ({"overrides": {"widths": [0]}}, "width"),
    ({"overrides": {"widths": [10**9]}}, "width"),
    ({"overrides": {"widths": []}}, "widths is empty"),
    ({"overrides": {"depths": []}}, "depths is empty"),
    ({"overrides": {"activations": ["gelu"]}}, "activation"),
    ({"overrides": {"lr": float("nan")}}, "lr"),
    ({"overrides": {"max_torque": float("inf")}}, "max_torque"),
    ({"overrides": {"eval_episodes": -1}}, "eval_episodes"),
    ({"name": f"x'; open('{PWNED}', 'w') #"}, "experiment"),
    ({"name": "../../etc"}, "experiment"),
    ({"name": "/etc"}, "experiment"),
    ({"envs": ["../../etc/passwd"]}, "unknown environment"),
    ({"envs": [f"x\nopen('{PWNED}', 'w')"]}, "unknown environment"),
    ({"envs": ["../../etc/passwd:Foo-v0"]}, "is not a Python module name"),
    ({"envs": [f"__import__('os').system('touch {PWNED}'):X-v0"]}, "is not a Python module name"),
    ({"envs": ["no_such_module_xyz:Foo-v0"]}, "cannot import module"),
    ({"envs": ["json:Foo-v0"]}, "registers no env"),
    ({"methods": [f"nas\"\nopen('{PWNED}', 'w')\n\""]}, "unknown method"),
    ({"overrides": {"start_arch": f"relu-64; open('{PWNED}','w')"}}, "not of the form"),
    ({"overrides": {"experiment": "other"}}, "grid's own key"),
    ({"cells": [{"match": {"method": "nas"}, "set": {"experiment": "../x"}}]}, "grid's own key"),
    ({"cells": [{"match": {"method": "nas"}, "set": {"ctrl_signal": "__import__('os')"}}]}, "trend, raw"),
    ({"methods": ["nas", "nas"]}, "duplicate cell"),
]


@pytest.mark.parametrize("change,match", HOSTILE_GRIDS, ids=[f"grid{i}" for i in range(len(HOSTILE_GRIDS))])
def test_hostile_grids_are_refused_before_anything_runs(tmp_path, capsys, change, match):
    import yaml

    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({**BASE, **change}))
    root = tmp_path / "data"
    from nasdqn.cli import main

    assert main(["batch", str(grid), "--root", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err
    assert not root.exists() and not os.path.exists(PWNED)


def test_yaml_that_would_run_code_is_not_loaded(tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"!!python/object/apply:os.system ['touch {PWNED}']\n")
    from nasdqn.cli import main

    assert main(["batch", str(grid), "--root", str(tmp_path / "data")]) == 2
    assert "does not parse" in capsys.readouterr().err and not os.path.exists(PWNED)


def test_a_string_cannot_escape_the_notebook_parameter_cell(tmp_path):
    """Even past the grid's checks, papermill writes parameters as literals: a hostile string stays a
    string, and RunConfig refuses it inside the notebook."""
    import papermill

    from nasdqn.batch import NOTEBOOK

    hostile = f"x'\nopen('{PWNED}', 'w')\n'"
    with pytest.raises(papermill.PapermillExecutionError, match="experiment"):
        papermill.execute_notebook(NOTEBOOK, tmp_path / "out.ipynb", parameters={"experiment": hostile},
                                   kernel_name="python3", progress_bar=False, cwd=tmp_path)
    assert not os.path.exists(PWNED)
