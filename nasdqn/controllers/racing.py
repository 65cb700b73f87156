"""Racing: a population controller that cuts a candidate only on evidence, and its random control.

Successive halving cuts a fixed share at fixed steps, whatever the scores say; where every candidate
still sits at the task's floor (MountainCar at -200) it cuts at random. Racing compares candidates on
paired validation returns instead: every alive candidate is scored on the same validation starts at
the same step, so the leader's and a rival's returns on start j differ by their networks alone. At
each checkpoint a rival is cut when a one-sided paired t bound says it is worse than the leader: the
mean over the starts of (leader - rival), each start's return averaged over the last
`RECENT_EVALUATIONS` evaluations, minus t(confidence') * sd / sqrt(n) is above zero, with the
confidence Bonferroni-corrected over the rivals. Candidates tied on every start (all at a floor) are
never cut, and one whose scores went non-finite (it diverged) is cut at once.

The deadline: by step `deadline`, one candidate must be left to train alone for the rest of the
budget. The rule then keeps the leader by its recent mean validation score; when no candidate has
separated (all tied), that is the first alive candidate in the population's order, which is the
prior's (the candidates come ranked by their mean normalised AUC on the other tasks,
`nasdqn.analysis.prior_order`): without evidence from this task, the other tasks' best guess.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from nasdqn.controllers.base import Returns, Scores

RECENT_EVALUATIONS = 3


class RacingController:
    """Paired-evidence elimination at `checkpoints`, one survivor by `deadline` (the last checkpoint).
    Ties go to the candidate listed first in `alive` (the population's, i.e. the prior's, order)."""

    def __init__(self, checkpoints: Sequence[int], confidence: float) -> None:
        if not checkpoints or not 0 < confidence < 1:
            raise ValueError("racing needs at least one checkpoint and a confidence in (0, 1)")
        self.checkpoints = tuple(sorted(set(checkpoints)))
        self.deadline = self.checkpoints[-1]
        self.confidence = confidence

    @staticmethod
    def recent(returns: Sequence[np.ndarray]) -> np.ndarray:
        """Per validation start, the mean return of the last `RECENT_EVALUATIONS` evaluations."""
        return np.mean(returns[-RECENT_EVALUATIONS:], axis=0)

    def leader(self, scores: Scores, alive: Sequence[str]) -> str:
        value = {a: _recent_mean(scores[a]) for a in alive}
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

    def ranked_survivors(self, step: int, scores: Scores, alive: Sequence[str], returns: Returns) -> list[str]:
        if len(alive) <= 1 or step not in self.checkpoints:
            return list(alive)
        best = self.leader(scores, alive)
        if step >= self.deadline:
            return [best]
        lead = self.recent(returns[best])
        return [a for a in alive if a == best or not self.beaten(lead, self.recent(returns[a]), len(alive) - 1)]

    def survivors(self, step: int, scores: Scores, alive: Sequence[str], returns: Returns | None = None) -> list[str]:
        if returns is None:
            raise ValueError("racing compares candidates on their per-start validation returns: pass returns")
        return self.ranked_survivors(step, scores, alive, returns)

    def deployed(self, scores: Scores, alive: Sequence[str], current: str | None) -> str:
        return self.leader(scores, alive)


class RandomRacingController(RacingController):
    """The same checkpoints and the same number of cuts as racing's rule makes on this run's own
    scores, but the candidates cut drawn uniformly at random: what the choice of *which* candidates
    to cut is worth. The deployed candidate is a random alive one, redrawn only when it is cut."""

    def __init__(self, checkpoints: Sequence[int], confidence: float, rng: np.random.Generator) -> None:
        super().__init__(checkpoints, confidence)
        self.rng = rng

    def survivors(self, step: int, scores: Scores, alive: Sequence[str], returns: Returns | None = None) -> list[str]:
        kept = super().survivors(step, scores, alive, returns)
        if len(kept) == len(alive):
            return kept
        return [alive[i] for i in sorted(self.rng.permutation(len(alive))[: len(kept)])]

    def deployed(self, scores: Scores, alive: Sequence[str], current: str | None) -> str:
        return current if current in alive else alive[int(self.rng.integers(len(alive)))]


def _recent_mean(scores: Sequence[float]) -> float:
    return float(np.mean(scores[-RECENT_EVALUATIONS:])) if len(scores) else float("-inf")
