"""Racing (`nasdqn.controllers.racing`): cuts only on paired evidence, never on ties, one survivor by the
deadline; its random control; the leave-one-task-out prior the candidates come ordered by."""

import numpy as np
import pandas as pd
import pytest

from nasdqn import analysis, methods
from nasdqn.config import RunConfig
from nasdqn.controllers.racing import RacingController, RandomRacingController
from nasdqn.train import train

ALIVE = ["a", "b", "c"]


def _evidence(per_start: dict[str, list[float]], evaluations: int = 3) -> tuple[dict, dict]:
    """Scores and per-start returns of `evaluations` evaluations per candidate, all alike."""
    returns = {a: [np.array(v, dtype=float)] * evaluations for a, v in per_start.items()}
    return {a: [float(np.mean(v))] * evaluations for a, v in per_start.items()}, returns


def test_candidates_tied_on_every_start_are_never_cut_before_the_deadline():
    rule = RacingController((10, 20, 30), 0.9)
    scores, returns = _evidence({a: [-200.0] * 10 for a in ALIVE})  # every candidate at the floor
    assert rule.survivors(10, scores, ALIVE, returns) == ALIVE
    assert rule.survivors(20, scores, ALIVE, returns) == ALIVE
    # At the deadline one is left: with no separation, the first in the population's (the prior's) order.
    assert rule.survivors(30, scores, ALIVE, returns) == ["a"]
    assert rule.survivors(30, scores, ["c", "b", "a"], returns) == ["c"]


def test_a_rival_is_cut_only_when_the_paired_bound_excludes_it():
    rule = RacingController((10, 20), 0.9)
    rng = np.random.default_rng(5)
    base = rng.normal(0.0, 50.0, 10)  # start difficulty: large, but shared by every candidate
    scores, returns = _evidence({"a": list(base + 10.0), "b": list(base + rng.normal(0.0, 1.0, 10)),
                                 "c": list(base + 10.0 + np.tile([1.0, -1.0], 5))})
    assert rule.survivors(10, scores, ALIVE, returns) == ["a", "c"]  # b is 10 below on every start; c level
    # Unpaired, b's gap (10) is a fifth of the starts' spread (50): a paired test is what sees it.
    noisy = {"a": list(base + 10.0), "b": list(base[::-1])}
    s2, r2 = _evidence(noisy)
    assert rule.survivors(10, s2, ["a", "b"], r2) == ["a", "b"]


def test_a_rival_must_be_beaten_at_each_of_the_last_three_evaluations():
    rule = RacingController((10, 20), 0.9)
    worse = {"a": [10.0] * 10, "b": [0.0] * 10}
    scores, returns = _evidence(worse, evaluations=2)
    assert rule.survivors(10, scores, ["a", "b"], returns) == ["a", "b"]  # too early to tell
    scores, returns = _evidence(worse, evaluations=3)
    assert rule.survivors(10, scores, ["a", "b"], returns) == ["a"]
    returns["b"] = [returns["a"][0], *returns["b"][1:]]  # level with the leader at the oldest of the three
    assert rule.survivors(10, scores, ["a", "b"], returns) == ["a", "b"]


def test_more_rivals_need_more_evidence_and_a_diverged_candidate_goes_at_once():
    gap = np.array([3.0, -1.0, 4.0, 0.5, 2.0, 1.0, 3.5, -0.5, 2.5, 1.5])  # mean 1.65, sd 1.6: t = 3.26
    lead = np.zeros(10)
    assert RacingController((10, 20), 0.99).beaten(lead + gap, lead, rivals=1)  # t(0.99, 9) = 2.82
    assert not RacingController((10, 20), 0.99).beaten(lead + gap, lead, rivals=5)  # t(0.998, 9) = 3.69
    scores, returns = _evidence({"a": [1.0] * 10, "b": [1.0] * 9 + [float("nan")], "c": [1.0] * 10}, evaluations=1)
    assert RacingController((10, 20), 0.9).survivors(10, scores, ALIVE, returns) == ["a", "c"]


def test_the_leader_is_the_best_by_its_score_and_is_deployed():
    rule = RacingController((10, 20), 0.9, score="recent")
    returns = {"a": [np.full(5, 9.0)] + [np.zeros(5)] * 3, "b": [np.full(5, 1.0) + 0.1 * np.arange(5)] * 4}
    scores = {k: [float(v.mean()) for v in vs] for k, vs in returns.items()}
    assert rule.deployed(scores, ["a", "b"], None) == "b"  # a's early lead is older than the last 3
    assert rule.survivors(10, scores, ["a", "b"], returns) == ["b"]
    with pytest.raises(ValueError, match="per-start validation returns"):
        rule.survivors(10, scores, ["a", "b"])
    by_auc = RacingController((10, 20), 0.9)  # the default: the mean of every evaluation so far
    assert by_auc.deployed(scores, ["a", "b"], None) == "a"  # 2.25 against 1.2: a's early lead counts
    assert by_auc.deployed({"a": [9.0, 0.0, 0.0, 0.0], "b": [3.0] * 4}, ["a", "b"], None) == "b"


def test_the_random_control_cuts_as_many_at_the_same_checkpoints_but_not_by_score():
    base = np.linspace(-50.0, 50.0, 10)
    per_start = {"a": base + 20.0, "b": base, "c": base - 20.0}
    scores, returns = _evidence({k: list(v) for k, v in per_start.items()})
    flipped_scores, flipped = _evidence({k: list(-v) for k, v in per_start.items()})
    kept = RacingController((10, 20), 0.9).survivors(10, scores, ALIVE, returns)
    assert kept == ["a"]
    draws = [RandomRacingController((10, 20), 0.9, np.random.default_rng(s)).survivors(10, scores, ALIVE, returns)
             for s in range(20)]
    assert all(len(d) == len(kept) for d in draws) and len({tuple(d) for d in draws}) > 1
    # Flipped scores cut c instead of a: the count is the rule's, who goes is the draw's.
    same_seed = RandomRacingController((10, 20), 0.9, np.random.default_rng(0))
    assert same_seed.survivors(10, flipped_scores, ALIVE, flipped) == draws[0]


def test_a_racing_run_starts_from_the_first_candidates_and_deploys_its_survivor():
    order = ("tanh-64", "relu-32", "relu-64", "tanh-32")
    config = RunConfig(method="racing", depths=(1,), widths=(32, 64), race_candidates=order, race_size=3,
                       race_deadline=0.5, steps=1200, learning_starts=100, eval_every=200, eval_episodes=3,
                       horizon=100)
    assert [str(a) for a in methods.race_candidates(config)] == list(order[:3])
    r = train(config)
    c = pd.DataFrame(r.controller_state["candidates"]).set_index("arch")
    assert list(c.index) == list(order[:3])
    survivor = c.index[c["cut_at"].isna()].tolist()
    assert len(survivor) == 1 and c.loc[survivor[0], "deployed"]
    assert c["cut_at"].dropna().max() <= 600  # one left by the deadline, 0.5 of 1200 steps
    assert r.evals[r.evals["step"] > 600]["arch"].unique().tolist() == survivor
    assert train(config).evals.equals(r.evals)  # a run is a function of its config
    control = train(config.replace(method="racing-random"))
    assert pd.DataFrame(control.controller_state["candidates"])["cut_at"].isna().sum() == 1
    cuts = analysis.population_compute([r, control]).set_index("method")
    assert (cuts["candidates"] == 3).all() and (cuts["cut_early"] + cuts["cut_last"] == 2).all()
    spent = c["updates"].sum() / c.loc[survivor[0], "updates"]
    assert cuts.loc["racing", "training_runs"] == pytest.approx(spent) and 1 < spent < 3


def test_the_prior_never_sees_the_task_it_orders():
    rows = [("T1", "fixed:relu-32", 0.9), ("T1", "fixed:tanh-32", 0.1), ("T2", "fixed:relu-32", 0.7),
            ("T2", "fixed:tanh-32", 0.2), ("T3", "fixed:relu-32", 0.0), ("T3", "fixed:tanh-32", 1.0)]
    sweep = pd.DataFrame(rows, columns=["env", "method", "auc"])
    assert analysis.prior_order(sweep, "T3") == ["relu-32", "tanh-32"]
    changed = sweep.assign(auc=np.where(sweep["env"] == "T3", -sweep["auc"], sweep["auc"]))
    assert analysis.prior_order(changed, "T3") == ["relu-32", "tanh-32"]  # its own scores do not move it
    assert analysis.prior_order(sweep, "T1") == ["tanh-32", "relu-32"]  # mean of (0.2, 1.0) > mean of (0.7, 0.0)
    with pytest.raises(ValueError, match="no sweep of a task other than"):
        analysis.prior_order(sweep[sweep["env"] == "T1"], "T1")


def test_every_racing_grid_orders_its_candidates_by_the_committed_prior():
    from nasdqn import REPO_ROOT
    from nasdqn.batch import load_grid
    from nasdqn.report.hindsight import prior_orders

    orders = prior_orders(REPO_ROOT / "data")
    checked = 0
    grids = [*(REPO_ROOT / "experiments").glob("*.yaml"), *(REPO_ROOT / "experiments" / "planned").glob("*.yaml")]
    for grid in sorted(grids):
        for cell in load_grid(grid)[1]:
            if cell.config.method in methods.of_family(methods.POPULATION) and cell.config.race_candidates:
                assert list(cell.config.race_candidates) == orders[cell.config.env], (grid.name, cell.config.env)
                checked += 1
    assert checked >= 6 * 2 * 10  # the reported grid's cells at least


def _metrics(env: str, method: str, seeds, auc, arch: str, cpu: float, steps: int = 1000) -> list[dict]:
    return [{"env": env, "method": method, "seed": s, "auc": a, "final_score": a, "final_arch": arch,
             "sec_per_step": cpu / steps, "steps": steps} for s, a in zip(seeds, auc, strict=True)]


def test_the_selection_report_ranks_what_each_seed_deployed_and_prices_it():
    # A sweep of 4 architectures (quarter: 1), seeds 100-101; racing deploys b, then a (the best).
    swept = (("a", 0.9, 10.0), ("b", 0.8, 20.0), ("c", 0.5, 30.0), ("d", 0.1, 40.0))
    sweep = pd.DataFrame([row for arch, auc, cpu in swept
                          for row in _metrics("T", f"fixed:{arch}", (100, 101), (auc, auc), arch, cpu)])
    table = pd.DataFrame(_metrics("T", "racing", (0,), (0.8,), "b", 50.0)
                         + _metrics("T", "racing", (1,), (0.9,), "a", 70.0)
                         + _metrics("T", "racing-random", (0, 1), (0.5, 0.1), "c", 60.0)
                         + _metrics("T", "fixed:b", (0, 1), (0.8, 0.8), "b", 20.0))
    report = analysis.selection_report(table, sweep, ["racing", "racing-random"], {"T": "fixed:b"}).set_index("method")
    mine = report.loc["racing"]
    assert mine["ranks"] == (2, 1) and mine["quarter"] == 1 and mine["top_quarter_runs"] == 1
    assert mine["regret"] == pytest.approx(-0.05) and mine["regret_low"] <= -0.05 <= mine["regret_high"]
    assert mine["cpu_seconds"] == pytest.approx(60.0) and mine["x_preset"] == pytest.approx(3.0)
    assert mine["sweep_share"] == pytest.approx(60.0 / 100.0)  # one seed of each architecture: 10+20+30+40
    targets = analysis.selection_targets(report.reset_index(), "racing", "racing-random", table).set_index("target")
    assert not targets["met"].iloc[0] and "missed: T 1/2" in targets["measured"].iloc[0]
    assert not targets["met"].iloc[1] and "T -0.050" in targets["measured"].iloc[1]
    assert targets["met"].iloc[2] and targets["measured"].iloc[2].startswith("T +0.550")
    assert targets["met"].iloc[3] and targets["measured"].iloc[3] == "largest 3.00x (T)"
    assert not targets["met"].iloc[4] and targets["measured"].iloc[4] == "largest 60.0% (T)"


def test_the_prior_alone_and_the_chapters_tables_and_answer_come_from_the_numbers():
    import matplotlib

    matplotlib.use("Agg")
    from nasdqn.report import selection

    rows = []
    for env, aucs in {"T1": (0.9, 0.5, 0.1, 0.3), "T2": (0.8, 0.6, 0.2, 0.9), "T3": (0.1, 0.9, 0.5, 0.4)}.items():
        for arch, auc in zip(("a", "b", "c", "d"), aucs, strict=True):
            rows += _metrics(env, f"fixed:{arch}", (100, 101), (auc, auc), arch, 10.0)
    sweep = pd.DataFrame(rows)
    picks = analysis.prior_picks(sweep, 2).set_index("env")
    # T3's prior: mean AUC on T1, T2: a 0.85, d 0.6, b 0.55, c 0.15; a is T3's worst (rank 4 of 4).
    assert picks.loc["T3", "first"] == "a" and picks.loc["T3", "rank"] == 4
    assert picks.loc["T3", "regret"] == pytest.approx(-0.8) and picks.loc["T3", "best_held_rank"] == 3
    assert picks.loc["T3", "top_quarter_held"] == 0 and picks.loc["T3", "quarter"] == 1
    table = pd.DataFrame(_metrics("T3", "racing", (0, 1), (0.9, 0.8), "b", 20.0)
                         + _metrics("T3", "racing-random", (0, 1), (0.4, 0.5), "c", 20.0)
                         + _metrics("T3", "preset network", (0, 1), (0.1, 0.1), "a", 10.0))
    by_task = analysis.selection_report(table, sweep, ["racing", "racing-random", "preset network"],
                                        {"T3": "preset network"})
    targets = analysis.selection_targets(by_task, "racing", "racing-random", table)
    shown = selection.selection_table(by_task)
    assert shown.loc[("T3", "racing"), "deployed ranks (seeds 0-9)"] == "1, 1"
    assert shown.loc[("T3", "racing"), "top quarter"] == "2 of 2"
    assert shown.loc[("T3", "racing"), "CPU, x preset network"] == "2.00"
    answer = selection.selection_answer(by_task, targets, ["T9"], baseline="racing-random")
    assert "T3 2/2 (`racing-random` 0/2)" in answer and "Not run yet: T9" in answer
    assert f"{int(targets['met'].sum())} are met" in answer
    fig = selection.plot_selection_by_task(by_task)
    assert len(fig.axes) == 2
    compute = pd.DataFrame({"env": ["T3"] * 2, "method": ["racing"] * 2, "training_runs": [2.0, 3.0],
                            "search_share": [0.5, 0.7]})
    # racing: 20 s a run against the preset's 10 s (2x, within 3x) but 50% of the sweep's 40 s (over 10%).
    assert selection.selection_cost_text(by_task, compute) == (
        "Where a CPU target is missed: on T3, a run cost 2.00x the preset network (20 s against 10 s) and 50.0% of "
        "the sweep: it made 2.50x the deployed network's updates, and the search (the other candidates' updates "
        "and the validation episodes) took 60% of its wall time.")
    assert selection.matched_text(table) == "The preset network given about a `racing` run's CPU has no runs yet."
    matched = pd.concat([table, pd.DataFrame(_metrics("T3", selection.MATCHED_PRESET, (0, 1), (0.7, 0.6), "a", 20.0))])
    assert selection.matched_text(matched).endswith(": T3 0.200 [0.100, 0.300].")  # 0.85 - 0.65; resampled 0.1..0.3
    cheap = by_task.assign(sweep_share=0.05)
    assert selection.selection_cost_text(cheap, compute) == "`racing` is within both CPU targets on every task run."
