"""How numbers are written in the book: intervals, table cells and the methods' order."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from nasdqn import analysis
from nasdqn import methods as registry

METHOD_ORDER = tuple(m.name for m in registry.entries() if m.listed)  # the methods' place in tables and figures


def method_order(methods) -> list[str]:
    return registry.order(methods)


def ci_text(point: float, low: float, high: float, digits: int = 2) -> str:
    """'point [low, high]' for tables ('no value' where there is none, the point alone where there is
    no interval, e.g. from one seed; never 'nan')."""
    if not np.isfinite(point):
        return "no value"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{point:.{digits}f} (no interval)"
    return f"{point:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def search_table(table: pd.DataFrame, by: str | list[str] = "method") -> pd.DataFrame:
    """`analysis.search_summary` for reading: the first switch as a whole step, or `none` where no run
    of the group switched."""
    out = analysis.search_summary(table, by)
    out["first_switch"] = ["none" if pd.isna(v) else f"{v:.0f}" for v in out["first_switch"]]
    return out


def summary_cell(row: pd.Series, column: str, digits: int = 2) -> str:
    """One `analysis.summary` row as a table cell: the statistic with its interval over the runs that
    got there, and how many never did (a censored time is counted, never averaged as a number)."""
    runs, missing = int(row["runs"]), int(row["missing"])
    if missing == runs:
        return f"never ({runs} of {runs} runs)"
    text = ci_text(row[column], row["low"], row["high"], digits)
    return text + (f"; {missing} of {runs} never" if missing else "")


def code_list(names: Sequence[str]) -> str:
    """Names as inline code, comma-separated; "none" for an empty list."""
    return ", ".join(f"`{x}`" for x in names) if names else "none"
