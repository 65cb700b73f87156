"""From runs to the book's tables: per-run metrics (one tidy row per run), comparisons between
methods with effect sizes, CIs and Holm-corrected tests, and the claims table whose verdicts follow
from a rule stated here and in the claims chapter."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from nasdqn import methods as registry
from nasdqn import metrics as M
from nasdqn import stats as S
from nasdqn.config import RunConfig
from nasdqn.records import RunResult, cached, run_fingerprint

ALPHA = 0.05  # family-wise error rate of each claim's comparisons (Holm)


def run_metrics(runs: Sequence[RunResult], cache: Path | None = None) -> pd.DataFrame:
    """One row per run: every per-run metric of `nasdqn.metrics` on the normalised evaluation curve,
    the overhead measures and the architecture summary. With `cache` (a folder), each run's row is
    kept under the run's fingerprint (its files' content and this code), for runs read from disk."""
    def row(r: RunResult) -> dict:
        if cache is None or not r.meta:  # a run built in memory has no files to fingerprint
            return _metrics_row(r)
        return cached(cache, "metrics", run_fingerprint(r.meta), lambda: _metrics_row(r))

    return pd.DataFrame([row(r) for r in runs])


def _metrics_row(r: RunResult) -> dict:
    c, a = r.config, r.anchors
    curve = M.eval_curve(r.evals)
    steps = curve.index.to_numpy()
    # A user's env may have no "solved" return: its normalised measures are then undefined (NaN).
    score = (M.normalised(curve.to_numpy(), a["random_return"], a["reference_return"])
             if a.get("reference_return") is not None else np.full(len(curve), np.nan))
    final = float(score[-c.final_evals:].mean())
    events = r.arch_events
    switches = events[events["from_arch"].notna()]
    return {
        "env": c.env, "method": c.method, "seed": c.seed,
        "final_return": float(curve.iloc[-c.final_evals:].mean()),
        "peak_return": float(curve.max()),
        "final_train_return": M.final_training_return(r.episodes, c.steps),
        "final_score": final,
        "auc": M.area_under_curve(steps, score),
        "early_auc": M.early_area(steps, score, c.steps),
        "steps_to_threshold": M.steps_to_threshold(steps, score),
        "convergence_step": M.convergence_step(steps, score, final),
        "final_level": float(M.final_window(score).mean()),
        "within_iqr": M.within_run_dispersion(score),
        "short_term_risk": M.short_term_risk(score),
        "sec_per_step": M.seconds_per_step(r.timing, c.steps),
        "search_share": M.search_share(r.timing),
        "switches": len(switches),
        "breaking_switches": int((~switches["preserving"].astype(bool)).sum()) if len(switches) else 0,
        "first_switch": float(switches["step"].min()) if len(switches) else float("nan"),
        "last_switch": float(switches["step"].max()) if len(switches) else 0.0,
        "final_arch": str(events["to_arch"].iloc[-1]),
        "final_params": int(events["params"].iloc[-1]),
        "steps": c.steps,
    }


SMALL_CELL = 5  # seeds at or below which a mean gets Student's t interval: a bootstrap one is too narrow


def summary(table: pd.DataFrame, metric: str, by: str = "method", statistic=np.mean) -> pd.DataFrame:
    """Per group: the statistic of `metric` over seeds with its 95% CI: bootstrap, or Student's t for
    a mean over `SMALL_CELL` seeds or fewer. NaN values (e.g. never reaching a threshold) are dropped
    and counted in `missing`; a group where every value is missing has no statistic (NaN)."""
    rows = []
    for key, g in table.groupby(by, sort=False):
        values = g[metric].to_numpy(dtype=float)
        ok = values[np.isfinite(values)]
        if not len(ok):
            point, low, high = np.nan, np.nan, np.nan
        elif statistic is np.mean and len(ok) <= SMALL_CELL:
            point, low, high = S.t_ci(ok)
        else:
            point, low, high = S.bootstrap_ci(ok, statistic)
        rows.append({by: key, metric: float(point), "low": float(low), "high": float(high), "runs": len(values),
                     "missing": int(len(values) - len(ok))})
    return pd.DataFrame(rows).set_index(by)


@dataclass(frozen=True)
class Metric:
    column: str
    label: str
    higher_is_better: bool = True
    # Value for a run that never got there (steps to threshold, convergence): worse than any run that did.
    missing_as: float | None = None
    # Equivalence margin: a difference within +-margin counts as a tie when a TOST test shows it (None:
    # no margin stated, so a non-significant difference is reported as "cannot tell").
    margin: float | None = None


def compare(table: pd.DataFrame, metric: Metric, method: str, others: Sequence[str]) -> pd.DataFrame:
    """`method` against each of `others` on `metric`: difference of means (in the better direction:
    positive = `method` better) with a bootstrap CI, probability of improvement with its CI, Welch's
    t and Mann-Whitney U p-values (two-sided) and their Holm adjustment over this family."""
    by_method = {name: _oriented(g, metric) for name, g in table.groupby("method", sort=False)}

    def values(name: str) -> np.ndarray:
        return by_method.get(name, np.empty(0))

    x = values(method)
    rows = []
    for other in others:
        y = values(other)
        if len(x) < 2 or len(y) < 2:
            continue
        diff = S.mean_difference_ci(x, y)
        poi = S.probability_of_improvement_ci(x, y)
        same = np.allclose(x, x[0]) and np.allclose(y, y[0])  # no variance: the t-test is undefined
        rows.append({
            "metric": metric.label, "against": other, "difference": diff[0], "diff_low": diff[1], "diff_high": diff[2],
            "poi": poi[0], "poi_low": poi[1], "poi_high": poi[2],
            "welch_p": 0.0 if same and x[0] != y[0] else (1.0 if same else S.welch_p(x, y)),
            "mwu_p": S.mann_whitney_p(x, y),
        })
    out = pd.DataFrame(rows)
    if len(out):
        out["welch_p_holm"] = S.holm(out["welch_p"])
        out["mwu_p_holm"] = S.holm(out["mwu_p"])
        out["better"] = (out["difference"] > 0) & (out["welch_p_holm"] < ALPHA)
        out["worse"] = (out["difference"] < 0) & (out["welch_p_holm"] < ALPHA)
        # Equivalence (TOST at the measure's margin) is tested where the difference test found neither
        # better nor worse, Holm over those comparisons: a tie is then shown, not merely not rejected.
        out["equivalent"] = False
        neither = ~out["better"] & ~out["worse"]
        if metric.margin is not None and neither.any():
            tost = [S.tost_p(values(method), values(o), metric.margin) for o in out.loc[neither, "against"]]
            out.loc[neither, "equivalent"] = S.holm(tost) < ALPHA
        out["mde"] = [S.minimum_detectable_effect(x, values(o)) for o in out["against"]]
    return out


VERDICTS = ("reproduced", "partly", "not reproduced", "contradicted")


def verdict(comparisons: pd.DataFrame) -> str:
    """The rule of the claims table, on a claim's comparisons (Welch's t, Holm-corrected within the
    measure's family, alpha 0.05): `contradicted` when the method is significantly worse than at least
    one comparator, whatever else holds; else `reproduced` when it is better than every comparator in
    the claimed direction; `not reproduced` when it is better than none; `partly` otherwise (better
    than some, worse than none)."""
    if comparisons.empty:
        return "no data"
    if comparisons["worse"].any():
        return "contradicted"
    better = int(comparisons["better"].sum())
    if better == len(comparisons):
        return "reproduced"
    return "not reproduced" if better == 0 else "partly"


# -- the paper's claims: one definition, one Holm family per measure, used by every chapter ----------
PAPER_COMPARATORS = registry.paper_baselines()  # the paper's baselines
RANDOM_CONTROLS = registry.random_controls()  # those a grid has
BEST_FIXED = "best fixed design"  # the sweep's best architecture on the claim's measure


@dataclass(frozen=True)
class Claim:
    name: str
    metric: Metric
    comparators: tuple[str, ...]  # methods of the experiment; BEST_FIXED adds the sweep's best
    source: str  # where the paper makes the claim


def paper_measures(horizon: float) -> dict[str, Metric]:
    """Every measure a claim is judged on, by column: the one definition chapters and claims share.
    `horizon`: the step a run that never got there counts as (later than any run that did)."""
    return {m.column: m for m in (
        Metric("final_score", "final normalised score", margin=0.05),
        Metric("auc", "AUC", margin=0.05),
        Metric("steps_to_threshold", "steps to threshold", False, horizon),
        Metric("convergence_step", "convergence step", False, horizon),
        Metric("within_iqr", "within-run dispersion", False),
        Metric("short_term_risk", "CVaR of drops", False),
    )}


def paper_claims(horizon: float) -> list[Claim]:
    """The paper's comparative claims. Sources: the abstract claims better final performance, sample
    efficiency and policy stability than the baselines and that the learned search beats random
    search; faster convergence is the summary's wording, not the abstract's."""
    m = paper_measures(horizon)
    fixed_and_best = (*PAPER_COMPARATORS, BEST_FIXED)
    return [
        Claim("better final performance", m["final_score"], fixed_and_best, "abstract"),
        Claim("better sample efficiency", m["auc"], fixed_and_best, "abstract"),
        Claim("faster convergence", m["convergence_step"], fixed_and_best, "summary"),
        Claim("more stable policy (within runs)", m["within_iqr"], fixed_and_best, "abstract"),
        Claim("more stable policy (short-term risk)", m["short_term_risk"], fixed_and_best, "abstract"),
        Claim("learned search beats random search (final)", m["final_score"], RANDOM_CONTROLS, "abstract"),
        Claim("learned search beats random search (AUC)", m["auc"], RANDOM_CONTROLS, "abstract"),
    ]


def best_fixed(sweep: pd.DataFrame, metric: Metric) -> str:
    """The sweep's architecture with the best mean on `metric` (chosen on the sweep's own seeds)."""
    means = sweep.assign(v=_oriented(sweep, metric)).groupby("method")["v"].mean()
    return str(means.idxmax())


def _oriented(table: pd.DataFrame, metric: Metric) -> np.ndarray:
    """`metric`'s values of these runs, missing ones filled in, negated where lower is better: larger
    is then always better."""
    v = table[metric.column].to_numpy(dtype=float)
    if metric.missing_as is not None:
        v = np.where(np.isfinite(v), v, metric.missing_as)
    return v if metric.higher_is_better else -v


def measure_family(table: pd.DataFrame, metric: Metric, sweep: pd.DataFrame | None = None,
                   method: str = registry.NAS) -> pd.DataFrame:
    """`method` against every other method of the experiment and, given the sweep, against the best
    fixed design on this measure (`BEST_FIXED`, its runs from the sweep's seeds): one Holm family per
    measure, so a comparison has the same p-value in every chapter and claim that shows it."""
    others = [m for m in dict.fromkeys(table["method"]) if m != method]
    if sweep is None or not len(sweep):
        return compare(table, metric, method, others)
    best = best_fixed(sweep, metric)
    combined = pd.concat([table, sweep[sweep["method"] == best].assign(method=BEST_FIXED)], ignore_index=True)
    out = compare(combined, metric, method, [*others, BEST_FIXED])
    out["best_fixed_arch"] = registry.arch_name(best)
    return out


def claim_comparisons(table: pd.DataFrame, claim: Claim, sweep: pd.DataFrame | None = None,
                      method: str = registry.NAS) -> pd.DataFrame:
    """The rows of `method`'s measure family that the claim is judged on."""
    family = measure_family(table, claim.metric, sweep, method)
    return family[family["against"].isin(claim.comparators)].reset_index(drop=True) if len(family) else family


def tie_words(comparisons: pd.DataFrame) -> str:
    """For the comparisons that are neither better nor worse: how many are shown equivalent within
    the measure's margin (TOST), and how many the data cannot tell apart."""
    neither = comparisons[~comparisons["better"] & ~comparisons["worse"]]
    if neither.empty:
        return ""
    eq = int(neither["equivalent"].sum())
    return (f"{eq} equivalent within the margin, " if eq else "") + (
        f"{len(neither) - eq} cannot tell" if len(neither) > eq else "").rstrip(", ")


def necessity(table: pd.DataFrame, sweep: pd.DataFrame, metric: Metric, method: str = registry.NAS) -> dict:
    """The abstract's claim that architecture adaptation is necessary for optimal sample efficiency:
    is any fixed architecture of the search space at least as good as `method` on `metric`? `method`
    against every swept architecture (Welch, Holm over the architectures). `contradicted` when some
    fixed architecture is significantly better; `reproduced` when `method` is better than every one;
    `not reproduced` otherwise (some fixed architecture is not detectably worse)."""
    archs = list(dict.fromkeys(sweep["method"]))
    comp = compare(pd.concat([table[table["method"] == method], sweep], ignore_index=True), metric, method, archs)
    mine = _oriented(table[table["method"] == method], metric).mean()
    at_least = [a for a in archs if _oriented(sweep[sweep["method"] == a], metric).mean() >= mine]
    return {"comparisons": comp, "verdict": verdict(comp), "at_least_as_good": at_least, "archs": len(archs)}


def threshold_verdict(point: float, upper: float, limit: float) -> str:
    """For a claim of a bound (e.g. overhead below a limit): `reproduced` when the upper end of the CI
    is below the limit, `partly` when only the point estimate is, `not reproduced` otherwise."""
    if upper < limit:
        return "reproduced"
    return "partly" if point < limit else "not reproduced"


def arch_time_shares(run: RunResult) -> pd.Series:
    """The fraction of the run's environment steps spent with each architecture."""
    ev = run.arch_events.sort_values("step")
    ends = [*ev["step"].tolist()[1:], run.config.steps]
    steps = np.asarray(ends) - ev["step"].to_numpy()
    return pd.Series(steps / run.config.steps, index=ev["to_arch"].to_numpy()).groupby(level=0).sum()


def chosen_cost(runs: Sequence[RunResult], cost: pd.Series) -> pd.DataFrame:
    """For each run: the cost per step of the architectures it trained, time-weighted, in the units of
    `cost` (e.g. relative to relu-64x64 from benchmarks/arch_cost.py): the cost of what was chosen,
    as distinct from the search's own cost."""
    rows = []
    for r in runs:
        shares = arch_time_shares(r)
        if not shares.index.isin(cost.index).all():
            continue
        rows.append({"method": r.config.method, "seed": r.config.seed,
                     "chosen_cost": float((shares * cost.loc[shares.index]).sum())})
    return pd.DataFrame(rows, columns=["method", "seed", "chosen_cost"])


# -- the hindsight reference and the controller's beliefs (issue 7) -----------------------------------
def hindsight_ranking(sweep: pd.DataFrame) -> pd.DataFrame:
    """One task's sweep ranked by AUC, the pre-registered metric (final score breaks ties; it
    saturates at the top), 1 = best: AUC with its CI (`auc_low`, `auc_high`), the bootstrap
    probability of being in the top quarter, the final score with its CI (`low`, `high`), seconds
    per step, parameters and seeds. Indexed by architecture."""
    if sweep["env"].nunique() != 1:
        raise ValueError(f"hindsight_ranking ranks one task; got {sorted(sweep['env'].unique())}: use task_hindsight")
    table = task_hindsight(sweep).rename(columns={"low": "auc_low", "high": "auc_high"}).set_index("arch")
    extra = {}
    for method, g in sweep.groupby("method"):
        point, low, high = S.bootstrap_ci(g["final_score"].to_numpy())
        extra[registry.arch_name(method)] = {"final_score": float(point), "low": float(low), "high": float(high),
                                            "sec_per_step": float(g["sec_per_step"].median()),
                                            "params": int(g["final_params"].iloc[0])}
    table = table.drop(columns=["env", "final_score"]).join(pd.DataFrame(extra).T)
    table["params"] = table["params"].astype(int)
    return table[["rank", "auc", "auc_low", "auc_high", "p_top_quarter", "top_quarter", "final_score", "low", "high",
                  "sec_per_step", "params", "seeds", "cpu_seconds"]]


def search_choices(table: pd.DataFrame, methods: Sequence[str]) -> pd.DataFrame:
    """Per task and searching method (rows in `table`'s task order, then `methods`' order): the
    architectures its runs deployed at the end, most frequent first with their counts, and the mean
    number of switches and of switches that did not preserve the network's function."""
    rows = []
    for env, task in table.groupby("env", sort=False):
        for method in methods:
            g = task[task["method"] == method]
            if g.empty:
                continue
            counts = g["final_arch"].value_counts()
            rows.append({"env": env, "method": method,
                         "final_architectures": ", ".join(f"{a} x{n}" for a, n in counts.items()),
                         "switches_mean": round(float(g["switches"].mean()), 1),
                         "breaking_switches_mean": round(float(g["breaking_switches"].mean()), 1)})
    return pd.DataFrame(rows, columns=["env", "method", "final_architectures", "switches_mean",
                                       "breaking_switches_mean"]).set_index(["env", "method"])


def top_quarter_size(n: int) -> int:
    """How many of `n` ranked architectures make a hindsight top quarter: ceil(n/4), at least 1 (6 of
    the 24 swept). The one definition every chapter counts against."""
    return max(1, math.ceil(n / 4))


def task_hindsight(sweep: pd.DataFrame, metric: str = "auc", second: str = "final_score") -> pd.DataFrame:
    """Per task, every swept architecture ranked by `metric` (the pre-registered one, AUC; `second`
    breaks ties), with its bootstrap CI and the bootstrap probability of being in the task's top
    quarter (`top_quarter_size`). Tidy: one row per (env, arch)."""
    rows = []
    for env, task in sweep.groupby("env", sort=False):
        groups = {registry.arch_name(m): g[metric].to_numpy(dtype=float) for m, g in task.groupby("method")}
        k = top_quarter_size(len(groups))
        p_top = S.top_k_probability(groups, k)
        for method, g in task.groupby("method"):
            arch = registry.arch_name(method)
            point, low, high = S.bootstrap_ci(g[metric].to_numpy(dtype=float))
            rows.append({"env": env, "arch": arch, metric: float(point), "low": float(low), "high": float(high),
                         second: float(g[second].mean()), "p_top_quarter": p_top[arch], "seeds": len(g),
                         "cpu_seconds": float((g["sec_per_step"] * g["steps"]).sum())})
    table = pd.DataFrame(rows).sort_values(["env", metric, second], ascending=[True, False, False])
    table["rank"] = table.groupby("env").cumcount() + 1
    table["top_quarter"] = table["rank"] <= table.groupby("env")["arch"].transform(lambda a: top_quarter_size(len(a)))
    return table.reset_index(drop=True)


def prior_order(sweep: pd.DataFrame, task: str, metric: str = "auc") -> list[str]:
    """The swept architectures ranked for `task` by what the *other* tasks' sweeps say: by the mean,
    over the other tasks, of each architecture's mean `metric` there (normalised AUC: 0 random, 1 the
    task's reference, so tasks weigh alike). Leave-one-task-out: `task`'s own runs never enter it.
    Architectures missing from some other task are ranked on those that have them; ties go by name."""
    others = sweep[sweep["env"] != task]
    if others.empty:
        raise ValueError(f"prior_order: no sweep of a task other than {task}")
    per_task = others.groupby(["env", "method"])[metric].mean().groupby("method").mean()
    ranked = sorted(per_task.items(), key=lambda kv: (-kv[1], kv[0]))
    return [registry.arch_name(m) for m, _ in ranked]


def prior_picks(sweep: pd.DataFrame, size: int, prior_from: pd.DataFrame | None = None, metric: str = "auc"
                ) -> pd.DataFrame:
    """Per task of `sweep`: what its leave-one-task-out prior (`prior_order` of `prior_from`, default
    `sweep`) alone would deploy, no run made on the task: its first architecture's hindsight rank
    (`task_hindsight` of `sweep`) and `metric` regret (its sweep mean minus the best's), and how many
    of the task's hindsight top quarter the first `size` of the order (the race's candidates) hold."""
    ranked = task_hindsight(sweep, metric)
    prior_from = sweep if prior_from is None else prior_from
    rows = []
    for env in dict.fromkeys(sweep["env"]):
        hind = ranked[ranked["env"] == env].set_index("arch")
        order = prior_order(prior_from, env, metric)
        first = order[0]
        held = hind.loc[order[:size]]
        rows.append({"env": env, "first": first, "rank": int(hind.loc[first, "rank"]),
                     "regret": float(hind.loc[first, metric] - hind[metric].max()), "size": size,
                     "top_quarter_held": int(held["top_quarter"].sum()), "quarter": int(hind["top_quarter"].sum()),
                     "best_held_rank": int(held["rank"].min())})
    return pd.DataFrame(rows)


def collapsed_sweep_runs(sweep: pd.DataFrame, metric: str = "auc") -> pd.DataFrame:
    """The sweep runs that ended below a uniform random policy (final score under 0), each with its
    architecture's `task_hindsight` rank on its task when that one run is left out, and how many
    architectures the task ranks: how much one collapsed seed moves a 3-seed ranking. Only the tasks
    with such a run are ranked again."""
    collapsed = sweep[sweep["final_score"] < 0].sort_values(["env", "method", "seed"])
    columns = ["env", "arch", "seed", "final_score", metric, "rank_without", "ranked"]
    if collapsed.empty:
        return pd.DataFrame(columns=columns)
    rest = task_hindsight(sweep[sweep["env"].isin(collapsed["env"])].drop(collapsed.index), metric)
    ranks = rest.set_index(["env", "arch"])["rank"]
    ranked = rest.groupby("env")["arch"].nunique()
    out = collapsed.assign(arch=collapsed["method"].map(registry.arch_name))
    out["rank_without"] = [int(ranks[(e, a)]) for e, a in out[["env", "arch"]].to_numpy()]
    out["ranked"] = out["env"].map(ranked)
    return out[columns].reset_index(drop=True)


def _against_hindsight(table: pd.DataFrame, sweep: pd.DataFrame, metric: str):
    """Per task of `table` (in its order) that `sweep` ranks: the task's rows, its `task_hindsight`
    (indexed by architecture), the hindsight best and that architecture's sweep runs of `metric`."""
    ranked = task_hindsight(sweep, metric)
    for env, task in table.groupby("env", sort=False):
        hind = ranked[ranked["env"] == env].set_index("arch")
        if hind.empty:
            continue
        best = str(hind.index[hind["rank"] == 1][0])
        best_runs = sweep.loc[(sweep["env"] == env) & (sweep["method"] == registry.fixed_method(best)),
                              metric].to_numpy(float)
        yield env, task, hind, best, best_runs


def sweep_cpu_seconds(sweep: pd.DataFrame) -> pd.Series:
    """Per task, the CPU seconds of one sweep: one run (the mean over its seeds) of every architecture,
    as run. The one definition of "the sweep" a run's cost share is measured against."""
    cpu = (sweep["sec_per_step"] * sweep["steps"]).groupby([sweep["env"], sweep["method"]]).mean()
    return cpu.groupby(level="env").sum()


def search_against_hindsight(table: pd.DataFrame, sweep: pd.DataFrame, methods: Sequence[str],
                             reference: str = registry.FIXED_MEDIUM, metric: str = "auc") -> pd.DataFrame:
    """Per task and searching method: its mean `metric`, the difference to the task's hindsight best
    (rank 1 of `task_hindsight` on `sweep`; its sweep runs, seeds apart from `table`'s) and to
    `reference` (in `table`), both with bootstrap CIs; how many runs deployed an architecture of the
    hindsight top quarter, and the median hindsight rank (of `swept` architectures) of what they
    deployed; and one run's CPU time (median) as a share of the task's sweep (`sweep_cpu_seconds`)."""
    rows = []
    one_sweep = sweep_cpu_seconds(sweep)
    for env, task, hind, best, best_runs in _against_hindsight(table, sweep, metric):
        ref_runs = task.loc[task["method"] == reference, metric].to_numpy(float)
        for method in methods:
            g = task[task["method"] == method]
            if g.empty:
                continue
            x = g[metric].to_numpy(float)
            vs_best = S.mean_difference_ci(x, best_runs) if len(x) > 1 and len(best_runs) > 1 else (np.nan,) * 3
            vs_ref = S.mean_difference_ci(x, ref_runs) if len(x) > 1 and len(ref_runs) > 1 else (np.nan,) * 3
            deployed = g["final_arch"].map(hind["top_quarter"]).fillna(False).astype(bool)
            rows.append({
                "env": env, "method": method, metric: float(x.mean()), "hindsight_best": best,
                "best_difference": vs_best[0], "best_low": vs_best[1], "best_high": vs_best[2],
                "reference_difference": vs_ref[0], "reference_low": vs_ref[1], "reference_high": vs_ref[2],
                "top_quarter_runs": int(deployed.sum()), "runs": len(g),
                "deployed_median_rank": float(deployed_ranks(g["final_arch"], hind).median()), "swept": len(hind),
                "cost_share": float(np.median(g["sec_per_step"] * g["steps"]) / one_sweep[env]),
            })
    return pd.DataFrame(rows)


def belief_table(runs: Sequence[RunResult]) -> pd.DataFrame:
    """The learned controller's posterior probability that each architecture is the best, at every
    decision of every run (tidy: method, seed, step, arch, p_best)."""
    frames = []
    for r in runs:
        state = r.controller_state or {}
        if "beliefs" not in state:
            continue
        archs = state["archs"]
        for row in state["beliefs"]:
            frames.append(pd.DataFrame({"method": r.config.method, "seed": r.config.seed, "step": row["step"],
                                        "arch": archs, "p_best": row["p_best"]}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["method", "seed", "step", "arch", "p_best"])


def top_mass(beliefs: pd.DataFrame, ranking: pd.DataFrame, k: int = 3) -> pd.DataFrame:
    """Per run and decision: the belief mass on the hindsight top-k architectures and the entropy of
    the belief."""
    top = set(ranking.index[:k])

    def per_decision(g: pd.DataFrame) -> pd.Series:
        p = g["p_best"].to_numpy()
        nz = p[p > 0]
        return pd.Series({"top_mass": float(p[g["arch"].isin(top).to_numpy()].sum()),
                          "entropy": float(-(nz * np.log(nz)).sum())})

    return beliefs.groupby(["method", "seed", "step"]).apply(per_decision, include_groups=False).reset_index()


def deployed_ranks(final_arch: pd.Series, ranking: pd.DataFrame) -> pd.Series:
    """The hindsight rank (1 = best; `ranking` indexed by architecture, with its `rank`) of each run's
    deployed (final) architecture: NaN for one the sweep did not run. The one definition of a
    deployed rank."""
    return final_arch.map(ranking["rank"])


def final_arch_ranks(table: pd.DataFrame, ranking: pd.DataFrame) -> pd.DataFrame:
    """Each searching run's final architecture with its rank in the hindsight ranking."""
    out = table.loc[~table["method"].map(registry.is_fixed).astype(bool), ["method", "seed", "final_arch"]].copy()
    out["hindsight_rank"] = deployed_ranks(out["final_arch"], ranking)
    return out


def uniform_draw_expectation(sweep: pd.DataFrame, column: str) -> tuple[float, float, float]:
    """What one architecture drawn uniformly from the sweep's (a `random-freeze` run) is expected to
    score on `column`: the mean of the sweep's per-architecture means, with a normal 95% interval from
    their seed-to-seed variances (the draw itself is exact: every architecture has weight 1/K)."""
    g = sweep.groupby("method")[column]
    means, k = g.mean(), g.ngroups
    se = float(np.sqrt((g.var(ddof=1) / g.count()).sum()) / k)
    point = float(means.mean())
    return point, point - 1.96 * se, point + 1.96 * se


def does_it_learn(table: pd.DataFrame, ranking: pd.DataFrame, beliefs: pd.DataFrame | None = None,
                  method: str = registry.NAS, control: str = registry.RANDOM_FREEZE, k: int = 3) -> dict:
    """The dynamics chapter's question, answered by a rule fixed here: a controller learns which
    architecture is best when its final architecture is in the hindsight top quarter in more than
    half the seeds, significantly more often than the `control`'s random choice (Fisher's exact test,
    one-sided, 0.05), and its belief mass on the hindsight top `k` at the last decision exceeds the
    uniform share. Returns the counts, the test, the belief mass and the answer (True / False)."""
    ranks = final_arch_ranks(table, ranking)
    quarter = top_quarter_size(len(ranking))

    def in_top(m: str) -> tuple[int, int]:
        r = ranks.loc[ranks["method"] == m, "hindsight_rank"]
        return int((r <= quarter).sum()), len(r)

    top, n = in_top(method)
    out = {"quarter": quarter, "top": top, "seeds": n, "controls": {m: in_top(m) for m in RANDOM_CONTROLS
                                                                    if m in set(ranks["method"])}}
    fisher_p = np.nan
    if control in out["controls"] and n:
        c_top, c_n = out["controls"][control]
        fisher_p = float(sps.fisher_exact([[top, n - top], [c_top, c_n - c_top]], alternative="greater").pvalue)
    uniform = k / len(ranking)
    last_mass = np.nan
    if beliefs is not None and len(beliefs):
        last_mass = float(top_mass(beliefs, ranking, k).groupby("seed").last()["top_mass"].mean())
    out.update({"fisher_p": fisher_p, "control": control, "last_mass": last_mass, "uniform_mass": uniform, "k": k,
                "learns": bool(n and top > n / 2 and fisher_p < ALPHA and not last_mass <= uniform)})
    return out


def selection_quality(table: pd.DataFrame, ranking: pd.DataFrame, method: str, control: str,
                      target: int = 7) -> dict:
    """Does a population method deploy a hindsight-top architecture? Its deployed (final)
    architecture's rank in `ranking` by AUC (the pre-registered metric) per seed; how many seeds land
    in the top quarter (`top_quarter_size`); a one-sided binomial test against the quarter's share, 0.25,
    which a uniform pick would hit; and Fisher's exact test (one-sided) against `control`, the random
    selection of the same mechanism. Met: at least `target` of 10 seeds (scaled to the seeds run) and
    both tests significant at 0.05."""
    quarter = top_quarter_size(len(ranking))
    share = quarter / len(ranking)
    counts = {}
    ranks = {}
    for m in (method, control):
        runs = table[table["method"] == m].sort_values("seed")
        deployed = deployed_ranks(runs["final_arch"], ranking)
        ranks[m] = {int(s): int(r) for s, r in zip(runs["seed"], deployed, strict=True)}
        counts[m] = (sum(r <= quarter for r in ranks[m].values()), len(ranks[m]))
    (top, n), (c_top, c_n) = counts[method], counts[control]
    binomial_p = float(sps.binomtest(top, n, share, alternative="greater").pvalue) if n else np.nan
    fisher_p = float(sps.fisher_exact([[top, n - top], [c_top, c_n - c_top]], alternative="greater").pvalue) \
        if n and c_n else np.nan
    needed = math.ceil(target * n / 10)
    return {"method": method, "control": control, "quarter": quarter, "share": share, "ranks": ranks[method],
            "control_ranks": ranks[control], "top": top, "seeds": n, "control_top": c_top, "control_seeds": c_n,
            "binomial_p": binomial_p, "fisher_p": fisher_p, "needed": needed,
            "met": bool(n and top >= needed and binomial_p < ALPHA and fisher_p < ALPHA)}


def population_compute(runs: Sequence[RunResult], arch_cost: pd.Series | None = None) -> pd.DataFrame:
    """Per population run (halving, racing): where its compute went, and when it cut. Candidate-updates
    and learn seconds of all candidates and of the deployed one, and their ratio (`training_runs`: 1
    would be training the survivor alone); the search's own share of the wall time (everything but
    the deployed network's training: the other candidates' updates and the validation runs, timing
    `controller`); the validation episodes; the deployed architecture; the candidates started, cut
    before the last checkpoint that cut (racing: on evidence, or diverged; halving: its first rungs)
    and at it (racing's deadline, halving's last rung), and the mean step of a cut as a fraction of
    the budget. With `arch_cost` (each architecture's cost per training step relative to relu-64x64,
    measured side by side), also the candidate-updates weighted by it: a measure of compute that
    machine load does not inflate."""
    rows = []
    for r in runs:
        state = r.controller_state or {}
        if "candidates" not in state:
            continue
        c = pd.DataFrame(state["candidates"])
        mine = c[c["deployed"]].iloc[0]
        cut = c["cut_at"].dropna()
        last = float(cut.max()) if len(cut) else np.nan
        rows.append({"env": r.config.env, "method": r.config.method, "seed": r.config.seed, "deployed": mine["arch"],
                     "candidates": len(c), "cut_early": int((cut < last).sum()), "cut_last": int((cut == last).sum()),
                     "mean_cut_fraction": float(cut.mean() / r.config.steps) if len(cut) else np.nan,
                     "training_runs": float(c["updates"].sum() / mine["updates"]),
                     "candidate_updates": int(c["updates"].sum()), "deployed_updates": int(mine["updates"]),
                     "learn_seconds": float(c["learn_seconds"].sum()),
                     "deployed_learn_seconds": float(mine["learn_seconds"]),
                     "search_share": M.search_share(r.timing), "total_seconds": float(r.timing["total"]),
                     "selection_episodes": int(state["selection_episodes"]),
                     "weighted_updates": float((c["updates"] * c["arch"].map(arch_cost)).sum())
                     if arch_cost is not None else np.nan})
    return pd.DataFrame(rows)


def population_cost(compute: pd.DataFrame, table: pd.DataFrame, sweep: pd.DataFrame,
                    arch_cost: pd.Series | None = None) -> pd.DataFrame:
    """Per population method (rows of `population_compute`): mean seconds of one run, candidate- and
    deployed updates, the search's share, and the run against the mean fixed-medium and nas run of
    `table` and against one seed of every architecture of `sweep` (all CPU seconds as run, so load on
    the machine while each ran counts). With `arch_cost` (as in `population_compute`), the same two
    ratios in cost-weighted updates: the run's against a fixed-medium run's and the sweep's (each
    fixed run making one update per step)."""
    cpu = (table["sec_per_step"] * table["steps"]).groupby(table["method"]).mean()
    one_sweep = float(sweep_cpu_seconds(sweep).sum())  # the sweep of the one task these runs are on
    out = compute.groupby("method", sort=False).agg(
        run_seconds=("total_seconds", "mean"), candidate_updates=("candidate_updates", "mean"),
        deployed_updates=("deployed_updates", "mean"), search_share=("search_share", "mean"))
    out["x_fixed_medium"] = out["run_seconds"] / cpu.get(registry.FIXED_MEDIUM, np.nan)
    out["x_nas"] = out["run_seconds"] / cpu.get(registry.NAS, np.nan)
    out["sweep_share"] = out["run_seconds"] / one_sweep
    weighted = compute.groupby("method", sort=False)["weighted_updates"].mean()
    if arch_cost is not None:
        steps = float(sweep["steps"].median())
        swept = sweep["method"].drop_duplicates().map(registry.arch_name)
        out["weighted_x_fixed_medium"] = weighted / (steps * float(arch_cost["relu-64x64"]))
        out["weighted_sweep_share"] = weighted / (steps * float(swept.map(arch_cost).sum()))
    else:
        out["weighted_x_fixed_medium"] = out["weighted_sweep_share"] = np.nan
    return out


def selection_report(table: pd.DataFrame, sweep: pd.DataFrame, methods: Sequence[str], preset: dict[str, str],
                     metric: str = "auc") -> pd.DataFrame:
    """Per task (in `table`'s order) and selecting method: the hindsight rank (`task_hindsight` of
    `sweep`, whose seeds are apart from `table`'s) of the architecture each seed deployed, how many
    land in the top quarter (`top_quarter_size`), the `metric` regret to the hindsight best (the method's mean
    minus the best architecture's sweep runs', with a bootstrap interval: top architectures tie, so a
    rank alone overstates a miss), the mean final score, and one run's CPU (median) against one run
    of the task's preset network (`preset[env]`: that network's method in `table`) and against the
    sweep (one seed of every architecture). CPU is as run: the machine's load at the time counts."""
    table = table.reset_index(drop=True)  # grids joined by concat repeat index labels
    cpu = table["sec_per_step"] * table["steps"]
    sweep_cpu = sweep_cpu_seconds(sweep)
    rows = []
    for env, task, hind, best, best_runs in _against_hindsight(table, sweep, metric):
        preset_cpu = float(cpu[task.index[task["method"] == preset.get(env)]].median())
        for method in methods:
            g = task[task["method"] == method].sort_values("seed")
            if g.empty:
                continue
            x = g[metric].to_numpy(float)
            regret = S.mean_difference_ci(x, best_runs) if len(x) > 1 and len(best_runs) > 1 else (np.nan,) * 3
            ranks = deployed_ranks(g["final_arch"], hind)
            run_cpu = float(cpu[g.index].median())
            quarter = top_quarter_size(len(hind))
            rows.append({
                "env": env, "method": method, "runs": len(g), "ranks": tuple(int(r) for r in ranks.dropna()),
                "quarter": quarter, "swept": len(hind),
                "top_quarter_runs": int((ranks <= quarter).sum()), "hindsight_best": best,
                metric: float(x.mean()), "regret": regret[0], "regret_low": regret[1], "regret_high": regret[2],
                "final_score": float(g["final_score"].mean()), "cpu_seconds": run_cpu,
                "x_preset": run_cpu / preset_cpu, "sweep_share": run_cpu / float(sweep_cpu[env]),
            })
    return pd.DataFrame(rows)


# The selection issue's targets, as it states them (met or not, each is reported).
SELECTION_TARGETS = {"top_quarter": 0.7, "tasks": 5 / 6, "regret": 0.02, "x_preset": 3.0, "sweep_share": 0.1}


def selection_targets(report: pd.DataFrame, method: str, control: str, table: pd.DataFrame,
                      metric: str = "auc") -> pd.DataFrame:
    """`method`'s rows of `selection_report` against `SELECTION_TARGETS`: the top quarter in >= 70% of
    the seeds on >= 5 of 6 tasks; regret no more than 0.02 below the hindsight best on as many; never
    below `control` (its random-selection control, same seeds; `table` holds both) on any task (the
    mean difference's point estimate, with its interval); CPU <= 3x one preset-network run (stretch)
    and <= 1/10 of the sweep on every task. One row per target: what was measured, and whether met."""
    mine = report[report["method"] == method].set_index("env")
    t, n = SELECTION_TARGETS, len(mine)
    needed = math.ceil(t["tasks"] * n)

    def missed(ok: pd.Series, shown: Callable[[str], str]) -> str:
        misses = [shown(e) for e in mine.index[~ok]]
        return f"{int(ok.sum())} of {n} tasks" + (f" (missed: {', '.join(misses)})" if misses else "")

    top = mine["top_quarter_runs"] >= np.ceil(t["top_quarter"] * mine["runs"])
    close = mine["regret"] >= -t["regret"]
    against = {}
    for env in mine.index:
        g = table[table["env"] == env]
        x, y = (g.loc[g["method"] == m, metric].to_numpy(float) for m in (method, control))
        if len(x) > 1 and len(y) > 1:
            against[env] = S.mean_difference_ci(x, y)
    costliest = {k: mine[k].idxmax() for k in ("x_preset", "sweep_share")}
    rows = [
        ("top quarter in >= 70% of seeds on >= 5 of 6 tasks",
         missed(top, lambda e: f"{e} {mine.loc[e, 'top_quarter_runs']}/{mine.loc[e, 'runs']}"), top.sum() >= needed),
        (f"regret >= -{t['regret']} AUC on >= 5 of 6 tasks",
         missed(close, lambda e: f"{e} {mine.loc[e, 'regret']:+.3f}"), close.sum() >= needed),
        (f"never below {control} on any task",
         "; ".join([f"{e} {d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]" for e, d in against.items()]
                   + [f"{e} no runs to compare" for e in mine.index if e not in against]),
         len(against) == n and all(d[0] >= 0 for d in against.values())),
        (f"CPU <= {t['x_preset']:g}x one preset-network run (stretch)",
         f"largest {mine['x_preset'].max():.2f}x ({costliest['x_preset']})", (mine["x_preset"] <= t["x_preset"]).all()),
        (f"CPU <= {t['sweep_share']:.0%} of the sweep",
         f"largest {mine['sweep_share'].max():.1%} ({costliest['sweep_share']})",
         (mine["sweep_share"] <= t["sweep_share"]).all()),
    ]
    rows = [(target, measured, bool(met)) for target, measured, met in rows]
    return pd.DataFrame(rows, columns=["target", "measured", "met"])


# -- several tasks (issue 5) ---------------------------------------------------------------------------
def task_verdicts(table: pd.DataFrame, metric: Metric, method: str = registry.NAS,
                  baselines: Sequence[str] = registry.of_family(registry.FIXED),
                  control: str = registry.RANDOM) -> pd.DataFrame:
    """Per task: `method` against every fixed baseline and against `control` (Welch's t; Holm over all
    the task x baseline comparisons, and separately over the tasks' control comparisons). Verdict:
    `helps` when `method` is better than every fixed baseline, `hurts` when it is worse than at least
    one (some fixed network would have done better), `ties` otherwise. Picking the best baseline on
    the same data and testing against it alone would be biased toward `hurts` (the winner's curse);
    it is shown, as `best_fixed` with the difference and its CI, but the verdict uses all three."""
    comp = compare_by_task(table, metric, method, [*baselines, control])
    # A task is judged only where every fixed comparison could be made (two runs an arm or more).
    judged = [e for e, c in comp.groupby("env", sort=False) if set(baselines) <= set(c["against"])] if len(comp) else []
    if not judged:
        return pd.DataFrame(columns=["env", "best_fixed", "verdict"]).set_index("env")
    comp = comp[comp["env"].isin(judged)].copy()
    fixed, ctrl = comp["against"].isin(baselines), comp["against"] == control
    # What a "ties" could have missed: the effect found with 80% power at Holm's strictest step over the
    # fixed comparisons (alpha / their number), so a conservative bound, not the uncorrected one.
    strictest = ALPHA / max(int(fixed.sum()), 1)
    comp.loc[fixed, "p_holm"] = S.holm(comp.loc[fixed, "welch_p"])
    comp.loc[ctrl, "p_holm"] = S.holm(comp.loc[ctrl, "welch_p"])
    comp["better"] = (comp["difference"] > 0) & (comp["p_holm"] < ALPHA)
    comp["worse"] = (comp["difference"] < 0) & (comp["p_holm"] < ALPHA)
    rows = []
    for env, c in comp.groupby("env", sort=False):
        f = c[c["against"].isin(baselines)]
        means = table[(table["env"] == env) & table["method"].isin(baselines)].groupby("method")[metric.column].mean()
        best = str(means.idxmax() if metric.higher_is_better else means.idxmin())
        vs_best = f.set_index("against").loc[best]
        vs_control = c.set_index("against").loc[control] if control in set(c["against"]) else None
        arm = table[table["env"] == env]
        ours, theirs = (_oriented(arm[arm["method"] == m], metric) for m in (method, best))
        rows.append({
            "env": env, "best_fixed": best, "fixed_difference": vs_best["difference"],
            "fixed_low": vs_best["diff_low"], "fixed_high": vs_best["diff_high"],
            "fixed_poi": vs_best["poi"], "fixed_poi_low": vs_best["poi_low"], "fixed_poi_high": vs_best["poi_high"],
            "fixed_mde": S.minimum_detectable_effect(ours, theirs, alpha=strictest),
            "better_than": int(f["better"].sum()), "worse_than": int(f["worse"].sum()),
            "verdict": "helps" if f["better"].all() else ("hurts" if f["worse"].any() else "ties"),
            "control_difference": np.nan if vs_control is None else vs_control["difference"],
            "control_low": np.nan if vs_control is None else vs_control["diff_low"],
            "control_high": np.nan if vs_control is None else vs_control["diff_high"],
            "beats_control": bool(vs_control is not None and vs_control["better"]),
        })
    return pd.DataFrame(rows).set_index("env")


def search_summary(table: pd.DataFrame, by: str | list[str] = "method") -> pd.DataFrame:
    """How runs searched, per group: mean switches and breaking switches per run, the median step of
    the first switch, and the final architectures with their counts."""
    return table.groupby(by, sort=False).agg(
        switches=("switches", "mean"), breaking_switches=("breaking_switches", "mean"),
        first_switch=("first_switch", "median"),
        final_architectures=("final_arch", lambda s: ", ".join(f"{a} x{n}" for a, n in s.value_counts().items())),
    ).round(1)


def compare_by_task(table: pd.DataFrame, metric: Metric, method: str, others: Sequence[str]) -> pd.DataFrame:
    """`compare` within each task (`env`), one frame; its Holm columns are per task only."""
    frames = []
    for env, g in table.groupby("env", sort=False):
        c = compare(g, metric, method, others)
        c.insert(0, "env", env)
        frames.append(c)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


EFFECT_WORDS = ("helps", "hurts", "no detected effect")


def transfer_effects(table: pd.DataFrame, metrics: Sequence[Metric], treated: str = "transfer",
                     reference: str = "fresh") -> pd.DataFrame:
    """Per metric and task: each arm's mean, `treated` minus `reference` (difference of means,
    bootstrap CI, Welch's t Holm-corrected over the tasks of each metric) and an effect word:
    `helps` / `hurts` when significant in that direction, `no detected effect` otherwise."""
    frames = []
    for metric in metrics:
        c = compare_by_task(table, metric, treated, [reference])
        if len(c):
            means = table.groupby(["env", "method"])[metric.column].mean()
            c.insert(2, reference, [means[(env, reference)] for env in c["env"]])
            c.insert(3, treated, [means[(env, treated)] for env in c["env"]])
            c["p_holm"] = S.holm(c["welch_p"])
            frames.append(c)
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    significant = out["p_holm"] < ALPHA
    helps, hurts, neither = EFFECT_WORDS
    out["effect"] = np.where(significant & (out["difference"] > 0), helps,
                             np.where(significant & (out["difference"] < 0), hurts, neither))
    return out.drop(columns=["welch_p_holm", "mwu_p_holm", "better", "worse"])


def pooled_effect(table: pd.DataFrame, metric: str, treated: str = "transfer", reference: str = "fresh"
                  ) -> tuple[float, float, float]:
    """Across the tasks that have both arms: the mean of the per-task differences `treated` minus
    `reference` of `metric`, with a stratified-bootstrap 95% CI (`stats.stratified_difference_ci`)."""
    def arm(g: pd.DataFrame, method: str) -> np.ndarray:
        return g.loc[g["method"] == method, metric].to_numpy(dtype=float)

    pairs = [(arm(g, treated), arm(g, reference)) for _, g in table.groupby("env", sort=False)]
    pairs = [(t, r) for t, r in pairs if len(t) >= 2 and len(r) >= 2]
    return S.stratified_difference_ci([t for t, _ in pairs], [r for _, r in pairs])


def tasks_by_effect(effects: pd.DataFrame, metric_label: str) -> dict[str, list[str]]:
    """From `transfer_effects`: the tasks under each effect word, for one metric."""
    e = effects[effects["metric"] == metric_label]
    return {w: list(e.loc[e["effect"] == w, "env"]) for w in EFFECT_WORDS}


def config_differences(a: Sequence[RunResult], b: Sequence[RunResult], ignore: Sequence[str] = ("seed",)
                       ) -> list[str]:
    """The options whose values differ between two groups of runs (compared as sets of values per
    option), besides `ignore`: what makes two arms of a comparison different."""
    def values(runs: Sequence[RunResult], name: str) -> set[str]:
        return {repr(getattr(r.config, name)) for r in runs}

    return [f.name for f in fields(RunConfig) if f.name not in ignore and values(a, f.name) != values(b, f.name)]


def _task_groups(table: pd.DataFrame, metric: str) -> list[np.ndarray]:
    """One method's runs split by task: the strata of the stratified bootstrap."""
    return [t[metric].to_numpy(dtype=float) for _, t in table.groupby("env", sort=False)]


def aggregate(table: pd.DataFrame, metric: str, statistic=S.iqm) -> pd.DataFrame:
    """Per method: `statistic` (IQM by default) of `metric` over the runs of every task pooled, with a
    stratified-bootstrap 95% CI (runs resampled within each task; Agarwal et al. 2021)."""
    rows = []
    for method, g in table.groupby("method", sort=False):
        groups = _task_groups(g, metric)
        point, low, high = S.stratified_bootstrap_ci(groups, statistic)
        rows.append({"method": method, metric: point, "low": low, "high": high, "tasks": len(groups),
                     "runs": len(g)})
    return pd.DataFrame(rows).set_index("method")


def average_improvement(table: pd.DataFrame, metric: str, method: str, others: Sequence[str]) -> pd.DataFrame:
    """Per other method: the average over tasks of P(a run of `method` beats a run of it) on `metric`
    (higher is better), with a stratified-bootstrap CI, over the tasks where both have runs."""
    rows = []
    for other in others:
        pairs = [tuple(g.loc[g["method"] == m, metric].to_numpy(float) for m in (method, other))
                 for _, g in table.groupby("env", sort=False)]
        pairs = [(x, y) for x, y in pairs if len(x) and len(y)]
        if not pairs:
            continue
        point, low, high = S.average_probability_of_improvement_ci([x for x, _ in pairs], [y for _, y in pairs])
        rows.append({"against": other, "poi": point, "low": low, "high": high, "tasks": len(pairs)})
    return pd.DataFrame(rows).set_index("against") if rows else pd.DataFrame(columns=["poi", "low", "high", "tasks"])


def profiles(table: pd.DataFrame, metric: str, taus: np.ndarray) -> dict[str, tuple[np.ndarray, ...]]:
    """Per method: the performance profile of `metric` over the tasks (`stats.performance_profile`)."""
    return {method: S.performance_profile(_task_groups(g, metric), taus)
            for method, g in table.groupby("method", sort=False)}


def precision_by_seeds(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per task and method: the half-width of the 95% bootstrap CI of the mean of `metric`, and the
    seeds needed for a half-width of 0.05 and of 0.1 (scaling as 1/sqrt(seeds)), to judge a seed count."""
    rows = []
    for (env, method), g in table.groupby(["env", "method"], sort=False):
        v = g[metric].to_numpy(dtype=float)
        _, low, high = S.bootstrap_ci(v)
        half = float(high - low) / 2
        rows.append({"env": env, "method": method, "seeds": len(v), "ci_half_width": half,
                     "seeds_for_0.1": int(np.ceil(len(v) * (half / 0.1) ** 2)),
                     "seeds_for_0.05": int(np.ceil(len(v) * (half / 0.05) ** 2))})
    return pd.DataFrame(rows)


# -- peers (is our DQN a competent DQN?) ------------------------------------------------------------
def peer_comparison(ours: pd.DataFrame, peer: pd.DataFrame, metric: str = "final_return") -> pd.DataFrame:
    """Per task: our runs against a peer implementation's runs of the same cells (`run_metrics`
    tables): each side's mean with its t interval, ours minus the peer's with Welch's interval and
    p-value (Holm over the tasks), the seeds whose final return reaches the task's `solved` return,
    the training returns beside the greedy ones, CPU-seconds per run, and the minimum detectable
    effect (`mde`: what a `matches` could have missed, at 80% power). `verdict`: `matches`
    when the 95% interval of the difference covers 0, `better` / `worse` when it lies above / below
    it (unadjusted: a shortfall is to be found, not explained away by the number of tasks)."""
    from nasdqn.envs import reference_return

    rows = []
    for env, mine in ours.groupby("env", sort=False):
        theirs = peer[peer["env"] == env]
        if len(mine) < 2 or len(theirs) < 2:
            continue
        x, y = mine[metric].to_numpy(dtype=float), theirs[metric].to_numpy(dtype=float)
        solved = reference_return(env)
        diff, low, high = S.welch_difference_ci(x, y)
        row = {"env": env}
        for side, t in (("ours", mine), ("peer", theirs)):
            v = t[metric].to_numpy(dtype=float)
            row[f"{side}_n"] = len(v)
            row[side], row[f"{side}_low"], row[f"{side}_high"] = S.t_ci(v)
            row[f"{side}_solved"] = int((v >= solved).sum()) if solved is not None else 0
            row[f"{side}_train"] = float(t["final_train_return"].mean())
            row[f"{side}_peak"] = float(t["peak_return"].mean())
            row[f"{side}_cpu_s"] = float((t["sec_per_step"] * t["steps"]).mean())
        same = np.allclose(x, x[0]) and np.allclose(y, y[0])
        tx, ty = mine["final_train_return"].to_numpy(dtype=float), theirs["final_train_return"].to_numpy(dtype=float)
        ok = np.isfinite(tx).sum() >= 2 and np.isfinite(ty).sum() >= 2
        row["train_difference"], row["train_low"], row["train_high"] = (
            S.welch_difference_ci(tx[np.isfinite(tx)], ty[np.isfinite(ty)]) if ok else (np.nan,) * 3)
        row.update({"solved_return": solved, "difference": diff, "diff_low": low, "diff_high": high,
                    "mde": S.minimum_detectable_effect(x, y),
                    "p": (0.0 if x[0] != y[0] else 1.0) if same else S.welch_p(x, y)})
        rows.append(row)
    out = pd.DataFrame(rows)
    if len(out):
        out["p_holm"] = S.holm(out["p"])
        out["verdict"] = np.where(out["diff_low"] > 0, "better", np.where(out["diff_high"] < 0, "worse", "matches"))
    return out.set_index("env") if len(out) else out


# -- the paper's protocol as reported (experiments/paper-reported*.yaml) ------------------------------
def with_roles(table: pd.DataFrame, roles: dict[str, str]) -> pd.DataFrame:
    """`table` with methods renamed to the roles the claims name (e.g. `fixed:relu-32x32` to
    `fixed-small`), so that `paper_claims` judges another grid's baselines in their place."""
    return table.assign(method=table["method"].replace(roles))


def switch_errors(runs: Sequence[RunResult]) -> pd.DataFrame:
    """One row per architecture change in these runs: how the new network took over (`inherit`) and
    how far it moved the Q-values on recent replay states (mean |Q_new - Q_old| / mean |Q_old|)."""
    rows = []
    for r in runs:
        ev = r.arch_events[r.arch_events["from_arch"].notna()]
        rows.extend({"method": r.config.method, "seed": r.config.seed, "inherit": r.config.inherit,
                     "step": int(e.step), "from_arch": e.from_arch, "to_arch": e.to_arch,
                     "q_change": float(e.morph_error), "preserving": bool(e.preserving)}
                    for e in ev.itertuples())
    return pd.DataFrame(rows, columns=["method", "seed", "inherit", "step", "from_arch", "to_arch", "q_change",
                                       "preserving"]).astype({"seed": int, "step": int, "q_change": float,
                                                              "preserving": bool})


def steps_to_learn(sweep: pd.DataFrame, archs: Sequence[str]) -> pd.Series:
    """Median steps to the normalised threshold of each of `archs` (as `fixed:<arch>` in the sweep)
    that the sweep ran, over its seeds; a seed that never got there counts as the budget."""
    out = {}
    for arch in archs:
        g = sweep[sweep["method"] == registry.fixed_method(arch)]
        if len(g):
            out[arch] = float(np.median(np.where(np.isfinite(g["steps_to_threshold"]), g["steps_to_threshold"],
                                                 g["steps"])))
    return pd.Series(out, name="median steps to threshold", dtype=float)


def switch_summary(changes: pd.DataFrame, runs: dict[str, int] | None = None) -> pd.DataFrame:
    """Per `who` (a label column of `switch_errors` rows): how many changes in how many runs, the share
    that preserved the function, and the median and 90th percentile of the Q-value change. `runs`
    (label: number of runs) adds the labels whose runs never changed, with 0 changes."""
    g = changes.astype({"q_change": float, "preserving": bool}).groupby("who", sort=False)
    out = pd.DataFrame({"changes": g.size(), "runs changing": g["seed"].nunique(),
                        "function-preserving": (100 * g["preserving"].mean()).round(0).astype(int).astype(str) + " %",
                        "median Q change": g["q_change"].median().round(3),
                        "90th percentile": g["q_change"].quantile(0.9).round(3)})
    unchanged = [label for label in runs or {} if label not in out.index]
    if unchanged:  # the Q-change columns take blanks below, so they hold objects (as pandas 4 requires)
        out = out.astype({"median Q change": object, "90th percentile": object})
    for label in unchanged:
        out.loc[label] = {"changes": 0, "runs changing": 0, "function-preserving": "",
                          "median Q change": "", "90th percentile": ""}  # blank, not nan: no change
    if runs:
        out.insert(1, "runs", [runs.get(label, np.nan) for label in out.index])
    out.index.name = None
    return out


def final_archs(runs_by_label: dict[str, Sequence[RunResult]]) -> pd.Series:
    """How many runs of each label end on each architecture (index: label, final architecture)."""
    rows = [(label, str(r.arch_events["to_arch"].iloc[-1])) for label, runs in runs_by_label.items() for r in runs]
    return pd.DataFrame(rows, columns=["method", "final architecture"]).groupby(
        ["method", "final architecture"]).size()


# -- AgileRL, a peer (benchmarks/agilerl_peer.py) ------------------------------------------------------
AGILERL = registry.AGILERL


def evolution_elite(table: pd.DataFrame, variant: str = "evolution") -> pd.DataFrame:
    """The elite of every round of AgileRL's runs of `variant` (`evolution`, or the `single`-agent
    diagnostic): its best agent by its own fitness, with the greedy return on our evaluation starts
    normalised like ours (`score`)."""
    elite = table[table["elite"].astype(bool) & (table["variant"] == variant)].copy()
    elite["score"] = M.normalised(elite["greedy_return"].to_numpy(float), elite["random_return"].to_numpy(float),
                                  elite["reference_return"].to_numpy(float))
    return elite.sort_values(["task", "seed", "round"], ignore_index=True)


def _at_common_steps(scores: pd.DataFrame, elite: pd.DataFrame) -> tuple[list[int], pd.DataFrame]:
    """The step counts where both our runs (a `book.score_table`) and AgileRL's elite were evaluated,
    and both sides' scores at those steps in one table (method, seed, step, score)."""
    steps = sorted(set(elite["total_steps"].astype(int)) & set(scores["step"].astype(int)))
    cols = ["method", "seed", "step", "score"]
    peer = elite[elite["total_steps"].isin(steps)].assign(method=AGILERL)
    both = pd.concat([scores[scores["step"].isin(steps)][cols], peer.assign(step=peer["total_steps"])[cols]],
                     ignore_index=True)
    return steps, both


def _mean_interval(v: np.ndarray) -> tuple[float, float, float]:
    """Mean with its t interval; no interval (NaN) from a single run, rather than a zero-width one."""
    return S.t_ci(v) if len(v) > 1 else (float(v.mean()), np.nan, np.nan)


def at_equal_steps(scores: pd.DataFrame, elite: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Our methods (a `book.score_table`) and AgileRL's elite at the environment-step counts where
    both were evaluated (AgileRL's round ends, counting the whole population's steps): per method
    and step, the mean normalised score with its t interval, and `reference` (e.g. nas) minus
    AgileRL with Welch's interval."""
    _, both = _at_common_steps(scores, elite)
    rows = []
    for (method, step), g in both.groupby(["method", "step"], sort=False):
        v = g["score"].to_numpy(float)
        point, low, high = _mean_interval(v)
        row = {"method": method, "step": int(step), "seeds": len(v), "score": point, "low": low, "high": high}
        ref = both[(both["method"] == reference) & (both["step"] == step)]["score"].to_numpy(float)
        if method == AGILERL and len(ref) > 1 and len(v) > 1:
            row["ref_minus_agilerl"], row["diff_low"], row["diff_high"] = S.welch_difference_ci(ref, v)
        rows.append(row)
    return pd.DataFrame(rows)


def common_auc(scores: pd.DataFrame, elite: pd.DataFrame) -> pd.DataFrame:
    """Sample efficiency at equal steps: per method (ours from a `book.score_table`, and AgileRL's
    elite), the area under each run's normalised curve over the step counts where both were
    evaluated (`metrics.area_under_curve` on those points only), as mean with its t interval."""
    steps, both = _at_common_steps(scores, elite)
    rows = []
    for method, g in both.groupby("method", sort=False):
        per_run = [M.area_under_curve(r["step"].to_numpy(), r["score"].to_numpy())
                   for _, r in g.sort_values("step").groupby("seed")]
        v = np.asarray(per_run, dtype=float)
        point, low, high = _mean_interval(v)
        rows.append({"method": method, "auc": point, "low": low, "high": high, "seeds": len(v),
                     "steps": ", ".join(f"{s:,}" for s in steps)})
    return pd.DataFrame(rows).set_index("method")


def last_step_changes(runs: Sequence[RunResult]) -> pd.DataFrame:
    """Per method: how many runs changed architecture at their very last step (so their final
    evaluation measured a network never trained), and the mean normalised score of that last
    evaluation beside the mean of the other evaluations that make up the final score."""
    rows = []
    for r in runs:
        c, a = r.config, r.anchors
        curve = M.normalised(M.eval_curve(r.evals), a["random_return"], a["reference_return"])
        changes = r.arch_events["step"].iloc[1:]  # the first row is the starting architecture
        rows.append({"method": c.method, "changed at the last step": bool((changes == c.steps).any()),
                     "last evaluation": float(curve.iloc[-1]),
                     "the final score's other evaluations": float(curve.iloc[-c.final_evals:-1].mean())})
    t = pd.DataFrame(rows)
    out = t.groupby("method", sort=False).agg(runs=("method", "size"),
                                              changed=("changed at the last step", "sum"),
                                              last=("last evaluation", "mean"),
                                              others=("the final score's other evaluations", "mean"))
    return out.rename(columns={"changed": "changed at the last step", "last": "last evaluation",
                               "others": "the other final evaluations"}).round(3)
