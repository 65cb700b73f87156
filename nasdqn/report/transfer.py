"""Transfer: NAS-DQN whose controller starts from another task's runs, against fresh controllers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nasdqn import analysis
from nasdqn.analysis import Metric
from nasdqn.controllers import read_controller_states
from nasdqn.methods import make_controller
from nasdqn.report.format import ci_text, code_list, search_table
from nasdqn.report.load import Experiment, grid_description, grid_names, load_experiment, score_table

# A transfer grid transfer-<task> has a fresh reference, transfer-<task>-fresh, and may have a control,
# transfer-<task>-start: a fresh controller started at the architecture the transferred model values most.
TRANSFER_PREFIX, FRESH_SUFFIX, START_SUFFIX = "transfer-", "-fresh", "-start"


@dataclass
class Transfer:
    """A transfer grid's runs, those of its fresh reference and, if run, of its start control."""

    task: str
    transfer: Experiment
    fresh: Experiment
    start: Experiment | None


def transfer_experiments() -> list[str]:
    """The controller-transfer grids (experiments/transfer-*.yaml, without their references and controls)."""
    return [name for name in grid_names(TRANSFER_PREFIX) if not name.endswith((FRESH_SUFFIX, START_SUFFIX))]


def load_transfer(name: str, root: Path | None = None) -> Transfer | None:
    """A transfer grid with its fresh reference and start control; None when the transfer grid or its
    reference has no runs (the control is optional)."""
    transfer, fresh = load_experiment(name, root), load_experiment(name + FRESH_SUFFIX, root)
    if transfer is None or fresh is None or not transfer.runs or not fresh.runs:
        return None
    start = load_experiment(name + START_SUFFIX, root)
    return Transfer(name.removeprefix(TRANSFER_PREFIX), transfer, fresh, start if start and start.runs else None)


# The arms of a transfer comparison: attribute of `Transfer` -> the label tables and text use.
ARMS = {"fresh": "fresh", "transfer": "transfer", "start": "start control"}
MEASURES = (Metric("early_auc", "early AUC"), Metric("auc", "AUC"), Metric("final_score", "final score"))
PER_RUN = ("seed", "experiment")  # options that differ between runs of one arm by design


def arms(t: Transfer) -> dict[str, Experiment]:
    """A target's arms that have runs, by label."""
    return {label: getattr(t, key) for key, label in ARMS.items() if getattr(t, key) is not None}



@dataclass
class TransferReport:
    """Everything the transfer chapter shows, computed once from its targets' runs."""

    pairs: list[Transfer]
    table: pd.DataFrame  # one row per run: metrics, with method = arm label and env = target
    effects: pd.DataFrame  # transfer minus fresh, per target and measure
    vs_start: pd.DataFrame  # transfer minus the start control (empty without one)
    pooled: pd.DataFrame  # the same differences averaged over the targets
    values: pd.Series  # the pooled controller's believed value of every architecture
    sources: list[str]  # the ctrl_init the transfer runs name (one)
    starts: list[str]  # the start controls' start_arch
    confounds: dict[str, list[str]]  # target -> options its arms differ in beyond the one they are about
    states: int  # controller states pooled
    learned: int  # gains they measured and learned from

    @property
    def controls(self) -> list[Transfer]:
        return [t for t in self.pairs if t.start is not None]


def transfer_report(pairs: Sequence[Transfer]) -> TransferReport:
    """Effects of transfer against each reference, per target and pooled, and what was transferred.
    Refuses targets whose transfer runs name different controller sources: the chapter shows one model."""
    pairs = list(pairs)
    table = pd.concat([exp.metrics.assign(method=label, env=t.task) for t in pairs for label, exp in arms(t).items()],
                      ignore_index=True)
    controls = [t for t in pairs if t.start is not None]
    effects = analysis.transfer_effects(table, MEASURES)
    vs_start = analysis.transfer_effects(table, MEASURES, reference=ARMS["start"]) if controls else pd.DataFrame()
    sources = sorted({r.config.ctrl_init for t in pairs for r in t.transfer.runs})
    if len(sources) != 1:
        raise ValueError(f"the transfer grids name {len(sources)} ctrl_init sources ({sources}); the chapter "
                         "shows one pooled model: give every transfer grid the same ctrl_init")
    controller = make_controller(pairs[0].transfer.runs[0].config, np.random.default_rng(0))
    values = pd.Series(controller.believed_values(), index=[str(a) for a in controller.archs])
    confounds = {t.task: d for t in pairs
                 if (d := analysis.config_differences(t.fresh.runs, t.transfer.runs, PER_RUN)) != ["ctrl_init"]}
    confounds.update({f"{t.task} (start control)": d for t in controls
                      if (d := analysis.config_differences(t.fresh.runs, t.start.runs, PER_RUN)) != ["start_arch"]})
    states = [s for source in sources for s in read_controller_states(source)]
    references = [ARMS["fresh"]] + ([ARMS["start"]] if controls else [])
    pooled = pd.DataFrame([(ref, m.label, *analysis.pooled_effect(table, m.column, reference=ref))
                           for ref in references for m in MEASURES],
                          columns=["transfer minus", "measure", "difference", "low", "high"])
    return TransferReport(pairs, table, effects, vs_start, pooled, values, sources,
                          sorted({r.config.start_arch for t in controls for r in t.start.runs}), confounds,
                          len(states), sum(bool(o.get("learned")) for s in states for o in s.get("observations", [])))


def _pooled_early(rep: TransferReport, reference: str) -> str:
    row = rep.pooled[(rep.pooled["measure"] == "early AUC") & (rep.pooled["transfer minus"] == reference)].iloc[0]
    return ci_text(row["difference"], row["low"], row["high"])


def transfer_text(rep: TransferReport) -> str:
    """The chapter's opening numbers: targets, the pooled model, whether the arms are clean, early effects."""
    early = analysis.tasks_by_effect(rep.effects, "early AUC")
    return (f"Targets with data: {len(rep.pairs)} ({len(rep.controls)} with the start control). The transferred "
            f"model pools {rep.states} runs ({code_list(rep.sources)}) and the {rep.learned} gains they measured and "
            "learned from. "
            + ("In every pair the arms' configurations differ only in `ctrl_init` (transfer) or `start_arch` (start "
               "control). " if not rep.confounds else
               "**Confounded**: " + "; ".join(f"{k} also differs in {code_list(v)}" for k, v in rep.confounds.items())
               + ". ")
            + f"**Early learning** (early AUC): transfer helps on {code_list(early['helps'])}, hurts on "
            f"{code_list(early['hurts'])}, and has no detected effect on {code_list(early['no detected effect'])}.")


def verdict_text(rep: TransferReport) -> str:
    """The chapter's answer, by a rule fixed here: yes when transfer raises the early AUC detectably on
    every target, no when on none, else on some; then the final score and the start control."""
    early, final = (analysis.tasks_by_effect(rep.effects, m) for m in ("early AUC", "final score"))
    if early["helps"] and not (early["hurts"] or early["no detected effect"]):
        answer = "**Yes**, on every target."
    elif not early["helps"]:
        answer = ("**No**: on no target did transfer raise the early AUC detectably"
                  + (f", and it lowered it on {code_list(early['hurts'])}." if early["hurts"] else "."))
    else:
        answer = (f"**On some targets**: it raised the early AUC on {code_list(early['helps'])}, not on "
                  f"{code_list(early['hurts'] + early['no detected effect'])}.")
    text = (f"Does transferred search knowledge help early learning? {answer} Averaged over the {len(rep.pairs)} "
            f"targets, it changes the early AUC by {_pooled_early(rep, ARMS['fresh'])}. On the final score, "
            f"transfer helps on {code_list(final['helps'])} and hurts on {code_list(final['hurts'])}.")
    if rep.controls:
        beyond = analysis.tasks_by_effect(rep.vs_start, "early AUC")
        text += (f" Against a fresh controller started at {code_list(rep.starts)} (the start control), transfer's "
                 f"early AUC is higher on {code_list(beyond['helps'])}, lower on {code_list(beyond['hurts'])}, and not "
                 f"detectably different on {code_list(beyond['no detected effect'])} (averaged over the targets: "
                 f"{_pooled_early(rep, ARMS['start'])}). Where the two do not differ detectably, these data cannot "
                 "tell transfer apart from simply starting at that network.")
    return text


def targets_table(rep: TransferReport) -> pd.DataFrame:
    """Per target: what it is, its budget, and each arm's seeds and CPU-hours as run."""
    return pd.DataFrame([{
        "task": t.task,
        "what": grid_description(t.transfer.name).removeprefix("NAS-DQN on ").split(";")[0],
        "steps": t.transfer.runs[0].config.steps,
        **{f"seeds ({label})": len(exp.runs) for label, exp in arms(t).items()},
        **{f"CPU-hours ({label})": round(exp.cpu_hours, 2) for label, exp in arms(t).items()},
    } for t in rep.pairs]).set_index("task")


def belief_table(values: pd.Series, ranking: pd.DataFrame | None) -> tuple[pd.DataFrame, str]:
    """The pooled model's five most valued architectures (with their hindsight rank, given `ranking`),
    and a sentence on how far its values spread and where it puts the hindsight best."""
    out = values.nlargest(5).rename("believed value").to_frame()
    text = (f"A fresh model values every architecture equally; the pooled model's values span "
            f"{values.max() - values.min():.2f} noise units from worst to best.")
    if ranking is not None:
        out["hindsight rank"] = ranking["rank"].reindex(out.index)
        best = ranking.index[0]
        own = int((values > values[best]).sum()) + 1
        text += (f" The hindsight best, `{best}`, is valued {values[best]:.2f}, rank {own} of {len(values)} in the "
                 f"pooled model; the pooled model's top five rank {', '.join(map(str, out['hindsight rank']))} "
                 f"of {len(ranking)} in hindsight.")
    return out.round(2), text


def effect_table(effects: pd.DataFrame) -> pd.DataFrame:
    """`transfer_effects` as the chapter shows it: per target and measure, both arms' means, the
    difference with its interval, Holm's p and the effect word."""
    out = effects.rename(columns={"env": "task", "metric": "measure", "p_holm": "Holm p"})
    out["transfer - other [95% CI]"] = [ci_text(*row) for row in
                                        effects[["difference", "diff_low", "diff_high"]].to_numpy()]
    other = effects["against"].iloc[0]
    return out.set_index(["task", "measure"])[[other, "transfer", "transfer - other [95% CI]", "Holm p",
                                               "effect"]].round(3)


def pooled_table(rep: TransferReport) -> pd.DataFrame:
    """The differences averaged over the targets, per reference and measure, with their intervals."""
    out = rep.pooled.assign(**{"difference [95% CI]": [ci_text(*r) for r in
                                                        rep.pooled[["difference", "low", "high"]].to_numpy()]})
    return out.set_index(["transfer minus", "measure"])[["difference [95% CI]"]]


def transfer_scores(rep: TransferReport) -> pd.DataFrame:
    """Every arm's evaluation curves (`score_table`), labelled by target and arm, for the curve figure."""
    return pd.concat([score_table(exp.runs).assign(env=t.task, method=label)
                      for t in rep.pairs for label, exp in arms(t).items()], ignore_index=True)


def search_summary(rep: TransferReport) -> tuple[pd.DataFrame, str]:
    """How the controllers searched per target and arm (`search_table`), and how many runs of each arm
    end on the transferred model's favourite architecture."""
    table, top = rep.table, rep.values.idxmax()
    n = table.groupby(["env", "method"]).size()
    ends = table[table["final_arch"] == top].groupby(["env", "method"]).size()
    text = f"Runs that end on the transferred model's favourite, `{top}`: " + "; ".join(
        f"{task} " + ", ".join(f"{int(ends.get((task, a), 0))} of {int(n[(task, a)])} {a}"
                               for a in ARMS.values() if (task, a) in n.index)
        for task in dict.fromkeys(table["env"])) + "."
    return search_table(table, ["env", "method"]), text
