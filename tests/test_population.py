import numpy as np
import pandas as pd
import pytest
import torch

from nasdqn import analysis
from nasdqn.config import ConfigError, RunConfig
from nasdqn.records import TIMING_KEYS
from nasdqn.search_space import Arch
from nasdqn.stacked import CandidateStack
from nasdqn.train import train, train_population

TINY = RunConfig(steps=1500, learning_starts=200, eval_every=500, eval_episodes=3, horizon=100)
ARCHS = [Arch.parse("relu-32"), Arch.parse("tanh-64x64")]


def test_candidates_share_every_minibatch_take_turns_acting_and_are_scored_on_validation_starts(monkeypatch):
    seen: dict[int, list] = {}
    update = CandidateStack.update

    def recording(self, batch):
        seen.setdefault(id(self), []).append(batch.both.clone())
        return update(self, batch)

    monkeypatch.setattr(CandidateStack, "update", recording)
    result = train_population(TINY, ARCHS, validation_seed=TINY.eval_seed + 1)
    first, second = seen.values()
    assert len(first) == len(second) == TINY.steps - TINY.learning_starts
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))  # the same transitions
    c = result.candidates.set_index("arch")
    assert c["updates"].tolist() == [TINY.steps - TINY.learning_starts] * 2
    assert c["acting_steps"].sum() == TINY.steps and abs(c["acting_steps"].diff().iloc[-1]) <= TINY.horizon
    assert sorted(result.evals["step"].unique()) == [500, 1000, 1500]
    assert result.evals.groupby(["step", "arch"]).size().eq(TINY.eval_episodes).all()


def test_a_population_run_is_a_function_of_its_config_and_refuses_reporting_starts():
    a = train_population(TINY, ARCHS, validation_seed=7)
    b = train_population(TINY, ARCHS, validation_seed=7)
    assert a.evals.equals(b.evals)
    with pytest.raises(ValueError, match="validation_seed must differ"):
        train_population(TINY, ARCHS, validation_seed=TINY.eval_seed)
    with pytest.raises(ValueError, match="distinct"):
        train_population(TINY, [ARCHS[0], ARCHS[0]], validation_seed=7)


def test_a_holdout_scores_every_candidates_td_error_without_changing_the_training():
    plain = train_population(TINY, ARCHS, validation_seed=7)
    held = train_population(TINY, ARCHS, validation_seed=7, holdout=400)
    assert held.evals.equals(plain.evals) and plain.heldout.empty
    assert held.candidates["updates"].equals(plain.candidates["updates"])
    h = held.heldout
    assert sorted(h["step"].unique()) == [500, 1000, 1500] and h.groupby("step")["arch"].nunique().eq(2).all()
    assert set(h["arch"]) == {str(a) for a in ARCHS} and (h["td_error"] >= 0).all() and np.isfinite(h["td_error"]).all()


SMALL = TINY.replace(method="halving", depths=(1,), widths=(32, 64), activations=("relu", "tanh"),
                     halving_rungs=(500, 1000), halving_keep=(2, 1))


def test_halving_cuts_at_its_rungs_and_the_survivor_trains_alone_to_the_end():
    r = train(SMALL)
    c = pd.DataFrame(r.controller_state["candidates"]).set_index("arch")
    assert sorted(c["cut_at"].dropna().tolist()) == [500, 500, 1000]
    survivor = c.index[c["cut_at"].isna()].item()
    assert c.loc[survivor, "deployed"] and c["deployed"].sum() == 1
    trained = SMALL.steps - SMALL.learning_starts
    assert c.loc[survivor, "updates"] == trained
    for arch, cut in c["cut_at"].dropna().items():
        assert c.loc[arch, "updates"] == cut - SMALL.learning_starts  # no update after its cut
    assert c["acting_steps"].sum() == SMALL.steps
    # The reported curve follows the deployed candidate; the run ends on the survivor.
    assert r.evals["arch"].iloc[-1] == survivor == r.arch_events["to_arch"].iloc[-1]
    assert sorted(r.evals["step"].unique()) == [500, 1000, 1500]
    # Validation: every alive candidate at every evaluation up to the last cut (4 at 500, 2 at 1000),
    # none after it.
    assert r.controller_state["selection_episodes"] == (4 + 2) * SMALL.eval_episodes
    t = r.timing
    assert t["controller"] > 0 and t["learn"] > 0 and sum(t[k] for k in TIMING_KEYS) <= t["total"]
    spent = analysis.population_compute([r]).iloc[0]
    assert spent["deployed"] == survivor and spent["deployed_updates"] == trained
    ls = SMALL.learning_starts
    assert spent["candidate_updates"] == c["updates"].sum() == trained + 2 * (500 - ls) + (1000 - ls)
    assert 0 < spent["search_share"] < 1 and spent["selection_episodes"] == 6 * SMALL.eval_episodes


def test_halving_keeps_the_best_by_validation_score_and_its_random_control_ignores_scores():
    from nasdqn.controllers import HalvingController, RandomHalvingController
    scores = {"a": [0.0, 1.0], "b": [5.0, 5.0], "c": [2.0, 9.0]}
    assert HalvingController((10,), (2,), "auc").survivors(10, scores, ["a", "b", "c"]) == ["c", "b"]  # 5.5, 5, .5
    recent = HalvingController((10,), (1,), "recent")
    assert recent.survivors(10, {"a": [9.0, 0.0, 0.0, 0.0], "b": [1.0]}, ["a", "b"]) == ["b"]
    flipped = {k: [-x for x in v] for k, v in scores.items()}
    picks = [RandomHalvingController((10,), (2,), np.random.default_rng(3)).survivors(10, s, ["a", "b", "c"])
             for s in (scores, flipped)]
    assert picks[0] == picks[1]
    random_run = train(SMALL.replace(method="halving-random"))
    c = pd.DataFrame(random_run.controller_state["candidates"])
    assert sorted(c["cut_at"].dropna().tolist()) == [500, 500, 1000]
    assert train(SMALL).evals.equals(train(SMALL).evals)  # a run is a function of its config


def test_halving_options_are_checked():
    for bad, match in [({"halving_rungs": (1000, 500)}, "increasing"), ({"halving_keep": (2, 2)}, "decrease to 1"),
                       ({"halving_keep": (1,)}, "one kept count per rung"), ({"halving_score": "best"}, "auc, recent"),
                       ({"selection_seed": SMALL.eval_seed}, "not eval_seed"),
                       ({"halving_rungs": (500, 1500)}, "before")]:
        with pytest.raises(ConfigError, match=match):
            SMALL.replace(**bad)
    with pytest.raises(ConfigError, match="fewer than the 4 candidates of the search space; allowed: 1..3"):
        SMALL.replace(halving_keep=(4, 1))
