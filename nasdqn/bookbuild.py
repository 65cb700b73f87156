"""`nasdqn book`: the Jupyter Book built with its chapters executed in parallel, and the time each took.

`jupyter-book build` (version 1) reads, and so executes, the chapters one after another. Sphinx itself
can read them in parallel processes: this builds the same book from the same `_config.yml` and
`_toc.yml` (turned into a Sphinx configuration by `jupyter-book config sphinx`) with `sphinx-build -j`.
Every chapter is still executed on every build (`execute_notebooks: force`), so nothing stale is shown.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from nasdqn.errors import ConfigError

# myst-nb's log line when a chapter has run: "<path>.ipynb: Executed notebook in 8.22 seconds [mystnb]"
_EXECUTED = re.compile(r"(?P<path>\S+\.ipynb): Executed notebook in (?P<seconds>[0-9.]+) seconds")


@dataclass(frozen=True)
class BookBuild:
    returncode: int
    seconds: float  # wall time of the whole build
    chapter_seconds: dict[str, float]  # execution time of each chapter (its kernel's start to its end)
    log: str


def chapter_count(source: Path, jobs: int) -> int:
    """The number of chapters in the book's table of contents; ConfigError for a folder that is not a
    book's root or a job count below 1."""
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: need at least 1")
    for name in ("_config.yml", "_toc.yml"):
        if not (source / name).is_file():
            raise ConfigError(f"{source} has no {name}: give the book's root (the folder holding _config.yml)")
    toc = yaml.safe_load((source / "_toc.yml").read_text()) or {}
    return int("root" in toc) + sum(len(part.get("chapters", [])) for part in toc.get("parts", [])) \
        + len(toc.get("chapters", []))


def build_book(source: Path, out: Path, jobs: int = 2,
               on_chapter: Callable[[str, float], None] | None = None) -> BookBuild:
    """Build the book of `source` into `out` (HTML), warnings as errors but going on to the end (as
    `jupyter-book build -W --keep-going`), reading `jobs` chapters at a time."""
    source = source.resolve()
    chapter_count(source, jobs)
    build = out.resolve().parent
    conf = build / "sphinx-conf"
    shutil.rmtree(conf, ignore_errors=True)
    conf.mkdir(parents=True)
    # The configuration is written beside the _config.yml it reads: a copy, so the source tree gets no conf.py.
    shutil.copy(source / "_config.yml", conf / "_config.yml")
    bin_dir = Path(sys.executable).parent
    started = time.perf_counter()
    made = subprocess.run([str(bin_dir / "jupyter-book"), "config", "sphinx", str(source),
                           "--config", str(conf / "_config.yml"), "--toc", str(source / "_toc.yml")],
                          capture_output=True, text=True)
    if made.returncode != 0:
        return BookBuild(made.returncode, time.perf_counter() - started, {}, made.stdout + made.stderr)
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-j", str(jobs), "-E", "-W", "--keep-going",
           "-d", str(build / ".doctrees"), "-c", str(conf), str(source), str(out)]
    chapters: dict[str, float] = {}
    lines: list[str] = []
    with subprocess.Popen(cmd, cwd=source, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            hit = _EXECUTED.search(line)
            if hit:
                chapter = Path(hit["path"]).resolve().relative_to(source).with_suffix("").as_posix()
                chapters[chapter] = float(hit["seconds"])
                if on_chapter is not None:
                    on_chapter(chapter, chapters[chapter])
    return BookBuild(proc.returncode, time.perf_counter() - started, chapters, "".join(lines))
