"""Across-run statistics. Bootstrap intervals come from scipy.stats.bootstrap (rliable does not
import with pandas 3, see DESIGN.md); what is built on top of it is tested against hand-computed values."""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


def stratified_bootstrap_ci(groups: Sequence[np.ndarray], statistic: Callable[[np.ndarray], float] = iqm,
                            confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
                            ) -> tuple[float, float, float]:
    """Point and CI of `statistic` over the pooled runs of several tasks, resampling runs within each
    task (stratified bootstrap, Agarwal et al. 2021): each task keeps its number of runs."""
    groups = [np.asarray(g, dtype=float) for g in groups]
    point = float(statistic(np.concatenate(groups)))
    if all(len(g) < 2 for g in groups):
        return point, point, point

    # A one-run task resamples to itself; scipy refuses such a sample, so it joins every resample as a constant.
    singles = np.concatenate([g for g in groups if len(g) < 2] or [np.empty(0)])
    varying = tuple(g for g in groups if len(g) >= 2)

    def pooled(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        constant = np.broadcast_to(singles, samples[0].shape[:-1] + singles.shape)
        return statistic(np.concatenate([*samples, constant], axis=-1), axis=-1)

    res = sps.bootstrap(varying, pooled, confidence_level=confidence, n_resamples=n_resamples,
                        method="percentile", vectorized=True, paired=False, rng=np.random.default_rng(seed))
    low, high = res.confidence_interval
    return point, float(min(low, point)), float(max(high, point))


def across_tasks_ci(tasks: Sequence[Sequence[np.ndarray]], per_task: Callable[..., np.ndarray],
                    confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
                    ) -> tuple[float, float, float]:
    """The mean over tasks of `per_task(*arms, axis=-1)`, every task weighing the same whatever its
    number of runs, with a stratified-bootstrap CI: each arm of each task resampled on its own. `tasks`
    holds one tuple of arms per task (one array per method compared), all tasks with the same arity."""
    tasks = [tuple(np.asarray(a, dtype=float) for a in arms) for arms in tasks]
    arity = {len(arms) for arms in tasks}
    if len(arity) != 1 or not tasks:
        raise ValueError(f"every task needs the same number of arms, got {sorted(arity)}")
    k = arity.pop()
    point = float(np.mean([per_task(*arms, axis=-1) for arms in tasks]))
    flat = tuple(a for arms in tasks for a in arms)
    if all(len(a) < 2 for a in flat):
        return point, point, point

    def across(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean([per_task(*samples[i:i + k], axis=axis) for i in range(0, len(samples), k)], axis=0)

    res = sps.bootstrap(flat, across, confidence_level=confidence, n_resamples=n_resamples, method="percentile",
                        vectorized=True, paired=False, rng=np.random.default_rng(seed))
    low, high = res.confidence_interval
    return point, float(min(low, point)), float(max(high, point))


def performance_profile(groups: Sequence[np.ndarray], taus: np.ndarray, confidence: float = 0.95,
                        n_resamples: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score distribution (Agarwal et al. 2021): for each threshold tau, the fraction of runs whose
    score exceeds tau, averaged over the tasks (so that a task with more seeds weighs no more; with
    equal counts it is the pooled fraction), with stratified-bootstrap CIs."""
    taus = np.asarray(taus, dtype=float)
    out = np.empty((3, len(taus)))
    for i, tau in enumerate(taus):
        def above(values: np.ndarray, axis: int = -1, tau: float = tau) -> np.ndarray:
            return (values > tau).mean(axis=axis)

        out[:, i] = across_tasks_ci([(g,) for g in groups], above, confidence, n_resamples, seed)
    return out[0], out[1], out[2]


def top_k_probability(groups: dict[str, np.ndarray], k: int, n_resamples: int = 2000, seed: int = 0
                      ) -> dict[str, float]:
    """For each group (e.g. an architecture's runs), the bootstrap probability that its mean is among
    the `k` highest: every resample redraws each group's runs with replacement, within the group.
    Ties at the k-th place count for every group tied there."""
    rng = np.random.default_rng(seed)
    names = list(groups)
    values = [np.asarray(groups[n], dtype=float) for n in names]
    means = np.stack([v[rng.integers(len(v), size=(n_resamples, len(v)))].mean(axis=1) for v in values], axis=1)
    kth = np.sort(means, axis=1)[:, -k][:, None]
    return dict(zip(names, (means >= kth).mean(axis=0).tolist(), strict=True))


def _improvement(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """P(A > B) + P(A = B) / 2 over all pairs of `a`'s and `b`'s runs along `axis` (vectorised)."""
    a, b = np.moveaxis(a, axis, -1)[..., :, None], np.moveaxis(b, axis, -1)[..., None, :]
    return ((a > b) + 0.5 * (a == b)).mean(axis=(-2, -1))


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) + P(X = Y) / 2 for a run X of one method and a run Y of another (Agarwal et al. 2021):
    the Mann-Whitney U statistic over all pairs, divided by their number."""
    return float(_improvement(np.asarray(x, dtype=float), np.asarray(y, dtype=float)))


def probability_of_improvement_ci(x: np.ndarray, y: np.ndarray, confidence: float = 0.95, n_resamples: int = 2000,
                                  seed: int = 0) -> tuple[float, float, float]:
    """Probability of improvement with a bootstrap CI (runs of each method resampled separately)."""
    return across_tasks_ci([(x, y)], _improvement, confidence, n_resamples, seed)


def average_probability_of_improvement_ci(treated: Sequence[np.ndarray], reference: Sequence[np.ndarray],
                                          confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
                                          ) -> tuple[float, float, float]:
    """Agarwal et al.'s average probability of improvement: the mean over tasks of each task's P(X > Y),
    with a stratified-bootstrap CI (each task's runs of each method resampled separately)."""
    if len(treated) != len(reference):
        raise ValueError(f"need one reference group per treated group, got {len(treated)} and {len(reference)}")
    return across_tasks_ci(list(zip(treated, reference, strict=True)), _improvement, confidence, n_resamples, seed)


def mean_difference_ci(x: np.ndarray, y: np.ndarray, confidence: float = 0.95, n_resamples: int = 2000,
                       seed: int = 0) -> tuple[float, float, float]:
    """mean(x) - mean(y) with a bootstrap CI (each method's runs resampled separately): the one-task
    case of `stratified_difference_ci`."""
    return stratified_difference_ci([x], [y], confidence, n_resamples, seed)


def stratified_difference_ci(treated: Sequence[np.ndarray], reference: Sequence[np.ndarray], confidence: float = 0.95,
                             n_resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """The mean over tasks of mean(treated) - mean(reference) within each task (every task weighs the
    same), with a stratified-bootstrap CI: each task's runs of each arm resampled separately."""
    treated = [np.asarray(g, dtype=float) for g in treated]
    reference = [np.asarray(g, dtype=float) for g in reference]
    if len(treated) != len(reference) or not treated:
        raise ValueError(f"need one reference group per treated group, got {len(treated)} and {len(reference)}")
    k = len(treated)
    point = float(np.mean([t.mean() - r.mean() for t, r in zip(treated, reference, strict=True)]))

    def across(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean([t.mean(axis=axis) - r.mean(axis=axis) for t, r in zip(samples[:k], samples[k:], strict=True)],
                       axis=0)

    res = sps.bootstrap((*treated, *reference), across, confidence_level=confidence, n_resamples=n_resamples,
                        method="percentile", vectorized=True, paired=False, rng=np.random.default_rng(seed))
    low, high = res.confidence_interval
    return point, float(min(low, point)), float(max(high, point))


def t_ci(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean with Student's t interval: for cells of a few seeds, where a bootstrap interval is too
    narrow (it cannot reach beyond the values seen)."""
    v = np.asarray(values, dtype=float)
    mean = float(v.mean())
    if len(v) < 2 or np.allclose(v, v[0]):
        return mean, mean, mean
    low, high = sps.t.interval(confidence, len(v) - 1, loc=mean, scale=sps.sem(v))
    return mean, float(low), float(high)


def prediction_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Student's t interval for one new draw from the population `values` were drawn from:
    mean +/- t * s * sqrt(1 + 1/n). It judges a single regenerated run against the committed seeds,
    where a difference-of-means interval needs two seeds on each side."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        raise ValueError(f"a prediction interval needs at least 2 values, got {len(v)}")
    half = sps.t.ppf(0.5 + confidence / 2, len(v) - 1) * v.std(ddof=1) * np.sqrt(1 + 1 / len(v))
    return float(v.mean() - half), float(v.mean() + half)


def welch_difference_ci(x: np.ndarray, y: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """mean(x) - mean(y) with Welch's t interval (unequal variances, Welch-Satterthwaite degrees of
    freedom); the interval of the test `welch_p` makes."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    diff = float(x.mean() - y.mean())
    if np.allclose(x, x[0]) and np.allclose(y, y[0]):
        return diff, diff, diff
    ci = sps.ttest_ind(x, y, equal_var=False).confidence_interval(confidence)
    return diff, float(ci.low), float(ci.high)


def minimum_detectable_effect(x: np.ndarray, y: np.ndarray, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true difference of means that a two-sided Welch test at `alpha` would detect with
    probability `power`, at these samples' sizes and standard deviations: (t_{1-alpha/2} + t_power) x
    the standard error, on Welch-Satterthwaite degrees of freedom. What a `matches` or `ties` could
    have missed."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = float(np.sqrt(vx + vy))
    if se == 0:
        return 0.0
    dof = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    return float((sps.t.ppf(1 - alpha / 2, dof) + sps.t.ppf(power, dof)) * se)


def tost_p(x: np.ndarray, y: np.ndarray, margin: float) -> float:
    """Two one-sided Welch tests of equivalence: the p-value for "mean(x) - mean(y) lies within
    (-margin, margin)" (small when the difference is shown to be inside the margin)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if np.allclose(x, x[0]) and np.allclose(y, y[0]):  # no variance: equivalent exactly when inside
        return 0.0 if abs(x[0] - y[0]) < margin else 1.0
    lower = sps.ttest_ind(x + margin, y, equal_var=False, alternative="greater").pvalue
    upper = sps.ttest_ind(x - margin, y, equal_var=False, alternative="less").pvalue
    return float(max(lower, upper))


def welch_p(x: np.ndarray, y: np.ndarray, alternative: str = "two-sided") -> float:
    """Welch's t-test (unequal variances) p-value."""
    return float(sps.ttest_ind(x, y, equal_var=False, alternative=alternative).pvalue)


def mann_whitney_p(x: np.ndarray, y: np.ndarray, alternative: str = "two-sided") -> float:
    """Mann-Whitney U test p-value (exact for small samples without ties)."""
    return float(sps.mannwhitneyu(x, y, alternative=alternative).pvalue)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values: the k-th smallest is multiplied by (m - k + 1), made
    non-decreasing in that order, and capped at 1. Reject where adjusted p <= alpha."""
    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    order = np.argsort(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p[i])
        adjusted[i] = min(1.0, running)
    return adjusted
