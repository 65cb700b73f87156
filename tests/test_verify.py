"""Reproduction checks: regenerating cells elsewhere and comparing them with the committed runs."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nasdqn import REPO_ROOT
from nasdqn.batch import load_grid
from nasdqn.cli import main
from nasdqn.config import ConfigError
from nasdqn.records import read_run
from nasdqn.stats import prediction_interval
from nasdqn.verify import BY_IDENTITY, BY_PREDICTION, BY_WELCH, agreement, compare_runs, select_cells

SMOKE = REPO_ROOT / "experiments" / "smoke.yaml"


def test_select_cells_brings_the_nas_run_a_random_matched_cell_copies():
    _, cells = load_grid(SMOKE, "/nonexistent")
    chosen = select_cells(cells, seeds=[1], methods=["random-matched"])
    assert sorted((c.config.method, c.config.seed) for c in chosen) == [("nas", 1), ("random-matched", 1)]
    assert len(select_cells(cells)) == len(cells)
    with pytest.raises(ConfigError, match="seed\\(s\\) 7 not in the grid; allowed: 0, 1"):
        select_cells(cells, seeds=[7])
    with pytest.raises(ConfigError, match="method\\(s\\) dqn not in the grid"):
        select_cells(cells, methods=["dqn"])


def test_compare_runs_names_the_tables_that_differ_and_by_how_much():
    _, cells = load_grid(SMOKE)
    run = read_run(next(c for c in cells if c.config.method == "fixed-small").out)
    assert compare_runs(run, run) == {"identical": True, "differing_tables": "", "largest_eval_difference": 0.0}
    evals = run.evals.copy()
    evals.loc[3, "return"] += 2.5
    changed = compare_runs(dataclasses.replace(run, evals=evals), run)
    assert not changed["identical"] and changed["differing_tables"] == "evals"
    assert changed["largest_eval_difference"] == pytest.approx(2.5)


def test_agreement_is_true_false_or_cannot_judge():
    def rows(method, new, old, identical):
        return [{"env": "E", "method": method, "seed": i, "identical": identical, "problem": "",
                 "final_score_new": n, "final_score_old": o, "auc_new": n, "auc_old": o}
                for i, (n, o) in enumerate(zip(new, old, strict=True))]

    rng = np.random.default_rng(0)
    noise = list(rng.normal(0.5, 0.05, 8))
    table = pd.DataFrame(rows("same", [0.5, 0.6], [0.5, 0.6], True) + rows("one", [0.5], [0.4], False)
                         + rows("close", noise, noise[::-1], False)
                         + rows("far", [0.9, 0.92, 0.91], [0.1, 0.12, 0.11], False))
    out = agreement(table).set_index("method")
    assert out.loc["same", "agrees"] is True and out.loc["one", "agrees"] is None
    assert out.loc["close", "agrees"] is True and out.loc["far", "agrees"] is False
    assert list(out["judged_by"]) == [BY_IDENTITY, "", BY_WELCH, BY_WELCH]


def test_one_sampled_seed_is_judged_by_the_other_committed_seeds():
    """A method regenerated at one seed: inside the 95% prediction interval of the grid's other
    committed seeds agrees, outside it does not, and with fewer than 3 other seeds it cannot be judged."""
    def run(method, value):
        return {"env": "E", "method": method, "seed": 0, "identical": False, "problem": "",
                "final_score_new": value, "final_score_old": 0.5, "auc_new": value, "auc_old": 0.5}

    committed = pd.DataFrame([{"env": "E", "method": m, "seed": s, "final_score": v, "auc": v}
                              for m in ("near", "far") for s, v in enumerate([0.5, 0.4, 0.6, 0.45, 0.55])]
                             + [{"env": "E", "method": "few", "seed": s, "final_score": v, "auc": v}
                                for s, v in enumerate([0.5, 0.4, 0.6])])
    table = pd.DataFrame([run("near", 0.62), run("far", 0.95), run("few", 0.5)])
    out = agreement(table, committed).set_index("method")
    # the other seeds of "near"/"far": 0.4, 0.6, 0.45, 0.55 -> mean 0.5, s 0.0913, t(3) 3.182 -> +/- 0.325
    low, high = prediction_interval(np.array([0.4, 0.6, 0.45, 0.55]))
    assert (low, high) == pytest.approx((0.5 - 0.3248, 0.5 + 0.3248), abs=1e-3)
    assert out.loc["near", "agrees"] is True and out.loc["near", "judged_by"] == BY_PREDICTION
    assert out.loc["far", "agrees"] is False
    assert out.loc["few", "agrees"] is None and out.loc["few", "judged_by"] == ""
    with pytest.raises(ValueError, match="at least 2 values"):
        prediction_interval(np.array([0.5]))


def test_sample_takes_the_lowest_seed_of_each_method():
    _, cells = load_grid(SMOKE, "/nonexistent")
    chosen = select_cells(cells, sample=True)
    assert {c.config.seed for c in chosen} == {0}
    assert len(chosen) == len({(c.config.env, c.config.method) for c in cells})
    assert {c.config.seed for c in select_cells(cells, seeds=[1], sample=True)} == {1}


def test_verify_regenerates_a_grid_bit_for_bit(tmp_path, capsys):
    """A grid run once through the batch runner, then regenerated elsewhere and compared: on one
    machine every table is identical (committed runs made on another machine may differ in their last
    bits: math libraries choose their kernels by processor)."""
    grid = tmp_path / "tiny.yaml"
    grid.write_text("name: tiny\nenvs: [NASDQN/InvertedPendulum-v0]\nmethods: [fixed-small, nas, random-matched]\n"
                    "seeds: 1\nsteps: 600\noverrides: {learning_starts: 100, eval_every: 300, eval_episodes: 2, "
                    "horizon: 100, search_interval: 1}\n")
    assert main(["batch", str(grid), "--root", str(tmp_path / "data"), "--workers", "2", "--quiet"]) == 0
    capsys.readouterr()
    code = main(["verify", str(grid), "--methods", "fixed-small,random-matched", "--into", str(tmp_path / "again"),
                 "--root", str(tmp_path / "data"), "--workers", "2", "--quiet", "--report", str(tmp_path / "r.csv")])
    out = capsys.readouterr().out
    assert code == 0, out
    # random-matched brings the nas run whose switch times it copies: three runs compared.
    assert "3 of 3 runs reproduced bit for bit" in out and "verified" in out
    report = pd.read_csv(tmp_path / "r.csv")
    assert report["identical"].all() and sorted(report["method"]) == ["fixed-small", "nas", "random-matched"]
    assert main(["verify", str(SMOKE), "--into", str(REPO_ROOT / "data")]) == 2  # never into the committed data
    assert "is the committed data root" in capsys.readouterr().err
    linked = tmp_path / "linked"
    (linked / "runs").mkdir(parents=True)
    (linked / "runs" / "smoke").symlink_to(REPO_ROOT / "data" / "runs" / "smoke")
    assert main(["verify", str(SMOKE), "--into", str(linked)]) == 2
    assert "leads into the committed data" in capsys.readouterr().err


def _committed_and_regenerated(tmp_path, shift: float, seeds: int = 3) -> Path:
    """A grid of `seeds` seeds written straight from `train` into a committed root, and its regenerated twin
    whose fixed-small runs differ from the committed ones by `shift` in every evaluation return (as a
    run from another processor would differ); the nas runs are copied unchanged."""
    from nasdqn.records import write_run
    from nasdqn.train import train

    grid = tmp_path / "tri.yaml"
    grid.write_text(f"name: tri\nenvs: [NASDQN/InvertedPendulum-v0]\nmethods: [fixed-small, nas]\nseeds: {seeds}\n"
                    "steps: 600\noverrides: {learning_starts: 100, eval_every: 300, eval_episodes: 2, horizon: 100, "
                    "search_interval: 1}\n")
    for root in ("committed", "again"):
        for cell in load_grid(grid, tmp_path / root)[1]:
            result = train(cell.config)
            if root == "again" and cell.config.method == "fixed-small":
                result = dataclasses.replace(result, evals=result.evals.assign(**{"return": result.evals["return"]
                                                                                   + shift}))
            write_run(cell.out, result)
    return grid


def test_verify_accepts_runs_that_differ_but_agree_within_their_intervals(tmp_path, capsys):
    from nasdqn.kernels import kernel_summary
    from nasdqn.records import library_summary, provenance

    grid = _committed_and_regenerated(tmp_path, shift=1e-3)
    # one committed run as if made before the pins, on another processor
    meta_path = load_grid(grid, tmp_path / "committed")[1][0].out / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["host"] = {"cpu_model": "Intel Xeon Platinum 8488C", "avx512": True, "torch_cpu_capability": "AVX512",
                    "cpus": 2}
    meta["versions"] = {**meta["versions"], "numpy": "1.26.4"}
    del meta["versions"]["Box2D"]  # older runs did not record it
    meta_path.write_text(json.dumps(meta))
    code = main(["verify", str(grid), "--into", str(tmp_path / "again"), "--root", str(tmp_path / "committed"),
                 "--workers", "1", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "3 of 6 runs reproduced bit for bit" in out and "fixed-small seed=0: evals differ" in out
    here, ours = kernel_summary(provenance()["host"]), library_summary(provenance()["versions"])
    assert ("committed run made on:     Intel Xeon Platinum 8488C, AVX-512, torch AVX512, pins not recorded, 2 cores\n"
            f"    regenerated on:            {here}") in out  # seed 0, whose meta was rewritten
    theirs = ours.replace(f"numpy {provenance()['versions']['numpy']}", "numpy 1.26.4")
    theirs = theirs.replace(f"Box2D {provenance()['versions']['Box2D']}", "Box2D not recorded")
    assert f"committed run's libraries: {theirs}\n    regenerated with:          {ours}" in out
    assert f"both made on: {here}" in out and f"both with: {ours}" in out  # seeds 1 and 2
    assert "verified: every run identical or agreeing within its intervals" in out


def test_verify_refuses_runs_whose_metrics_disagree(tmp_path, capsys):
    grid = _committed_and_regenerated(tmp_path, shift=2000.0)
    code = main(["verify", str(grid), "--into", str(tmp_path / "again"), "--root", str(tmp_path / "committed"),
                 "--workers", "1", "--quiet"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "fixed-small: metrics disagree" in out and "not verified" in out


def test_verify_sample_judges_one_seed_per_method_by_the_committed_seeds(tmp_path, capsys):
    grid = _committed_and_regenerated(tmp_path, shift=1e-3, seeds=4)
    report = tmp_path / "sample.csv"
    code = main(["verify", str(grid), "--sample", "--into", str(tmp_path / "again"), "--root",
                 str(tmp_path / "committed"), "--workers", "1", "--quiet", "--report", str(report)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "1 of 2 runs reproduced bit for bit" in out
    assert "fixed-small: agree, by the prediction interval" in out
    rows = pd.read_csv(report).set_index("method")
    assert list(rows["seed"]) == [0, 0] and rows.loc["fixed-small", "judged_by"] == BY_PREDICTION
    assert rows.loc["nas", "judged_by"] == BY_IDENTITY and rows["agrees"].all()
