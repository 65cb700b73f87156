"""The report layer: what the book's chapters call, as `report.<module>.<function>`. `load`, `format`
and `figures` are shared; each other module serves one family of chapters. Chapters pass numbers as
numbers; text is made only at the end."""

from nasdqn.report import (  # noqa: F401  (the chapters reach every module through the package)
    ablations,
    claims,
    dynamics,
    figures,
    format,
    hindsight,
    load,
    overhead,
    peers,
    protocol,
    results,
    selection,
    setup,
    tasks,
    transfer,
)
