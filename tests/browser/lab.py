"""Start JupyterLab on a loopback port and drive it in Debian's chromium with Playwright.

No browser is downloaded: Playwright launches the system's chromium by its path, headless,
with background networking off (the machines are offline). The lab runs with a throwaway
settings folder: autosave off (a run must never write outputs into the committed
notebooks), every cell kept in the DOM (windowing off), no news fetching.

``lab_server`` starts and always stops the server; ``LabPage`` wraps one browser page:
open a notebook, run all cells from the Run menu, wait for the kernel, read the cells'
state, find the widgets and move one control of each.
"""
from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

CHROMIUM = Path(os.environ.get("GENLIB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
TOKEN = "genlib-browser-test"
# Lab settings of the test run (JUPYTERLAB_SETTINGS_DIR), one file per plugin.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    # autoStartDefaultKernel: without it, a busy server that answers the kernelspecs late makes
    # the lab ask "Select Kernel" in a modal dialog, and Run All then does nothing.
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}
# What a widget that failed in the browser shows, or what the widget managers log.
WIDGET_ERROR_TEXT = re.compile(r"Error displaying widget|Failed to load model class|Failed to create view|"
                               r"Could not create|Could not instantiate widget|Error creating widget|"
                               r"Class \S+ not found in module")
WIDGET_CONSOLE = re.compile(r"widget|jupyter-widgets|model class|comm", re.IGNORECASE)


def chromium_problem() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.is_file():
        return (f"{CHROMIUM} not found: install Debian's chromium (`make browser-deps` as root, or "
                f"`sudo apt-get install chromium`), or point GENLIB_CHROMIUM at a chromium binary")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is missing (pip install -e '.[test]')"
    return None


def require_chromium() -> None:
    """Skip the calling browser test when chromium cannot run here, or fail it when GENLIB_REQUIRE_E2E=1 (CI)."""
    import pytest

    problem = chromium_problem()
    if problem:
        if os.environ.get("GENLIB_REQUIRE_E2E") == "1":
            pytest.fail(f"GENLIB_REQUIRE_E2E=1 and the browser tests cannot run: {problem}")
        pytest.skip(f"browser tests skipped: {problem}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def api(base: str, path: str, method: str = "GET"):
    """Call the Jupyter server's REST API with the test token; returns the decoded JSON (or None)."""
    request = urllib.request.Request(base + path, method=method, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
    return json.loads(body) if body else None


@contextmanager
def lab_server(root: Path, workdir: Path, *, start_timeout: float = 120.0, lab_settings: dict | None = None,
               args: tuple[str, ...] = ()) -> Iterator[str]:
    """JupyterLab from this interpreter's environment, serving ``root``; yields its base URL.

    Runs in ``root`` (nbgrader reads nbgrader_config.py from the current folder), on a free
    loopback port, with the test token. Kernels are shut down and the server stopped on exit.
    ``lab_settings`` replaces the test run's user settings (``LAB_SETTINGS``; ``{}`` for a
    newcomer's empty ones); ``args`` are appended to the ``jupyter lab`` command line.
    """
    settings = workdir / "lab-settings"
    settings.mkdir(parents=True, exist_ok=True)
    for name, values in (LAB_SETTINGS if lab_settings is None else lab_settings).items():
        path = settings / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    bindir = Path(sys.executable).parent
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(workdir / "workspaces"),
               PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    # tests/conftest.py sets MPLBACKEND=Agg for the test process; kernels that inherit it show
    # "<Figure size ...>" instead of pictures. A student's lab has matplotlib's inline backend.
    env.pop("MPLBACKEND", None)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    command = [str(bindir / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}", *args]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = open(workdir / "jupyterlab.log", "w")
    server = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                api(base, "/api/status")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start (exit code {server.poll()}); "
                                       f"its log: {workdir / 'jupyterlab.log'}") from None
                time.sleep(0.5)
        yield base
    finally:
        try:
            for kernel in api(base, "/api/kernels") or []:
                api(base, f"/api/kernels/{kernel['id']}", method="DELETE")
        except OSError:
            pass
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


def launch_chromium(playwright):
    """Debian's chromium, headless, offline-friendly flags; nothing is downloaded."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)


def changed_fraction(png_a: bytes, png_b: bytes) -> float:
    """Fraction of pixels that differ between two screenshots (1.0 when the sizes differ)."""
    from PIL import Image, ImageChops

    a, b = (Image.open(io.BytesIO(p)).convert("RGB") for p in (png_a, png_b))
    if a.size != b.size:
        return 1.0
    diff = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v > 8 else 0)
    return diff.histogram()[255] / (a.size[0] * a.size[1])


@dataclass
class CellState:
    """What the browser shows for the notebook's code cells after a run."""
    prompts: list[str]
    errors: list[tuple[int, str]] = field(default_factory=list)  # (code cell index, output text)

    @property
    def not_run(self) -> list[int]:
        return [i for i, p in enumerate(self.prompts) if not re.fullmatch(r"\[\d+\]:", p.strip())]


class LabPage:
    """One JupyterLab page, with the console messages and uncaught errors it logged."""

    def __init__(self, browser, base: str, *, viewport=(1400, 1000)):
        self.base = base
        self.page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        self.console: list[tuple[str, str]] = []
        self.page.on("console", lambda m: self.console.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.console.append(("pageerror", str(e))))

    def close(self) -> None:
        self.page.close()  # unsaved changes are dropped: beforeunload handlers do not run

    def console_errors(self) -> list[str]:
        return [f"{kind}: {text}" for kind, text in self.console if kind in ("error", "pageerror")]

    def open_lab(self, path: str = "", *, timeout: float = 120.0) -> None:
        """Load the lab (``/lab`` or ``/lab/tree/<path>``) with a fresh workspace."""
        url = f"{self.base}/lab" + (f"/tree/{path}" if path else "") + f"?reset&token={TOKEN}"
        self.page.goto(url, timeout=timeout * 1000)
        self.page.locator("#jp-main-dock-panel").wait_for(timeout=timeout * 1000)

    def open_notebook(self, path: str, *, timeout: float = 180.0) -> None:
        """Open ``path`` (relative to the server's root) and wait until its kernel is idle."""
        self.open_lab(path, timeout=timeout)
        self.page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=timeout * 1000)
        deadline = time.monotonic() + timeout
        while (not (self.session_kernel(path) and self.kernel_status() == "idle")
               or self.page.locator(".jp-Dialog").count()):
            self._accept_kernel_dialog()  # the indicator reads "idle" for a moment before the kernel exists
            if time.monotonic() > deadline:
                raise TimeoutError(f"no idle kernel for {path} after {timeout:.0f} s (the page shows "
                                   f"{self.kernel_status()!r}, the server {self.session_kernel(path)})")
            time.sleep(0.5)

    def session_kernel(self, path: str) -> dict | None:
        """The server's record of the kernel of the notebook ``path`` (name, execution_state), or None."""
        for session in api(self.base, "/api/sessions") or []:
            if session["path"] == path and session.get("kernel"):
                return session["kernel"]
        return None

    def _accept_kernel_dialog(self) -> None:
        """Answer a "Select Kernel" dialog with the notebook's own kernel (the dialog's default choice)."""
        dialog = self.page.locator(".jp-Dialog")
        if dialog.count() and "Select Kernel" in dialog.first.inner_text():
            dialog.first.locator("button.jp-mod-accept").click()

    def kernel_status(self) -> str | None:
        indicator = self.page.locator(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator").first
        return indicator.get_attribute("data-status") if indicator.count() else None

    def wait_for_kernel(self, status: str, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.kernel_status() != status:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the kernel is {self.kernel_status()!r}, not {status!r}, after {timeout:.0f} s")
            time.sleep(0.5)

    def menu(self, menu: str, item: str) -> None:
        """Click ``menu`` in the menu bar, then its item ``item`` (as a person would)."""
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(menu)}$")).first.click()
        self.page.get_by_role("menuitem", name=item, exact=True).click()

    def _prompts(self) -> list[str]:
        return self.page.locator(".jp-NotebookPanel .jp-CodeCell .jp-InputPrompt").all_inner_texts()

    def run_all(self, *, timeout: float) -> float:
        """Run > Run All Cells, then wait until no cell is queued or running and the kernel is idle.

        Returns the seconds it took; raises TimeoutError after ``timeout`` seconds.
        """
        start = time.monotonic()
        self.menu("Run", "Run All Cells")
        settled, started = 0, False
        while settled < 3:  # three polls in a row: nothing queued, the kernel idle
            if time.monotonic() - start > timeout:
                prompts = self._prompts()
                raise TimeoutError(f"cells still queued or running after {timeout:.0f} s: "
                                   f"{sum(p.strip() == '[*]:' for p in prompts)} of {len(prompts)}")
            time.sleep(1.0)
            prompts = self._prompts()
            started = started or any(p.strip() not in ("[ ]:", "") for p in prompts)
            if not started and time.monotonic() - start > 60:
                raise TimeoutError("Run All Cells started no cell within 60 s (is a dialog in the way?)")
            busy = any(p.strip() == "[*]:" for p in prompts)
            settled = settled + 1 if started and not busy and self.kernel_status() == "idle" else 0
        return time.monotonic() - start

    def cell_state(self) -> CellState:
        """Each code cell's prompt, and every output shown as an error or on stderr."""
        cells = self.page.locator(".jp-NotebookPanel .jp-CodeCell")
        state = CellState(prompts=self._prompts())
        for index in range(cells.count()):
            for text in cells.nth(index).locator(
                    ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts():
                state.errors.append((index, text.strip()[:1500]))
        return state

    def widget_problems(self) -> list[str]:
        """Widget views that failed in the browser: error widgets, error texts, or a widget shown as plain text."""
        outputs = self.page.locator(".jp-NotebookPanel .jp-OutputArea-output")
        problems = []
        if self.page.locator(".jp-NotebookPanel .jupyter-widgets-error-widget").count():
            problems.append("an ipywidgets error widget is shown")
        for text in outputs.all_inner_texts():
            if WIDGET_ERROR_TEXT.search(text):
                problems.append(f"an output reads: {text.strip()[:300]}")
            elif re.match(r"\s*(HBox|VBox|Box|IntSlider|FloatSlider|Output)\(", text):
                problems.append(f"a widget is shown as text (no widget manager rendered it): {text.strip()[:200]}")
        problems += [message for message in self.console_errors() if WIDGET_CONSOLE.search(message)
                     or WIDGET_ERROR_TEXT.search(message)]
        return problems

    def widget_views(self):
        """The top-level widget views in the notebook's outputs, in page order (visible ones)."""
        roots = self.page.locator(
            ".jp-NotebookPanel .jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output > .jupyter-widgets")
        return [roots.nth(i) for i in range(roots.count()) if roots.nth(i).is_visible()]


def display_area(view):
    """The part of a widget that shows its picture: its Output widget, else its Image widget."""
    for selector in (".widget-output", ".widget-image"):
        area = view.locator(selector)
        if area.count():
            return area.first
    return None


def has_picture(area) -> bool:
    """Whether the display area is, or holds, an <img> (the Image widget's area is the <img> itself)."""
    return area.evaluate("e => e.tagName === 'IMG' || e.querySelector('img') !== null")


def picture_key(view) -> str:
    """The source of every picture in the widget: changes whenever the kernel redraws it."""
    return "|".join(view.locator("img").evaluate_all("imgs => imgs.map(i => i.complete ? i.src : 'loading')"))


def move_control(view) -> str:
    """Move the widget's first slider one step with the keyboard (its first button when it has
    no slider: a click). Returns what was done."""
    handles = view.locator(".widget-slider .noUi-handle")
    if handles.count():
        handle = handles.first
        now, top = (float(handle.get_attribute(a)) for a in ("aria-valuenow", "aria-valuemax"))
        key = "ArrowLeft" if now >= top else "ArrowRight"
        label = view.locator(".widget-slider").first.locator(".widget-label").first.inner_text().strip()
        handle.scroll_into_view_if_needed()
        handle.focus()
        handle.press(key)
        return f"slider {label!r}: {key} from {now:g}"
    buttons = view.locator("button.jupyter-button")
    if buttons.count():
        label = buttons.first.inner_text().strip()
        buttons.first.click()
        return f"button {label!r}: clicked"
    raise AssertionError("the widget has neither a slider nor a button to move")
