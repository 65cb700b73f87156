"""Per-run metrics. Each definition is written once here and quoted by the book's methods chapter.

Curves are a run's evaluation curve: the mean greedy return over the fixed evaluation starts at each
evaluation step, usually normalised ((R - R_random) / (R_reference - R_random)).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Defaults of the definitions below; the methods chapter quotes them from here.
THRESHOLD = 0.8  # steps to threshold: the normalised score the prototype's good networks reach by ~25k steps
SMOOTH = 3  # evaluations in the moving average used for thresholds and convergence
BAND = 0.05  # convergence: within this much (normalised) of the final level
FINAL_FRACTION = 0.5  # stability: the final half of the run
CVAR_ALPHA = 0.1  # short-term risk: mean of the worst 10% of evaluation-to-evaluation changes
EARLY_FRACTION = 0.5  # early learning (controller transfer): the first half of the budget


def eval_curve(evals: pd.DataFrame) -> pd.Series:
    """Mean greedy return per evaluation step (over the fixed evaluation starts)."""
    return evals.groupby("step")["return"].mean()


def final_performance(evals: pd.DataFrame, last: int = 5) -> float:
    """Mean greedy return over the last `last` evaluations of the run (greedy returns oscillate
    between evaluations, so a single final evaluation would be a noisy score)."""
    return float(eval_curve(evals).iloc[-last:].mean())


def final_training_return(episodes: pd.DataFrame, budget: int, fraction: float = 0.1) -> float:
    """Mean return of the training episodes (exploring, network changing at every update) that end in
    the last `fraction` of the budget: what training-curve benchmarks report, beside the greedy score."""
    late = episodes.loc[episodes["step"] > (1 - fraction) * budget, "return"]
    return float(late.mean()) if len(late) else float("nan")


def normalised(value, random_return: float, reference_return: float):
    """(R - R_random) / (R_reference - R_random): 0 is a uniform random policy, 1 the reference."""
    return (value - random_return) / (reference_return - random_return)


def smoothed(curve: np.ndarray, k: int = SMOOTH) -> np.ndarray:
    """Trailing moving average over `k` evaluations (shorter at the start)."""
    c = np.cumsum(np.insert(np.asarray(curve, dtype=float), 0, 0.0))
    n = np.minimum(np.arange(1, len(curve) + 1), k)
    idx = np.arange(1, len(curve) + 1)
    return (c[idx] - c[idx - n]) / n


def area_under_curve(steps: np.ndarray, curve: np.ndarray) -> float:
    """Sample efficiency: the area under the curve from the first to the last evaluation, by the
    trapezoid rule, divided by that span: the curve's average level over training (1 = the
    reference from the start)."""
    steps, curve = np.asarray(steps, dtype=float), np.asarray(curve, dtype=float)
    if len(steps) < 2:
        return float(curve.mean())
    return float(np.trapezoid(curve, steps) / (steps[-1] - steps[0]))


def early_area(steps: np.ndarray, curve: np.ndarray, budget: int, fraction: float = EARLY_FRACTION) -> float:
    """Early learning: `area_under_curve` over the evaluations made within the first `fraction` of
    the `budget` (environment steps)."""
    steps, curve = np.asarray(steps, dtype=float), np.asarray(curve, dtype=float)
    early = steps <= fraction * budget
    return area_under_curve(steps[early], curve[early]) if early.any() else float("nan")


def steps_to_threshold(steps: np.ndarray, curve: np.ndarray, threshold: float = THRESHOLD, k: int = SMOOTH) -> float:
    """The first evaluation step at which the `k`-evaluation moving average reaches `threshold`;
    NaN if it never does."""
    hit = np.flatnonzero(smoothed(curve, k) >= threshold)
    return float(np.asarray(steps)[hit[0]]) if len(hit) else float("nan")


def convergence_step(steps: np.ndarray, curve: np.ndarray, final: float, band: float = BAND, k: int = SMOOTH) -> float:
    """The first evaluation step from which the `k`-evaluation moving average stays within `band`
    of the run's final level `final` until the end."""
    outside = np.flatnonzero(np.abs(smoothed(curve, k) - final) > band)
    steps = np.asarray(steps)
    if len(outside) == 0:
        return float(steps[0])
    if outside[-1] == len(steps) - 1:
        return float("nan")  # it ends outside its own band (final level from a different window)
    return float(steps[outside[-1] + 1])


def final_window(curve: np.ndarray, fraction: float = FINAL_FRACTION) -> np.ndarray:
    curve = np.asarray(curve, dtype=float)
    return curve[int(len(curve) * (1 - fraction)):]


def within_run_dispersion(curve: np.ndarray, fraction: float = FINAL_FRACTION) -> float:
    """Stability within a run (after Chan et al. 2020): the interquartile range of the curve's
    evaluation-to-evaluation changes (differencing removes the trend) over the final window."""
    d = np.diff(final_window(curve, fraction))
    if len(d) == 0:
        return float("nan")
    q75, q25 = np.percentile(d, [75, 25])
    return float(q75 - q25)


def short_term_risk(curve: np.ndarray, fraction: float = FINAL_FRACTION, alpha: float = CVAR_ALPHA) -> float:
    """Short-term risk (after Chan et al. 2020): the CVaR of the evaluation-to-evaluation changes over
    the final window: the mean of the worst `alpha` share of them (at least one), as a positive drop
    size (larger is riskier)."""
    d = np.sort(np.diff(final_window(curve, fraction)))
    if len(d) == 0:
        return float("nan")
    worst = d[: max(1, int(np.ceil(alpha * len(d))))]
    return float(-worst.mean())


def across_run_dispersion(levels: np.ndarray) -> float:
    """Stability across runs: the interquartile range across seeds of a per-run level (the mean of
    each run's final window)."""
    q75, q25 = np.percentile(np.asarray(levels, dtype=float), [75, 25])
    return float(q75 - q25)


def seconds_per_step(timing: dict[str, float], steps: int) -> float:
    """Wall-clock seconds per environment step, everything included (learning, acting, evaluation,
    controller, morphing)."""
    return timing["total"] / steps


def search_share(timing: dict[str, float]) -> float:
    """The search's own cost: the share of wall time spent in the controller and in morphing."""
    return (timing.get("controller", 0.0) + timing.get("morph", 0.0)) / timing["total"]
