"""The transfer chapter's rules and tables, on hand-made effects (the chapter runs them on the committed runs)."""

import pandas as pd

from nasdqn.report.transfer import Transfer, TransferReport, belief_table, effect_table, pooled_table, verdict_text


def _report(early: dict[str, str], start_early: dict[str, str] | None = None) -> TransferReport:
    def effects(words, against):
        return pd.DataFrame([{"env": env, "metric": m, "effect": word if m == "early AUC" else "no detected effect",
                              "against": against, against: 0.1, "transfer": 0.2, "difference": 0.1,
                              "diff_low": 0.05, "diff_high": 0.15, "p_holm": 0.01}
                             for env, word in words.items() for m in ("early AUC", "final score")])

    pairs = [Transfer(task, None, None, "control" if start_early else None) for task in early]
    pooled = pd.DataFrame([("fresh", "early AUC", 0.08, 0.05, 0.11), ("start control", "early AUC", 0.04, 0.01, 0.07)],
                          columns=["transfer minus", "measure", "difference", "low", "high"])
    return TransferReport(pairs, pd.DataFrame(), effects(early, "fresh"),
                          effects(start_early, "start control") if start_early else pd.DataFrame(), pooled,
                          pd.Series(dtype=float), ["src"], ["relu-64x64x64"], {}, 10, 31)


def test_the_verdict_says_yes_no_or_on_some_targets_by_the_early_auc_effects():
    assert "**Yes**, on every target." in verdict_text(_report({"a": "helps", "b": "helps"}))
    no = verdict_text(_report({"a": "hurts", "b": "no detected effect"}))
    assert "**No**: on no target did transfer raise the early AUC detectably, and it lowered it on `a`." in no
    some = verdict_text(_report({"a": "helps", "b": "no detected effect"}, {"a": "no detected effect",
                                                                            "b": "helps"}))
    assert "**On some targets**: it raised the early AUC on `a`, not on `b`." in some
    assert "Averaged over the 2 targets, it changes the early AUC by 0.08 [0.05, 0.11]." in some
    assert ("started at `relu-64x64x64` (the start control), transfer's early AUC is higher on `b`, lower on none, "
            "and not detectably different on `a` (averaged over the targets: 0.04 [0.01, 0.07])") in some
    assert "start control" not in verdict_text(_report({"a": "helps"}))


def test_the_effect_and_pooled_tables_carry_the_intervals_as_text():
    rep = _report({"a": "helps"})
    table = effect_table(rep.effects)
    assert table.loc[("a", "early AUC"), "transfer - other [95% CI]"] == "0.10 [0.05, 0.15]"
    assert list(table.columns) == ["fresh", "transfer", "transfer - other [95% CI]", "Holm p", "effect"]
    assert pooled_table(rep).loc[("start control", "early AUC"), "difference [95% CI]"] == "0.04 [0.01, 0.07]"


def test_the_belief_table_ranks_the_pooled_models_favourites_against_hindsight():
    values = pd.Series({"a": 2.0, "b": 1.0, "c": 0.5, "d": 0.0, "e": -1.0, "f": -2.0})
    ranking = pd.DataFrame({"rank": [1, 2, 3, 4, 5, 6]}, index=["c", "a", "b", "d", "f", "e"])
    table, text = belief_table(values, ranking)
    assert list(table.index) == ["a", "b", "c", "d", "e"] and list(table["hindsight rank"]) == [2, 3, 1, 4, 6]
    assert "span 4.00 noise units" in text and "`c`, is valued 0.50, rank 3 of 6 in the pooled model" in text
    assert "rank 2, 3, 1, 4, 6 of 6 in hindsight" in text
    assert "hindsight" not in belief_table(values, None)[1]
