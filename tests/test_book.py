"""The notebooks and the book: nbval on the run notebook and the chapters, and `jupyter-book build -W`
on fresh smoke data (in a temporary copy) and on the committed data. Nothing is written in the repo."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nasdqn.cli import main

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHAPTERS = sorted((REPO / "book").glob("*.ipynb"))


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory) -> Path:
    """experiments/smoke.yaml through papermill on the local pool, into a temporary data root."""
    root = tmp_path_factory.mktemp("smoke") / "data"
    assert main(["batch", str(REPO / "experiments" / "smoke.yaml"), "--root", str(root), "--quiet"]) == 0
    return root


def _run(cmd: list, env_extra: dict, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_extra}
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _nbval(notebooks: list[Path], env_extra: dict, cwd: Path) -> None:
    """nbval over `notebooks`: it makes one test of every code cell, so every code cell must have run and
    passed (or been skipped by an NBVAL_SKIP marker), none failed."""
    import nbformat

    out = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                "--rootdir", cwd, *notebooks], env_extra, cwd)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    summary = out.stdout.strip().splitlines()[-1]
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|errors?)", summary)}
    cells = sum(c.cell_type == "code" for nb in notebooks for c in nbformat.read(nb, as_version=4).cells)
    assert counts.get("passed", 0) > 0 and counts.get("passed", 0) + counts.get("skipped", 0) == cells, summary
    assert not counts.get("failed") and not counts.get("error") and not counts.get("errors"), summary


def test_run_notebook_under_nbval(tmp_path):
    """The run notebook with tiny parameters (injected as papermill would) executes and its checked
    output (the run's status) is what the committed notebook says."""
    import papermill

    nb = tmp_path / "run.ipynb"
    params = {"steps": 600, "learning_starts": 100, "eval_every": 300, "eval_episodes": 2, "horizon": 100,
              "method": "nas", "search_interval": 1, "out_dir": str(tmp_path / "run")}
    papermill.execute_notebook(REPO / "notebooks" / "run.ipynb", nb, parameters=params, prepare_only=True,
                               kernel_name="python3")
    _nbval([nb], {}, tmp_path)
    assert (tmp_path / "run" / "meta.json").exists()


def test_chapters_under_nbval(smoke_data, tmp_path):
    _nbval(CHAPTERS, {"NASDQN_DATA": str(smoke_data)}, REPO / "book")


def _build(data_root: Path, tmp_path: Path, parallel: bool) -> Path:
    """The book built by `jupyter-book build -W` itself, or (`parallel`) by `nasdqn book` as `make book` does."""
    site = tmp_path / "site"
    site.mkdir()
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(REPO / name, site / name)
    shutil.copytree(REPO / "book", site / "book")
    cmd = ([BIN / "nasdqn", "book", site, "--out", site / "_build" / "html", "--jobs", "2", "--quiet"] if parallel
           else [BIN / "jupyter-book", "build", site, "-W", "--keep-going"])
    out = _run(cmd, {"NASDQN_DATA": str(data_root)}, site)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    if parallel:
        assert f"{len(CHAPTERS)} chapters executed" in out.stdout  # every chapter ran, and was timed
    return site / "_build" / "html"


def test_book_builds_without_warnings_on_fresh_smoke_data(smoke_data, tmp_path):
    html = _build(smoke_data, tmp_path, parallel=False)
    page = (html / "book" / "results.html").read_text()
    assert "smoke" in page and "fixed-medium" in page
    assert "0 run directories refused" in (html / "book" / "setup.html").read_text()


def test_book_builds_without_warnings_from_committed_data_and_reads_cleanly_offline(tmp_path):
    from nasdqn.bookcheck import check_book, find_browser

    html = _build(REPO / "data", tmp_path, parallel=True)
    assert (html / "book" / "results.html").exists()
    assert (html / "_static" / "mathjax" / "tex-chtml.js").exists()  # formulas need no CDN
    if find_browser() is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs a headless browser for the offline reading check: make browser")
        pytest.skip("no headless browser (make browser installs chromium-headless-shell)")
    assert check_book(html) == {}


def test_bookcheck_finds_what_a_reader_would():
    """The offline reading check on pages made to fail it (no browser needed: the DOM is given)."""
    from nasdqn.bookcheck import problems

    page = Path("/nonexistent/book/p.html")
    clean = ('<p>ok <span class="math"><mjx-container>x</mjx-container></span></p>'
             '<table><tr><td>0.95 [0.93, 0.97]</td><td>none</td></tr></table><pre>{doc}`in code is fine`</pre>')
    assert problems(page, clean) == []
    bad = ('<p>see {doc}`hindsight`</p><span class="math notranslate">\\(x^2\\)</span>'
           '<table><tr><td>nan [nan, nan]</td></tr></table><img src="missing.png">'
           '<script src="https://cdn.example.org/mathjax.js"></script>')
    found = problems(page, bad)
    assert any("raw TeX" in f for f in found) and "unresolved role {doc}" in found
    assert any(f.startswith("nan in a table cell") for f in found)
    assert "broken image missing.png" in found and any("fetched from the network" in f for f in found)
    internal = problems(page, "<p>as in <code>../shared/paper/facts.md</code>, DESIGN.md and issue 7</p>")
    assert internal == ["internal reference '../shared'", "internal reference 'DESIGN.md'",
                        "internal reference 'issue 7'"]
