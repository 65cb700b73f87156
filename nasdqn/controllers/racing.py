"""Racing: a population controller that cuts a candidate only on evidence, and its random control.

Successive halving cuts a fixed share at fixed steps, whatever the scores say; where every candidate
still sits at the task's floor (MountainCar at -200) it cuts at random. Racing compares candidates on
paired validation returns instead: every alive candidate is scored on the same validation starts at
the same step, so the leader's and a rival's returns on start j differ by their networks alone. At
each checkpoint a rival is cut when it is beaten at each of the last `RECENT_EVALUATIONS`
evaluations: at each, a one-sided paired t bound over the starts (the mean of leader - rival, minus
t(confidence') * sd / sqrt(n), with the confidence Bonferroni-corrected over the rivals) is above
zero. One evaluation is not enough: a DQN's greedy policy churns from one evaluation to the next, so
a gap on every start at one step says little about the next (a first version that cut on one
evaluation, tried on tuning seeds 200-201, cut 6 of 8 CartPole candidates at its first checkpoint).
Candidates tied on every start (all at a floor) are never cut, and one whose returns went
non-finite (it diverged) is cut at once.

The leader (the candidate rivals are compared with, and the one deployed) is the best by `score`:
`auc`, the mean of all its validation scores so far (an estimate of its area under the curve to
date, the metric the hindsight ranking uses), or `recent`, the mean of its last
`RECENT_EVALUATIONS`. The default, `auc`, was chosen on tuning seeds 200-201 (CartPole, Acrobot,
MountainCar) by replaying the deadline's pick on the saved validation scores: it changed 2 of the 6
picks, one from hindsight rank 8 to rank 2 (AUC regret 0.21 to 0.02), one from rank 7 to 9 (0.04 to
0.05).

The deadline: by step `deadline`, one candidate must be left to train alone for the rest of the
budget. The rule then keeps the leader; when no candidate has separated (all tied), that is the
first alive candidate in the population's order, which is the prior's (the candidates come ranked
by their mean normalised AUC on the other tasks, `nasdqn.analysis.prior_order`): without evidence
from this task, the other tasks' best guess.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from nasdqn.controllers.base import Returns, Scores
from nasdqn.controllers.halving import RECENT_EVALUATIONS, SCORES


class RacingController:
    """Paired-evidence elimination at `checkpoints`, one survivor by `deadline` (the last checkpoint).
    Ties go to the candidate listed first in `alive` (the population's, i.e. the prior's, order)."""

    def __init__(self, checkpoints: Sequence[int], confidence: float, score: str = "auc") -> None:
        if not checkpoints or not 0 < confidence < 1 or score not in SCORES:
            raise ValueError(f"racing needs at least one checkpoint, a confidence in (0, 1) and a score in {SCORES}")
        self.checkpoints = tuple(sorted(set(checkpoints)))
        self.deadline = self.checkpoints[-1]
        self.confidence = confidence
        self.window = None if score == "auc" else RECENT_EVALUATIONS

    def leader(self, scores: Scores, alive: Sequence[str]) -> str:
        value = {a: float(np.mean(scores[a][-self.window:] if self.window else scores[a])) if len(scores[a])
                 else float("-inf") for a in alive}
        finite = [a for a in alive if np.isfinite(value[a])] or list(alive)
        return min(finite, key=lambda a: (-value[a] if np.isfinite(value[a]) else 0.0, alive.index(a)))

    def beaten(self, leader: np.ndarray, rival: np.ndarray, rivals: int) -> bool:
        """Whether the paired bound says `rival` is worse than `leader` (per-start returns)."""
        if not np.all(np.isfinite(rival)):
            return True
        d = leader - rival
        mean, n = float(d.mean()), len(d)
        if n < 2:
            return False
        sd = float(d.std(ddof=1))
        if sd == 0.0:
            return mean > 0.0  # the same gap on every start
        t = stats.t.ppf(1.0 - (1.0 - self.confidence) / max(1, rivals), n - 1)
        return mean - t * sd / np.sqrt(n) > 0.0

    def outclassed(self, leader: Sequence[np.ndarray], rival: Sequence[np.ndarray], rivals: int) -> bool:
        """Whether `rival` goes: diverged at its last evaluation, or beaten at each of the last
        `RECENT_EVALUATIONS` (per-start returns of each evaluation, oldest first)."""
        if len(rival) and not np.all(np.isfinite(rival[-1])):
            return True
        if len(rival) < RECENT_EVALUATIONS:
            return False
        return all(self.beaten(leader[-k], rival[-k], rivals) for k in range(1, RECENT_EVALUATIONS + 1))

    def survivors(self, step: int, scores: Scores, alive: Sequence[str], returns: Returns | None = None) -> list[str]:
        if returns is None:
            raise ValueError("racing compares candidates on their per-start validation returns: pass returns")
        if len(alive) <= 1 or step not in self.checkpoints:
            return list(alive)
        best = self.leader(scores, alive)
        if step >= self.deadline:
            return [best]
        return [a for a in alive if a == best or not self.outclassed(returns[best], returns[a], len(alive) - 1)]

    def deployed(self, scores: Scores, alive: Sequence[str], current: str | None) -> str:
        return self.leader(scores, alive)


class RandomRacingController(RacingController):
    """The same checkpoints and the same number of cuts as racing's rule makes on this run's own
    scores, but the candidates cut drawn uniformly at random: what the choice of *which* candidates
    to cut is worth. The deployed candidate is a random alive one, redrawn only when it is cut."""

    def __init__(self, checkpoints: Sequence[int], confidence: float, rng: np.random.Generator,
                 score: str = "auc") -> None:
        super().__init__(checkpoints, confidence, score)
        self.rng = rng

    def survivors(self, step: int, scores: Scores, alive: Sequence[str], returns: Returns | None = None) -> list[str]:
        kept = super().survivors(step, scores, alive, returns)
        if len(kept) == len(alive):
            return kept
        return [alive[i] for i in sorted(self.rng.permutation(len(alive))[: len(kept)])]

    def deployed(self, scores: Scores, alive: Sequence[str], current: str | None) -> str:
        return current if current in alive else alive[int(self.rng.integers(len(alive)))]
