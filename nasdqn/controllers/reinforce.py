"""The REINFORCE controller (the design notes' starting design) and its trend-corrected reward."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nasdqn.controllers.base import Feedback
from nasdqn.search_space import Arch, SearchSpace, preserves_function


@dataclass
class TrendSignal:
    """The window's improvement over the previous window, minus the median recent improvement.

    Window returns rise with training whatever the network, so crediting an architecture with its
    raw score rewards whichever one happened to be in use when learning took off. This signal credits
    only progress beyond the common trend: an architecture that learns faster than the recent pace
    earns a positive reward in every window it is used; a change that breaks what was learned shows
    as a drop and is charged to the architecture that caused it. The median keeps one jump from
    shifting the trend.
    """

    window: int = 8
    scores: list[float] = field(default_factory=list)

    def __call__(self, score: float) -> float:
        self.scores.append(score)
        if len(self.scores) < 2:
            return 0.0
        diffs = np.diff(self.scores[-self.window - 2 :])
        trend = float(np.median(diffs[:-1])) if len(diffs) > 1 else 0.0
        return float(diffs[-1]) - trend


class LearnedController:
    """The NAS controller: a factorised categorical policy over the architecture decisions
    (depth, the width of each layer slot, activation), trained by REINFORCE with a moving baseline
    and a decaying entropy bonus (DESIGN.md's starting design).

    At each decision the policy itself picks the architecture for the next window among the current
    one and its neighbours (`moves="local"`, one edit away) or over the whole space (`"global"`),
    with probabilities proportional to the policy's; candidates whose change does not preserve the
    function pay `break_cost` in log-probability. There is no separate switching rule: the controller
    explores while its policy is uncertain and settles as the policy concentrates.

    The window's reward goes to the architecture that was in use: `signal="trend"` (`TrendSignal`,
    comparable across time) or `"raw"` (the score itself). Rewards are scaled by a running estimate
    of their spread so that `lr` does not depend on the score's units. Per-architecture cumulative
    feedback (count and mean reward) is kept in `stats`.
    """

    def __init__(self, space: SearchSpace, start: Arch, rng: np.random.Generator, *, lr: float = 0.5,
                 entropy: float = 0.05, baseline_rate: float = 0.2, break_cost: float = 1.0,
                 signal: str = "trend", moves: str = "local", cost_weight: float = 0.0,
                 sharpen: float = 3.0) -> None:
        self.space, self.start, self.rng = space, start, rng
        self.lr, self.entropy0, self.baseline_rate, self.break_cost = lr, entropy, baseline_rate, break_cost
        self.signal_kind, self.moves, self.cost_weight = signal, moves, cost_weight
        self.sharpen = sharpen
        # One width decision for a uniform space (all layers alike), else one per layer slot.
        self.width_slots = 1 if space.uniform else max(space.depths)
        self.logits = {
            "depth": np.zeros(len(space.depths)),
            "act": np.zeros(len(space.activations)),
            **{f"width{i}": np.zeros(len(space.widths)) for i in range(self.width_slots)},
        }
        self.baseline = 0.0
        self.spread = 0.0
        self.n_updates = 0
        self.stats: dict[str, list[float]] = {}  # arch -> [count, mean reward]
        self._signal = TrendSignal() if signal == "trend" else None
        self._last_entropy = self.entropy()

    # -- the policy -----------------------------------------------------------------------------
    @staticmethod
    def _softmax(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max())
        return e / e.sum()

    def _choices(self, arch: Arch) -> dict[str, int]:
        out = {"depth": self.space.depths.index(arch.depth), "act": self.space.activations.index(arch.activation)}
        for i, w in enumerate(arch.widths[: self.width_slots]):
            out[f"width{i}"] = self.space.widths.index(w)
        return out

    def _widths(self, depth: int, slot_choice: list[int]) -> tuple[int, ...]:
        return tuple(self.space.widths[slot_choice[min(i, self.width_slots - 1)]] for i in range(depth))

    def log_prob(self, arch: Arch) -> float:
        return float(sum(np.log(self._softmax(self.logits[k])[v]) for k, v in self._choices(arch).items()))

    def entropy(self) -> float:
        """Entropy of the policy over whole architectures (exact, by enumerating depths)."""
        def h(z: np.ndarray) -> float:
            p = self._softmax(z)
            return float(-(p * np.log(p + 1e-300)).sum())
        p_depth = self._softmax(self.logits["depth"])
        total = h(self.logits["depth"]) + h(self.logits["act"])
        for k, d in enumerate(self.space.depths):
            total += p_depth[k] * sum(h(self.logits[f"width{i}"]) for i in range(min(d, self.width_slots)))
        return total

    def mode(self) -> Arch:
        """The most probable architecture (exact: the best widths for each depth, then the best depth)."""
        best = [int(np.argmax(self.logits[f"width{i}"])) for i in range(self.width_slots)]
        act = self.space.activations[int(np.argmax(self.logits["act"]))]
        return max((Arch(self._widths(d, best), act) for d in self.space.depths), key=self.log_prob)

    def _sample(self) -> Arch:
        pick = {k: int(self.rng.choice(len(z), p=self._softmax(z))) for k, z in self.logits.items()}
        d = self.space.depths[pick["depth"]]
        slots = [pick[f"width{i}"] for i in range(self.width_slots)]
        return Arch(self._widths(d, slots), self.space.activations[pick["act"]])

    # -- learning ------------------------------------------------------------------------------
    def _reward(self, fb: Feedback) -> float:
        r = self._signal(fb.score) if self._signal is not None else fb.score
        if self.cost_weight and fb.n_params:
            r -= self.cost_weight * self.spread * math.log2(fb.n_params)
        return r

    def _update(self, arch: Arch, reward: float, progress: float) -> None:
        if self.n_updates == 0:
            self.baseline = reward
        advantage = reward - self.baseline
        # Normalise by a running mean absolute deviation so `lr` is in units of the signal's spread.
        # It starts at the first non-zero deviation: a fixed start (1.0) in the units of raw returns
        # made the first updates hundreds of times too large and the policy collapsed at once.
        if self.spread <= 0 and advantage != 0:
            self.spread = abs(advantage)
        self.spread += self.baseline_rate * (abs(advantage) - self.spread)
        scaled = advantage / max(self.spread, 1e-8)
        self.baseline += self.baseline_rate * advantage
        self.n_updates += 1
        beta = self.entropy0 * max(0.0, 1.0 - progress)
        for k, v in self._choices(arch).items():
            p = self._softmax(self.logits[k])
            grad_logp = -p
            grad_logp[v] += 1.0
            # Entropy gradient of a categorical: -p * (log p + H).
            grad_h = -p * (np.log(p + 1e-300) + float(-(p * np.log(p + 1e-300)).sum()))
            self.logits[k] += self.lr * (scaled * grad_logp + beta * grad_h)
        key = str(arch)
        count, mean = self.stats.get(key, [0.0, 0.0])
        self.stats[key] = [count + 1, mean + (reward - mean) / (count + 1)]

    def initial(self) -> Arch:
        return self.start

    def propose(self, feedback: Feedback) -> Arch | None:
        self._update(feedback.arch, self._reward(feedback), feedback.progress)
        self._last_entropy = self.entropy()
        current = feedback.arch
        if self.moves == "local":
            # The policy's mode is always a candidate, so that settling means settling on what the
            # policy learned, not on wherever the local walk happens to be.
            options = list(dict.fromkeys([current, *self.space.neighbours(current), self.mode()]))
        else:
            options = [current, self._sample()]
        logp = np.array([
            self.log_prob(a) - (0.0 if preserves_function(current, a) else self.break_cost) for a in options
        ])
        if self.moves == "global":  # a draw from the policy itself, unless the move is discouraged
            accept = np.log(self.rng.random()) < min(0.0, logp[1] - self.log_prob(options[1]))
            choice = options[1] if accept else current
        else:
            # Choices sharpen from the policy's own odds to (1 + sharpen) times their log at the end.
            inverse_temperature = 1.0 + self.sharpen * feedback.progress**2
            choice = options[int(self.rng.choice(len(options), p=self._softmax(logp * inverse_temperature)))]
        return None if choice == current else choice

    def diagnostics(self) -> dict[str, float]:
        return {"entropy": self._last_entropy, "baseline": self.baseline}

    # -- saving and transfer -------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "logits": {k: v.tolist() for k, v in self.logits.items()},
            "baseline": self.baseline,
            "spread": self.spread,
            "n_updates": self.n_updates,
            "stats": {k: list(v) for k, v in self.stats.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state["logits"].items():
            if k not in self.logits or len(v) != len(self.logits[k]):
                raise ValueError(f"controller state does not fit this search space (decision {k!r})")
            self.logits[k] = np.asarray(v, dtype=float)
        self.baseline = float(state["baseline"])
        self.spread = float(state["spread"])
        self.n_updates = int(state["n_updates"])
        self.stats = {k: list(v) for k, v in state["stats"].items()}
