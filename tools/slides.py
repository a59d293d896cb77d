"""Slides from the lectures (issue 25): RISE slide metadata by one rule, and static reveal.js slides.

    python -m tools.slides lectures/02_gans.ipynb ...   write the slide metadata into these lectures
    python -m tools.slides --check lectures/*.ipynb     list the lectures whose metadata breaks the rule
    python -m tools.slides --html                       static slides of every lecture into site/slides/
    python -m tools.slides --split lectures/04_evaluation.ipynb   first give every heading and question
                                                        its own cell (the text is kept; cells change)

The rule, one slide type per cell (``cell.metadata.slideshow.slide_type``, what RISE and
nbconvert read):

- the first cell (the lecture's ``# `` title) opens the **title slide**;
- a markdown cell whose first line is a ``# `` or ``## `` heading starts a new **slide**;
- a markdown cell whose first line is a ``### `` (or deeper) heading starts a **sub-slide**
  (reveal.js puts it below the slide of its section: down-arrow);
- a markdown cell that starts with ``**Question`` is a **fragment**: it appears on the next key
  press, after the class has seen what it asks about (a question inside a longer paragraph stays
  with that paragraph);
- every other cell, code cells with their outputs included, continues the slide above (``-``), so
  code and its picture stay with the text they belong to.

The notebook's ``metadata.rise`` (RISE's settings) is set too: slides scroll when a section
is longer than the screen, and the slideshow starts at the title slide.
Only the metadata changes: the cells, their text and their order are left as they are.
Lectures are written as the repository stores them (JSON, indent 1, a trailing newline).

``--html`` converts the executed copies of the lectures (``make site`` makes them, in
artifacts/executed/) with nbconvert's slides exporter into ``site/slides/``; reveal.js comes
from the npm package (``npm pack reveal.js``, copied next to the slides) and MathJax from the
site's own copy: nothing is fetched from a CDN when the slides are shown.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RISE_SETTINGS = {"scroll": True, "start_slideshow_at": "beginning", "transition": "none"}
COMMAND = "python -m tools.slides"
REVEAL_VERSION = "4.6.1"  # nbconvert 7's slides template is written for reveal.js 4
SLIDES = ROOT / "site" / "slides"


def slide_type(cell: dict, index: int) -> str:
    """The slide type the rule gives ``cell``, the ``index``-th cell of its lecture."""
    if index == 0:
        return "slide"
    if cell["cell_type"] != "markdown":
        return "-"
    text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    first = text.lstrip().split("\n", 1)[0]
    if re.match(r"#{1,2} ", first):
        return "slide"
    if re.match(r"#{3,6} ", first):
        return "subslide"
    if first.startswith("**Question"):
        return "fragment"
    return "-"


def problems(notebook: dict) -> list[str]:
    """How the notebook's slide metadata differs from the rule (empty when it follows it)."""
    found = []
    if notebook.get("metadata", {}).get("rise") != RISE_SETTINGS:
        found.append(f"notebook metadata 'rise' is {notebook.get('metadata', {}).get('rise')!r}, not {RISE_SETTINGS!r}")
    for index, cell in enumerate(notebook["cells"]):
        want = slide_type(cell, index)
        have = cell.get("metadata", {}).get("slideshow", {}).get("slide_type")
        if have != want:
            first = ("".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]).strip()
            found.append(f"cell {index} ({first.splitlines()[0][:50] if first else 'empty'!r}): "
                         f"slide_type {have!r}, the rule says {want!r}")
    return found


def apply(notebook: dict) -> int:
    """Write the rule's slide metadata into ``notebook`` (in place); returns how many cells changed."""
    changed = 0
    notebook.setdefault("metadata", {})["rise"] = dict(RISE_SETTINGS)
    for index, cell in enumerate(notebook["cells"]):
        want = slide_type(cell, index)
        metadata = cell.setdefault("metadata", {})
        if metadata.get("slideshow", {}).get("slide_type") != want:
            metadata["slideshow"] = {"slide_type": want}
            changed += 1
    return changed


def write_metadata(path: Path, *, split: bool = False) -> int:
    """Apply the rule to the lecture at ``path`` and save it as the repository stores notebooks
    (``split``: first give each heading and question a cell of its own, see split_cells)."""
    notebook = json.loads(Path(path).read_text())
    before = json.dumps(notebook, sort_keys=True)
    if split:
        split_cells(notebook)
    changed = apply(notebook)
    if json.dumps(notebook, sort_keys=True) != before:
        Path(path).write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    return changed


def split_cells(notebook: dict) -> int:
    """Split markdown cells so that each ``#``-heading and each paragraph that starts with ``**Question``
    begins a cell of its own (the text is kept, line for line; only the cell boundaries move). Then the
    rule can start a slide at every section and show every question as a fragment. Returns how many
    cells were added. Not applied by default: it changes the lecture's cells, not only their metadata."""
    import uuid

    cells, added = [], 0
    for cell in notebook["cells"]:
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] != "markdown":
            cells.append(cell)
            continue
        lines, parts = text.split("\n"), [[]]
        for number, line in enumerate(lines):
            starts = re.match(r"#{1,6} ", line) or (line.startswith("**Question") and (number == 0 or not lines[number - 1].strip()))
            if starts and any(l.strip() for l in parts[-1]):
                parts.append([])
            parts[-1].append(line)
        for index, part in enumerate(parts):
            while part and not part[-1].strip():
                part.pop()
            body = "\n".join(part)
            new = dict(cell, metadata=dict(cell.get("metadata", {})),
                       source=[line + "\n" for line in body.split("\n")[:-1]] + [body.split("\n")[-1]])
            if index:
                added += 1
                if "id" in cell:
                    new["id"] = uuid.uuid4().hex[:8]
            cells.append(new)
    notebook["cells"] = cells
    return added


# ----------------------------------------------------------------------------- static slides
def reveal_js(target: Path) -> Path:
    """reveal.js from the npm registry (the package, not a CDN), unpacked into ``target``/reveal.js."""
    folder = target / "reveal.js"
    if (folder / "dist" / "reveal.js").is_file():
        return folder
    cache = ROOT / "artifacts" / "npm"
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / f"reveal.js-{REVEAL_VERSION}.tgz"
    if not tarball.is_file():
        subprocess.run(["npm", "pack", f"reveal.js@{REVEAL_VERSION}", "--silent"], cwd=cache, check=True,
                       stdout=subprocess.DEVNULL)
    shutil.rmtree(folder, ignore_errors=True)
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            if member.name.startswith("package/dist/") or member.name.startswith("package/plugin/"):
                member.name = member.name[len("package/"):]
                archive.extract(member, folder, filter="data")
    return folder


def _mathjax(target: Path) -> None:
    """The MathJax 3 copy that sphinx-mathjax-offline ships, beside the slides."""
    import importlib.util

    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    source = Path(spec.origin).parent / "static" / "mathjax"
    if not (target / "mathjax").is_dir():
        shutil.copytree(source, target / "mathjax")


MATHJAX_CONFIG = """<script>window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']],
  displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']], processEscapes: true, processEnvironments: true},
  options: {ignoreHtmlClass: 'tex2jax_ignore', processHtmlClass: 'tex2jax_process'}};</script>
<script src="mathjax/tex-chtml.js"></script>"""


REVEAL_START = """<style>.reveal .slides section { overflow-y: auto; max-height: 95vh; }</style>
<script src="reveal.js/dist/reveal.js"></script>
<script src="reveal.js/plugin/notes/notes.js"></script>
<script>
Reveal.initialize({controls: true, progress: true, history: true, transition: "none", width: 1100, height: 800,
                   plugins: [RevealNotes]}).then(() => {
  // MathJax 3 typesets the whole deck once; a slide shown later needs nothing more
  if (window.MathJax && MathJax.typesetPromise) { MathJax.typesetPromise().then(() => Reveal.layout()); }
});
</script>"""


def html_slides(sources: list[Path] | None = None) -> list[Path]:
    """Static reveal.js slides of every executed lecture (with widgets as still pictures) in site/slides/."""
    import nbformat
    from nbconvert import SlidesExporter

    from tools import site

    SLIDES.mkdir(parents=True, exist_ok=True)
    reveal_js(SLIDES)
    _mathjax(SLIDES)
    written, missing = [], []
    for source in sources or site.lectures():
        copy = site.executed_copy(source)
        if not site.refresh_text(source):
            missing.append(source.name)
            continue
        notebook = json.loads(copy.read_text())
        site.still_widgets(notebook)
        exporter = SlidesExporter(reveal_url_prefix="reveal.js", reveal_theme="white", reveal_scroll=True,
                                  mathjax_url="mathjax/tex-chtml.js")
        body, _ = exporter.from_notebook_node(nbformat.reads(json.dumps(notebook), as_version=4))
        # MathJax 3 is configured before it loads (nbconvert writes a MathJax 2 configuration),
        # and no script is left that points outside the folder.
        body = re.sub(r'<script[^>]*src="mathjax/tex-chtml\.js[^"]*"[^>]*>\s*</script>', "", body)
        body = body.replace("</head>", MATHJAX_CONFIG + "\n</head>", 1)
        # nbconvert's start-up script needs require.js, jQuery and MathJax 2 from CDNs: replace it by
        # reveal.js's own scripts (UMD builds from the npm package) and a plain start-up
        body = re.sub(r"<script>\s*require\(.*?</script>", REVEAL_START, body, flags=re.S)
        body = re.sub(r'<script type="module">\s*import mermaid from .*?</script>', "", body, flags=re.S)
        body = re.sub(r'<script[^>]*src="https?://[^"]*"[^>]*>\s*</script>', "", body)
        body = re.sub(r'<link[^>]*href="https?://[^"]*"[^>]*>', "", body)
        path = SLIDES / f"{source.stem}.slides.html"
        path.write_text(body)
        written.append(path)
        print(f"wrote {path.relative_to(ROOT)}")
    if missing:
        raise SystemExit(f"no executed copy with the current code of {', '.join(missing)} in "
                         f"{site.EXECUTED.relative_to(ROOT)}: run `make site` (or python -m tools.site --execute) first, "
                         f"which executes the lectures; the other lectures' slides were written")
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lectures", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true", help="only report lectures whose metadata breaks the rule")
    parser.add_argument("--html", action="store_true", help="static reveal.js slides into site/slides/")
    parser.add_argument("--split", action="store_true",
                        help="first split markdown cells so that every heading and question starts a cell")
    args = parser.parse_args(argv)
    if args.html:
        html_slides()
        return
    if not args.lectures:
        parser.error("name the lectures (e.g. lectures/02_gans.ipynb), or --html")
    bad = 0
    for path in args.lectures:
        if args.check:
            found = problems(json.loads(path.read_text()))
            bad += bool(found)
            print(f"{path}: " + ("follows the rule" if not found else f"{len(found)} cells break the rule"))
        else:
            print(f"{path}: {write_metadata(path, split=args.split)} cells' slide metadata written")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
