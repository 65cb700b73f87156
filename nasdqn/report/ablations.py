"""The ablations: NAS-DQN with one part changed, and the two controls that hold its moves fixed."""

from __future__ import annotations

import pandas as pd

from nasdqn.report.format import ci_text
from nasdqn.report.load import grid_names

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
