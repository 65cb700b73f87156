import numpy as np
import pandas as pd
import pytest

from nasdqn.analysis import run_metrics
from nasdqn.config import RunConfig
from nasdqn.records import RunResult
from nasdqn.report.claims import plateau_table
from nasdqn.report.load import score_table
from nasdqn.stats import bootstrap_ci, iqm


def test_iqm_against_hand_computed_values():
    assert iqm(np.arange(1, 9)) == pytest.approx(4.5)  # middle half of 1..8 is 3,4,5,6
    assert iqm(np.array([1.0, 2.0, 3.0, 100.0])) == pytest.approx(2.5)  # the outlier is trimmed
    np.testing.assert_allclose(iqm(np.array([[1, 10], [2, 20], [3, 30], [4, 40]])), [2.5, 25.0])


def test_bootstrap_ci_brackets_the_mean_and_shrinks_with_more_runs():
    rng = np.random.default_rng(0)
    small, large = rng.normal(size=8), rng.normal(size=800)
    p1, lo1, hi1 = bootstrap_ci(small)
    p2, lo2, hi2 = bootstrap_ci(large)
    assert lo1 <= p1 <= hi1 and lo2 <= p2 <= hi2
    assert (hi2 - lo2) < 0.3 * (hi1 - lo1)
    assert p1 == pytest.approx(small.mean())
    point, low, high = bootstrap_ci(np.array([3.0]))  # one run: nothing to resample
    assert point == low == high == 3.0


def _result(method: str, seed: int, returns: list[float]) -> RunResult:
    evals = pd.DataFrame({"step": np.arange(1, len(returns) + 1) * 100, "eval_episode": 0,
                          "return": returns, "arch": "relu-32"})
    events = pd.DataFrame([(0, 0, None, "relu-32", np.nan, 0.0, 293, 0.0, True)],
                          columns=["step", "episode", "from_arch", "to_arch", "score", "entropy", "params",
                                   "morph_error", "preserving"])
    episodes = pd.DataFrame(columns=["step", "episode", "return", "length", "epsilon", "arch"])
    return RunResult(RunConfig(method=method, seed=seed, final_evals=2), episodes, evals, events,
                     {"total": 1.0}, {"random_return": -1000.0, "reference_return": -500.0})


def test_score_and_final_tables_normalise_with_the_runs_own_anchors():
    runs = [_result("nas", 0, [-1000, -750, -500, -500]), _result("nas", 1, [-1000, -1000, -750, -750])]
    scores = score_table(runs)
    assert scores.loc[(scores.seed == 0) & (scores.step == 200), "score"].item() == pytest.approx(0.5)
    final = run_metrics(runs).groupby("method")[["final_return", "final_score"]].mean()
    assert final.loc["nas", "final_return"] == pytest.approx((-500 + -750) / 2)
    assert final.loc["nas", "final_score"] == pytest.approx((1.0 + 0.5) / 2)


def test_stratified_difference_weighs_every_task_the_same():
    from nasdqn.stats import stratified_difference_ci

    rng = np.random.default_rng(0)
    # Task A: +1.0 with 4 runs per arm; task B: 0.0 with 20 runs per arm. Pooling runs would weigh B
    # five times more; per-task differences averaged give (1 + 0) / 2.
    a_t, a_r = 1.0 + 0.01 * rng.standard_normal(4), 0.01 * rng.standard_normal(4)
    b_t, b_r = 0.01 * rng.standard_normal(20), 0.01 * rng.standard_normal(20)
    point, low, high = stratified_difference_ci([a_t, b_t], [a_r, b_r])
    expected = ((a_t.mean() - a_r.mean()) + (b_t.mean() - b_r.mean())) / 2
    assert point == pytest.approx(expected) and low <= point <= high and high - low < 0.05
    assert point == pytest.approx(0.5, abs=0.02)
    same = rng.standard_normal(10)
    point, low, high = stratified_difference_ci([same], [same])
    assert point == 0.0 and low < 0 < high
    with pytest.raises(ValueError, match="one reference group per treated group"):
        stratified_difference_ci([a_t], [a_r, b_r])


def test_plateau_rule_separates_flat_from_rising_curves():
    flat = _result("fixed-small", 0, [-1000, -600, -500, -500, -500, -500, -502, -501])
    rising = _result("nas", 0, [-1000, -950, -900, -850, -800, -750, -700, -650])
    table = plateau_table(score_table([flat, rising]))
    assert table.loc["fixed-small", "flat"] and not table.loc["nas", "flat"]
    # Quarters of 8 evaluations: mean(-700, -650) = -675 against mean(-800, -750) = -775: 100 / 500.
    assert table.loc["nas", "change"] == pytest.approx(0.2)


def test_performance_profile_by_hand_and_refusal():
    from nasdqn.stats import performance_profile

    groups = [np.array([0.1, 0.5, 0.9, 1.0, 0.2]), np.zeros(5), np.array([1, 1, 1, 0.5, 0.7])]
    point, low, high = performance_profile(groups, [0.0, 0.45, 0.95])
    np.testing.assert_allclose(point, [10 / 15, 8 / 15, 4 / 15])
    assert (low <= point).all() and (point <= high).all() and high[1] > low[1]
    # Unequal seed counts: each task weighs the same (2 of 2 above, 1 of 4 above: (1 + 1/4) / 2).
    point, low, high = performance_profile([np.array([0.9, 0.8]), np.array([0.9, 0.1, 0.2, 0.3])], [0.5])
    assert point[0] == pytest.approx(0.625) and low[0] <= 0.625 <= high[0] and low[0] < high[0]


def test_average_probability_of_improvement_weighs_tasks_alike():
    from nasdqn.stats import across_tasks_ci, average_probability_of_improvement_ci

    # Task 1: treated always better (1.0); task 2 (more runs): never (0.0); task 3: all tied (0.5).
    treated = [np.array([2.0, 3.0]), np.zeros(6), np.ones(3)]
    reference = [np.array([0.0, 1.0]), np.ones(6), np.ones(3)]
    point, low, high = average_probability_of_improvement_ci(treated, reference)
    assert point == pytest.approx(0.5) and low <= 0.5 <= high
    # Bootstrap resamples keep each task's P within [0, 1]: task 1 stays 1, task 2 stays 0, task 3 0.5.
    assert low == pytest.approx(0.5) and high == pytest.approx(0.5)
    with pytest.raises(ValueError, match="one reference group per treated group"):
        average_probability_of_improvement_ci(treated, reference[:2])
    with pytest.raises(ValueError, match="same number of arms"):
        across_tasks_ci([(np.zeros(2),), (np.zeros(2), np.zeros(2))], lambda *a, axis=-1: a[0].mean(axis=axis))


def test_committed_transfer_pairs_differ_only_in_the_transferred_controller():
    """Each transfer grid has its fresh reference (its -fresh grid) and start control (-start) in the
    committed data; transfer differs from fresh in ctrl_init alone, the control in start_arch alone."""
    from pathlib import Path

    from nasdqn import analysis, report

    names = report.transfer.transfer_experiments()
    assert names and not any(n.endswith(report.transfer.FRESH_SUFFIX) for n in names)
    for name in names:
        pair = report.transfer.load_transfer(name, Path(__file__).resolve().parent.parent / "data")
        assert pair is not None, name
        assert analysis.config_differences(pair.fresh.runs, pair.transfer.runs, ignore=("seed", "experiment")) \
            == ["ctrl_init"], name
        assert {r.config.ctrl_init for r in pair.fresh.runs} == {""}
        assert pair.start is not None, name
        assert analysis.config_differences(pair.fresh.runs, pair.start.runs, ignore=("seed", "experiment")) \
            == ["start_arch"], name


def test_summary_uses_t_intervals_for_small_cells_and_counts_censored_runs():
    from nasdqn.analysis import summary
    from nasdqn.report.format import ci_text, summary_cell
    from nasdqn.stats import t_ci

    table = pd.DataFrame({"method": ["a"] * 4 + ["b"] * 3 + ["c"] * 12,
                          "steps": [1.0, 2.0, 3.0, np.nan, np.nan, np.nan, np.nan] + list(np.arange(12.0))})
    s = summary(table, "steps")
    assert tuple(s.loc["a", ["steps", "low", "high"]]) == pytest.approx(t_ci(np.array([1.0, 2.0, 3.0])))
    assert s.loc["a", "missing"] == 1 and summary_cell(s.loc["a"], "steps", 1).endswith("; 1 of 4 never")
    assert summary_cell(s.loc["b"], "steps") == "never (3 of 3 runs)"
    assert ci_text(np.nan, np.nan, np.nan) == "no value"
    assert ci_text(0.5, np.nan, np.nan) == "0.50 (no interval)"  # one seed: a point, never "nan"
    # More than five seeds: the bootstrap interval, narrower than t's for these values.
    assert s.loc["c", "high"] - s.loc["c", "low"] < np.subtract(*t_ci(np.arange(12.0))[2:0:-1]) + 1e-9


def test_reported_roles_give_the_fixed_networks_the_baseline_roles_by_size():
    from nasdqn.report.load import Experiment
    from nasdqn.report.protocol import reported_roles

    metrics = pd.DataFrame({"method": ["fixed:relu-128x128x128x128", "fixed:relu-32x32", "nas", "fixed:relu-64x64x64"],
                            "final_params": [50_000, 1_300, 9_000, 8_900]})
    roles = reported_roles(Experiment("x", [], [], metrics))
    assert roles == {"fixed:relu-32x32": "fixed-small", "fixed:relu-64x64x64": "fixed-medium",
                     "fixed:relu-128x128x128x128": "fixed-large"}


def test_the_choices_table_fills_every_value_from_the_code_and_names_real_options(monkeypatch):
    from nasdqn import choices

    table = choices.choices_table()
    assert len(table) == len(choices.CHOICES) and not table.isna().any().any()
    assert not table["we chose"].str.contains(r"[{}]").any() and not table["why"].str.contains(r"[{}]").any()
    assert RunConfig().search_space.describe() in table.loc["search space", "we chose"]
    defaults = RunConfig()
    interval = table.loc["how often the architecture may change", "we chose"]
    assert f"Every {defaults.search_interval} episodes" in interval
    assert f"{defaults.start_arch}." == table.loc["first architecture", "we chose"]
    bad = choices.Choice("x", "", "", "", ("no_such_option",))
    monkeypatch.setattr(choices, "CHOICES", (bad,))
    with pytest.raises(KeyError, match="no_such_option"):
        choices.choices_table()


def test_outcome_words_and_the_ablation_answer_follow_the_comparisons():
    from nasdqn import report

    comps = pd.DataFrame({"metric": "final score", "against": ["a", "b", "c", "d"],
                          "difference": [0.2, -0.2, 0.0, 0.01],
                          "diff_low": [0.1, -0.3, -0.1, -0.05], "diff_high": [0.3, -0.1, 0.1, 0.07],
                          "welch_p_holm": [0.01, 0.02, 0.9, 0.8], "better": [True, False, False, False],
                          "worse": [False, True, False, False], "equivalent": [False, False, True, False]})
    assert list(report.claims.outcome(comps)) == ["better", "worse", "equivalent", "no difference shown"]
    tie = comps.assign(against=[report.ablations.GROWTH_CONTROL, report.ablations.FIXED_SCHEDULE_FRESH, "x", "y"],
                       better=[False, True, False, False], worse=False)
    text = report.ablations.ablation_answer({"final_score": tie})
    assert "no better than growth moves made without any feedback" in text
    assert "Inheriting the weights helps" in text
    beat = tie.assign(better=[True, False, False, False])
    text = report.ablations.ablation_answer({"final_score": beat})
    assert "beats the same kind of growth" in text and "no significant difference" in text
    assert report.ablations.ablation_answer({"final_score": comps}) == ""  # neither control run: nothing claimed


def test_architecture_counts_plot_in_hindsight_order():
    import matplotlib.pyplot as plt

    from nasdqn import report

    counts = pd.DataFrame({"nas": [3, 0, 1], "random": [0, 2, 2]}, index=["relu-32", "tanh-64", "relu-256"])
    ranking = pd.DataFrame({"rank": [1, 2, 3]}, index=["tanh-64", "relu-256", "relu-32"])
    fig = report.figures.plot_arch_counts(counts, ranking)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["tanh-64 (rank 1)", "relu-256 (rank 2)", "relu-32 (rank 3)"]
    assert sorted(t.get_text() for t in fig.axes[0].texts) == ["1", "2", "2", "3"]  # zero counts are not drawn
    plt.close(fig)


def test_search_against_hindsight_plot_marks_the_best_and_the_reference():
    import matplotlib.pyplot as plt

    from nasdqn import report

    # Task A: fixed-medium stands 0.3 below the best (nas: -0.2 to the best, +0.1 to fixed-medium);
    # task B's random has no interval (one run) and is not drawn.
    against = pd.DataFrame({
        "env": ["A", "A", "B", "B"], "method": ["nas", "random", "nas", "random"],
        "hindsight_best": ["relu-64", "relu-64", "tanh-32", "tanh-32"],
        "best_difference": [-0.2, -0.6, 0.05, np.nan], "best_low": [-0.3, -0.7, 0.0, np.nan],
        "best_high": [-0.1, -0.5, 0.1, np.nan], "reference_difference": [0.1, -0.3, 0.15, np.nan]})
    fig = report.hindsight.plot_search_against_hindsight(against)
    a, b = fig.axes
    assert [ax.get_title() for ax in fig.axes] == ["A (best: relu-64)", "B (best: tanh-32)"]
    assert sorted(line.get_xdata()[0] for line in a.lines if line.get_linestyle() != "None") == \
        pytest.approx([-0.3, 0.0])
    assert [t.get_text() for t in a.texts] == ["fixed-medium"]
    assert len(a.containers) == 2 and len(b.containers) == 1  # one error bar per method with an interval
    assert [t.get_text() for t in a.get_yticklabels()] == ["nas", "random"]
    plt.close(fig)


def test_the_claims_tables_are_computed_once_per_input(tmp_path, monkeypatch):
    from nasdqn import report

    monkeypatch.setenv("NASDQN_CACHE", str(tmp_path))
    calls = []
    monkeypatch.setattr(report.claims, "_claims_table",
                        lambda exp, sweep, costs, method: calls.append(1) or (pd.DataFrame(), None))
    metrics = pd.DataFrame({"method": ["nas", "fixed-small"], "seed": [0, 0], "final_score": [0.5, 0.4]})
    exp = report.load.Experiment("x", [], [], metrics)
    report.claims.claims_table(exp)
    report.claims.claims_table(exp)
    assert len(calls) == 1  # the second came from the cache
    report.claims.claims_table(report.load.Experiment("x", [], [], metrics.assign(final_score=[0.5, 0.41])))
    report.claims.claims_table(exp, metrics)
    report.claims.claims_table(exp, metrics, method="fixed-small")
    assert len(calls) == 4  # changed metrics, a sweep, or another judged method are new inputs


def test_top_k_probability_by_construction():
    from nasdqn.stats import top_k_probability
    clear = top_k_probability({"a": np.array([5.0, 5.1]), "b": np.array([1.0, 1.1]), "c": np.array([0.0, 0.1])}, k=1)
    assert clear == {"a": 1.0, "b": 0.0, "c": 0.0}
    # A clear loser leaves the other two always in the top 2; two near-equal groups share the top place
    # about half the time each, and (with no ties) the probabilities sum to k.
    close = top_k_probability({"a": np.array([0.0, 1.0, 2.0]), "b": np.array([0.1, 1.1, 1.9]),
                               "c": np.array([-5.0, -4.0, -6.0])}, k=2, n_resamples=4000)
    assert close["c"] == 0.0 and close["a"] == close["b"] == 1.0
    tight = top_k_probability({"a": np.array([0.0, 1.0, 2.0]), "b": np.array([0.05, 1.05, 1.95])}, k=1,
                              n_resamples=4000)
    assert 0.3 < tight["a"] < 0.7 and tight["a"] + tight["b"] == pytest.approx(1.0, abs=0.01)


def test_the_task_hindsight_table_names_the_best_and_ranks_the_named_networks():
    from nasdqn.report.hindsight import task_hindsight_table
    hindsight = pd.DataFrame({"env": ["T"] * 3, "arch": ["tanh-32", "relu-64", "relu-32"], "auc": [0.9, 0.5, 0.1],
                              "low": [0.8, 0.4, 0.0], "high": [1.0, 0.6, 0.2], "p_top_quarter": [0.9, 0.1, 0.0],
                              "seeds": [3, 3, 3], "cpu_seconds": [1800.0, 1800.0, 0.0], "rank": [1, 2, 3]})
    shown = task_hindsight_table(hindsight, {"fixed-medium": "relu-64", "other": "relu-256"}, best=2)
    row = shown.loc["T"]
    assert row["#1"] == "tanh-32: 0.90 [0.80, 1.00], P(top quarter) 0.90" and row["#2"].startswith("relu-64")
    assert row["fixed-medium rank"] == "2 of 3" and row["other rank"] == "not swept"
    assert row["sweep CPU-hours"] == "1.00" and row["seeds per architecture"] == "3"


def test_halving_cost_and_answer_are_computed_from_the_runs_timings_and_state_their_targets():
    from nasdqn import analysis, report
    compute = pd.DataFrame({"method": ["halving", "halving"], "seed": [0, 1], "deployed": ["a", "b"],
                            "candidate_updates": [500_000, 520_000], "deployed_updates": [99_000, 99_000],
                            "learn_seconds": [1.0, 1.0], "deployed_learn_seconds": [0.5, 0.5],
                            "search_share": [0.6, 0.7], "total_seconds": [600.0, 600.0], "selection_episodes": [9, 9],
                            "weighted_updates": [160_000.0, 160_000.0]})
    table = pd.DataFrame({"method": ["fixed-medium", "nas"], "sec_per_step": [0.001, 0.002], "steps": [100_000] * 2})
    sweep = pd.DataFrame({"env": "E", "method": ["fixed:a", "fixed:a", "fixed:b"], "sec_per_step": [0.01, 0.03, 0.01],
                          "steps": [100_000] * 3})  # one seed of each: 2000 + 1000 s
    cost = analysis.population_cost(compute, table, sweep, pd.Series({"a": 1.0, "b": 3.0, "relu-64x64": 1.0}))
    row = cost.loc["halving"]
    # In cost-weighted updates: 160k against 100k for fixed-medium, and against 100k x (1 + 3) for the sweep.
    assert row["weighted_x_fixed_medium"] == pytest.approx(1.6) and row["weighted_sweep_share"] == pytest.approx(0.4)
    assert row["x_fixed_medium"] == pytest.approx(6.0) and row["x_nas"] == pytest.approx(3.0)
    assert row["sweep_share"] == pytest.approx(0.2) and row["search_share"] == pytest.approx(0.65)
    words = report.selection.halving_cost_text(cost)
    assert "20% of the sweep, wall times" in words and "**40.0% of the sweep**" in words and "**missed**" in words
    assert report.selection.halving_cost_table(cost).loc["halving", "candidate-updates per run"] == "510,000"
    quality = {"method": "halving", "control": "halving-random", "quarter": 6, "ranks": {0: 1, 1: 9},
               "control_ranks": {0: 3, 1: 20}, "top": 1, "seeds": 2, "control_top": 1, "control_seeds": 2,
               "binomial_p": 0.44, "fisher_p": 0.83, "needed": 2, "met": False}
    words = report.hindsight.selection_quality_text(quality)
    assert "**1 of 2 seeds**" in words and "ranks per seed: 1, 9" in words and "**missed**" in words
    alone = report.hindsight.selection_quality_text({**quality, "control_ranks": {}, "control_top": 0,
                                                     "control_seeds": 0})
    assert "has no runs yet" in alone and "missed" not in alone
    comps = {"auc": pd.DataFrame({"against": ["fixed-medium"], "difference": [0.05], "diff_low": [0.01],
                                  "diff_high": [0.09], "welch_p_holm": [0.01], "better": [True], "worse": [False]})}
    scores = pd.DataFrame({"method": ["halving"] * 3, "final_score": [0.95, 0.96, 0.97]})
    best = pd.DataFrame({"final_score": [0.96, 0.96, 0.96]})
    answer = report.selection.halving_answer(quality, comps, scores, best, cost)
    assert answer.startswith("**Does it select?** No:") and "better than `fixed-medium`" in answer
    assert "not compared (no halving-random runs)" in answer and "within 0.02, met" in answer
    open_answer = report.selection.halving_answer({**quality, "control_seeds": 0}, comps, scores, best, cost)
    assert open_answer.startswith("**Does it select?** Not decided yet") and "has no runs yet" in open_answer
    assert "40.0% of the sweep's compute in cost-weighted updates (target: at most 20%, missed)" in answer
    assert "given about its" not in answer
    matched = report.selection.halving_answer(quality, comps, scores, best, cost, matched={"fixed-medium": "CPU time"})
    assert "against one network given about its CPU time it is better than `fixed-medium`" in matched


def test_compute_matched_text_names_the_grid_the_matching_and_both_cpu_times():
    from types import SimpleNamespace as NS

    from nasdqn import report

    def run(method: str, minutes: float):
        return NS(meta={"wall_time": 60 * minutes}, config=NS(method=method))

    halving = [run("halving", 10), run("halving", 12), run("halving-random", 100)]  # the control is not halving's
    exp = report.load.Experiment("compute-matched-cpu", [run("fixed-medium", 9), run("fixed-medium", 11)], [],
                                 pd.DataFrame())
    auc = pd.DataFrame({"against": ["fixed-medium, 40 updates per step"], "difference": [-0.02], "diff_low": [-0.03],
                        "diff_high": [-0.01], "welch_p_holm": [0.004], "better": [False], "worse": [True]})
    words = report.selection.compute_matched_text({"fixed-medium, 40 updates per step": exp}, halving, auc)
    assert "`experiments/compute-matched-cpu.yaml`, matched in CPU time" in words
    assert "a median 10.0 CPU-minutes per run as run against halving's 11.0" in words
    assert "-0.020 [-0.030, -0.010] (Holm p 0.004): this compute spent on one network does better." in words


def test_population_update_text_and_table_read_the_benchmark_result():
    from nasdqn import report

    result = {"candidates": 4, "stacks": 2, "updates": 100, "reps": 3,
              "ms_per_update_step": {"loop": 10.0, "stacked": 9.0, "fixed-medium": 0.5, "fixed-large": 3.0},
              "stacked_over_loop": 0.9, "stacked_over_fixed_large": 3.0, "stacked_over_fixed_medium": 18.0,
              "per_shape": {"32": {"members": ["relu-32", "tanh-32"], "loop_ms": 1.0, "stacked_ms": 0.6,
                                   "stacked_over_loop": 0.6},
                            "256x256": {"members": ["relu-256x256", "tanh-256x256"], "loop_ms": 8.0,
                                        "stacked_ms": 8.4, "stacked_over_loop": 1.05}}}
    words = report.selection.population_update_text(result)
    assert "costs 9.0 ms stacked (2 stacks) against 10.0 ms" in words and "a ratio of 0.90" in words
    assert "costs 0.60 to 1.05 times its members' updates in turn (faster on 1 of 2 shapes)" in words
    assert "take 93% of the time" in words and "load was not recorded" in words
    assert "at a load average of 3.5 on the 2-core machine." in report.selection.population_update_text(
        {**result, "load_average": 3.5, "cpus": 2})
    table = report.selection.population_update_table(result)
    assert table.loc["all 4 candidates (2 stacks)", "stacked / in turn"] == "0.90"
    assert table.loc["fixed-large alone", "one update per candidate, in turn (ms)"] == "3.00"
    assert table.loc["fixed-large alone", "stacked (ms)"] == ""


def test_heldout_td_text_counts_picks_over_every_checkpoint_and_seed():
    from nasdqn import report

    def checkpoint(td, score, td_top, score_top, params, auc):
        return {"td_picks": dict(enumerate(td)), "td_picks_in_top_quarter": td_top,
                "score_picks_in_top_quarter": score_top, "td_spearman_vs_params": params,
                "td_spearman_vs_hindsight_auc": auc}

    premise = {"seeds": [100, 101], "checkpoints": {
        "10000": checkpoint(["big", "big"], None, 0, 1, 0.5, 0.4),
        "20000": checkpoint(["big", "small"], None, 1, 2, 0.8, 0.7)}}
    words = report.selection.heldout_td_text(premise)
    assert "Over the 2 checkpoints (10k, 20k steps) and 2 seeds" in words
    assert "top-quarter architecture 1 of 4 times, the best single validation score 3 times" in words
    assert "most often `big` (3 of 4)" in words and "at 2 of 2 checkpoints" in words and "rewards capacity" in words
    premise["checkpoints"]["20000"]["td_spearman_vs_params"] = 0.6
    assert "does not simply follow capacity" in report.selection.heldout_td_text(premise)


def test_final_score_spread_text_names_the_lowest_seed_and_its_architecture():
    from nasdqn import report

    table = pd.DataFrame({"method": ["halving"] * 3 + ["nas"], "seed": [0, 1, 2, 0],
                          "final_score": [0.97, 0.5, 0.95, 0.1], "final_arch": ["a", "b", "a", "c"],
                          "final_return": [-430.0, -600.0, -440.0, -900.0],
                          "peak_return": [-420.0, -425.0, -430.0, -800.0]})
    ranking = pd.DataFrame({"rank": [1, 2, 3], "auc": [0.9, 0.8, 0.7]}, index=["a", "c", "b"])  # hindsight_ranking's
    words = report.selection.final_score_spread_text(table, ranking)
    assert words.startswith("Per seed, halving's final scores are 0.97, 0.50, 0.95.")
    assert "seed 1 (0.50), deployed `b` (hindsight rank 3 by AUC)" in words and "-600 against a peak of -425" in words
    assert words.endswith("lie between 0.95 and 0.97.")
    assert report.selection.final_score_spread_text(table, ranking, "x") == ""


def test_claim_answers_count_the_comparisons_as_numbers():
    from nasdqn import report

    claims = pd.DataFrame({"source": ["abstract", "abstract", "summary"],
                           "verdict": ["contradicted", "reproduced", "x"], "measure": ["AUC", "share", "final"],
                           "weakest effect [95% CI]": ["-0.1 [-0.2, -0.05]", "0.05 [0.04, 0.06] %", "0"],
                           "its Holm p": ["0.001", "", ""], "chapter": ["efficiency", "efficiency", "results"]},
                          index=pd.Index(["auc claim", "share claim", "elsewhere"], name="claim"))
    comparisons = pd.DataFrame({"claim": ["auc claim"] * 3 + ["elsewhere"], "better": [True, False, False, True],
                                "worse": [False, True, True, False]})
    text = report.claims.claim_answers(claims, comparisons, "efficiency")
    assert ('**The paper\'s claim "auc claim" (abstract): contradicted.** NAS-DQN is significantly better than 1 '
            "and worse than 2 of its 3 comparators on AUC; the weakest effect is -0.1 [-0.2, -0.05] "
            "(Holm p 0.001).") in text
    assert text.endswith('"share claim" (abstract): reproduced.** The weakest effect is 0.05 [0.04, 0.06] %.')
    assert "elsewhere" not in text
    assert report.claims.claim_answers(claims, comparisons, "stability").startswith("No claim")
