"""Slides (issue 25): every lecture carries the slide metadata tools/slides.py's rule gives it, and
the live slideshow (jupyterlab-rise) starts on a lecture in JupyterLab and steps through slides.

The rule (title slide; ``##`` headings start slides, ``###`` sub-slides; cells that start with
``**Question`` are fragments; everything else, code and outputs included, stays on its slide) is
tested on a small notebook first, then checked on every lecture: a lecture edited later without
re-running the tool fails with the command to run.
"""
from __future__ import annotations

import json
import time

import pytest

from tests.conftest import ROOT
from tools import slides

LECTURES = sorted((ROOT / "lectures").glob("*.ipynb"))
ARTIFACTS = ROOT / "artifacts" / "slides"


def _md(text):
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def _code(text):
    return {"cell_type": "code", "metadata": {}, "source": text, "outputs": [], "execution_count": None}


def test_the_rule_on_a_small_lecture():
    cells = [_md("# Lecture 99: a title"), _code("import torch"), _md("Intro text."), _md("## 1. A section\nText."),
             _code("x = 1"), _md("### A sub-part"), _md("**Question 1.** Why?"), _md("Text, then **Question 2.** inside"),
             _md("#### Deeper"), _md("  ## indented heading"), _md("")]
    want = ["slide", "-", "-", "slide", "-", "subslide", "fragment", "-", "subslide", "slide", "-"]
    assert [slides.slide_type(c, i) for i, c in enumerate(cells)] == want


def test_apply_then_check_round_trip():
    notebook = {"metadata": {}, "cells": [_md("# Title"), _code("1"), _md("## Part"), _md("**Question.** Q?")]}
    assert slides.problems(notebook), "a notebook without slide metadata must break the rule"
    assert slides.apply(notebook) == 4
    assert slides.problems(notebook) == []
    assert slides.apply(notebook) == 0, "applying the rule twice must change nothing"
    notebook["cells"].insert(1, _md("## A new section, added later"))
    found = slides.problems(notebook)
    assert len(found) == 1 and "cell 1" in found[0] and "'slide'" in found[0]


def test_the_tool_changes_only_metadata(tmp_path):
    """The tool writes slide metadata and nothing else: the cells' text and order are kept."""
    source = LECTURES[0]
    copy = tmp_path / source.name
    copy.write_text(source.read_text())
    slides.write_metadata(copy)
    before, after = json.loads(source.read_text()), json.loads(copy.read_text())
    assert [(c["cell_type"], c["source"]) for c in before["cells"]] == [(c["cell_type"], c["source"]) for c in after["cells"]]
    assert copy.read_text().endswith("}\n") and '\n "cells": [\n' in copy.read_text(), "stored as indent=1 JSON"


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_lecture_carries_the_slide_metadata_of_the_rule(path):
    found = slides.problems(json.loads(path.read_text()))
    assert not found, (f"{path.relative_to(ROOT)}'s slide metadata does not follow tools/slides.py's rule "
                       f"({len(found)} cells, first: {found[:3]}); run `{slides.COMMAND} {path.relative_to(ROOT)}` "
                       f"and commit the lecture")


def test_every_lecture_has_a_title_slide_and_several_slides():
    for path in LECTURES:
        cells = json.loads(path.read_text())["cells"]
        assert "".join(cells[0]["source"]).startswith("# "), f"{path.name}: the first cell should be the # title"
        assert sum(slides.slide_type(c, i) == "slide" for i, c in enumerate(cells)) >= 4, f"{path.name}: too few slides"


# ----------------------------------------------------------------------------- in the browser
@pytest.mark.browser
def test_rise_slideshow_steps_through_lecture_02(tmp_path):
    """Open lecture 02 in JupyterLab, start RISE's slideshow with Alt+R (its preview panel, as a lecturer
    does), step through a few slides and fragments with the space bar: each step shows something new.
    RISE saves the notebook when it starts, so the lab serves a copy of the lecture in a scratch folder.
    Screenshots in artifacts/slides/."""
    from tests.browser.lab import LabPage, lab_server, launch_chromium, require_chromium

    require_chromium()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for stale in ARTIFACTS.glob("rise_*.png"):
        stale.unlink()
    served = tmp_path / "course"
    (served / "lectures").mkdir(parents=True)
    (served / "lectures" / "02_gans.ipynb").write_text((ROOT / "lectures" / "02_gans.ipynb").read_text())
    (tmp_path / "lab").mkdir()
    with lab_server(served, tmp_path / "lab") as base, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            lab = LabPage(browser, base)
            lab.open_notebook("lectures/02_gans.ipynb")
            lab.page.locator(".jp-NotebookPanel .jp-Cell").first.click()
            lab.page.keyboard.press("Escape")  # command mode: RISE's Alt+R acts on the focused notebook
            lab.page.keyboard.press("Alt+r")
            deadline = time.monotonic() + 120
            while not [f for f in lab.page.frames if "rise" in f.url]:
                if time.monotonic() > deadline:
                    lab.page.screenshot(path=str(ARTIFACTS / "rise_02_gans_failed.png"))
                    raise AssertionError(f"Alt+R opened no RISE slideshow within 120 s (frames: "
                                         f"{[f.url for f in lab.page.frames]}; console: {lab.console_errors()[:3]})")
                lab.page.wait_for_timeout(500)  # lets Playwright see the new frame (time.sleep would not)
            show = [f for f in lab.page.frames if "rise" in f.url][0]
            show.wait_for_selector(".reveal .slides section.present", timeout=120_000)
            lab.page.wait_for_timeout(3000)  # MathJax typesets the first slide
            seen = []
            for step in range(5):
                seen.append(show.evaluate("""() => {
                    const now = Array.from(document.querySelectorAll('.reveal .slides section.present')).pop();
                    return [now.innerText.trim().slice(0, 60), document.querySelectorAll('.reveal .fragment.visible').length,
                            document.querySelectorAll('.reveal mjx-container').length];
                }"""))
                lab.page.screenshot(path=str(ARTIFACTS / f"rise_02_gans_step{step}.png"))
                show.locator(".reveal").first.press("Space")  # the next slide, or the next fragment
                lab.page.wait_for_timeout(1500)
            assert seen[0][0].startswith("Lecture 02"), f"the slideshow should open on the title slide: {seen[0]}"
            states = [(text, fragments) for text, fragments, _ in seen]
            assert len(set(states)) == len(states), f"each key press should show a new slide or fragment: {seen}"
            assert max(m for *_, m in seen) > 0, "MathJax typeset nothing in the slideshow"
        finally:
            browser.close()


@pytest.mark.browser
def test_static_slides_work_offline(tmp_path):
    """make slides' reveal.js deck of lecture 02, served on a loopback port with every other request blocked:
    reveal.js starts, MathJax typesets, the arrow key moves to the next slide, nothing leaves the loopback."""
    import functools
    import http.server
    import threading
    from urllib.parse import urlparse

    from tests.browser.lab import launch_chromium, require_chromium
    from tools import site

    require_chromium()
    from playwright.sync_api import sync_playwright

    lecture = ROOT / "lectures" / "02_gans.ipynb"
    site.execute_all([lecture], jobs=1)  # reuses tests/test_notebooks.py's executed copy when there is one
    deck = slides.html_slides([lecture])[0]
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(deck.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    blocked, errors = [], []
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.route("**/*", lambda r: r.continue_() if urlparse(r.request.url).netloc == urlparse(base).netloc
                              or r.request.url.startswith("data:") else (blocked.append(r.request.url), r.abort()))
                page = context.new_page()
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"{base}/{deck.name}", wait_until="load", timeout=120_000)
                page.evaluate("async () => { if (window.MathJax && MathJax.startup) await MathJax.startup.promise; }")
                page.wait_for_timeout(2000)
                first = page.evaluate("() => [Reveal.getTotalSlides(), Reveal.getIndices().h, "
                                      "document.querySelectorAll('mjx-container').length]")
                page.screenshot(path=str(ARTIFACTS / "static_02_gans_slide0.png"))
                page.keyboard.press("ArrowRight")
                page.wait_for_timeout(1000)
                second = page.evaluate("() => Reveal.getIndices().h")
                page.screenshot(path=str(ARTIFACTS / "static_02_gans_slide1.png"))
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
    assert not blocked, f"the slides asked for outside resources: {blocked[:5]}"
    assert not errors, f"errors on the slides' page: {errors[:3]}"
    assert first[0] >= 5 and first[1] == 0, f"(slides, first index, maths) = {first}"
    assert first[2] > 0, "MathJax typeset nothing on the static slides"
    assert second == 1, "the arrow key should move to the second slide"


def test_split_gives_each_heading_and_question_a_cell_and_keeps_the_text():
    """`--split` (not applied by default): headings and questions inside longer cells start cells of their own."""
    text = "End of section 1.\n\n**Question 1.** Why?\n\n## 2. Next\nIts text.\n\n### 2a\nMore, with a **Question** inside."
    notebook = {"metadata": {}, "cells": [_md("# Title"), _md(text), _code("x = 1")]}
    assert slides.split_cells(notebook) == 3
    sources = ["".join(c["source"]) for c in notebook["cells"]]
    assert sources == ["# Title", "End of section 1.", "**Question 1.** Why?", "## 2. Next\nIts text.",
                       "### 2a\nMore, with a **Question** inside.", "x = 1"]
    slides.apply(notebook)
    assert [c["metadata"]["slideshow"]["slide_type"] for c in notebook["cells"]] == [
        "slide", "-", "fragment", "slide", "subslide", "-"]
