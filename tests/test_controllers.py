import math

import numpy as np
import pytest

from nasdqn.controllers import Feedback, FixedController, LearnedController, RandomController, TrendSignal
from nasdqn.search_space import Arch, SearchSpace

SPACE = SearchSpace()
START = Arch.parse("relu-32")


def quality(a: Arch) -> float:
    """A synthetic problem with one best architecture, relu-128x128, reachable by small edits."""
    return -sum(abs(math.log2(w) - 7) for w in a.widths) / a.depth - abs(a.depth - 2) - (a.activation == "tanh")


def run(controller, seed: int, windows: int = 100, noise: float = 0.3):
    rng = np.random.default_rng(1000 + seed)
    arch, switches = controller.initial(), []
    for w in range(windows):
        score = quality(arch) + noise * rng.standard_normal()
        new = controller.propose(Feedback(w * 10, w * 10, arch, score, 0, w / windows))
        if new is not None:
            arch = new
            switches.append(w)
    return arch, switches


def test_synthetic_problem_has_the_intended_best():
    assert max(SPACE.all(), key=quality) == Arch.parse("relu-128x128")


def test_learned_controller_finds_the_best_far_more_often_than_random_and_settles():
    best = Arch.parse("relu-128x128")
    learned = [run(LearnedController(SPACE, START, np.random.default_rng(s)), s) for s in range(30)]
    rand = [run(RandomController(SPACE, START, np.random.default_rng(s)), s) for s in range(30)]
    learned_hits = sum(a == best for a, _ in learned)
    random_hits = sum(a == best for a, _ in rand)
    assert learned_hits >= 10 and learned_hits >= 4 * max(random_hits, 1)
    # Nearly all learned runs end within one edit of the best; random ends anywhere.
    assert sum(quality(a) >= -1 for a, _ in learned) >= 27
    # It stops switching: in the last quarter, almost no changes (random changes every window).
    late = np.mean([sum(w >= 75 for w in sw) for _, sw in learned])
    assert late <= 1.0
    assert np.mean([sum(w >= 75 for w in sw) for _, sw in rand]) > 20


def test_fixed_controller_never_switches():
    arch, switches = run(FixedController(Arch.parse("relu-64x64")), 0)
    assert arch == Arch.parse("relu-64x64") and switches == []


def test_random_controller_draws_from_the_space_every_window():
    arch, switches = run(RandomController(SPACE, START, np.random.default_rng(0)), 0)
    assert len(switches) > 95 and SPACE.contains(arch)


def test_trend_signal_credits_progress_beyond_the_trend_not_the_level():
    sig = TrendSignal()
    rising = [sig(float(t)) for t in range(10)]  # steady progress, whatever the level: no credit
    assert rising[2:] == pytest.approx([0.0] * 8)
    assert sig(10.0 + 3.0) == pytest.approx(3.0)  # a jump beyond the trend is credited


def test_state_dict_round_trip_and_transfer():
    a = LearnedController(SPACE, START, np.random.default_rng(0))
    run(a, 0, windows=30)
    b = LearnedController(SPACE, START, np.random.default_rng(1))
    b.load_state_dict(a.state_dict())
    assert b.mode() == a.mode() and b.entropy() == pytest.approx(a.entropy())
    assert b.log_prob(Arch.parse("tanh-64x64")) == pytest.approx(a.log_prob(Arch.parse("tanh-64x64")))


def test_state_that_does_not_fit_the_space_is_refused():
    a = LearnedController(SPACE, START, np.random.default_rng(0))
    small = LearnedController(SearchSpace(widths=(32, 64)), START, np.random.default_rng(0))
    with pytest.raises(ValueError, match="does not fit"):
        small.load_state_dict(a.state_dict())


def test_entropy_is_exact_for_the_uniform_policy():
    c = LearnedController(SPACE, START, np.random.default_rng(0))
    # Uniform factorised policy: log 3 (depth) + log 2 (act) + E[depth] * log 4 (widths).
    assert c.entropy() == pytest.approx(math.log(3) + math.log(2) + 2 * math.log(4))
