"""The course website (issue 25): ``make site`` builds it into ``site/`` with Jupyter Book 1.

    python -m tools.site              execute the lectures (cached), assemble the book, build site/
    python -m tools.site --execute    only execute the lectures into the cache
    python -m tools.site --jobs 1     one lecture at a time (default 2: the course's 2 cores)

Steps, top to bottom:

1. **Execute** every lecture in a fresh ``genlib`` kernel, ``--jobs`` at a time, each in its own
   process. The executed copy goes to ``artifacts/executed/<lecture>.ipynb`` (git-ignored) and is
   reused while its code cells are the lecture's (newer than the lecture, or older with only the
   lecture's text or metadata changed since: the text is brought up to date, nothing is executed;
   ``--again`` after a change to genlib); ``tests/test_notebooks.py`` writes the same copies, so
   CI executes each lecture once. Kernels get matplotlib's inline backend (pictures, not
   ``<Figure ...>`` text) and one torch thread each when two run side by side.
2. **Assemble** the book's sources in ``artifacts/book/``: ``book/_config.yml`` (committed), a
   table of contents, the home page (README's title and course map, its file names turned into
   links), the README's parts for students and instructors, one page per executed lecture and
   one per exercise of the **student release** ``exercises/`` (never ``solutions/``). A widget
   cannot run without a kernel: its output becomes the still picture it showed when the lecture
   was executed (read from the saved widget state) and a line "run it in JupyterLab to play".
3. **Build** with Jupyter Book 1 (Sphinx, no execution), then copy the HTML into ``site/``.
   MathJax is served from the site itself (sphinx-mathjax-offline), the theme's assets are
   local, search is Sphinx's static index: the site works from any static file server offline.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LECTURES = ROOT / "lectures"
EXERCISES = ROOT / "exercises"
EXECUTED = ROOT / "artifacts" / "executed"
BOOK_CONFIG = ROOT / "book"
STAGE = ROOT / "artifacts" / "book"
SITE = ROOT / "site"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PLAY_NOTE = ("*This is an interactive widget, shown here as the picture it drew when the lecture was "
             "executed: open the lecture in JupyterLab (`make lab`) and run it to play.*")
SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


# ----------------------------------------------------------------------------- 1. execute
def lectures() -> list[Path]:
    return sorted(LECTURES.glob("*.ipynb"))


def executed_copy(source: Path) -> Path:
    """Where the executed copy of ``source`` (a lecture) is cached."""
    return EXECUTED / Path(source).name


def is_fresh(source: Path) -> bool:
    """Whether the cached executed copy of ``source`` exists and is newer than the source."""
    copy = executed_copy(source)
    return copy.is_file() and copy.stat().st_mtime > Path(source).stat().st_mtime


def kernel_env(*, threads: int | None = None) -> dict[str, str]:
    """The environment for a lecture's kernel: the inline matplotlib backend, optionally few threads."""
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # tests set Agg; a kernel with Agg shows "<Figure ...>", not the picture
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


def save_executed(source: Path, notebook) -> Path:
    """Write an executed notebook to the cache (atomically: a half-written copy is never reused)."""
    import nbformat

    EXECUTED.mkdir(parents=True, exist_ok=True)
    copy = executed_copy(source)
    partial = copy.with_suffix(".partial")
    nbformat.write(notebook, partial)
    partial.replace(copy)
    return copy


def _execute_one(source: Path) -> None:
    """Run in a child process (with kernel_env): execute one lecture and cache it."""
    from tools.notebooks import execute_notebook

    notebook, seconds = execute_notebook(source)
    save_executed(source, notebook)
    print(f"executed {source.name} in {seconds:.0f} s", flush=True)


def _code(notebook: dict) -> list[str]:
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in notebook["cells"] if c["cell_type"] == "code"]


def refresh_text(source: Path) -> bool:
    """When only a lecture's text or metadata changed since its executed copy (the code cells are the
    same, in the same order), move the copy's outputs onto the new source instead of executing again.
    Returns whether it did; False means the lecture must be executed."""
    copy = executed_copy(source)
    if not copy.is_file():
        return False
    new, old = json.loads(Path(source).read_text()), json.loads(copy.read_text())
    if _code(new) != _code(old):
        return False
    ran = iter(c for c in old["cells"] if c["cell_type"] == "code")
    for cell in new["cells"]:
        if cell["cell_type"] == "code":
            done = next(ran)
            cell["outputs"], cell["execution_count"] = done.get("outputs", []), done.get("execution_count")
    if "widgets" in old.get("metadata", {}):
        new["metadata"]["widgets"] = old["metadata"]["widgets"]
    partial = copy.with_suffix(".partial")
    partial.write_text(json.dumps(new, indent=1, ensure_ascii=False) + "\n")
    partial.replace(copy)
    return True


def execute_all(sources: list[Path], *, jobs: int = 2, fresh: bool = True) -> list[Path]:
    """Execute every lecture whose cached copy is missing or holds other code cells, ``jobs`` at a time.
    A copy whose code cells are those of the lecture only takes the lecture's text and metadata (see
    refresh_text): text never changes what a cell prints. ``fresh=False`` executes every lecture (after
    a change to genlib or the weights, which this check cannot see)."""
    stale = []
    for source in sources:
        newer = is_fresh(source)
        if fresh and refresh_text(source):
            print(f"reusing {executed_copy(source).relative_to(ROOT)} ({'newer than' if newer else 'the same code as'} "
                  f"{source.name}; its text brought up to date)")
        else:
            stale.append(source)
    env = kernel_env(threads=1 if jobs > 1 else None)

    def run(source: Path) -> tuple[Path, int, str]:
        done = subprocess.run([sys.executable, "-m", "tools.site", "--execute-one", str(source)], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        # the kernels' start-up warnings (stderr) are shown only when the lecture failed
        return source, done.returncode, (done.stdout + done.stderr) if done.returncode else done.stdout

    failed = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for source, code, log in pool.map(run, stale):
            print(log.strip()[-3000:] if code else log.strip(), flush=True)
            if code:
                failed.append(source.name)
    if failed:
        raise SystemExit(f"these lectures failed to execute (see above): {', '.join(failed)}")
    return [executed_copy(s) for s in sources]


# ----------------------------------------------------------------------------- 2. assemble
def _widget_state(notebook: dict) -> dict:
    return notebook.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def _model_ref(value) -> str | None:
    return value[len("IPY_MODEL_"):] if isinstance(value, str) and value.startswith("IPY_MODEL_") else None


def widget_pictures(state: dict, model_id: str) -> list[dict]:
    """The pictures a widget (and its children, depth first) showed: Output widgets' outputs with an
    image, and Image widgets' PNG bytes, as notebook display_data outputs."""
    model = state.get(model_id)
    if model is None:
        return []
    body, pictures = model.get("state", {}), []
    if model.get("model_name") == "OutputModel":
        for output in body.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                pictures.append({"output_type": "display_data", "metadata": {},
                                 "data": {"image/png": data["image/png"], "text/plain": "<picture>"}})
    elif model.get("model_name") == "ImageModel":
        for buffer in model.get("buffers", []):
            if buffer.get("path") == ["value"] and buffer.get("encoding") == "base64":
                raw = base64.b64decode(buffer["data"])
                if raw.startswith(b"\x89PNG"):
                    pictures.append({"output_type": "display_data", "metadata": {},
                                     "data": {"image/png": buffer["data"], "text/plain": "<picture>"}})
    for value in body.values():
        for item in value if isinstance(value, list) else [value]:
            child = _model_ref(item)
            if child:
                pictures += widget_pictures(state, child)
    return pictures


def progress_text(state: dict, model_id: str) -> str | None:
    """The text a progress bar (tqdm's HBox of HTML, FloatProgress, HTML) showed at the end, or None
    when the widget is not a progress bar."""
    import html

    model = state.get(model_id, {})
    children = [state.get(_model_ref(c), {}) for c in model.get("state", {}).get("children", [])]
    names = [c.get("model_name") for c in children]
    if model.get("model_name") != "HBoxModel" or "FloatProgressModel" not in names:
        return None
    texts = [html.unescape(str(c["state"].get("value", ""))).replace("\xa0", " ").replace("\u2007", " ").strip()
             for c in children if c.get("model_name") == "HTMLModel"]
    return " | ".join(t for t in texts if t)


def still_widgets(notebook: dict) -> int:
    """Replace every widget output by its still pictures and the "run it in JupyterLab" line (a progress
    bar by its last text). Returns how many widgets were replaced. The saved widget state is dropped."""
    state, count = _widget_state(notebook), 0
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        outputs = []
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                outputs.append(output)
                continue
            progress = progress_text(state, view["model_id"])
            if progress is not None:  # a progress bar (tqdm) is not for playing: its last text stays
                outputs.append({"output_type": "display_data", "metadata": {}, "data": {"text/plain": progress}})
                continue
            count += 1
            outputs += widget_pictures(state, view["model_id"])
            outputs.append({"output_type": "display_data", "metadata": {},
                            "data": {"text/markdown": PLAY_NOTE, "text/plain": PLAY_NOTE}})
        cell["outputs"] = outputs
    notebook.get("metadata", {}).pop("widgets", None)
    return count


def _linkify(markdown: str, pages: dict[str, str]) -> str:
    """README text for the book: `lectures/00_data.ipynb` and `exercises/01_x/` become links to their
    pages; links to files that are not pages become plain text (the site has no copy of them)."""
    def code(match: re.Match) -> str:
        target = pages.get(match.group(1).rstrip("/"))
        return f"[`{match.group(1)}`]({target})" if target else match.group(0)

    def link(match: re.Match) -> str:
        text, href = match.group(1), match.group(2)
        if re.match(r"[a-z]+://|#|mailto:", href):
            return match.group(0)
        target = href if href in pages.values() else pages.get(href.rstrip("/"))
        return f"[{text}]({target})" if target else f"{text} (`{href}` in the repository)"

    markdown = re.sub(r"(?<!\[)`((?:lectures|exercises)/[\w./-]+)`", code, markdown)
    return re.sub(r"(?<![!`])\[([^\]]+)\]\(([^)\s]+)\)", link, markdown)


def readme_sections(text: str) -> dict[str, str]:
    """The README's ``## `` sections by title, plus "" for the text above the first one."""
    sections, title, lines = {}, "", []
    for line in text.splitlines():
        if line.startswith("## "):
            sections[title] = "\n".join(lines).strip()
            title, lines = line[3:].strip(), []
        else:
            lines.append(line)
    sections[title] = "\n".join(lines).strip()
    return sections


def assemble(executed: list[Path]) -> dict:
    """Write the book's sources into artifacts/book/; returns a summary (pages, widgets replaced)."""
    shutil.rmtree(STAGE, ignore_errors=True)
    (STAGE / "lectures").mkdir(parents=True)
    (STAGE / "exercises").mkdir()
    shutil.copy(BOOK_CONFIG / "_config.yml", STAGE / "_config.yml")
    widgets = 0
    for copy in executed:
        notebook = json.loads(copy.read_text())
        widgets += still_widgets(notebook)
        (STAGE / "lectures" / copy.name).write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    exercises = sorted(p for p in EXERCISES.glob("*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    for source in exercises:
        text = source.read_text()
        leaked = [m for m in SOLUTION_MARKERS if m in text]
        if leaked:
            raise SystemExit(f"{source.relative_to(ROOT)} holds {leaked}: exercises/ must be the student "
                             f"release (make release), never solutions/")
        (STAGE / "exercises" / source.name).write_text(text)

    pages = {f"lectures/{p.name}": f"lectures/{p.name}" for p in executed}
    pages.update({f"exercises/{p.parent.name}": f"exercises/{p.name}" for p in exercises})
    pages.update({f"exercises/{p.parent.name}/{p.name}": f"exercises/{p.name}" for p in exercises})
    readme = readme_sections((ROOT / "README.md").read_text())
    title = (ROOT / "README.md").read_text().splitlines()[0].lstrip("# ").strip()
    intro = "\n".join(line for line in readme[""].splitlines() if not line.startswith("# ")).strip()
    home = [f"# {title}", "", intro, "", "## The course", "", readme.get("The course", ""), "",
            "Every lecture page shows the lecture executed top to bottom on a CPU; the widgets are shown as "
            "still pictures. The exercises are the student release: work them in JupyterLab, where their "
            "visible tests run.", ""]
    (STAGE / "index.md").write_text(_linkify("\n".join(home), pages))
    for name, section in (("students", "For students"), ("instructors", "For instructors")):
        (STAGE / f"{name}.md").write_text(_linkify(f"# {section}\n\n{readme.get(section, '')}\n", pages))

    toc = ["format: jb-book", "root: index", "parts:",
           "- caption: The course", "  chapters:", "  - file: students", "  - file: instructors",
           "- caption: Lectures", "  chapters:", *[f"  - file: lectures/{p.stem}" for p in executed],
           "- caption: Exercises (student release)", "  chapters:",
           *[f"  - file: exercises/{p.stem}" for p in exercises]]
    (STAGE / "_toc.yml").write_text("\n".join(toc) + "\n")
    return {"lectures": len(executed), "exercises": len(exercises), "widgets": widgets}


# ----------------------------------------------------------------------------- 3. build
def build() -> Path:
    """Jupyter Book 1 over artifacts/book/, then its HTML copied into site/."""
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(STAGE), "--builder", "html",
               "--path-output", str(STAGE), "--keep-going"]
    subprocess.run(command, cwd=ROOT, check=True, env=kernel_env())
    html = STAGE / "_build" / "html"
    if SITE.exists():
        for entry in SITE.iterdir():
            if entry.name != "slides":  # make slides' output stays
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    shutil.copytree(html, SITE, dirs_exist_ok=True)
    (SITE / ".buildinfo").unlink(missing_ok=True)
    return SITE


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="lectures executed at the same time (default 2)")
    parser.add_argument("--execute", action="store_true", help="only execute the lectures into the cache")
    parser.add_argument("--again", action="store_true",
                        help="execute every lecture, reusing no copy (after a change to genlib or the weights)")
    parser.add_argument("--execute-one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.execute_one:
        _execute_one(args.execute_one)
        return
    start = time.perf_counter()
    executed = execute_all(lectures(), jobs=args.jobs, fresh=not args.again)
    print(f"lectures executed or reused in {time.perf_counter() - start:.0f} s")
    if args.execute:
        return
    summary = assemble(executed)
    print(f"book assembled: {summary['lectures']} lectures, {summary['exercises']} exercises, "
          f"{summary['widgets']} widgets shown as still pictures")
    build()
    print(f"site/ built in {time.perf_counter() - start:.0f} s in all: {size_mb(SITE):.1f} MB "
          f"(serve it with any static file server, e.g. python -m http.server -d site)")


if __name__ == "__main__":
    main()
