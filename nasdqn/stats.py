"""Across-run statistics. Bootstrap intervals come from scipy.stats.bootstrap (rliable does not
import with pandas 3, see DESIGN.md); what is built on top of it is tested against hand-computed values."""

from __future__ import annotations

import numpy as np
from scipy import stats as sps


def iqm(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """Interquartile mean (Agarwal et al. 2021): the mean of the middle 50% of values, by a 25%
    trimmed mean on each side."""
    return sps.trim_mean(np.asarray(values, dtype=float), 0.25, axis=axis)


def bootstrap_ci(values: np.ndarray, statistic=np.mean, confidence: float = 0.95, n_resamples: int = 2000,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point estimate and percentile-bootstrap CI of `statistic` over runs (axis 0), for every column.

    `values` is [runs] or [runs, k] (e.g. k evaluation steps). With fewer than 2 runs the interval
    is the point itself (nothing to resample).
    """
    values = np.asarray(values, dtype=float)
    point = np.asarray(statistic(values, axis=0))
    if values.shape[0] < 2:
        return point, point.copy(), point.copy()
    res = sps.bootstrap((values,), statistic, confidence_level=confidence, n_resamples=n_resamples,
                        method="percentile", axis=0, vectorized=True, rng=np.random.default_rng(seed))
    low, high = res.confidence_interval
    return point, np.minimum(low, point), np.maximum(high, point)
