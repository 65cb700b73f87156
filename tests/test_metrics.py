"""The metric and statistics definitions against hand-computed values."""

import numpy as np
import pytest

from nasdqn import metrics as m
from nasdqn import stats as st


def test_area_under_curve_is_the_average_level_by_trapezoids():
    steps = np.array([0, 10, 20])
    assert m.area_under_curve(steps, np.array([0.0, 1.0, 1.0])) == pytest.approx((5 + 10) / 20)
    assert m.area_under_curve(np.array([0, 5, 20]), np.array([0.0, 1.0, 1.0])) == pytest.approx((2.5 + 15) / 20)


def test_early_area_keeps_only_the_first_part_of_the_budget():
    steps, curve = np.array([0, 10, 20, 30, 40]), np.array([0.0, 1.0, 1.0, 0.0, 0.0])
    # Budget 40, first half: evaluations at 0, 10, 20 -> (5 + 10) / 20.
    assert m.early_area(steps, curve, 40) == pytest.approx(0.75)
    assert m.early_area(steps, curve, 40, fraction=1.0) == pytest.approx(m.area_under_curve(steps, curve))
    assert np.isnan(m.early_area(np.array([30, 40]), np.array([0.5, 0.5]), 40))


def test_smoothing_threshold_and_convergence():
    steps = np.arange(1, 9) * 100
    curve = np.array([0.0, 0.3, 0.9, 0.9, 0.6, 0.9, 0.95, 0.95])
    np.testing.assert_allclose(m.smoothed(curve)[:4], [0.0, 0.15, 0.4, 0.7])
    # Moving averages of 3: ..., (0.9+0.9+0.6)/3 = 0.8 at step 500 is the first >= 0.8.
    assert m.steps_to_threshold(steps, curve) == 500
    assert np.isnan(m.steps_to_threshold(steps, curve, threshold=0.99))
    # Smoothed tail: 0.8, 0.8, 0.8167, 0.9333; within 0.05 of 0.95 only at the last step.
    assert m.convergence_step(steps, curve, final=0.95) == 800
    assert m.convergence_step(steps, curve, final=0.9, band=0.1) == 500  # 0.7 at step 400 is the last outside
    assert np.isnan(m.convergence_step(steps, curve, final=0.8))  # ends outside the band of that level
    assert m.convergence_step(steps, np.full(8, 0.5), final=0.5) == 100


def test_stability_measures():
    curve = np.array([0, 0, 0, 0, 1.0, 0.8, 1.0, 0.6, 1.0, 1.0])  # final half: 0.8, 1.0, 0.6, 1.0, 1.0
    d = np.array([0.2, -0.4, 0.4, 0.0])
    q75, q25 = np.percentile(d, [75, 25])
    assert m.within_run_dispersion(curve) == pytest.approx(q75 - q25)
    assert m.short_term_risk(curve) == pytest.approx(0.4)  # worst 10% of 4 changes: the one drop of 0.4
    assert m.short_term_risk(curve, alpha=0.5) == pytest.approx(0.2)  # mean of -0.4 and 0.0
    assert m.within_run_dispersion(np.linspace(0, 1, 20)) == pytest.approx(0.0)  # a trend is not instability
    assert m.across_run_dispersion(np.array([1.0, 2.0, 3.0, 4.0, 5.0])) == pytest.approx(2.0)


def test_overhead_measures():
    timing = {"total": 100.0, "controller": 0.5, "morph": 1.5, "learn": 80.0}
    assert m.seconds_per_step(timing, 1000) == pytest.approx(0.1)
    assert m.search_share(timing) == pytest.approx(0.02)


def test_probability_of_improvement_by_hand():
    assert st.probability_of_improvement([1, 2, 3], [0, 0, 0]) == 1.0
    # Pairs (x, y): 2>1, 2=2, 2<3 -> (1 + 0.5 + 0) / 3.
    assert st.probability_of_improvement([2], [1, 2, 3]) == pytest.approx(0.5)
    x, y = np.arange(10.0), np.arange(10.0) - 3
    point, low, high = st.probability_of_improvement_ci(x, y)
    assert low <= point <= high and point == pytest.approx(st.probability_of_improvement(x, y))


def test_holm_by_hand():
    # Sorted 0.01, 0.02, 0.04 -> 3 * 0.01, 2 * 0.02, 1 * 0.04 = 0.03, 0.04, 0.04.
    np.testing.assert_allclose(st.holm([0.04, 0.01, 0.02]), [0.04, 0.03, 0.04])
    np.testing.assert_allclose(st.holm([0.5, 0.001]), [0.5, 0.002])
    np.testing.assert_allclose(st.holm([0.3, 0.2]), [0.4, 0.4])  # 2 * 0.2, then max(0.4, 0.3): monotone
    np.testing.assert_allclose(st.holm([0.9, 0.8]), [1.0, 1.0])  # capped at 1


def test_tests_separate_a_real_difference_from_none():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 0.2, 10), rng.normal(0.0, 0.2, 10)
    assert st.welch_p(a, b) < 1e-6 and st.mann_whitney_p(a, b) < 1e-3
    assert st.welch_p(a, a + 1e-3 * rng.normal(size=10)) > 0.5


def test_bootstrap_ci_covers_the_true_mean_near_its_nominal_level():
    """Coverage on synthetic data: 400 samples of 10 runs from a known skewed distribution. The
    percentile bootstrap is known to under-cover a little at n = 10 (about 0.90 for 0.95)."""
    rng = np.random.default_rng(7)
    true_mean = 1.0  # exponential with scale 1
    hits = 0
    for i in range(400):
        x = rng.exponential(1.0, 10)
        _, low, high = st.bootstrap_ci(x, n_resamples=1000, seed=i)
        hits += low <= true_mean <= high
    assert 0.84 <= hits / 400 <= 0.98


def test_stratified_bootstrap_keeps_each_task_and_pools_the_statistic():
    a, b = np.array([0.0, 0.1, 0.2, 0.3]), np.array([1.0, 1.1, 1.2, 1.3])
    point, low, high = st.stratified_bootstrap_ci([a, b], statistic=np.mean)
    assert point == pytest.approx(0.65)
    # Resampling within tasks keeps half the runs from each: the pooled mean moves only a little.
    assert 0.55 < low <= point <= high < 0.75
    p2, l2, h2 = st.stratified_bootstrap_ci([a, b])  # IQM by default
    assert l2 <= p2 <= h2
    # A task with one run resamples to itself: it shifts the pooled mean and every resample alike.
    p3, l3, h3 = st.stratified_bootstrap_ci([a, np.array([10.0])], statistic=np.mean)
    assert p3 == pytest.approx((a.sum() + 10.0) / 5)
    assert (l3 - 10.0 / 5) * 5 / 4 >= a.min() - 1e-9 and (h3 - 10.0 / 5) * 5 / 4 <= a.max() + 1e-9 and l3 < p3 < h3


def test_t_and_welch_intervals_by_hand():
    from scipy import stats as sps

    from nasdqn.stats import t_ci, welch_difference_ci

    v = np.array([1.0, 2.0, 3.0, 4.0])
    mean, low, high = t_ci(v)
    half = sps.t.ppf(0.975, 3) * v.std(ddof=1) / 2  # sem = sd / sqrt(4)
    assert mean == 2.5 and low == pytest.approx(2.5 - half) and high == pytest.approx(2.5 + half)
    assert t_ci(np.array([7.0, 7.0])) == (7.0, 7.0, 7.0)
    x, y = np.array([10.0, 12.0, 14.0]), np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    diff, low, high = welch_difference_ci(x, y)
    se = np.sqrt(x.var(ddof=1) / 3 + y.var(ddof=1) / 5)
    dof = se**4 / ((x.var(ddof=1) / 3) ** 2 / 2 + (y.var(ddof=1) / 5) ** 2 / 4)  # Welch-Satterthwaite
    assert diff == 9.0 and high - diff == pytest.approx(sps.t.ppf(0.975, dof) * se)
    assert diff - low == pytest.approx(high - diff)


def test_minimum_detectable_effect_matches_the_power_it_promises():
    from nasdqn.stats import minimum_detectable_effect, welch_p

    rng = np.random.default_rng(1)
    x, y = rng.normal(0, 1, 10), rng.normal(0, 1, 10)
    mde = minimum_detectable_effect(x, y)
    se = np.sqrt(x.var(ddof=1) / 10 + y.var(ddof=1) / 10)
    assert 2.0 * se < mde < 3.2 * se  # (t_.975 + t_.8) on about 18 degrees of freedom: 2.1 + 0.86
    # Simulated at that effect with these SDs, a Welch test detects it in about 80% of samples.
    sx, sy = x.std(ddof=1), y.std(ddof=1)
    hits = [welch_p(rng.normal(mde, sx, 10), rng.normal(0, sy, 10)) < 0.05 for _ in range(2000)]
    assert 0.74 < np.mean(hits) < 0.86
    assert minimum_detectable_effect(np.ones(4), np.ones(4)) == 0.0


def test_tost_equivalence_by_hand():
    from scipy import stats as sps

    from nasdqn.stats import tost_p

    x, y = np.array([1.0, 1.1, 0.9, 1.05]), np.array([1.0, 0.95, 1.02, 1.03])
    lower = sps.ttest_ind(x + 0.2, y, equal_var=False, alternative="greater").pvalue
    upper = sps.ttest_ind(x - 0.2, y, equal_var=False, alternative="less").pvalue
    assert tost_p(x, y, 0.2) == pytest.approx(max(lower, upper)) and tost_p(x, y, 0.2) < 0.05
    assert tost_p(x + 1.0, y, 0.2) > 0.5  # far apart: not equivalent
    assert tost_p(np.ones(3), np.ones(3), 0.1) == 0.0 and tost_p(np.ones(3), np.zeros(3), 0.1) == 1.0
