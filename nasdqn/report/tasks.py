"""The other tasks: the searches and the fixed networks beside the paper's pendulum."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from nasdqn import analysis
from nasdqn import methods as registry
from nasdqn.report.format import ci_text
from nasdqn.report.load import Experiment, joined_experiment

ENVS_EXPERIMENT = "envs"


def with_paper_task(tasks: Experiment, paper: Experiment | None) -> Experiment:
    """The other tasks' grid with the paper's pendulum as one more task (its own grid, budget and
    settings), keeping only the paper grid's methods that the other grid also ran: the six-task set
    the aggregates are computed over. Scores are normalised alike (0 random, 1 the task's reference)."""
    if paper is None or paper.metrics.empty:
        return tasks
    shared = set(tasks.metrics["method"])
    kept = Experiment(paper.name, [r for r in paper.runs if r.config.method in shared], [],
                      paper.metrics[paper.metrics["method"].isin(shared)])
    return joined_experiment(f"{tasks.name}+{paper.name}", [tasks, kept])


def across_tasks_text(table: pd.DataFrame, method: str, others: Sequence[str], metric: str = "final_score") -> str:
    """One sentence: `method`'s average probability of improvement over each of `others` across the
    tasks of `table` (`analysis.average_improvement`), with its interval and the tasks it spans."""
    poi = analysis.average_improvement(table, metric, method, others)
    if poi.empty:
        return f"`{method}` shares no task with {', '.join(others)}."
    parts = [f"`{o}` {ci_text(*poi.loc[o, ['poi', 'low', 'high']])}" for o in poi.index]
    spans = sorted(set(poi["tasks"]))
    return (f"Average probability that a `{method}` run beats a run of the other method on the same task "
            f"(0.5: no difference; {' or '.join(str(t) for t in spans)} tasks): " + "; ".join(parts) + ".")


def verdict_table(verdicts: pd.DataFrame, control: str = registry.RANDOM) -> pd.DataFrame:
    """`analysis.task_verdicts` as the book shows it: one row per task, intervals as text."""
    def cis(prefix: str) -> list[str]:
        return [ci_text(*r) for r in verdicts[[f"{prefix}_difference", f"{prefix}_low", f"{prefix}_high"]].to_numpy()]

    return pd.DataFrame({
        "best fixed": verdicts["best_fixed"],
        "NAS-DQN minus best fixed [95% CI]": cis("fixed"),
        "P(NAS-DQN run > best fixed run) [95% CI]": [
            ci_text(*r) for r in verdicts[["fixed_poi", "fixed_poi_low", "fixed_poi_high"]].to_numpy()],
        "better than / worse than (of 3 fixed)": [
            f"{b} / {w}" for b, w in verdicts[["better_than", "worse_than"]].to_numpy()],
        "verdict": verdicts["verdict"],
        "detectable difference (80% power)": verdicts["fixed_mde"].round(2),
        f"NAS-DQN minus {control} [95% CI]": cis("control"),
        f"beats {control}": verdicts["beats_control"],
    })


def verdict_text(final: pd.DataFrame, auc: pd.DataFrame, control: str = "the paper's random search") -> str:
    """The per-task verdicts on final score and AUC (`analysis.task_verdicts`) in words, with the range
    of differences the seeds could have detected, so that a `ties` is not read as an equivalence."""
    def listing(v: pd.DataFrame, word: str) -> str:
        tasks = [e for e, x in v["verdict"].items() if x == word]
        return f"{word} on {', '.join(tasks) if tasks else 'none'}"

    def span(v: pd.DataFrame) -> str:
        mde = v["fixed_mde"]
        if len(mde) == 1:
            return f"{mde.iloc[0]:.2f}"
        return f"{mde.min():.2f} to {mde.max():.2f} (median {mde.median():.2f})"

    ran = int(final["control_difference"].notna().sum())
    if not ran:
        against_control = f"{control[0].upper()}{control[1:]} has not run on these tasks yet."
    else:
        where = "" if ran == len(final) else " where it ran"
        against_control = (f"It beats {control} on final score on {int(final['beats_control'].sum())} of the "
                           f"{ran} tasks{where}.")
    return (f"On final score NAS-DQN {listing(final, 'helps')}; {listing(final, 'hurts')}; {listing(final, 'ties')}. "
            f"On the area under the learning curve (sample efficiency) it {listing(auc, 'helps')}; "
            f"{listing(auc, 'hurts')}; {listing(auc, 'ties')}. {against_control} A tie is not a shown "
            f"equivalence: with these seeds a difference to the best fixed network had to be about {span(final)} "
            "in final score and "
            f"{span(auc)} in AUC to be found with 80% power at the strictest Holm threshold (column 'detectable "
            "difference'); smaller effects could hide in every 'ties'.")
