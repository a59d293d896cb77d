"""The course in a real browser: JupyterLab in headless chromium, driven by Playwright.

One JupyterLab serves the repository on a free loopback port, with a token; one chromium
page at a time. For every lecture in lectures/ (found by glob, so new ones are covered):
open it, Run > Run All Cells, wait for the kernel, then check that every code cell ran,
that no output is an error or on stderr, and that no widget failed in the browser (error
widgets, the widget managers' messages, a widget shown as plain text). For every widget
the lecture displays, move its first slider one step with the keyboard (the visual Turing
test has no slider: click its first button) and check that the picture it draws changed,
by comparing screenshots of the picture before and after. Screenshots of each widget,
before and after, go to artifacts/browser/ (git-ignored) for a person to look at.
Then the nbgrader pages of the lab extension: the student's assignment list and the
instructor's formgrader, which must list every assignment in solutions/.

Needs Debian's chromium (`make browser-deps`); without it these tests are skipped, or fail
when GENLIB_REQUIRE_E2E=1 (CI). GENLIB_BROWSER_TIMEOUT sets the seconds one lecture may run
(default 900: a shared 2-core machine is several times slower than an idle one).
"""
from __future__ import annotations

import json
import os
import time

import pytest

from tests.browser.lab import (LabPage, api, changed_fraction, display_area, has_picture, lab_server,
                               launch_chromium, move_control, picture_key, require_chromium)
from tests.conftest import NOTEBOOK_SECONDS, ROOT

pytestmark = pytest.mark.browser

LECTURES = sorted((ROOT / "lectures").glob("*.ipynb"))
ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))
ARTIFACTS = ROOT / "artifacts" / "browser"
RUN_TIMEOUT = float(os.environ.get("GENLIB_BROWSER_TIMEOUT", "900"))
REDRAW_TIMEOUT = 180.0  # seconds for the kernel to redraw a widget after a slider moved


@pytest.fixture(scope="module")
def browser_lab(tmp_path_factory):
    """(chromium browser, JupyterLab base URL); the server and the browser are always stopped."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with lab_server(ROOT, tmp_path_factory.mktemp("lab")) as base, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser, base
        finally:
            browser.close()


def _shut_down_kernels(base: str) -> None:
    for kernel in api(base, "/api/kernels") or []:
        api(base, f"/api/kernels/{kernel['id']}", method="DELETE")


def _forget_screenshots(prefix: str) -> None:
    """Delete the screenshots an earlier run left for this test (a stale failure shot misleads)."""
    for stale in ARTIFACTS.glob(f"{prefix}_*.png"):
        stale.unlink()


def _uses_widgets(path) -> bool:
    return "genlib.widgets import" in path.read_text()


def _wait_for_redraw(view, old_key: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        key = picture_key(view)
        if key != old_key and "loading" not in key:
            return True
        time.sleep(0.3)
    return False


def _check_widget(view, name: str) -> str:
    """Move one control of the widget; assert that its picture changed. Returns a one-line record."""
    area = display_area(view)
    assert area is not None, f"{name}: the widget has no Output or Image area to draw in"
    view.scroll_into_view_if_needed()
    assert has_picture(area), f"{name}: the widget shows no picture before it is touched: {area.inner_text()[:300]!r}"
    key = picture_key(view)
    before = area.screenshot()
    view.screenshot(path=str(ARTIFACTS / f"{name}_before.png"))
    action = move_control(view)
    start = time.monotonic()
    redrawn = _wait_for_redraw(view, key, REDRAW_TIMEOUT)
    seconds = time.monotonic() - start
    view.page.wait_for_timeout(300)  # let the new picture paint
    view.scroll_into_view_if_needed()
    after = area.screenshot()
    view.screenshot(path=str(ARTIFACTS / f"{name}_after.png"))
    assert redrawn, f"{name}: {action}, but the kernel did not redraw the picture within {REDRAW_TIMEOUT:.0f} s"
    assert has_picture(area), f"{name}: after {action} the widget shows no picture: {area.inner_text()[:300]!r}"
    fraction = changed_fraction(before, after)
    assert fraction > 0, f"{name}: {action}; the widget redrew, but its screenshot is unchanged"
    return f"{name}: {action}; redrawn in {seconds:.1f} s, {fraction:.1%} of the picture's pixels changed"


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_lecture_runs_in_the_browser(browser_lab, path, record_property):
    browser, base = browser_lab
    relative = path.relative_to(ROOT).as_posix()
    _forget_screenshots(path.stem)
    lab = LabPage(browser, base, viewport=(1400, 2000))  # tall: the widgets fit, nothing overlaps them
    try:
        lab.open_notebook(relative)
        kernel = lab.session_kernel(relative)["name"]
        assert kernel == "genlib", f"{relative} runs in kernel {kernel!r}, expected the course's kernel 'genlib'"
        seconds = lab.run_all(timeout=RUN_TIMEOUT)
        NOTEBOOK_SECONDS[f"{relative} (JupyterLab in chromium)"] = seconds
        state = lab.cell_state()
        assert not state.errors, (f"{relative}: outputs shown as errors or on stderr (code cell index, text): "
                                  f"{state.errors[:3]}")
        assert not state.not_run, (f"{relative}: code cells {state.not_run} did not run "
                                   f"(their prompts: {[state.prompts[i] for i in state.not_run][:5]})")
        problems = lab.widget_problems()
        assert not problems, f"{relative}: widgets failed in the browser: {problems[:5]}"
        views = lab.widget_views()
        if _uses_widgets(path):
            assert views, f"{relative} imports genlib.widgets, but no widget is rendered in its outputs"
        records = [_check_widget(view, f"{path.stem}_widget{k}") for k, view in enumerate(views)]
        for record in records:
            print(record)
        record_property("widgets", records)
        problems = lab.widget_problems()
        assert not problems, f"{relative}: widgets failed in the browser after the sliders moved: {problems[:5]}"
    except BaseException:
        lab.page.screenshot(path=str(ARTIFACTS / f"{path.stem}_failure.png"), full_page=True)
        raise
    finally:
        lab.close()
        _shut_down_kernels(base)
    saved = [i for i, cell in enumerate(json.loads(path.read_text())["cells"])
             if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))]
    assert not saved, f"the browser run saved outputs into {relative} (cells {saved[:5]}): autosave must stay off"


def test_nbgrader_pages_render(browser_lab):
    browser, base = browser_lab
    _forget_screenshots("nbgrader")
    lab = LabPage(browser, base, viewport=(1400, 1200))
    try:
        lab.open_lab()
        lab.menu("Nbgrader", "Assignment List")
        panel = lab.page.locator("#nbgrader-assignment-list")
        for heading in ("Released assignments", "Downloaded assignments", "Submitted assignments"):
            panel.get_by_text(heading, exact=True).wait_for(timeout=60_000)
        # the lists are filled by requests to the server: wait until none says it is loading
        lab.page.wait_for_function("() => !document.querySelector('#nbgrader-assignment-list')"
                                   ".innerText.includes('Loading')", timeout=60_000)
        lab.page.screenshot(path=str(ARTIFACTS / "nbgrader_assignment_list.png"))
        assert not lab.page.locator(".nbgrader-ErrorDialog").count(), "the assignment list opened an error dialog"
        shown_errors = panel.locator(".list_error:visible").all_inner_texts()
        assert not shown_errors, f"the assignment list shows errors: {shown_errors}"
        text = panel.inner_text()
        assert "error" not in text.lower(), f"the assignment list shows an error: {text[:500]!r}"

        lab.menu("Nbgrader", "Formgrader")
        frame = lab.page.frame_locator("#jp-main-dock-panel iframe").first
        frame.get_by_text("Manage Assignments").first.wait_for(timeout=60_000)
        table = frame.locator("table").first
        for name in ASSIGNMENTS:
            table.get_by_text(name, exact=True).wait_for(timeout=60_000)
        lab.page.screenshot(path=str(ARTIFACTS / "nbgrader_formgrader.png"))
        listed = table.inner_text()
        assert frame.locator(".alert-danger:visible").count() == 0, "the formgrader shows an error alert"
        assert "error" not in listed.lower(), f"the formgrader's table shows an error: {listed[:500]!r}"
        assert not lab.page.locator(".nbgrader-ErrorDialog").count(), "the formgrader opened an error dialog"
        errors = lab.console_errors()
        assert not errors, f"the browser logged errors on the nbgrader pages: {errors[:5]}"
    finally:
        lab.close()
