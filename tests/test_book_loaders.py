"""The book's loaders: exactly a grid's cells are read, each against the grid's config hash; stale,
missing, waiting and failed runs are refused with the reason and listed, never shown."""

import numpy as np
import pandas as pd
import pytest

from nasdqn import report
from nasdqn.batch import load_grid
from nasdqn.records import write_failure, write_run
from nasdqn.train import train

GRID = ("name: loaders\nenvs: [NASDQN/InvertedPendulum-v0]\nmethods: [fixed-small, nas, random-matched]\nseeds: 2\n"
        "steps: 600\noverrides: {learning_starts: 100, eval_every: 300, eval_episodes: 2, horizon: 100, "
        "search_interval: 1}\n")


@pytest.fixture()
def data(tmp_path, monkeypatch):
    """A grid whose cells are in every state: fixed-small seed 0 ok, seed 1 stale (run with another
    config); nas seed 0 ok, seed 1 diverged; random-matched seed 0 missing, seed 1 waiting for its nas
    run. Returns the data root."""
    experiments = tmp_path / "experiments"
    experiments.mkdir()
    (experiments / "loaders.yaml").write_text(GRID)
    monkeypatch.setattr(report.load, "EXPERIMENTS_DIR", experiments)
    monkeypatch.setenv("NASDQN_CACHE", "off")
    root = tmp_path / "data"
    cells = {(c.config.method, c.config.seed): c for c in load_grid(experiments / "loaders.yaml", root)[1]}
    for key in (("fixed-small", 0), ("nas", 0)):
        write_run(cells[key].out, train(cells[key].config))
    stale = cells[("fixed-small", 1)]
    write_run(stale.out, train(stale.config.replace(steps=300, eval_every=150)))
    write_failure(cells[("nas", 1)].out, cells[("nas", 1)].config, "diverged", "non-finite values at step 5")
    return root


def test_load_runs_reads_exactly_the_grids_current_cells_and_says_why_it_refused_the_others(data):
    runs, refused = report.load.load_runs(data, "loaders")
    assert sorted((r.config.method, r.config.seed) for r in runs) == [("fixed-small", 0), ("nas", 0)]
    assert len(refused) == 4
    text = "\n".join(refused)
    assert "fixed-small/seed=1: stale" in text
    assert "nas/seed=1: status is 'diverged'" in text and "non-finite values at step 5" in text
    assert "random-matched/seed=0: no meta.json" in text
    assert "random-matched/seed=1: waiting for its nas run" in text
    assert str(data) not in text  # paths as the data contract writes them, not this machine's


def test_without_a_grid_file_every_run_directory_is_read(data, monkeypatch, tmp_path):
    monkeypatch.setattr(report.load, "EXPERIMENTS_DIR", tmp_path / "nowhere")
    runs, refused = report.load.load_runs(data, "loaders")
    # The stale run is read too: without a grid there is no config to hold it against.
    assert sorted((r.config.method, r.config.seed) for r in runs) == [("fixed-small", 0), ("fixed-small", 1),
                                                                       ("nas", 0)]
    assert len(refused) == 1 and "diverged" in refused[0]


def test_run_table_lists_every_run_directory_with_its_status_and_error(data):
    table = report.load.run_table(data, "loaders").set_index(["method", "seed"])
    assert table.loc[("nas", 1), "status"] == "diverged" and "step 5" in table.loc[("nas", 1), "error"]
    assert table.loc[("fixed-small", 0), "status"] == "ok" and table.loc[("fixed-small", 0), "error"] == ""
    assert len(table) == 4  # random-matched has no run directory yet


def test_load_experiment_gives_the_metrics_of_the_runs_it_read(data):
    exp = report.load.load_experiment("loaders", data)
    assert exp is not None and len(exp.runs) == 2 and len(exp.refused) == 4
    assert sorted(exp.metrics["method"]) == ["fixed-small", "nas"] and exp.metrics["final_score"].notna().all()
    assert exp.cpu_hours > 0
    assert report.load.load_experiment("no-such-grid", data) is None


def test_the_selection_loader_puts_each_tasks_preset_network_beside_the_races():
    from nasdqn import REPO_ROOT, methods
    from nasdqn.config import TASK_PRESET, preset_for

    selection = report.selection.load_selection(REPO_ROOT / "data")
    assert selection is not None  # experiments/racing.yaml's runs are committed
    t = selection.table
    for env in t["env"].unique():
        runs = t[t["env"] == env].groupby("method")["seed"].apply(lambda s: sorted(s))
        for method in (methods.RACING, methods.RACING_RANDOM, methods.HALVING, report.selection.PRESET_NETWORK):
            assert runs[method] == list(range(10)), (env, method)
        preset = t[(t["env"] == env) & (t["method"] == report.selection.PRESET_NETWORK)]
        assert set(preset["final_arch"]) == {preset_for(TASK_PRESET, env).net_arch}
    assert set(selection.sweep["env"]) >= set(t["env"])
    assert not set(selection.planned) & set(t["env"])


def test_the_selection_cuts_count_each_population_runs_candidates():
    from nasdqn import REPO_ROOT, methods
    from nasdqn.config import RunConfig

    selection = report.selection.load_selection(REPO_ROOT / "data")
    cuts = report.selection.selection_cuts(selection)
    assert {m for _, m in cuts.index} == {methods.HALVING, methods.RACING, methods.RACING_RANDOM}
    assert {e for e, _ in cuts.index} == set(selection.table["env"])
    racing = cuts.xs(methods.RACING, level="method")
    # every candidate but the survivor is cut, before the deadline or at it
    left = racing["candidates"] - racing["cut before the last checkpoint"] - racing["cut at it"]
    # (means over seeds, rounded to 2 places: compared with a tolerance)
    assert (racing["candidates"] == RunConfig().race_size).all() and np.allclose(left, 1, atol=0.02)
    assert (cuts["candidate-updates, x deployed's"] >= 1).all()


def test_the_racing_curves_set_each_survivor_beside_its_architecture_trained_alone():
    from nasdqn import REPO_ROOT, methods

    selection = report.selection.load_selection(REPO_ROOT / "data")
    scores = report.selection.racing_curve_scores(selection, REPO_ROOT / "data")
    for env, g in scores.groupby("env"):
        seeds = g.groupby("method")["seed"].nunique()
        assert seeds[methods.RACING] == seeds[methods.RACING_RANDOM] == 10, env
        assert seeds[report.selection.MOST_DEPLOYED] >= 3, env
        assert set(g["method"]) == {methods.RACING, methods.RACING_RANDOM, report.selection.MOST_DEPLOYED}
    text = report.selection.racing_curves_text(scores)
    last = scores[scores["env"] == "CartPole-v1"]
    last = last[last["step"].isin(sorted(last["step"].unique())[-5:])]
    racing = last.loc[last["method"] == methods.RACING, "score"].mean()
    assert f"CartPole-v1 {racing:.2f} against" in text


def test_the_processor_table_counts_pinned_runs_and_processors_per_experiment(tmp_path):
    import json

    def meta(experiment, seed, status="ok", host=None):
        d = tmp_path / "runs" / experiment / "E" / "fixed-small" / f"seed={seed}"
        d.mkdir(parents=True)
        (d / "meta.json").write_text(json.dumps({"status": status, **({"host": host} if host is not None else {})}))

    meta("a", 0, host={"cpu_model": "AMD EPYC", "avx512": False, "pinned": True})
    meta("a", 1, host={"cpu_model": "Intel Xeon", "avx512": True})
    meta("a", 2, status="running", host={"cpu_model": "Other", "pinned": True})  # not a finished run
    meta("b", 0, host="an-old-host-name")
    meta("b", 1)
    table = report.setup.processor_table(tmp_path)
    assert table.loc["a", "runs"] == 2 and table.loc["a", "pinned runs"] == 1
    assert table.loc["a", "processors"] == "AMD EPYC, no AVX-512; Intel Xeon, AVX-512"
    assert table.loc["b", "runs"] == 2 and table.loc["b", "pinned runs"] == 0
    assert table.loc["b", "processors"] == "not recorded"
    assert report.setup.processor_table(tmp_path / "empty").empty


def test_the_verification_table_reads_each_check_and_its_judgment(tmp_path):
    base = {"env": "E", "differing_tables": "evals", "problem": "", "host_new": "here", "host_old": "there"}
    pd.DataFrame([{**base, "method": "a", "seed": 0, "identical": True, "largest_eval_difference": 0.0,
                   "agrees": True, "judged_by": "bit identity"},
                  {**base, "method": "b", "seed": 0, "identical": False, "largest_eval_difference": 3.5,
                   "agrees": True, "judged_by": "prediction interval"},
                  {**base, "method": "c", "seed": 0, "identical": False, "largest_eval_difference": 9.0,
                   "agrees": None, "judged_by": None}]).to_csv(tmp_path / "sample-g.csv", index=False)
    pd.DataFrame([{**base, "method": "a", "seed": 0, "identical": True, "largest_eval_difference": 0.0}]).to_csv(
        tmp_path / "old-check.csv", index=False)  # written before verify recorded its judgment
    checks, differing = report.setup.verification_table(tmp_path)
    assert checks.loc["sample-g", "runs"] == 3 and checks.loc["sample-g", "bit for bit"] == 1
    assert checks.loc["sample-g", "methods that differ"] == "1 agree (prediction interval), 1 cannot judge"
    assert checks.loc["old-check", "methods that differ"] == "" and checks.loc["sample-g", "regenerated on"] == "here"
    assert list(differing["runs that differ"]) == [1, 1]
    assert differing["largest evaluation-return difference"].max() == 9.0
    assert report.setup.verification_table(tmp_path / "none")[0].empty


def test_the_pins_evidence_says_which_emulations_changed_which_runs(tmp_path):
    import json

    cells = [{"case": "c", "pinned": p, "emulation": e, "changed": (not p) and e == "torch"}
             for p in (True, False) for e in ("none", "torch", "mkl")]
    path = tmp_path / "pins.json"
    path.write_text(json.dumps({"machine": {"cpu_model": "AMD EPYC", "cpu_vendor": "AuthenticAMD", "avx512": False},
                                "steps": 500, "cells": cells, "emulations_reaching_unpinned": ["torch"]}))
    text = report.setup.pins_evidence_text(path)
    assert text.startswith("On one AMD EPYC (AuthenticAMD, no AVX-512), 1 small runs (c; 500 steps)")
    assert "kept their bytes in 2 of 2 (run, emulation) cells" in text
    assert "changed under torch, and not under mkl" in text
    assert "has not been run" in report.setup.pins_evidence_text(tmp_path / "missing.json")


def test_the_pins_cost_is_read_from_the_measured_ratios(tmp_path):
    import json

    path = tmp_path / "speed.json"
    cases = {"pendulum": {"ratio_of_medians": 0.881}, "large": {"ratio_of_medians": 0.5}}
    path.write_text(json.dumps({"cases": cases}))
    text = report.setup.pins_cost_text(path)
    assert text.startswith("fixed-medium on the pendulum runs at 0.88x the unpinned speed; fixed-large on the "
                           "pendulum runs at 0.50x")
    assert report.setup.pins_cost_text(tmp_path / "none.json") == "not measured yet."


def test_the_provenance_table_counts_runs_per_build_and_names_what_older_runs_did_not_record():
    from types import SimpleNamespace

    new = {"versions": {"torch": "2.13.0", "scipy": "1.17.1"}, "git_commit": "0123456789abcdef", "host": {"cpus": 2}}
    old = {"versions": {"torch": "2.13.0"}, "git_commit": "fedcba9876543210", "host": {"cpus": 2}}
    table = report.setup.provenance_table([SimpleNamespace(meta=m) for m in (new, new, old)])
    rows = {r["git_commit"]: r for r in table.to_dict("records")}
    assert rows["0123456789"]["runs"] == 2 and rows["0123456789"]["scipy"] == "1.17.1"
    assert rows["fedcba9876"]["runs"] == 1 and rows["fedcba9876"]["scipy"] == "not recorded"


def test_every_report_module_finds_grid_files_in_the_one_experiments_directory(tmp_path, monkeypatch):
    for name in ("ablation-b", "ablation-a", "transfer-x", "transfer-x-fresh", "transfer-x-start", "paper"):
        (tmp_path / f"{name}.yaml").write_text(f"description: grid {name}\n")
    monkeypatch.setattr(report.load, "EXPERIMENTS_DIR", tmp_path)
    assert report.ablations.ablation_experiments() == ["ablation-a", "ablation-b"]
    assert report.transfer.transfer_experiments() == ["transfer-x"]
    assert report.load.grid_description("paper") == "grid paper"
    assert report.load.grid_file("racing", planned=True) == tmp_path / "planned" / "racing.yaml"


def test_the_sample_text_counts_what_fell_outside_against_chance(tmp_path):
    def sample(name, rows):
        pd.DataFrame([{"env": "E", "method": m, "seed": 0, "identical": i, "agrees": a} for m, i, a in rows]).to_csv(
            tmp_path / f"{name}.csv", index=False)

    sample("sample-g1", [("a", True, True), ("b", False, True), ("c", False, False)])
    sample("sample-g2", [("a", False, None)])
    sample("escalated-g1", [("c", False, True)])
    text = report.setup.sample_text(tmp_path)
    assert text.startswith("The samples cover 2 grids and 4 (env, method) cells, one pinned run each: 1 reproduced "
                           "bit for bit, 1 lie within the 95% prediction interval of their grid's other seeds, 1 "
                           "outside it (`g1` c), and 1 could not be judged")
    assert "about 10% would fall outside by chance: about 0.2 of these 2." in text
    assert "`g1`, flagged, was regenerated at all 1 seeds: its methods agree" in text
    assert report.setup.sample_text(tmp_path / "none").startswith("No sample")
