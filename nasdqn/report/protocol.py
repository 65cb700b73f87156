"""The paper's protocol as a third party reported it, judged beside ours."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nasdqn import analysis
from nasdqn import methods as registry
from nasdqn.records import RunResult
from nasdqn.report.claims import claims_table
from nasdqn.report.load import Experiment, load_experiment

# -- the paper's protocol as a third party reported it ------------------------------------------------
REPORTED_EXPERIMENT = "paper-reported"


# Our learned controllers in that protocol: each one's nas runs come from its own grid.
REPORTED_CONTROLLERS = {"gain": REPORTED_EXPERIMENT, "reinforce": REPORTED_EXPERIMENT + "-reinforce"}


ROLES = registry.of_family(registry.FIXED)  # the paper's three fixed networks, small to large


OURS_LIKE = "ours, paper's comparators"  # our protocol's verdict against the comparators both protocols have


def reported_roles(exp: Experiment) -> dict[str, str]:
    """The reported grid's fixed networks in the roles of the paper's three baselines, by size."""
    fixed = exp.metrics[exp.metrics["method"].map(registry.is_fixed_pattern).astype(bool)]
    by_size = fixed.groupby("method")["final_params"].first().sort_values().index
    return dict(zip(by_size, ROLES, strict=False))


def _replace_nas(base: Experiment, nas: Experiment, name: str) -> Experiment:
    learned = registry.NAS
    keep = [r for r in base.runs if r.config.method != learned] + [r for r in nas.runs if r.config.method == learned]
    metrics = pd.concat([base.metrics[base.metrics["method"] != learned],
                         nas.metrics[nas.metrics["method"] == learned]], ignore_index=True)
    return Experiment(name, keep, base.refused + nas.refused, metrics)


def load_reported(root: Path | None = None) -> dict[str, Experiment]:
    """The reported protocol's grid once per learned controller (its nas runs swapped in), with the
    fixed networks renamed to the baseline roles; empty without its data."""
    base = load_experiment(REPORTED_EXPERIMENT, root)
    if base is None or base.metrics.empty:
        return {}
    roles = reported_roles(base)
    out = {}
    for ctrl, name in REPORTED_CONTROLLERS.items():
        nas = base if name == REPORTED_EXPERIMENT else load_experiment(name, root)
        if nas is None or registry.NAS not in set(nas.metrics.get("method", [])):
            continue
        exp = _replace_nas(base, nas, name) if nas is not base else base
        out[ctrl] = Experiment(exp.name, exp.runs, exp.refused, analysis.with_roles(exp.metrics, roles))
    return out


def protocol_verdicts(ours: Experiment, sweep: pd.DataFrame | None, reported: dict[str, Experiment]) -> pd.DataFrame:
    """Every claim's verdict in our protocol (as the claims chapter gives it, and against the paper's
    own comparators only, without the sweep's best fixed design) beside its verdict in the reported
    protocol for each learned controller (there is no sweep of that space: the paper's comparators),
    with the weakest effect behind each reported verdict."""
    cols = {"ours": claims_table(ours, sweep)[0], OURS_LIKE: claims_table(ours, None)[0]}
    for ctrl, exp in reported.items():
        cols[f"reported, {ctrl}"] = claims_table(exp, None)[0]
    claims = list(dict.fromkeys(c for t in cols.values() for c in t.index))
    out = pd.DataFrame(index=pd.Index(claims, name="claim"))
    out["source"] = [next(t.loc[c, "source"] for t in cols.values() if c in t.index) for c in claims]
    for name, t in cols.items():
        out[name] = t["verdict"].reindex(claims).fillna("not judged")
    for ctrl in reported:
        t = cols[f"reported, {ctrl}"]
        effect = t.get("weakest effect [95% CI]", pd.Series(dtype=str))
        out[f"weakest effect, {ctrl}"] = effect.reindex(claims).fillna("")
    like = out[OURS_LIKE]
    out["changed for"] = [", ".join(ctrl for ctrl in reported if out.loc[c, f"reported, {ctrl}"] != like[c])
                          for c in out.index]
    return out


def reported_searches(reported: dict[str, Experiment]) -> dict[str, list[RunResult]]:
    """The searching runs of the reported protocol by label: random, random-freeze and NAS-DQN with each
    learned controller (`nas (gain)`, `nas (reinforce)`)."""
    out: dict[str, list[RunResult]] = {}
    first = next(iter(reported), None)  # the random controls are the same runs in every controller's grid
    for ctrl, exp in reported.items():
        for r in exp.runs:
            if r.config.method == registry.NAS:
                out.setdefault(f"{registry.NAS} ({ctrl})", []).append(r)
            elif r.config.method in (registry.RANDOM, registry.RANDOM_FREEZE) and ctrl == first:
                out.setdefault(r.config.method, []).append(r)
    return out


def protocol_answer(verdicts: pd.DataFrame, controllers: list[str]) -> str:
    """The protocol chapter's first paragraph, from `protocol_verdicts`: the reported protocol's
    verdicts with the first controller, and every claim whose verdict differs from our protocol's
    against the same comparators."""
    col = f"reported, {controllers[0]}"
    counts = ", ".join(f"{n} {v}" for v, n in verdicts[col].value_counts().items())
    changed = verdicts[verdicts["changed for"] != ""]
    supported = ("reproduced", "partly")
    theirs = int(verdicts[col].isin(supported).sum())
    mine = int(verdicts[OURS_LIKE].isin(supported).sum())
    fare = "better" if theirs > mine else "worse" if theirs < mine else "neither better nor worse"
    contra = [int((verdicts[c] == "contradicted").sum()) for c in (col, OURS_LIKE)]
    text = (f"**Run as reported, the paper's claims fare {fare} than in our protocol**: {theirs} reproduced or "
            f"partly reproduced against {mine} in ours and {contra[0]} contradicted against {contra[1]}, against "
            f"the same comparators. With our {controllers[0]} controller the {len(verdicts)} claims read: {counts}. ")
    if not len(changed):
        return text + "Against the same comparators, no verdict differs from our protocol's."
    parts = []
    for claim, row in changed.iterrows():
        theirs = ", ".join(f"{row[f'reported, {c}']} with {c}" for c in controllers)
        parts.append(f"*{claim}* ({row[OURS_LIKE]} in ours; {theirs})")
    return (text + f"Against the same comparators, {len(changed)} verdict(s) differ from our protocol's: "
            + "; ".join(parts) + ".")
