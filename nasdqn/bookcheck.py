"""The built book read as a reader would: every page rendered by headless Chromium with the network
cut off, then checked for formulas left as raw TeX, images that do not load, MyST roles left
unresolved, `nan` in a table, and anything that would be fetched from the network.

    python -m nasdqn.bookcheck _build/html      # exit 1 and one line per problem if any
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

BROWSERS = ("chromium-headless-shell", "chromium", "google-chrome")
# Unresolved MyST roles look like {doc}`x` or {glue:md}`x` in the rendered text.
ROLE = re.compile(r"\{(doc|ref|numref|eq|glue|glue:md|glue:text|glue:any|glue:figure)\}")
NAN = re.compile(r"\b(nan|NaN)\b")
RAW_TEX = re.compile(r"(\\\(|\\\[|\$\$)")
# Things a reader of the book does not have: the project's tracker, its internal notes, paths outside
# the repository. Searched in the whole page, code spans included.
INTERNAL = re.compile(r"\.\./shared\b|DESIGN\.md|\bissue #?\d+\b", re.IGNORECASE)


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def render(page: Path, browser: str, budget_ms: int = 10_000) -> str:
    """The page's DOM after its scripts ran (MathJax typesetting included), with every network request
    sent to a dead proxy, so that nothing can come from outside the build."""
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--proxy-server=127.0.0.1:9",
           "--proxy-bypass-list=<-loopback>", f"--virtual-time-budget={budget_ms}", "--dump-dom",
           page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


class _Page(HTMLParser):
    """Collects what the checks need: visible text outside code, table cells, math elements,
    images, and scripts or stylesheets loaded from elsewhere."""

    SKIP = {"script", "style", "pre", "code", "mjx-container", "mjx-assistive-mml"}

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.cells: list[str] = []
        self.math: list[str] = []
        self.images: list[str] = []
        self.remote: list[str] = []
        self._stack: list[str] = []
        self._cell: list[str] | None = None
        self._math_depth: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img" and a.get("src"):
            self.images.append(a["src"])
        for key in ("src", "href"):
            url = a.get(key) or ""
            if tag in ("script", "link", "img", "iframe") and url.startswith(("http://", "https://", "//")):
                if tag != "link" or "stylesheet" in (a.get("rel") or "") or "preload" in (a.get("rel") or ""):
                    self.remote.append(f"<{tag}> {url}")
        if tag in ("img", "br", "hr", "meta", "link", "input"):
            return
        self._stack.append(tag)
        if tag in ("td", "th"):
            self._cell = []
        if "math" in (a.get("class") or "").split() and self._math_depth is None:
            self._math_depth = len(self._stack)
            self.math.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag not in self._stack:
            return
        while self._stack and self._stack.pop() != tag:
            pass
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell).strip())
            self._cell = None
        if self._math_depth is not None and len(self._stack) < self._math_depth:
            self._math_depth = None

    def handle_data(self, data: str) -> None:
        if self._math_depth is not None and not (self.SKIP & set(self._stack)):
            self.math[-1] += data
        if self.SKIP & set(self._stack):
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def problems(page: Path, dom: str) -> list[str]:
    """What a reader of `page` (rendered as `dom`) would find wrong, one line each."""
    p = _Page()
    p.feed(dom)
    found = [f"math left as raw TeX: {m.strip()[:60]!r}" for m in p.math if RAW_TEX.search(m)]
    text = " ".join(p.text)
    found += [f"unresolved role {{{m}}}" for m in sorted(set(ROLE.findall(text)))]
    if RAW_TEX.search(text):
        found.append("raw TeX delimiters in the text")
    found += [f"nan in a table cell: {c[:60]!r}" for c in p.cells if NAN.search(c)]
    for src in p.images:
        if src.startswith("data:"):
            continue
        if src.startswith(("http://", "https://", "//")):
            continue  # counted under remote
        if not (page.parent / src.split("#")[0].split("?")[0]).exists():
            found.append(f"broken image {src}")
    found += [f"fetched from the network: {r}" for r in p.remote]
    visible = re.sub(r"<(script|style)\b.*?</\1>", "", dom, flags=re.DOTALL | re.IGNORECASE)
    found += [f"internal reference {m!r}" for m in sorted(set(INTERNAL.findall(visible)))]
    return found


def check_book(html_dir: str | Path, browser: str | None = None) -> dict[str, list[str]]:
    """Every page of the built book (the chapters and the index) rendered and checked; the pages
    with problems, each with its problems."""
    html_dir = Path(html_dir)
    browser = browser or find_browser()
    if browser is None:
        raise FileNotFoundError(f"no headless browser found (tried {', '.join(BROWSERS)}); on Debian: "
                                "apt-get install chromium-headless-shell")
    pages = sorted(html_dir.glob("book/*.html"))
    if not pages:
        raise FileNotFoundError(f"no book pages under {html_dir / 'book'}: build the book first (make book)")
    out = {}
    for page in pages:
        found = problems(page, render(page, browser))
        if found:
            out[str(page.relative_to(html_dir))] = found
    return out


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    html_dir = Path(args[0] if args else "_build/html")
    try:
        bad = check_book(html_dir)
    except FileNotFoundError as e:
        print(f"bookcheck: error: {e}", file=sys.stderr)
        return 2
    for page, found in bad.items():
        for line in found:
            print(f"{page}: {line}")
    n = len(list(html_dir.glob("book/*.html")))
    print(f"bookcheck: {n - len(bad)} of {n} pages read cleanly offline")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
