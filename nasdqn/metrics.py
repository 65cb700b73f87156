"""Per-run metrics. Each definition is written once here and quoted by the book's methods chapter."""

from __future__ import annotations

import pandas as pd


def eval_curve(evals: pd.DataFrame) -> pd.Series:
    """Mean greedy return per evaluation step (over the fixed evaluation starts)."""
    return evals.groupby("step")["return"].mean()


def final_performance(evals: pd.DataFrame, last: int = 5) -> float:
    """Mean greedy return over the last `last` evaluations of the run (greedy returns oscillate
    between evaluations, so a single final evaluation would be a noisy score)."""
    return float(eval_curve(evals).iloc[-last:].mean())


def normalised(value: float, random_return: float, reference_return: float) -> float:
    """(R - R_random) / (R_reference - R_random): 0 is a uniform random policy, 1 the reference."""
    return (value - random_return) / (reference_return - random_return)
