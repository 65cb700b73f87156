"""A Sphinx extension: the book's formulas rendered by a MathJax shipped inside the built book.

The MathJax files come from the `sphinx-mathjax-offline` distribution (a dependency); that package's
own extension does not declare itself safe for parallel reading, so Sphinx would read every chapter
serially (and `-W` turns its warning into an error). This one only adds those files as a static path.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

MATHJAX_ENTRY = "mathjax/tex-chtml.js"


def mathjax_static_dir() -> Path:
    """The folder holding `mathjax/` in the installed sphinx-mathjax-offline distribution."""
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or spec.origin is None:
        raise RuntimeError("the book needs the sphinx-mathjax-offline package for its offline formulas: "
                           "make install")
    static = Path(spec.origin).parent / "static"
    if not (static / MATHJAX_ENTRY).is_file():
        raise RuntimeError(f"sphinx-mathjax-offline has no {MATHJAX_ENTRY} under {static}")
    return static


def _add_static(app: Any, config: Any) -> None:
    config.html_static_path = [*config.html_static_path, str(mathjax_static_dir())]
    config.mathjax_path = MATHJAX_ENTRY


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", _add_static)
    # sphinx_external_toc always loads sphinx_multitoc_numbering, which declares nothing, so Sphinx would
    # read serially. It only renumbers sections once all chapters are read (it replaces the toctree
    # collector's assign_section_numbers) and keeps no state while reading: it is safe in parallel.
    multitoc = app.extensions.get("sphinx_multitoc_numbering")
    if multitoc is not None and multitoc.parallel_read_safe is None:
        multitoc.parallel_read_safe = True
    return {"parallel_read_safe": True, "parallel_write_safe": True}
