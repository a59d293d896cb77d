"""A student's first screen in JupyterLab, in the student edition and without its settings.

The student edition (``make student``) copies ``edition/`` into its root: a course map
(COURSE_MAP.md) and the Jupyter settings that ``jupyter lab --config=jupyter_server_config.py``
reads. Here a folder laid out like the edition (lectures/, exercises/ and edition/'s files)
is served by JupyterLab from this repository's environment, which has nbgrader installed,
with a newcomer's empty user settings, and looked at in headless chromium:

- ``edition``: started with ``--config=jupyter_server_config.py``. The course map is the first page,
  rendered; the Launcher offers one notebook kernel, the course's; there is no nbgrader
  menu or panel; no notification asks to fetch news; the page requests nothing outside the
  server; a lecture opened from the course map's link gets the course kernel without a
  kernel dialog.
- ``plain``: the same folder with a plain ``jupyter lab`` (what the settings change). It
  shows what a newcomer saw before (two kernels, nbgrader's Create Assignment panel and
  menu, the news prompt), which also shows that each probe above can see what it looks for.

Screenshots go to artifacts/first_screen/ (git-ignored). Needs Debian's chromium, like
tests/test_browser.py. The course map's links and points, and the choice of kernel, are checked without a browser.
"""
from __future__ import annotations

import json
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.browser.lab import TOKEN, LabPage, lab_server, launch_chromium, require_chromium
from tests.conftest import ROOT

EDITION = ROOT / "edition"
ARTIFACTS = ROOT / "artifacts" / "first_screen"
COURSE_KERNEL = "Python 3 (genlib)"
NEWS_PROMPT = re.compile(r"Jupyter news", re.IGNORECASE)
LECTURE = "lectures/00_data.ipynb"
SETTLE = 8.0  # seconds after the first tab shows, for late notifications (the plain lab's news prompt is up by then)


def _course_map_links() -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", (EDITION / "COURSE_MAP.md").read_text())


def test_course_map_links_every_notebook_once():
    """Every lecture and every released exercise is linked from the course map, and every link resolves."""
    links = _course_map_links()
    notebooks = sorted(str(p.relative_to(ROOT)) for p in
                       [*ROOT.glob("lectures/*.ipynb"), *ROOT.glob("exercises/*/*.ipynb")])
    assert sorted(links) == notebooks, (
        f"COURSE_MAP.md links {sorted(set(links) - set(notebooks))} that are not notebooks of the course and "
        f"misses {sorted(set(notebooks) - set(links))}; edit edition/COURSE_MAP.md")


def test_course_map_points_match_the_exercises():
    """The points the course map states for an exercise are those in the exercise's title."""
    stated = dict(re.findall(r"\]\((exercises/[^)]+)\) \((\d+) points\)", (EDITION / "COURSE_MAP.md").read_text()))
    exercises = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("exercises/*/*.ipynb"))
    assert sorted(stated) == exercises, f"the course map states points for {sorted(stated)}, not for each of {exercises}"
    for link, points in stated.items():
        title = json.loads((ROOT / link).read_text())["cells"][0]["source"]
        title = "".join(title).splitlines()[0]
        assert f"({points} points)" in title, f"COURSE_MAP.md gives {link} {points} points; its title reads {title!r}"


def _install_kernel(folder: Path, name: str, display_name: str) -> None:
    """A kernelspec as `python -m ipykernel install` writes it: it names its environment's Python."""
    (folder / name).mkdir(parents=True)
    (folder / name / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": display_name, "language": "python"}))


@pytest.mark.parametrize("registered", [True, False], ids=["registered", "not-registered"])
def test_one_course_kernel(monkeypatch, tmp_path, registered):
    """One kernel, the course's: the environment's registration when there is one (it names its own
    Python), else the edition's .jupyter/kernels/genlib (run by the server's Python)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from traitlets.config.loader import PyFileConfigLoader

    installed = tmp_path / "kernels"  # the environment's kernels: python3 always, genlib when registered
    _install_kernel(installed, "python3", "Python 3 (ipykernel)")
    if registered:
        _install_kernel(installed, "genlib", COURSE_KERNEL)
    monkeypatch.setattr(KernelSpecManager, "_kernel_dirs_default", lambda self: [str(installed)])
    config = PyFileConfigLoader("jupyter_server_config.py", path=str(EDITION)).load_config()
    manager = config.ServerApp.kernel_spec_manager_class(config=config)

    assert sorted(manager.find_kernel_specs()) == ["genlib"], f"the edition offers {manager.find_kernel_specs()}"
    spec = manager.get_kernel_spec("genlib")
    assert spec.display_name == COURSE_KERNEL
    if registered:
        assert spec.argv[0] == sys.executable, f"the edition's kernel hid the registered one: {spec.argv}"
    else:
        assert spec.argv[0] == "python", spec.argv  # jupyter_client runs "python" with the server's Python
        assert Path(spec.resource_dir) == EDITION / ".jupyter" / "kernels" / "genlib"


@pytest.fixture(scope="module")
def edition_folder(tmp_path_factory) -> Path:
    """A folder laid out like the student edition: lectures/, exercises/ and edition/'s files."""
    folder = tmp_path_factory.mktemp("edition") / "course"
    for part in ("lectures", "exercises"):
        shutil.copytree(ROOT / part, folder / part, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(EDITION, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("README.md"))
    return folder


@pytest.fixture(scope="module")
def chromium():
    require_chromium()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


class FirstScreen:
    """What a newcomer sees: the page opened at the server's root URL, as the browser does."""

    def __init__(self, browser, base: str, name: str):
        self.lab, self.base, self.name = LabPage(browser, base), base, name
        self.page = self.lab.page
        self.requests: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        for stale in ARTIFACTS.glob(f"{name}_*.png"):
            stale.unlink()

    def open(self) -> None:
        self.page.goto(f"{self.base}/?token={TOKEN}", timeout=120_000)
        self.page.locator("#jp-main-dock-panel").wait_for(timeout=120_000)
        self.page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab").first.wait_for(timeout=120_000)
        time.sleep(SETTLE)
        self.shot("1_first_screen")

    def shot(self, what: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{self.name}_{what}.png"))

    def path(self) -> str:
        return re.sub(r"\?.*", "", self.page.url)[len(self.base):]

    def tabs(self) -> list[str]:
        return [t.strip() for t in self.page.locator(".lm-DockPanel-tabBar .lm-TabBar-tabLabel").all_inner_texts()]

    def menus(self) -> list[str]:
        return [m.strip() for m in self.page.locator(".lm-MenuBar-itemLabel").all_inner_texts()]

    def side_panels(self) -> list[str]:
        """Title and text of every side-bar tab, e.g. 'Nbgrader Create Assignment | Create Assignment'."""
        return self.page.eval_on_selector_all(
            ".jp-SideBar .lm-TabBar-tab", "tabs => tabs.map(t => `${t.getAttribute('title')} | ${t.innerText}`)")

    def notifications(self) -> list[str]:
        return [t.strip() for t in self.page.locator(".Toastify").all_inner_texts() if t.strip()]

    def launcher(self) -> dict[str, list[str]]:
        """Open a Launcher (the file browser's New Launcher button); its cards by section."""
        self.page.get_by_title(re.compile(r"^New Launcher")).first.click()
        self.page.locator(".jp-Launcher-section >> visible=true").first.wait_for(timeout=60_000)
        time.sleep(1.0)
        self.shot("2_launcher")
        sections = self.page.eval_on_selector_all(".jp-Launcher-section", """sections => sections.filter(
            s => s.offsetParent !== null).map(s => [  // the shown Launcher only (the plain lab opens one too)
            s.querySelector('.jp-Launcher-sectionTitle').innerText.trim(),
            Array.from(s.querySelectorAll('.jp-LauncherCard-label')).map(c => c.innerText.trim())])""")
        return dict(sections)

    def outside_requests(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(self.base) and not url.startswith("data:")]


@pytest.mark.browser
def test_edition_first_screen(edition_folder, chromium, tmp_path):
    with lab_server(edition_folder, tmp_path, lab_settings={}, args=("--config=jupyter_server_config.py",)) as base:
        screen = FirstScreen(chromium, base, "edition")
        try:
            screen.open()
            assert screen.path() == "/lab/tree/COURSE_MAP.md", f"the first page is {screen.path()}, not the course map"
            assert screen.tabs() == ["COURSE_MAP.md"], f"the main area shows {screen.tabs()}"
            course_map = screen.page.locator(".jp-MarkdownViewer .jp-RenderedMarkdown")
            assert course_map.count() == 1 and "Course map" in course_map.first.inner_text(), (
                "COURSE_MAP.md is not shown rendered (Markdown Preview): is overrides.json's defaultViewers read?")

            assert "Nbgrader" not in screen.menus(), f"the menu bar has nbgrader's menu: {screen.menus()}"
            nbgrader_panels = [p for p in screen.side_panels() if re.search(r"nbgrader|assignment", p, re.I)]
            assert not nbgrader_panels, f"instructor panels are shown: {nbgrader_panels}"
            assert not [n for n in screen.notifications() if NEWS_PROMPT.search(n)], (
                f"a notification asks about news: {screen.notifications()}")

            launcher = screen.launcher()
            assert launcher.get("Notebook") == [COURSE_KERNEL], f"the Launcher offers {launcher}"
            assert launcher.get("Console") == [COURSE_KERNEL], f"the Launcher offers {launcher}"

            # The student clicks a lecture in the course map: the course kernel starts, no dialog asks.
            screen.page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="COURSE_MAP.md").first.click()
            screen.page.locator(".jp-MarkdownViewer a", has_text="the data of the course").first.click()
            deadline, dialogs = time.monotonic() + 180, []
            while not ((kernel := screen.lab.session_kernel(LECTURE)) and kernel["execution_state"] == "idle"
                       and screen.lab.kernel_status() == "idle"):
                if screen.page.locator(".jp-Dialog").count():
                    dialogs.append(screen.page.locator(".jp-Dialog").first.inner_text().strip())
                    break
                assert time.monotonic() < deadline, f"no idle kernel for {LECTURE} after 180 s"
                time.sleep(0.5)
            screen.shot("3_lecture")
            assert not dialogs, f"opening {LECTURE} showed a dialog: {dialogs[0][:300]}"
            assert kernel["name"] == "genlib", f"{LECTURE} runs on kernel {kernel['name']!r}"
            shown = screen.page.locator(".jp-NotebookPanel-toolbar .jp-Toolbar-kernelName").first.inner_text().strip()
            assert shown == COURSE_KERNEL, f"the notebook's toolbar shows the kernel {shown!r}"

            assert not [n for n in screen.notifications() if NEWS_PROMPT.search(n)], (
                f"a notification asks about news: {screen.notifications()}")
            assert not screen.outside_requests(), f"the page went online: {screen.outside_requests()[:5]}"
        except BaseException:
            screen.shot("failure")
            raise
        finally:
            screen.lab.close()


@pytest.mark.browser
def test_plain_lab_shows_what_the_settings_remove(edition_folder, chromium, tmp_path):
    """The same folder, `jupyter lab` without --config: the newcomer's screen before (FACTS.md)."""
    # An empty application settings folder: what a fresh environment has (`make lab` writes overrides to .venv's).
    bare = tmp_path / "app-settings"
    bare.mkdir()
    with lab_server(edition_folder, tmp_path, lab_settings={}, args=(f"--LabApp.app_settings_dir={bare}",)) as base:
        screen = FirstScreen(chromium, base, "plain")
        try:
            screen.open()
            assert screen.path() == "/lab", f"the first page is {screen.path()}"
            assert "Nbgrader" in screen.menus(), f"no nbgrader menu: {screen.menus()}"
            assert any("Create Assignment" in p for p in screen.side_panels()), screen.side_panels()
            assert any(NEWS_PROMPT.search(n) for n in screen.notifications()), (
                f"no news prompt: {screen.notifications()}")
            launcher = screen.launcher()
            assert sorted(launcher.get("Notebook", [])) == ["Python 3 (genlib)", "Python 3 (ipykernel)"], launcher
        except BaseException:
            screen.shot("failure")
            raise
        finally:
            screen.lab.close()
