import json

import pandas as pd
import pytest

from nasdqn.config import RunConfig
from nasdqn.records import RunDirError, read_run, run_dir, run_status, write_failure, write_run, write_running
from nasdqn.train import train


@pytest.fixture(scope="module")
def result():
    return train(RunConfig(method="nas", steps=1200, learning_starts=200, eval_every=600, search_interval=1,
                           horizon=100))


def test_write_then_read_round_trip(tmp_path, result):
    path = write_run(run_dir(tmp_path, result.config), result)
    assert path.relative_to(tmp_path).parts == ("runs", "adhoc", "NASDQN-InvertedPendulum-v0", "nas", "seed=0")
    back = read_run(path, expect_hash=result.config.config_hash)
    assert back.config == result.config
    for t in ("episodes", "evals", "arch_events"):
        pd.testing.assert_frame_equal(getattr(back, t), getattr(result, t))
    assert back.meta["status"] == "ok" and back.meta["versions"]["torch"].startswith("2.13")
    assert run_status(path, result.config.config_hash) == "ok"


def test_reading_refuses_incomplete_failed_corrupt_or_other_config(tmp_path, result):
    path = write_run(tmp_path / "run", result)
    assert run_status(path, "0" * 16) == "stale"
    with pytest.raises(RunDirError, match="stale"):
        read_run(path, expect_hash="0" * 16)

    (path / "evals.parquet").write_bytes((path / "evals.parquet").read_bytes()[:50])  # truncated
    assert run_status(path) == "incomplete"  # resume redoes it
    with pytest.raises(RunDirError, match="missing or corrupt.*truncated"):
        read_run(path)

    (path / "meta.json").write_text("{not json")
    assert run_status(path) == "incomplete"
    with pytest.raises(RunDirError, match="does not parse"):
        read_run(path)

    (path / "meta.json").unlink()
    assert run_status(path) == "incomplete"
    with pytest.raises(RunDirError, match="no meta.json"):
        read_run(path)
    assert run_status(tmp_path / "nothing") == "missing"


def test_failures_are_recorded_and_never_read_as_ok(tmp_path, result):
    path = write_run(tmp_path / "run", result)
    write_failure(path, result.config, "diverged", "NaN loss at step 5")
    meta = json.loads((path / "meta.json").read_text())
    assert meta["status"] == "diverged" and "NaN" in meta["error"]
    assert run_status(path) == "diverged"
    with pytest.raises(RunDirError, match="diverged"):
        read_run(path)
    with pytest.raises(ValueError):
        write_failure(path, result.config, "ok", "")
    write_running(path, result.config)
    assert run_status(path) == "running"
    with pytest.raises(RunDirError, match="running"):
        read_run(path)


def test_a_changed_file_of_the_same_size_is_detected_on_read(tmp_path, result):
    path = write_run(tmp_path / "run", result)
    data = bytearray((path / "timing.json").read_bytes())
    data[-3] = ord("7") if data[-3] != ord("7") else ord("8")
    (path / "timing.json").write_bytes(bytes(data))
    with pytest.raises(RunDirError, match="SHA-256"):
        read_run(path)


def test_the_cache_serves_the_same_tables_and_metrics_and_never_a_changed_run(tmp_path, result, monkeypatch):
    from nasdqn import records
    from nasdqn.analysis import run_metrics

    path, cache = write_run(tmp_path / "run", result), tmp_path / "cache"
    first = read_run(path, result.config.config_hash, cache)
    assert len(list(cache.rglob("*.pkl"))) == 1
    # A second read comes from the cache (the parquet files are not parsed again) and equals the first.
    monkeypatch.setattr(pd, "read_parquet", lambda *a, **k: pytest.fail("parsed again despite the cache"))
    again = read_run(path, result.config.config_hash, cache)
    monkeypatch.undo()
    for t in ("episodes", "evals", "arch_events"):
        pd.testing.assert_frame_equal(getattr(again, t), getattr(first, t))
    pd.testing.assert_frame_equal(run_metrics([again], cache), run_metrics([first]))
    pd.testing.assert_frame_equal(run_metrics([again], cache), run_metrics([first]))  # now from the cache

    # The checks run on every read: a run changed after it was cached is refused, never served.
    data = bytearray((path / "evals.parquet").read_bytes())
    data[-20] ^= 0xFF
    (path / "evals.parquet").write_bytes(bytes(data))
    with pytest.raises(RunDirError, match="SHA-256"):
        read_run(path, result.config.config_hash, cache)

    # Another code version starts its own folder and deletes the old one: the cache stays one version big.
    (path / "evals.parquet").write_bytes(bytes(data[:-20]) + bytes([data[-20] ^ 0xFF]) + bytes(data[-19:]))
    old = {p.name for p in cache.iterdir()}
    monkeypatch.setattr(records, "code_fingerprint", lambda: "f" * 64)
    read_run(path, result.config.config_hash, cache)
    assert {p.name for p in cache.iterdir()} == {"f" * 20} and old != {"f" * 20}


def test_no_temporary_files_are_left_behind(tmp_path, result):
    path = write_run(tmp_path / "run", result)
    assert sorted(p.name for p in path.iterdir()) == [
        "arch_events.parquet", "controller.json", "episodes.parquet", "evals.parquet", "meta.json", "timing.json"]


def test_every_committed_grid_is_complete_and_current():
    """Every cell of every grid file is `ok` in the committed data, with the grid's config hash: a grid
    whose runs went stale (an option's default changed), failed or were never committed fails here."""
    from nasdqn import REPO_ROOT
    from nasdqn.batch import load_grid, status_table
    from nasdqn.records import run_dir, run_status
    from nasdqn.report.peers import PEER_SUFFIX

    problems = []
    for grid in sorted((REPO_ROOT / "experiments").glob("*.yaml")):
        name, cells = load_grid(grid, REPO_ROOT / "data")
        problems += [f"{grid.name}: {env} {method} seed={seed}: {status}"
                     for env, method, seed, status in status_table(cells) if status != "ok"]
        # A peer implementation's runs of the same cells (benchmarks/competence.py), where committed.
        if (REPO_ROOT / "data" / "runs" / (name + PEER_SUFFIX)).is_dir():
            for cell in cells:
                peer = cell.config.replace(experiment=name + PEER_SUFFIX)
                status = run_status(run_dir(REPO_ROOT / "data", peer), peer.config_hash)
                if status != "ok":
                    problems.append(f"{name + PEER_SUFFIX}: {peer.env} {peer.method} seed={peer.seed}: {status}")
    assert not problems, f"{len(problems)} cells not ok, e.g. " + "; ".join(problems[:5])
