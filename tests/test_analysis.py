"""From runs to the book's tables: per-run metrics, comparisons, verdicts, costs and beliefs, on
small hand-made runs whose answers are known."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from nasdqn import analysis
from nasdqn.config import RunConfig
from nasdqn.records import RunResult

ANCHORS = {"random_return": -1000.0, "reference_return": -500.0}


def make_run(method: str, seed: int, scores: list[float], events=None, timing=None, steps: int = 1000,
             controller=None) -> RunResult:
    """A run whose normalised evaluation curve is `scores` (one evaluation every steps/len)."""
    n = len(scores)
    returns = [ANCHORS["random_return"] + s * 500.0 for s in scores]
    evals = pd.DataFrame({"step": (np.arange(1, n + 1) * steps // n), "eval_episode": 0, "return": returns,
                          "arch": "relu-32"})
    events = events or [(0, 0, None, "relu-64x64", np.nan, 0.0, 100, 0.0, True)]
    arch_events = pd.DataFrame(events, columns=["step", "episode", "from_arch", "to_arch", "score", "entropy",
                                                "params", "morph_error", "preserving"])
    timing = timing or {"total": 10.0, "controller": 0.01, "morph": 0.01}
    # One training episode per evaluation, returning 10 less than the greedy policy.
    episodes = pd.DataFrame({"step": evals["step"], "episode": np.arange(1, n + 1), "return": evals["return"] - 10,
                             "length": steps // n, "epsilon": 0.05, "arch": "relu-32"})
    return RunResult(RunConfig(method=method, seed=seed, steps=steps, final_evals=2), episodes, evals,
                     arch_events, timing, ANCHORS, controller or {})


def test_run_metrics_by_hand():
    r = make_run("fixed-medium", 0, [0.0, 0.5, 0.9, 0.9], timing={"total": 20.0, "controller": 0.0, "morph": 0.0})
    row = analysis.run_metrics([r]).iloc[0]
    assert row["final_score"] == pytest.approx(0.9)
    assert row["final_return"] == pytest.approx(-550.0)
    # Trapezoids over steps 250..1000: (0.25 + 0.7 + 0.9) * 250 / 750.
    assert row["auc"] == pytest.approx((0.25 + 0.7 + 0.9) / 3)
    # First half of the 1000-step budget: the evaluations at 250 and 500.
    assert row["early_auc"] == pytest.approx((0.0 + 0.5) / 2)
    assert row["sec_per_step"] == pytest.approx(0.02)
    assert row["switches"] == 0 and row["final_arch"] == "relu-64x64" and np.isnan(row["first_switch"])
    assert row["peak_return"] == pytest.approx(-1000.0 + 0.9 * 500)
    # Training episodes in the last 10% of the budget (after step 900): the one at step 1000.
    assert row["final_train_return"] == pytest.approx(-1000.0 + 0.9 * 500 - 10)


def test_compare_and_verdict_follow_the_rule():
    rng = np.random.default_rng(0)
    runs = ([make_run("nas", s, [0.0, 0.9 + 0.01 * rng.standard_normal()]) for s in range(8)]
            + [make_run("fixed-small", s, [0.0, 0.2 + 0.01 * rng.standard_normal()]) for s in range(8)]
            + [make_run("fixed-medium", s, [0.0, 0.9 + 0.01 * rng.standard_normal()]) for s in range(8)])
    table = analysis.run_metrics(runs)
    metric = analysis.Metric("final_score", "final")
    both = analysis.compare(table, metric, "nas", ["fixed-small", "fixed-medium"])
    assert list(both["better"]) == [True, False]
    assert analysis.verdict(both) == "partly"
    assert analysis.verdict(both.iloc[:1]) == "reproduced"
    assert analysis.verdict(both.iloc[1:]) == "not reproduced"
    # Lower is better: the sign flips so that positive still favours nas.
    lower = analysis.compare(table, analysis.Metric("final_score", "final", higher_is_better=False), "nas",
                             ["fixed-small"])
    assert lower["difference"].iloc[0] < 0 and lower["worse"].iloc[0]


def test_missing_values_count_as_worse_than_any_reached():
    runs = [make_run("nas", s, [0.5, 0.9, 0.9, 0.95]) for s in range(4)] + \
           [make_run("fixed-small", s, [0.0, 0.1, 0.2, 0.2]) for s in range(4)]
    table = analysis.run_metrics(runs)
    assert table.loc[table.method == "fixed-small", "steps_to_threshold"].isna().all()
    assert table.loc[table.method == "nas", "steps_to_threshold"].notna().all()
    comp = analysis.compare(table, analysis.Metric("steps_to_threshold", "t", False, 1e9), "nas", ["fixed-small"])
    assert comp["difference"].iloc[0] > 0 and comp["poi"].iloc[0] == 1.0


def test_threshold_verdict():
    assert analysis.threshold_verdict(0.001, 0.002, 0.02) == "reproduced"
    assert analysis.threshold_verdict(0.015, 0.03, 0.02) == "partly"
    assert analysis.threshold_verdict(0.05, 0.06, 0.02) == "not reproduced"


def test_time_shares_and_chosen_cost():
    events = [(0, 0, None, "relu-32", np.nan, 0.0, 10, 0.0, True),
              (250, 5, "relu-32", "relu-64x64", 0.0, 0.0, 100, 0.0, True)]
    r = make_run("nas", 0, [0.0, 0.5], events=events)
    shares = analysis.arch_time_shares(r)
    assert shares["relu-32"] == pytest.approx(0.25) and shares["relu-64x64"] == pytest.approx(0.75)
    row = analysis.run_metrics([r]).iloc[0]
    assert row["first_switch"] == 250 and row["last_switch"] == 250 and row["switches"] == 1
    cost = pd.Series({"relu-32": 0.5, "relu-64x64": 1.0})
    assert analysis.chosen_cost([r], cost)["chosen_cost"].iloc[0] == pytest.approx(0.25 * 0.5 + 0.75)


def test_hindsight_ranking_beliefs_and_final_ranks():
    sweep = analysis.run_metrics(
        [make_run("fixed:relu-64x64", s, [0.0, 0.9]) for s in range(3)]
        + [make_run("fixed:relu-32", s, [0.0, 0.3], events=[(0, 0, None, "relu-32", np.nan, 0.0, 10, 0.0, True)])
           for s in range(3)])
    ranking = analysis.hindsight_ranking(sweep)
    assert list(ranking.index) == ["relu-64x64", "relu-32"] and list(ranking["rank"]) == [1, 2]
    # AUC ranks, not the final score: a network that learns late can end level and still rank below.
    late = analysis.run_metrics([make_run("fixed:tanh-64", s, [0.0, 0.0, 0.0, 0.95]) for s in range(3)])
    both = analysis.hindsight_ranking(pd.concat([sweep, late], ignore_index=True))
    assert both.loc["tanh-64", "final_score"] > both.loc["relu-64x64", "final_score"]
    assert both.loc["tanh-64", "rank"] > both.loc["relu-64x64", "rank"]
    assert both.loc["relu-64x64", "p_top_quarter"] == 1.0 and both["top_quarter"].sum() == 1
    with pytest.raises(ValueError, match="one task"):
        analysis.hindsight_ranking(pd.concat([sweep, late.assign(env="Other")], ignore_index=True))
    state = {"archs": ["relu-32", "relu-64x64"], "beliefs": [
        {"step": 100, "episode": 1, "arch": "relu-32", "p_best": [0.5, 0.5]},
        {"step": 200, "episode": 2, "arch": "relu-64x64", "p_best": [0.1, 0.9]}]}
    nas = make_run("nas", 0, [0.0, 0.9], controller=state)
    mass = analysis.top_mass(analysis.belief_table([nas]), ranking, k=1)
    assert list(mass["top_mass"]) == pytest.approx([0.5, 0.9])
    assert mass["entropy"].iloc[0] == pytest.approx(np.log(2))
    ranks = analysis.final_arch_ranks(analysis.run_metrics([nas]), ranking)
    assert ranks["hindsight_rank"].iloc[0] == 1


def test_task_verdicts_helps_hurts_ties_against_the_best_fixed_network():
    rng = np.random.default_rng(0)
    rows = []
    # Task A: nas 0.9 vs best fixed 0.6; task B: nas 0.2 vs best fixed 0.8; task C: every method
    # has the same runs (seed by seed), so nothing can differ.
    for env, nas, fixed in (("A", 0.9, (0.3, 0.6, 0.5)), ("B", 0.2, (0.8, 0.1, 0.4)), ("C", 0.5, (0.5, 0.5, 0.5))):
        for seed in range(6):
            shared = 0.02 * rng.standard_normal()

            def noise(env=env, shared=shared):
                return shared if env == "C" else 0.02 * rng.standard_normal()
            rows.append({"env": env, "method": "nas", "seed": seed, "final_score": nas + noise()})
            rows.append({"env": env, "method": "random", "seed": seed, "final_score": 0.0 + noise()})
            for m, v in zip(("fixed-small", "fixed-medium", "fixed-large"), fixed, strict=True):
                rows.append({"env": env, "method": m, "seed": seed, "final_score": v + noise()})
    # Task D: one nas run so far (a grid still running), so nothing on D can be judged yet.
    rows += [{"env": "D", "method": m, "seed": seed, "final_score": 0.5 + 0.01 * seed}
             for m in ("fixed-small", "fixed-medium", "fixed-large") for seed in range(3)]
    rows.append({"env": "D", "method": "nas", "seed": 0, "final_score": 0.9})
    out = analysis.task_verdicts(pd.DataFrame(rows), analysis.Metric("final_score", "final score"))
    assert list(out.index) == ["A", "B", "C"]
    only_d = analysis.task_verdicts(pd.DataFrame([r for r in rows if r["env"] == "D"]),
                                    analysis.Metric("final_score", "final score"))
    assert only_d.empty and "verdict" in only_d.columns
    assert out.loc["A", "best_fixed"] == "fixed-medium" and out.loc["B", "best_fixed"] == "fixed-small"
    assert out["verdict"].to_dict() == {"A": "helps", "B": "hurts", "C": "ties"}
    assert out.loc["A", "fixed_difference"] == pytest.approx(0.3, abs=0.05)
    assert out["beats_control"].to_dict() == {"A": True, "B": True, "C": True}
    assert out["better_than"].to_dict() == {"A": 3, "B": 1, "C": 0} and out.loc["B", "worse_than"] >= 1
    # Against the best fixed network: A always better (P = 1), B never (0), C the same runs (0.5).
    assert out["fixed_poi"].to_dict() == {"A": 1.0, "B": 0.0, "C": 0.5}
    # C has no difference and no spread between arms' means beyond noise: its detectable effect is the
    # noise's scale, far below the 0.3 effects found on A and B; A's and B's are positive too.
    assert (out["fixed_mde"] > 0).all() and out.loc["C", "fixed_mde"] < 0.1
    wider = analysis.task_verdicts(pd.DataFrame(rows), analysis.Metric("final_score", "final score"),
                                   baselines=("fixed-small", "fixed-medium"))
    # Fewer comparisons, a milder Holm bound: the same seeds detect a smaller effect.
    assert wider.loc["A", "best_fixed"] == "fixed-medium" and wider.loc["A", "fixed_mde"] < out.loc["A", "fixed_mde"]
    from nasdqn import report

    shown = report.tasks.verdict_table(out, control="random")
    assert shown.loc["B", "verdict"] == "hurts" and shown.loc["A", "better than / worse than (of 3 fixed)"] == "3 / 0"
    assert shown.loc["C", "P(NAS-DQN run > best fixed run) [95% CI]"].startswith("0.50")
    text = report.tasks.verdict_text(out, out.loc[["A"]], control="random")
    assert "On final score NAS-DQN helps on A; hurts on B; ties on C." in text
    assert "it helps on A; hurts on none; ties on none" in text
    assert "beats random on final score on 3 of the 3 tasks." in text
    no_control = out.assign(control_difference=np.nan, beats_control=False)
    text_without = report.tasks.verdict_text(no_control, no_control, control="random")
    assert "Random has not run on these tasks yet." in text_without
    # One task: its detectable difference alone, no range.
    assert f"in final score and {out.loc['A', 'fixed_mde']:.2f} in AUC" in text


def test_average_improvement_over_tasks_where_both_ran():
    table = pd.DataFrame({
        "env": ["A"] * 4 + ["B"] * 6 + ["C"] * 2,
        "method": ["nas", "nas", "fixed", "fixed"] + ["nas"] * 3 + ["fixed"] * 3 + ["nas", "nas"],
        "final_score": [1.0, 2.0, 0.0, 0.5] + [0.0, 0.0, 0.0, 1.0, 1.0, 1.0] + [5.0, 5.0],
    })
    out = analysis.average_improvement(table, "final_score", "nas", ["fixed", "absent"])
    # A: nas always better (1), B: never (0); C has no fixed runs and is left out.
    assert list(out.index) == ["fixed"] and out.loc["fixed", "tasks"] == 2
    assert out.loc["fixed", "poi"] == pytest.approx(0.5)


def test_transfer_effects_per_task_and_metric():
    rng = np.random.default_rng(1)
    rows = []
    # Task A: transfer raises early AUC by 0.3 and leaves the final score; task B: it lowers early
    # AUC by 0.3; task C: no difference at all (the same runs seed by seed).
    for env, early_gain in (("A", 0.3), ("B", -0.3), ("C", 0.0)):
        for seed in range(6):
            shared = 0.02 * rng.standard_normal()
            for arm, gain in (("fresh", 0.0), ("transfer", early_gain)):
                noise = shared if env == "C" else 0.02 * rng.standard_normal()
                rows.append({"env": env, "method": arm, "seed": seed, "early_auc": 0.4 + gain + noise,
                             "final_score": 0.9 + (shared if env == "C" else 0.02 * rng.standard_normal())})
    out = analysis.transfer_effects(pd.DataFrame(rows), [analysis.Metric("early_auc", "early AUC"),
                                                         analysis.Metric("final_score", "final score")])
    early = out[out["metric"] == "early AUC"].set_index("env")
    assert early["effect"].to_dict() == {"A": "helps", "B": "hurts", "C": "no detected effect"}
    assert early.loc["A", "difference"] == pytest.approx(0.3, abs=0.05)
    assert early.loc["A", "transfer"] - early.loc["A", "fresh"] == pytest.approx(early.loc["A", "difference"])
    assert early.loc["B", "diff_high"] < 0 < early.loc["A", "diff_low"]
    assert analysis.tasks_by_effect(out, "early AUC") == {"helps": ["A"], "hurts": ["B"], "no detected effect": ["C"]}
    point, low, high = analysis.pooled_effect(pd.DataFrame(rows), "early_auc")
    assert point == pytest.approx(np.mean(early["difference"])) and low <= point <= high
    final = out[out["metric"] == "final score"].set_index("env")
    assert (final["effect"] == "no detected effect").all() and (final["p_holm"] >= final["welch_p"]).all()


def test_config_differences_names_what_differs_besides_the_seed():
    fresh = [make_run("nas", s, [0.0, 0.5]) for s in range(2)]
    moved = [dataclasses.replace(r, config=dataclasses.replace(r.config, ctrl_init="x/nas", seed=r.config.seed + 5))
             for r in fresh]
    assert analysis.config_differences(fresh, moved) == ["ctrl_init"]
    assert analysis.config_differences(fresh, fresh) == []
    assert "seed" in analysis.config_differences(fresh, moved, ignore=())


def test_search_summary_counts_switches_and_final_networks():
    grow = [(0, 0, None, "relu-32", np.nan, 0.0, 10, 0.0, True),
            (300, 5, "relu-32", "relu-64", 0.0, 0.0, 20, 0.0, True),
            (600, 9, "relu-64", "tanh-64", 0.0, 0.0, 20, 0.5, False)]
    runs = [make_run("nas", 0, [0.0, 0.5], events=grow), make_run("nas", 1, [0.0, 0.5], events=grow[:2]),
            make_run("fixed-small", 0, [0.0, 0.5])]
    out = analysis.search_summary(analysis.run_metrics(runs))
    assert out.loc["nas", "switches"] == 1.5 and out.loc["nas", "breaking_switches"] == 0.5
    assert out.loc["nas", "first_switch"] == 300 and np.isnan(out.loc["fixed-small", "first_switch"])
    assert out.loc["nas", "final_architectures"] == "tanh-64 x1, relu-64 x1"


def test_aggregate_profiles_and_precision_by_hand():
    table = pd.DataFrame({
        "env": ["A"] * 4 + ["B"] * 4, "method": "nas",
        "final_score": [0.0, 0.2, 0.4, 1.0, 0.6, 0.6, 0.8, 3.0],
    })
    agg = analysis.aggregate(table, "final_score").loc["nas"]
    # IQM of the 8 pooled runs: the middle four, 0.4 0.6 0.6 0.8
    assert agg["final_score"] == pytest.approx(0.6) and agg["low"] <= 0.6 <= agg["high"]
    assert (agg["tasks"], agg["runs"]) == (2, 8)
    point, low, high = analysis.profiles(table, "final_score", np.array([0.5]))["nas"]
    assert point[0] == pytest.approx(5 / 8)
    prec = analysis.precision_by_seeds(table, "final_score").set_index("env")
    half = prec.loc["A", "ci_half_width"]
    assert 0 < half < 0.5 and prec.loc["A", "seeds_for_0.1"] == int(np.ceil(4 * (half / 0.1) ** 2))


def test_peer_comparison_per_task_with_welch_intervals_and_solved_counts():
    def table(returns: dict[str, list[float]]) -> pd.DataFrame:
        rows = [{"env": env, "final_return": v, "peak_return": v + 5, "final_train_return": v - 5,
                 "sec_per_step": 0.001, "steps": 1000} for env, vs in returns.items() for v in vs]
        return pd.DataFrame(rows)

    ours = table({"CartPole-v1": [480.0, 490.0, 470.0], "Acrobot-v1": [-80.0, -90.0, -85.0]})
    peer = table({"CartPole-v1": [300.0, 310.0, 290.0], "Acrobot-v1": [-82.0, -88.0, -86.0]})
    out = analysis.peer_comparison(ours, peer)
    cart, acro = out.loc["CartPole-v1"], out.loc["Acrobot-v1"]
    assert cart["difference"] == pytest.approx(180.0) and cart["verdict"] == "better" and cart["diff_low"] > 0
    assert cart["ours_solved"] == 2 and cart["peer_solved"] == 0 and cart["solved_return"] == 475.0
    assert acro["verdict"] == "matches" and acro["diff_low"] < 0 < acro["diff_high"]
    assert acro["ours_solved"] == 3  # all above Acrobot's -100
    assert cart["ours_cpu_s"] == pytest.approx(1.0) and cart["ours_train"] == pytest.approx(475.0)
    worse = analysis.peer_comparison(peer, ours).loc["CartPole-v1"]
    assert worse["verdict"] == "worse" and worse["p_holm"] < 0.05


def _levels(method: str, level: float, n: int = 8, sd: float = 0.01, seed: int = 0, steps: int = 1000) -> list:
    rng = np.random.default_rng(seed)
    return [make_run(method, s, [0.0, level + sd * rng.standard_normal()], steps=steps) for s in range(n)]


def test_worse_than_any_comparator_is_contradicted_whatever_else_holds():
    table = analysis.run_metrics(_levels("nas", 0.9) + _levels("fixed-small", 0.2, seed=1)
                                 + _levels("fixed-medium", 0.95, seed=2))
    comp = analysis.compare(table, analysis.Metric("final_score", "final"), "nas", ["fixed-small", "fixed-medium"])
    assert list(comp["better"]) == [True, False] and list(comp["worse"]) == [False, True]
    assert analysis.verdict(comp) == "contradicted"


def test_ties_are_claimed_only_when_an_equivalence_test_shows_them():
    table = analysis.run_metrics(_levels("nas", 0.9) + _levels("fixed-medium", 0.9, seed=1)
                                 + _levels("fixed-large", 0.9, sd=0.3, seed=2))
    metric = analysis.Metric("final_score", "final", margin=0.05)
    comp = analysis.compare(table, metric, "nas", ["fixed-medium", "fixed-large"]).set_index("against")
    assert comp.loc["fixed-medium", "equivalent"] and not comp.loc["fixed-large", "equivalent"]
    assert comp.loc["fixed-large", "mde"] > 0.2 > comp.loc["fixed-medium", "mde"]
    assert analysis.tie_words(comp.reset_index()) == "1 equivalent within the margin, 1 cannot tell"
    assert analysis.verdict(comp.reset_index()) == "not reproduced"


def test_one_family_per_measure_with_the_best_fixed_design_of_the_sweep():
    table = analysis.run_metrics(_levels("nas", 0.9) + _levels("fixed-small", 0.2, seed=1)
                                 + _levels("random", 0.1, seed=2))
    sweep = analysis.run_metrics(_levels("fixed:relu-32", 0.5, n=3, seed=3)
                                 + _levels("fixed:tanh-64", 0.97, n=3, seed=4))
    measures = analysis.paper_measures(horizon=2000)
    family = analysis.measure_family(table, measures["final_score"], sweep)
    assert list(family["against"]) == ["fixed-small", "random", analysis.BEST_FIXED]
    assert family["best_fixed_arch"].iloc[0] == "tanh-64"
    claims = {c.name: c for c in analysis.paper_claims(horizon=2000)}
    perf = analysis.claim_comparisons(table, claims["better final performance"], sweep)
    vs_random = analysis.claim_comparisons(table, claims["learned search beats random search (final)"], sweep)
    # The same comparison has the same Holm p in both claims: one family per measure.
    assert perf.set_index("against").loc["random", "welch_p_holm"] == vs_random.set_index("against").loc[
        "random", "welch_p_holm"]
    assert analysis.verdict(perf) == "contradicted" and analysis.verdict(vs_random) == "reproduced"
    assert claims["faster convergence"].source == "summary"
    need = analysis.necessity(table, sweep, measures["final_score"])
    assert need["verdict"] == "contradicted" and need["at_least_as_good"] == ["fixed:tanh-64"] and need["archs"] == 2


def test_claims_table_judges_every_claim_and_names_its_chapter():
    from nasdqn import report

    runs = (_levels("nas", 0.8) + _levels("fixed-small", 0.2, seed=1) + _levels("fixed-medium", 0.95, seed=2)
            + _levels("fixed-large", 0.8, seed=3) + _levels("random", 0.1, seed=4))
    exp = report.load.Experiment("toy", runs, [], analysis.run_metrics(runs))
    claims, comparisons = report.claims.claims_table(exp)
    assert claims.loc["better final performance", "verdict"] == "contradicted"  # fixed-medium is better
    assert claims.loc["better final performance", "chapter"] == "results"
    assert claims.loc["faster convergence", "source"] == "summary"
    assert set(claims["verdict"]) <= {*analysis.VERDICTS, "no data"}
    assert "vs fixed-medium" in claims.loc["better final performance", "weakest effect [95% CI]"]
    assert set(comparisons["claim"]) == {c.name for c in analysis.paper_claims(1.0)}


def test_every_variant_is_judged_by_the_same_rules_against_its_own_random_control_too(tmp_path, monkeypatch):
    from nasdqn import report

    monkeypatch.setenv("NASDQN_CACHE", str(tmp_path))
    def levels(method, level, seed):  # the paper budget: halving's rungs must fit in the run
        return _levels(method, level, seed=seed, steps=100_000)

    paper = (levels("nas", 0.5, 0) + levels("fixed-small", 0.2, 1) + levels("fixed-medium", 0.6, 2)
             + levels("fixed-large", 0.4, 3) + levels("random", 0.3, 4))
    own = levels("halving", 0.9, 5) + levels("halving-random", 0.95, 6)
    exp = report.load.Experiment("toy", paper, [], analysis.run_metrics(paper))
    own_exp = report.load.Experiment("own", own, [], analysis.run_metrics(own))
    joined = report.load.joined_experiment("toy", [exp, own_exp])
    table = report.claims.variant_claims({"nas": exp, "halving": joined}, None)
    # nas on its own grid is judged exactly as in the claims table; halving beats the paper's
    # comparators but loses to its own random selection, so it does not beat random search.
    assert table.loc["better final performance", "nas: verdict"] == report.claims.claims_table(exp)[0].loc[
        "better final performance", "verdict"] == "contradicted"
    assert table.loc["better final performance", "halving: verdict"] == "reproduced"
    assert table.loc["learned search beats random search (final)", "halving: verdict"] == "contradicted"
    assert "halving-random" in table.loc["learned search beats random search (final)", "halving: weakest effect"]
    # A population's cost per step is not its deployed architectures': it gets no such row.
    assert "negligible overhead (cost per step)" in report.claims.claims_table(exp)[0].index
    assert "negligible overhead (cost per step)" not in report.claims.claims_table(joined, None, "halving")[0].index


def test_does_it_learn_needs_the_top_quarter_beyond_the_random_control():
    ranking = pd.DataFrame({"rank": range(1, 9)}, index=[f"relu-{w}" for w in (8, 16, 24, 32, 40, 48, 56, 64)])
    def rows(method, archs):
        return [{"method": method, "seed": i, "final_arch": a} for i, a in enumerate(archs)]

    good = pd.DataFrame(rows("nas", ["relu-8", "relu-16"] * 5) + rows("random-freeze", ["relu-64"] * 9 + ["relu-8"]))
    a = analysis.does_it_learn(good, ranking)
    assert a["quarter"] == 2 and a["top"] == 10 and a["controls"]["random-freeze"] == (1, 10)
    assert a["fisher_p"] < 0.001 and a["learns"]
    grows = pd.DataFrame(rows("nas", ["relu-64"] * 10) + rows("random-freeze", ["relu-8"] * 3 + ["relu-64"] * 7))
    b = analysis.does_it_learn(grows, ranking)
    assert b["top"] == 0 and b["fisher_p"] == 1.0 and not b["learns"]


def test_run_metrics_of_an_env_without_a_solved_return_keep_the_raw_measures():
    r = make_run("fixed-medium", 0, [0.0, 0.5, 0.9, 0.9])
    r.anchors = {"random_return": -1000.0, "reference_return": None}
    row = analysis.run_metrics([r]).iloc[0]
    assert row["final_return"] == pytest.approx(-550.0) and np.isnan(row["final_score"]) and np.isnan(row["auc"])


def test_switch_errors_and_summary_report_every_change_with_its_q_change():
    events = [(0, 0, None, "relu-32x32", np.nan, 0.0, 100, 0.0, True),
              (400, 2, "relu-32x32", "tanh-32x32", 1.0, 0.0, 100, 0.8, False),
              (800, 4, "tanh-32x32", "tanh-64x64", 1.0, 0.0, 300, 0.0, True)]
    runs = [make_run("random", s, [0.1, 0.2], events=events) for s in range(2)]
    runs.append(make_run("fixed-small", 0, [0.1, 0.2]))
    changes = analysis.switch_errors(runs)
    assert len(changes) == 4 and set(changes["method"]) == {"random"}  # the fixed run never changed
    assert changes["q_change"].tolist() == [0.8, 0.0, 0.8, 0.0] and changes["step"].tolist() == [400, 800, 400, 800]
    summary = analysis.switch_summary(changes.assign(who="random"))
    row = summary.loc["random"]
    assert row["changes"] == 4 and row["runs changing"] == 2 and row["function-preserving"] == "50 %"
    assert row["median Q change"] == pytest.approx(0.4)
    with_idle = analysis.switch_summary(changes.assign(who="random"), runs={"random": 2, "nas": 3})
    assert with_idle.loc["nas", "changes"] == 0 and with_idle.loc["nas", "runs"] == 3
    ends = analysis.final_archs({"random": runs[:2], "fixed": runs[2:]})
    assert ends[("random", "tanh-64x64")] == 2 and ends[("fixed", "relu-64x64")] == 1


def test_with_roles_renames_only_the_named_methods():
    table = pd.DataFrame({"method": ["fixed:relu-32x32", "nas", "fixed:relu-128x128x128x128"], "x": [1, 2, 3]})
    out = analysis.with_roles(table, {"fixed:relu-32x32": "fixed-small", "fixed:relu-128x128x128x128": "fixed-large"})
    assert out["method"].tolist() == ["fixed-small", "nas", "fixed-large"]
    assert table["method"].iloc[0] == "fixed:relu-32x32"  # a copy, not the caller's table


def test_steps_to_learn_counts_a_seed_that_never_got_there_as_the_budget():
    sweep = pd.DataFrame({"method": ["fixed:relu-32x32"] * 3 + ["fixed:tanh-64x64"],
                          "steps_to_threshold": [20_000, np.nan, 30_000, 10_000], "steps": 100_000})
    learn = analysis.steps_to_learn(sweep, ["relu-32x32", "tanh-64x64", "relu-128x128"])
    assert learn.to_dict() == {"relu-32x32": 30_000, "tanh-64x64": 10_000}  # relu-128x128 was not swept


def test_agilerl_elite_and_equal_step_comparison():
    rows = []
    for seed in range(3):
        for rnd in (1, 2):
            for agent in range(2):
                rows.append({"task": "t", "variant": "evolution", "seed": seed, "round": rnd,
                             "total_steps": 40_000 * rnd, "agent": agent,
                             "elite": agent == 1, "greedy_return": -1000.0 + (250 if agent else 0) * rnd + seed,
                             "random_return": -1000.0, "reference_return": -500.0})
    elite = analysis.evolution_elite(pd.DataFrame(rows))
    assert len(elite) == 6 and elite["agent"].eq(1).all()
    np.testing.assert_allclose(elite.loc[elite["round"] == 2, "score"], [1.0, 1.002, 1.004])
    scores = pd.DataFrame([{"method": "nas", "seed": s, "step": st, "score": 0.3 + st / 100_000}
                           for s in range(4) for st in (20_000, 40_000, 60_000)])
    scores.loc[scores["seed"] == 0, "score"] += 0.01  # some spread, so intervals exist
    eq = analysis.at_equal_steps(scores, elite, "nas")
    assert sorted(eq["step"].unique()) == [40_000]  # the only step both were evaluated at
    peer = eq[eq["method"] == analysis.AGILERL].iloc[0]
    assert peer["seeds"] == 3 and peer["score"] == pytest.approx(0.502)
    assert peer["ref_minus_agilerl"] == pytest.approx(0.7 + 0.0025 - 0.502)


def test_common_auc_uses_only_the_steps_both_were_evaluated_at():
    elite = pd.DataFrame([{"task": "t", "variant": "evolution", "seed": s, "round": r, "total_steps": 40_000 * r,
                           "agent": 0, "elite": True,
                           "greedy_return": -1000.0 + 100 * r + s, "random_return": -1000.0,
                           "reference_return": -500.0} for s in range(2) for r in (1, 2, 3)])
    elite = analysis.evolution_elite(elite)
    # ours evaluated every 20k up to 100k: the common steps are 40k and 80k (120k is past our budget)
    scores = pd.DataFrame([{"method": "nas", "seed": s, "step": st, "score": st / 100_000 + 0.01 * s}
                           for s in range(3) for st in range(20_000, 100_001, 20_000)])
    auc = analysis.common_auc(scores, elite)
    assert auc.loc["nas", "steps"] == "40,000, 80,000" and auc.loc["nas", "seeds"] == 3
    assert auc.loc["nas", "auc"] == pytest.approx((0.4 + 0.8) / 2 + 0.01)
    assert auc.loc[analysis.AGILERL, "auc"] == pytest.approx((0.2 + 0.4) / 2 + 0.001)


def test_last_step_changes_counts_runs_that_changed_when_nothing_was_left_to_train():
    events = [(0, 0, None, "relu-32", np.nan, 0.0, 100, 0.0, True),
              (1000, 4, "relu-32", "tanh-32", 1.0, 0.0, 100, 0.9, False)]  # at the last step (steps=1000)
    runs = [make_run("random", 0, [0.2, 0.8, 0.8, 0.1], events=events), make_run("nas", 0, [0.2, 0.8, 0.8, 0.8])]
    t = analysis.last_step_changes(runs)  # final_evals = 2: the last evaluation and the one before
    assert t.loc["random", "changed at the last step"] == 1 and t.loc["nas", "changed at the last step"] == 0
    assert t.loc["random", "last evaluation"] == pytest.approx(0.1)
    assert t.loc["random", "the other final evaluations"] == pytest.approx(0.8)


def test_uniform_draw_expectation_is_the_mean_of_architecture_means():
    from nasdqn.analysis import uniform_draw_expectation

    sweep = pd.DataFrame({"method": ["a", "a", "b", "b", "b"], "auc": [0.2, 0.4, 0.9, 1.0, 1.1]})
    point, low, high = uniform_draw_expectation(sweep, "auc")
    assert point == pytest.approx((0.3 + 1.0) / 2)  # not the mean of the five runs (0.72)
    se = np.sqrt(0.02 / 2 + 0.01 / 3) / 2
    assert (low, high) == pytest.approx((point - 1.96 * se, point + 1.96 * se))


def test_task_hindsight_ranks_each_task_by_auc_with_top_quarter_probabilities():
    rows = []
    for env, best in (("A-v0", "tanh-32"), ("B-v0", "relu-64")):
        for k, arch in enumerate(["tanh-32", "relu-64", "relu-32", "tanh-64", "relu-128"]):
            for seed in range(3):
                auc = (1.0 if arch == best else 0.5 - 0.05 * k) + 0.01 * seed
                rows.append({"env": env, "method": f"fixed:{arch}", "seed": seed, "auc": auc, "final_score": auc,
                             "sec_per_step": 0.001, "steps": 1000})
    t = analysis.task_hindsight(pd.DataFrame(rows))
    for env, best in (("A-v0", "tanh-32"), ("B-v0", "relu-64")):
        task = t[t["env"] == env].set_index("arch")
        assert task["rank"].idxmin() == best and sorted(task["rank"]) == [1, 2, 3, 4, 5]
        assert task["top_quarter"].sum() == 2  # ceil(5 / 4)
        assert task.loc[best, "p_top_quarter"] == 1.0  # far ahead in every resample
        assert task.loc["relu-128", "p_top_quarter"] == 0.0
        assert task["cpu_seconds"].sum() == pytest.approx(5 * 3 * 1.0)


def test_collapsed_sweep_runs_gives_each_collapsed_run_its_rank_with_that_run_left_out():
    rows = []
    for env in ("A-v0", "B-v0"):
        for k, arch in enumerate(["tanh-32", "relu-64", "relu-32", "tanh-64"]):
            for seed in range(3):
                auc = 0.9 - 0.1 * k
                if (env, arch, seed) == ("A-v0", "tanh-32", 2):
                    auc = -0.7  # the best architecture's collapsed seed drags its mean to last
                rows.append({"env": env, "method": f"fixed:{arch}", "seed": seed, "auc": auc,
                             "final_score": auc, "sec_per_step": 0.001, "steps": 1000})
    sweep = pd.DataFrame(rows)
    ranked = analysis.task_hindsight(sweep).set_index(["env", "arch"])["rank"]
    assert ranked[("A-v0", "tanh-32")] == 4
    out = analysis.collapsed_sweep_runs(sweep)
    assert out[["env", "arch", "seed", "rank_without", "ranked"]].to_dict("records") == [
        {"env": "A-v0", "arch": "tanh-32", "seed": 2, "rank_without": 1, "ranked": 4}]
    assert out["auc"].tolist() == [pytest.approx(-0.7)]
    healthy = analysis.collapsed_sweep_runs(sweep[sweep["env"] == "B-v0"])
    assert healthy.empty and "rank_without" in healthy.columns


def test_selection_quality_counts_top_quarter_picks_and_tests_them_against_chance_and_the_control():
    archs = [f"relu-{w}" for w in (8, 16, 32, 64, 128, 256, 512, 1024)]  # quarter: the best 2
    ranking = pd.DataFrame({"rank": np.arange(1, 9), "auc": np.linspace(1, 0, 8)}, index=archs)
    picks = {"halving": archs[:2] * 4 + archs[:1] * 2, "halving-random": archs[::-1] + archs[:2]}
    table = pd.DataFrame([{"method": m, "seed": s, "final_arch": a} for m, p in picks.items()
                          for s, a in enumerate(p)])
    q = analysis.selection_quality(table, ranking, "halving", "halving-random")
    assert (q["quarter"], q["top"], q["seeds"], q["control_top"]) == (2, 10, 10, 4)
    assert q["ranks"][0] == 1 and q["ranks"][1] == 2 and q["control_ranks"][0] == 8
    assert q["binomial_p"] == pytest.approx(0.25**10) and q["fisher_p"] < 0.05 and q["met"]
    # Seven of ten is the target; six is not met, whatever the tests say.
    table.loc[(table["method"] == "halving") & (table["seed"] >= 6), "final_arch"] = archs[-1]
    q = analysis.selection_quality(table, ranking, "halving", "halving-random")
    assert q["top"] == 6 and not q["met"]


def test_the_paper_pendulum_joins_the_other_tasks_with_the_methods_both_ran(tmp_path, monkeypatch):
    from nasdqn import report

    monkeypatch.setenv("NASDQN_CACHE", str(tmp_path))
    levels = (("nas", 0.9), ("fixed-small", 0.2), ("random-freeze", 0.5))
    paper_runs = [make_run(m, s, [0.1, level]) for m, level in levels for s in range(3)]
    paper = report.load.Experiment("paper", paper_runs, [], analysis.run_metrics(paper_runs))
    other = pd.DataFrame({"env": ["A"] * 4, "method": ["nas", "nas", "fixed-small", "fixed-small"],
                          "final_score": [0.0, 0.1, 0.5, 0.6]})
    six = report.tasks.with_paper_task(report.load.Experiment("envs", [], [], other), paper)
    assert six.name == "envs+paper" and set(six.metrics["method"]) == {"nas", "fixed-small"}
    assert {r.config.method for r in six.runs} == {"nas", "fixed-small"} and len(six.runs) == 6
    assert six.metrics.groupby("env").size().to_dict() == {"A": 4, paper.metrics["env"].iloc[0]: 6}
    # nas loses every pair on A and wins every pair on the pendulum: 0.5 on average over the two tasks.
    text = report.tasks.across_tasks_text(six.metrics, "nas", ["fixed-small", "random-freeze"])
    assert "`fixed-small` 0.50 [0.50, 0.50]" in text and "2 tasks" in text
    assert "random-freeze" not in text  # the other grid never ran it: not a shared method
    assert report.tasks.with_paper_task(six, None) is six


def test_search_against_hindsight_per_task():
    def rows(env, method, values, arch="relu-32", seconds=1.0):
        return [{"env": env, "method": method, "seed": i, "auc": v, "final_score": v, "final_arch": arch,
                 "sec_per_step": seconds, "steps": 100} for i, v in enumerate(values)]

    # Task A's sweep: relu-64 best (0.9), then relu-32 (0.5), tanh-32 (0.3), tanh-64 (0.1); each run 100 s.
    sweep = pd.DataFrame(rows("A", "fixed:relu-64", [0.88, 0.9, 0.92]) + rows("A", "fixed:relu-32", [0.5, 0.5, 0.5])
                         + rows("A", "fixed:tanh-32", [0.3, 0.3, 0.3]) + rows("A", "fixed:tanh-64", [0.1, 0.1, 0.1]))
    table = pd.DataFrame(rows("A", "nas", [0.7, 0.7, 0.7], arch="relu-64", seconds=3.0)
                         + rows("A", "fixed-medium", [0.6, 0.6, 0.6])
                         + rows("B", "nas", [0.1, 0.2]))  # B has no sweep: left out
    out = analysis.search_against_hindsight(table, sweep, ["nas", "random"]).set_index(["env", "method"])
    r = out.loc[("A", "nas")]
    assert list(out.index) == [("A", "nas")] and r["hindsight_best"] == "relu-64"
    assert r["best_difference"] == pytest.approx(-0.2) and r["best_high"] < 0
    assert r["reference_difference"] == pytest.approx(0.1)
    # Every nas run deployed relu-64, the top quarter (1 of 4); one nas run (300 s) against the sweep, one
    # 100 s run of each of the 4 architectures (400 s).
    assert (r["top_quarter_runs"], r["runs"]) == (3, 3) and r["cost_share"] == pytest.approx(0.75)
    assert (r["deployed_median_rank"], r["swept"]) == (1.0, 4)


def test_search_choices_counts_deployed_architectures_per_task_and_method():
    table = pd.DataFrame({
        "env": ["B", "B", "B", "A", "A", "A"],
        "method": ["nas", "nas", "nas", "nas", "halving", "fixed-medium"],
        "final_arch": ["relu-64", "tanh-32", "relu-64", "relu-32", "tanh-32", "relu-64x64"],
        "switches": [4, 6, 5, 2, 3, 0], "breaking_switches": [1, 0, 0, 2, 0, 0]})
    out = analysis.search_choices(table, ["halving", "nas", "random"])
    assert list(out.index) == [("B", "nas"), ("A", "halving"), ("A", "nas")]  # task order kept; no random runs
    assert out.loc[("B", "nas"), "final_architectures"] == "relu-64 x2, tanh-32 x1"
    assert out.loc[("B", "nas"), ["switches_mean", "breaking_switches_mean"]].tolist() == [5.0, 0.3]
    assert analysis.search_choices(table, ["random"]).empty


def test_the_top_quarter_is_a_ceiling_of_a_quarter_and_never_empty():
    from nasdqn.analysis import top_quarter_size

    assert [top_quarter_size(n) for n in (24, 25, 4, 3, 1)] == [6, 7, 1, 1, 1]


def test_a_deployed_rank_is_the_hindsight_rank_of_the_final_architecture():
    from nasdqn.analysis import deployed_ranks

    ranking = pd.DataFrame({"rank": [1, 2, 3]}, index=pd.Index(["tanh-64", "relu-32", "relu-64"], name="arch"))
    ranks = deployed_ranks(pd.Series(["relu-64", "tanh-64", "relu-999"]), ranking)
    assert ranks.iloc[:2].tolist() == [3, 1] and np.isnan(ranks.iloc[2])


def test_the_sweep_a_cost_share_is_measured_against_is_one_run_of_each_architecture():
    from nasdqn.analysis import sweep_cpu_seconds

    sweep = pd.DataFrame({"env": ["A"] * 4 + ["B"], "method": ["fixed:x", "fixed:x", "fixed:y", "fixed:y", "fixed:x"],
                          "sec_per_step": [1.0, 3.0, 0.5, 0.5, 2.0], "steps": [10, 10, 10, 10, 100]})
    assert sweep_cpu_seconds(sweep).to_dict() == {"A": 25.0, "B": 200.0}  # A: mean 20 (x) + mean 5 (y)
