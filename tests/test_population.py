import pytest
import torch

from nasdqn.config import RunConfig
from nasdqn.population import train_population
from nasdqn.search_space import Arch
from nasdqn.stacked import CandidateStack

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
