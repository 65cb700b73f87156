"""The ablations: NAS-DQN with one part changed, and the two controls that hold its moves fixed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nasdqn import analysis
from nasdqn import methods as registry
from nasdqn.analysis import Metric
from nasdqn.report.format import ci_text, code_list
from nasdqn.report.load import grid_description, grid_names, load_experiment

GROWTH_CONTROL = "ablation-growth"  # another seed's NAS-DQN moves, made at its times, with no feedback


FIXED_SCHEDULE_FRESH = "ablation-schedule-fresh"  # the same seed's moves and times, fresh weights


def ablation_answer(comps: dict[str, pd.DataFrame]) -> str:
    """The ablations chapter's answer, from its comparisons (full NAS-DQN minus each variant, one table
    per metric, Holm over the variants): does NAS-DQN learn from its scores, or does it only grow; and what
    inheriting the weights is worth with the moves held fixed."""
    def effect(variant: str, key: str) -> str:
        row = comps[key].set_index("against").loc[variant]
        return (f"{row['metric']} {ci_text(row['difference'], row['diff_low'], row['diff_high'], 3)} "
                f"(Holm p {row['welch_p_holm']:.2g})")

    def has(variant: str) -> bool:
        return all(variant in set(c["against"]) for c in comps.values())

    def significant(variant: str) -> tuple[bool, bool]:
        rows = [c.set_index("against").loc[variant] for c in comps.values()]
        return any(bool(r["better"]) for r in rows), any(bool(r["worse"]) for r in rows)

    labels = list(comps)
    parts = []
    if has(GROWTH_CONTROL):
        better, worse = significant(GROWTH_CONTROL)
        words = ("NAS-DQN beats the same kind of growth made without feedback: its scores add something beyond "
                 "growing." if better and not worse else
                 "The controller-free growth schedule is significantly better than NAS-DQN." if worse else
                 "NAS-DQN does no better than growth moves made without any feedback: on these data, what it does "
                 "is grow, not learn which architecture is best.")
        parts.append(f"**Learned or grew?** {words} Full NAS-DQN minus the controller-free growth schedule "
                     f"(`{GROWTH_CONTROL}`: another seed's moves at its times, no scores read): "
                     + "; ".join(effect(GROWTH_CONTROL, lab) for lab in labels) + ".")
    if has(FIXED_SCHEDULE_FRESH):
        better, worse = significant(FIXED_SCHEDULE_FRESH)
        words = ("Inheriting the weights helps" if better and not worse else
                 "Inheriting the weights hurts" if worse else "Inheriting the weights makes no significant difference")
        parts.append(f"**Weight inheritance, the moves held fixed.** {words}: full NAS-DQN minus the same moves at "
                     f"the same episodes with a fresh network at every change (`{FIXED_SCHEDULE_FRESH}`): "
                     + "; ".join(effect(FIXED_SCHEDULE_FRESH, lab) for lab in labels) + ".")
    return " ".join(parts)


def ablation_experiments() -> list[str]:
    """The ablation grids (experiments/ablation-*.yaml), by name."""
    return grid_names("ablation-")


# The paper grid's random controls, as variants of the controller (label -> what changes).
CONTROLLER_VARIANTS = {registry.RANDOM: "the paper's random search (a uniform draw every window)",
                       registry.RANDOM_MATCHED: "uniform draws at NAS-DQN's own switch times",
                       registry.RANDOM_FREEZE: "one uniform draw, held for the run"}
MEASURES = (Metric("final_score", "final score"), Metric("auc", "AUC"))


@dataclass
class Ablations:
    """The ablations chapter's data: the reference runs (the paper grid's nas) and every variant's."""

    table: pd.DataFrame  # metrics of every run, method = "nas" or the variant's label
    variants: dict[str, str]  # label -> what changes
    refused: list[str]
    hours: dict[str, float]  # ablation grid -> CPU-hours as run
    comps: dict[str, pd.DataFrame]  # measure column -> full NAS-DQN minus each variant (Holm over them)


def load_ablations(root: Path | None = None) -> Ablations | None:
    """The paper grid's nas runs against its random controls and every committed ablation grid; None
    without nas runs or variants."""
    paper = load_experiment("paper", root)
    if paper is None or registry.NAS not in set(paper.metrics["method"]):
        return None
    m = paper.metrics
    parts, variants, refused, hours = [m[m["method"] == registry.NAS]], {}, [], {}
    for control, what in CONTROLLER_VARIANTS.items():
        if (m["method"] == control).any():
            variants[f"controller: {control}"] = what
            parts.append(m[m["method"] == control].assign(method=f"controller: {control}"))
    for name in ablation_experiments():
        exp = load_experiment(name, root)
        if exp is None or exp.metrics.empty:
            continue
        variants[name] = grid_description(name).removeprefix("NAS-DQN ablation: ")
        refused += exp.refused
        hours[name] = exp.cpu_hours
        parts.append(exp.metrics.assign(method=name))
    if not variants:
        return None
    table = pd.concat(parts, ignore_index=True)
    comps = {metric.column: analysis.compare(table, metric, registry.NAS, list(variants)) for metric in MEASURES}
    return Ablations(table, variants, refused, hours, comps)



def ablation_text(ab: Ablations) -> str:
    """Which parts' removal significantly lowers or raises each measure, the grids' cost, and why
    distillation has no variant of its own (when the reference runs never broke the function)."""
    def moved(column: str, flag: str) -> list[str]:
        c = ab.comps[column]
        return [a for a, b in zip(c["against"], c[flag], strict=True) if b]

    breaks = int(ab.table.loc[ab.table["method"] == registry.NAS, "breaking_switches"].sum())
    return (f"Variants with data: {len(ab.variants)}. Parts whose removal significantly lowers the final score: "
            f"{code_list(moved('final_score', 'better'))}; whose change significantly raises it: "
            f"{code_list(moved('final_score', 'worse'))}. On AUC (sample efficiency): lowered by "
            f"{code_list(moved('auc', 'better'))}; raised by {code_list(moved('auc', 'worse'))}. Ablation grids: "
            + (", ".join(f"`{n}` {h:.1f} CPU-hours" for n, h in ab.hours.items()) or "none run") + " (as run)."
            + (" Morphing plus distillation is not a separate variant: distillation acts only after a move that "
               f"breaks the function, and the reference runs made {breaks} such moves in all." if breaks == 0 else ""))


def ablation_table(ab: Ablations) -> tuple[pd.DataFrame, str]:
    """Per variant: what changes, seeds, its final score, and full NAS-DQN minus it on both measures with
    Holm's p; and the reference's final score as text."""
    f, a = ab.comps["final_score"].set_index("against"), ab.comps["auc"].set_index("against")
    s_final = analysis.summary(ab.table, "final_score")
    names = list(ab.variants)
    out = pd.DataFrame({
        "what changes": pd.Series(ab.variants),
        "seeds": s_final["runs"].reindex(names),
        "final score [95% CI]": [ci_text(*s_final.loc[v, ["final_score", "low", "high"]]) for v in names],
        "effect on final score": [ci_text(*f.loc[v, ["difference", "diff_low", "diff_high"]]) for v in names],
        "Holm p (final)": f["welch_p_holm"].reindex(names).round(3),
        "effect on AUC": [ci_text(*a.loc[v, ["difference", "diff_low", "diff_high"]]) for v in names],
        "Holm p (AUC)": a["welch_p_holm"].reindex(names).round(3),
    })
    return out, ci_text(*s_final.loc[registry.NAS, ["final_score", "low", "high"]])
