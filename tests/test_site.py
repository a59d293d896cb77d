"""The course website (issue 25) in a real browser, offline.

Builds the site with tools/site.py (reusing the executed lectures tests/test_notebooks.py saved in
artifacts/executed/), serves site/ from a plain static file server on a loopback port, and opens
every lecture page (and the home, README and exercise pages) in Debian's chromium with every
request that does not go to that port blocked by Playwright's routing. On each lecture page: the
maths is typeset by MathJax (MathJax output elements present, no raw TeX left in the text), every
image loaded (naturalWidth > 0), no request left the loopback. Over all pages: every internal link
resolves (no 404), and no page, search index or copied source holds solution or hidden-test text
(nbgrader's markers, and the text of each hidden test block and each solution block in solutions/).
The static search finds a lecture. GENLIB_SITE_PREBUILT=1 tests the site/ already built instead.
Screenshots of each page go to artifacts/site/.

Needs Debian's chromium (`make browser-deps`); skipped without it, failed when GENLIB_REQUIRE_E2E=1.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import threading
import urllib.error
import urllib.request
from urllib.parse import urldefrag, urljoin, urlparse

import pytest

from tests.conftest import ROOT

SITE = ROOT / "site"
ARTIFACTS = ROOT / "artifacts" / "site"
LECTURES = sorted((ROOT / "lectures").glob("*.ipynb"))
EXERCISES = sorted(p for p in (ROOT / "exercises").glob("*/*.ipynb") if ".ipynb_checkpoints" not in p.parts)
MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN SOLUTION", "END SOLUTION")
RAW_TEX = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\(?:frac|mathbb|mathcal|mathrm|sum|log|mid|left|right|theta|sigma|"
                     r"alpha|beta|mu|phi|text|operatorname|begin)\b")


def _blocks(source: str, begin: str, end: str) -> list[str]:
    return [m.group(1) for m in re.finditer(rf"### {begin}\n(.*?)### {end}", source, re.S)]


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def secret_texts() -> list[tuple[str, str]]:
    """(where, text without whitespace) of every hidden-test block and solution block in solutions/
    with at least 30 characters (a shorter one, like ``return x``, can honestly appear elsewhere)."""
    found = []
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        for index, cell in enumerate(json.loads(path.read_text())["cells"]):
            source = "".join(cell["source"])
            for kind, begin, end in (("hidden test", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"),
                                     ("solution", "BEGIN SOLUTION", "END SOLUTION")):
                for block in _blocks(source, begin, end):
                    # a solution's lines without their indentation; comments alone are not secret
                    lines = [ln.strip() for ln in block.splitlines() if ln.strip() and not ln.strip().startswith("#")]
                    text = _squash("\n".join(lines))
                    if len(text) >= 30:
                        found.append((f"{path.parent.name} cell {index} ({kind})", text))
    return found


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served_site():
    """Build site/ (executed lectures reused), serve it on a loopback port; yields the base URL."""
    from tests.browser.lab import require_chromium

    require_chromium()
    if os.environ.get("GENLIB_SITE_PREBUILT") != "1":  # 1: test the site/ already there (after make site)
        from tools import site

        site.main([])
    assert (SITE / "index.html").is_file(), "site/index.html is missing: the build failed"
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def visits(served_site):
    """Open every page in chromium, offline; returns {page: what the page showed}."""
    from playwright.sync_api import sync_playwright

    from tests.browser.lab import launch_chromium

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for stale in ARTIFACTS.glob("*.png"):
        stale.unlink()
    base = served_site
    pages = (["index.html", "students.html", "instructors.html"] + [f"lectures/{p.stem}.html" for p in LECTURES]
             + [f"exercises/{p.stem}.html" for p in EXERCISES])
    results = {}
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            blocked: list[str] = []

            def route(r):
                host = urlparse(r.request.url)
                if host.scheme in ("data", "blob") or host.netloc == urlparse(base).netloc:
                    r.continue_()
                else:
                    blocked.append(r.request.url)
                    r.abort()

            context.route("**/*", route)
            for name in pages:
                page = context.new_page()
                failed, statuses = [], []
                page.on("requestfailed", lambda req, failed=failed: failed.append(req.url))
                page.on("response", lambda resp, statuses=statuses: statuses.append((resp.status, resp.url)))
                blocked.clear()
                page.goto(f"{base}/{name}", wait_until="load", timeout=120_000)
                # MathJax 3 typesets after load: wait for its startup promise (absent on pages without maths)
                page.evaluate("async () => { if (window.MathJax && MathJax.startup && MathJax.startup.promise) "
                              "await MathJax.startup.promise; }")
                page.evaluate("async () => { for (const img of document.images) { img.loading = 'eager'; "
                              "try { await img.decode(); } catch (e) {} } }")
                shown = page.evaluate("""() => {
                    const main = document.querySelector('main') || document.body;
                    const copy = main.cloneNode(true);
                    copy.querySelectorAll('pre, code, mjx-container, script, style, .MathJax').forEach(e => e.remove());
                    return {
                      text: copy.innerText,
                      full: document.body.innerText,
                      mathjax: document.querySelectorAll('mjx-container').length,
                      math_sources: document.querySelectorAll('.math, span.math, div.math').length,
                      images: Array.from(document.images).map(i => [i.getAttribute('src').slice(0, 80), i.naturalWidth]),
                      links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
                      title: document.title,
                    };
                }""")
                shown.update(blocked=list(blocked), failed=list(failed), statuses=list(statuses))
                page.screenshot(path=str(ARTIFACTS / (name.replace("/", "_").replace(".html", ".png"))))
                results[name] = shown
                page.close()
        finally:
            browser.close()
    return results


def _lecture_pages(visits):
    return {name: shown for name, shown in visits.items() if name.startswith("lectures/")}


@pytest.mark.browser
def test_every_lecture_has_a_page(visits):
    assert len(_lecture_pages(visits)) == len(LECTURES)
    for name, shown in _lecture_pages(visits).items():
        assert "Lecture" in shown["title"], f"{name}: title {shown['title']!r}"
        assert len(shown["full"]) > 5000, f"{name}: the page shows almost no text"


@pytest.mark.browser
def test_maths_is_typeset_by_mathjax(visits):
    for name, shown in _lecture_pages(visits).items():
        assert shown["math_sources"] > 0, f"{name}: no maths found on the page (did dollarmath parse it?)"
        assert shown["mathjax"] > 0, f"{name}: MathJax rendered nothing (is _static/mathjax served?)"
        raw = sorted(set(RAW_TEX.findall(shown["text"])))
        assert not raw, f"{name}: raw TeX left in the text: {raw[:10]}"
        inline = re.findall(r"\$[^$\s][^$\n]{0,80}[^$\s]\$", shown["text"])
        assert not inline, f"{name}: $...$ left untypeset: {inline[:5]}"


@pytest.mark.browser
def test_images_load(visits):
    for name, shown in _lecture_pages(visits).items():
        broken = [src for src, width in shown["images"] if not width]
        assert not broken, f"{name}: images that did not load: {broken[:5]}"
    lectures_with_figures = [n for n, s in _lecture_pages(visits).items() if len(s["images"]) >= 2]
    assert len(lectures_with_figures) == len(LECTURES), "every lecture draws figures: some page shows none"


@pytest.mark.browser
def test_no_request_leaves_the_loopback(visits):
    for name, shown in visits.items():
        assert not shown["blocked"], f"{name} asked for outside resources (blocked): {shown['blocked'][:5]}"
        assert not shown["failed"], f"{name}: requests that failed: {shown['failed'][:5]}"
        bad = [(status, url) for status, url in shown["statuses"] if status >= 400]
        assert not bad, f"{name}: responses with errors: {bad[:5]}"


@pytest.mark.browser
def test_internal_links_resolve(visits, served_site):
    netloc = urlparse(served_site).netloc
    targets = sorted({urldefrag(link)[0] for shown in visits.values() for link in shown["links"]
                      if urlparse(link).netloc == netloc})
    unlinked = [name for name in visits if f"{served_site}/{name}" not in targets and name != "index.html"]
    assert not unlinked, f"pages no other page links to (is the navigation there?): {unlinked}"
    broken = []
    for url in targets:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                response.read(1)
        except urllib.error.HTTPError as error:
            broken.append(f"{error.code} {url}")
    assert not broken, f"internal links that do not resolve: {broken[:10]}"


@pytest.mark.browser
def test_home_page_is_the_course_map_with_links_to_every_lecture_and_exercise(visits, served_site):
    home = visits["index.html"]
    assert "The course" in home["full"]
    for path in LECTURES:
        assert urljoin(served_site + "/", f"lectures/{path.stem}.html") in home["links"], f"the home page does not link {path.name}"
    for path in EXERCISES:
        assert urljoin(served_site + "/", f"exercises/{path.stem}.html") in home["links"], \
            f"the home page's course map does not link the exercise {path.parent.name}"


@pytest.mark.browser
def test_widgets_are_still_pictures_with_a_note(visits):
    widget_lectures = [p for p in LECTURES if "genlib.widgets import" in p.read_text()]
    for path in widget_lectures:
        shown = visits[f"lectures/{path.stem}.html"]
        assert "run it to play" in shown["full"], f"{path.name}: its widget is not marked 'run it in JupyterLab to play'"


@pytest.mark.browser
def test_no_page_holds_solution_or_hidden_test_text(visits):
    secrets = secret_texts()
    assert len(secrets) >= 10, "solutions/ should hold hidden tests and solutions to look for"
    leaks = []
    for name, shown in visits.items():
        text = _squash(shown["full"])
        leaks += [f"{name}: {marker}" for marker in MARKERS if marker.replace(" ", "") in text]
        # a lecture may teach the formula an exercise asks for: solution text counts on the exercise pages
        leaks += [f"{name}: the text of {where}" for where, secret in secrets if secret in text
                  and (name.startswith("exercises/") or "hidden test" in where)]
    # every file of the site as stored: HTML, the search index, the copied sources
    for path in SITE.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".js", ".ipynb", ".txt", ".md", ".json") and "mathjax" not in path.parts:
            raw = path.read_text(errors="replace")
            leaks += [f"{path.relative_to(SITE)}: {m}" for m in MARKERS if m in raw]
            if path.suffix in (".ipynb", ".txt", ".md"):
                squashed = _squash(raw.replace("\\n", "\n").replace('\\"', '"'))
                leaks += [f"{path.relative_to(SITE)}: the text of {where}" for where, secret in secrets if secret in squashed
                          and ("exercises" in path.parts or "hidden test" in where)]
    assert not leaks, f"solution or hidden-test text on the site: {leaks[:10]}"


@pytest.mark.browser
def test_search_works_offline(served_site):
    """Sphinx's static search (search.html and searchindex.js) finds a lecture, with the network blocked."""
    from playwright.sync_api import sync_playwright

    from tests.browser.lab import launch_chromium

    netloc = urlparse(served_site).netloc
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", lambda r: r.continue_() if urlparse(r.request.url).netloc == netloc else r.abort())
            page = context.new_page()
            page.goto(f"{served_site}/search.html?q=discriminator", wait_until="load", timeout=120_000)
            page.locator("#search-results ul.search li").first.wait_for(timeout=60_000)
            found = page.locator("#search-results ul.search li a").evaluate_all("links => links.map(a => a.href)")
            page.screenshot(path=str(ARTIFACTS / "search_discriminator.png"))
        finally:
            browser.close()
    assert any("lectures/02_gans.html" in href for href in found), f"searching 'discriminator' did not find lecture 02: {found[:5]}"


# ----------------------------------------------------------------------------- the build's pieces, no browser
def test_widgets_become_pictures_and_progress_bars_text():
    from tools import site

    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    state = {
        "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_slider", "IPY_MODEL_out"]}},
        "slider": {"model_name": "IntSliderModel", "state": {"value": 3}},
        "out": {"model_name": "OutputModel", "state": {"outputs": [{"output_type": "display_data",
                                                                     "data": {"image/png": png}}]}},
        "bar": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_l", "IPY_MODEL_p", "IPY_MODEL_r"]}},
        "l": {"model_name": "HTMLModel", "state": {"value": "epoch:&nbsp;100%"}},
        "p": {"model_name": "FloatProgressModel", "state": {"value": 5, "max": 5}},
        "r": {"model_name": "HTMLModel", "state": {"value": " 5/5 [00:01<00:00]"}},
    }
    view = "application/vnd.jupyter.widget-view+json"
    notebook = {"metadata": {"widgets": {"application/vnd.jupyter.widget-state+json": {"state": state}}},
                "cells": [{"cell_type": "code", "outputs": [
                    {"output_type": "display_data", "data": {view: {"model_id": "box"}}},
                    {"output_type": "display_data", "data": {view: {"model_id": "bar"}}}]}]}
    assert site.still_widgets(notebook) == 1
    outputs = notebook["cells"][0]["outputs"]
    assert outputs[0]["data"]["image/png"] == png
    assert "run it to play" in outputs[1]["data"]["text/markdown"]
    assert outputs[2]["data"] == {"text/plain": "epoch: 100% | 5/5 [00:01<00:00]"}
    assert "widgets" not in notebook["metadata"]


def test_readme_links_become_pages_or_text():
    from tools import site

    pages = {"lectures/00_data.ipynb": "lectures/00_data.ipynb", "exercises/01_vae_recap": "exercises/01_vae_recap.ipynb"}
    text = site._linkify("`lectures/00_data.ipynb` and `exercises/01_vae_recap/`, [hub](docs/hub.md), "
                         "[web](https://example.org)", pages)
    assert "[`lectures/00_data.ipynb`](lectures/00_data.ipynb)" in text
    assert "[`exercises/01_vae_recap/`](exercises/01_vae_recap.ipynb)" in text
    assert "hub (`docs/hub.md` in the repository)" in text and "[web](https://example.org)" in text


def test_an_executed_copy_is_reused_only_while_its_code_is_the_lectures(tmp_path, monkeypatch):
    from tools import site

    monkeypatch.setattr(site, "EXECUTED", tmp_path / "executed")
    lecture = tmp_path / "99_x.ipynb"
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# Old title"},
             {"cell_type": "code", "metadata": {}, "source": "print(1)", "execution_count": None, "outputs": []}]
    lecture.write_text(json.dumps({"metadata": {}, "cells": cells}))
    assert not site.refresh_text(lecture), "no executed copy yet"
    ran = json.loads(lecture.read_text())
    ran["cells"][1].update(execution_count=1, outputs=[{"output_type": "stream", "name": "stdout", "text": "1\n"}])
    (tmp_path / "executed").mkdir()
    site.executed_copy(lecture).write_text(json.dumps(ran))
    cells[0]["source"] = "# New title"
    lecture.write_text(json.dumps({"metadata": {}, "cells": cells}))
    assert site.refresh_text(lecture), "only the text changed: the copy is reused"
    copy = json.loads(site.executed_copy(lecture).read_text())
    assert copy["cells"][0]["source"] == "# New title" and copy["cells"][1]["outputs"][0]["text"] == "1\n"
    cells[1]["source"] = "print(2)"
    lecture.write_text(json.dumps({"metadata": {}, "cells": cells}))
    assert not site.refresh_text(lecture), "the code changed: the lecture must run again"
