"""Successive halving's decision rule, and its random-selection control: which candidates of a
population (`nasdqn.population`) go on at each rung, and which one is deployed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nasdqn.controllers.base import Returns, Scores

SCORES = ("auc", "recent")  # what ranks candidates: the mean of all their evaluations, or of their last 3
RECENT_EVALUATIONS = 3


class HalvingController:
    """At rungs fixed in advance (`rungs`), keep the `keep` best candidates by their validation scores
    (`score`: `recent` or `auc`); the survivor of the last rung trains alone. The deployed candidate is
    the best so far by the same scores. Ties go to the candidate listed first in `alive` (the search
    space's order), so that the rule never depends on anything but the scores."""

    def __init__(self, rungs: Sequence[int], keep: Sequence[int], score: str = "recent") -> None:
        if len(rungs) != len(keep) or score not in SCORES:
            raise ValueError(f"halving needs one kept count per rung and a score in {SCORES}")
        self.checkpoints = tuple(rungs)
        self.keep = dict(zip(rungs, keep, strict=True))
        self.score = score

    def value(self, scores: Sequence[float]) -> float:
        return float(np.mean(scores if self.score == "auc" else scores[-RECENT_EVALUATIONS:]))

    def ranked(self, scores: Scores, alive: Sequence[str]) -> list[str]:
        """`alive`, best first."""
        value = {a: self.value(scores[a]) for a in alive}
        return sorted(alive, key=lambda a: (-value[a], alive.index(a)))

    def survivors(self, step: int, scores: Scores, alive: Sequence[str], returns: Returns | None = None) -> list[str]:
        return self.ranked(scores, alive)[: self.keep[step]] if step in self.keep else list(alive)

    def deployed(self, scores: Scores, alive: Sequence[str], current: str | None) -> str:
        return self.ranked(scores, alive)[0]


class RandomHalvingController(HalvingController):
    """The same rungs and counts, survivors drawn uniformly at random whatever the scores (ranking by
    scores shuffled across candidates would do the same, so this is also the score-permutation
    control). The deployed candidate is a random alive one, redrawn only when it is cut."""

    def __init__(self, rungs: Sequence[int], keep: Sequence[int], rng: np.random.Generator) -> None:
        super().__init__(rungs, keep)
        self.rng = rng

    def _draw(self, alive: Sequence[str], n: int) -> list[str]:
        return [alive[i] for i in self.rng.permutation(len(alive))[:n]]

    def survivors(self, step: int, scores: Scores, alive: Sequence[str], returns: Returns | None = None) -> list[str]:
        return self._draw(alive, self.keep[step]) if step in self.keep else list(alive)

    def deployed(self, scores: Scores, alive: Sequence[str], current: str | None) -> str:
        return current if current in alive else self._draw(alive, 1)[0]
