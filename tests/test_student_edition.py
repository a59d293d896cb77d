"""The student edition (make student): what it holds, that nothing hidden is in it, and that it runs.

``tools/student_edition.py`` builds it into a scratch folder outside the repository. The checks:

- it holds lectures, exercises, the genlib wheel (weights and tables inside), README, requirements and
  the edition/ settings, and no solutions, tests, tools or grading files;
- no file, no member of the wheel and no member of the zip contains nbgrader's solution or hidden-test
  markers, or the text of any hidden test cell of ``solutions/`` (the check finds them in ``solutions/``
  itself, so it can fail);
- in a fresh venv outside the repository with only the wheel installed (the third-party packages come
  from the course's .venv through a .pth file, so nothing is downloaded), ``genlib`` is the wheel's,
  every lecture runs from the edition's folder, and an exercise's blanks fail only as blanks.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from genlib import pretrained, results
from tests.conftest import ROOT
from tests.test_lectures_anywhere import _text_outputs
from tools import student_edition
from tools.notebooks import KERNEL_NAME, execute_notebook, stderr_outputs

pytestmark = pytest.mark.notebooks

LECTURES = sorted(p.name for p in (ROOT / "lectures").glob("*.ipynb"))
EXERCISE = "01_vae_recap"  # the exercise run in the fresh venv (the fastest)
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
INSTRUCTOR_PACKAGES = ("nbgrader", "pytest", "playwright", "hypothesis", "jupyterhub", "jupyter-book")
PROBE = ("import sys, genlib\n"
         "print('genlib at', genlib.__file__)\n"
         f"print('instructor modules:', sorted(m for m in {('nbgrader', 'pytest', 'playwright')!r} if m in sys.modules))")


def hidden_tests(solutions: Path = ROOT / "solutions") -> tuple[list[str], list[str]]:
    """What must not reach students: (blocks, lines). Every hidden-test block of ``solutions/``, and each
    of its lines of 25 characters or more that no visible part of a solution notebook also holds (a line
    that a visible test shows is in the release already)."""
    blocks, lines, visible = set(), set(), set()
    for path in sorted(solutions.glob("*/*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            visible |= {line.strip() for line in SOLUTION.sub("", HIDDEN.sub("", source)).splitlines()}
            for block in HIDDEN.findall(source):
                blocks.add(block.strip())
                lines |= {line.strip() for line in block.splitlines() if len(line.strip()) >= 25}
    return sorted(blocks), sorted(lines - visible)


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("edition") / "student"
    assert ROOT not in out.resolve().parents, f"the edition {out} must be built outside the repository {ROOT}"
    result = student_edition.build(out)
    print(student_edition.summary(result))
    return result


def test_the_edition_holds_what_students_need_and_nothing_else(edition):
    out, files = edition["folder"], edition["files"]
    edition_settings = {p.relative_to(ROOT / "edition").parts[0] for p in (ROOT / "edition").rglob("*")
                        if p.is_file() and p.relative_to(ROOT / "edition").as_posix() != "README.md"}
    allowed = {"lectures", "exercises", "README.md", "requirements.txt", "environment.yml",
               edition["wheel"].name} | edition_settings
    assert {name.split("/")[0] for name in files} <= allowed, sorted({n.split("/")[0] for n in files} - allowed)
    for forbidden in ("solutions", "tests", "tools", "bench", "grading", "probes", "gradebook.db", "nbgrader_config.py"):
        assert not [n for n in files if forbidden in n.split("/")], f"{forbidden} in the student edition"
    assert sorted(p.name for p in (out / "lectures").glob("*.ipynb")) == LECTURES
    released = sorted(p.relative_to(ROOT / "exercises").as_posix() for p in (ROOT / "exercises").rglob("*.ipynb"))
    assert sorted(p.relative_to(out / "exercises").as_posix() for p in (out / "exercises").rglob("*.ipynb")) == released
    with zipfile.ZipFile(edition["wheel"]) as wheel:
        members = set(wheel.namelist())
    missing = [n for n in pretrained.available() if f"genlib/weights/{pretrained.path(n).name}" not in members]
    missing += [n for n in results.available() if f"genlib/tables/{n}.json" not in members]
    assert not missing, f"the wheel lacks these weights or tables (package data in pyproject.toml): {missing}"
    assert not [m for m in members if m.split("/")[0] not in ("genlib", edition["wheel"].name.split("-py3")[0] + ".dist-info")]
    with zipfile.ZipFile(edition["zip"]) as archive:
        assert sorted(archive.namelist()) == sorted(f"student/{name}" for name in files)


def test_students_install_with_pip_alone_and_without_instructor_tools(edition):
    out = edition["folder"]
    requirements = (out / "requirements.txt").read_text().lower()
    environment = (out / "environment.yml").read_text().lower()
    for package in INSTRUCTOR_PACKAGES:
        assert not re.search(rf"^\s*-?\s*{package}==", requirements + environment, re.M), f"{package} is for instructors"
    assert "python=3.11" in environment and f"./{edition['wheel'].name}" in environment
    readme = (out / "README.md").read_text()
    assert not re.search(r"\$\{?[A-Za-z_]", readme), "a placeholder of edition/README.md was left unfilled"
    assert f"pip install {edition['wheel'].name}" in readme and "pip install -r requirements.txt" in readme
    assert "conda env create -f environment.yml" in readme and "jupyter lab" in readme
    assert not re.search(r"^\s*(sudo|make)\b", readme, re.M), "students need neither make nor root"
    assert all(f"`lectures/{name}`" in readme for name in LECTURES)


def test_no_solution_or_hidden_test_text_anywhere_in_the_edition(edition):
    blocks, lines = hidden_tests()
    assert len(blocks) >= 7 and len(lines) > 50, f"found too few hidden tests in solutions/: {len(blocks)} blocks"
    substrings = [*student_edition.MARKERS, *blocks]
    in_source = student_edition.leaks(ROOT / "solutions", substrings, lines)
    assert len(in_source) > len(lines), "the check must find every hidden test in solutions/ itself"
    found = student_edition.leaks(edition["folder"], substrings, lines)  # the files and the wheel's members
    found += student_edition.leaks(edition["zip"].parent, substrings, lines)  # the zip's members
    assert not found, f"the student edition holds solution or hidden-test text: {found[:5]}"


@pytest.fixture(scope="module")
def student_venv(edition, tmp_path_factory):
    """A venv outside the repository: the edition's wheel installed, the third-party packages of the course's
    .venv visible through a .pth file (after the venv's own site-packages), its own ``genlib`` kernel."""
    venv = tmp_path_factory.mktemp("student_venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", str(edition["wheel"])], check=True, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "course_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # .venv's, no .pth processing
    subprocess.run([str(python), "-m", "ipykernel", "install", "--prefix", str(venv), "--name", KERNEL_NAME,
                    "--display-name", "Python 3 (genlib)"], check=True, capture_output=True)
    where = subprocess.run([str(python), "-c", "import genlib; print(genlib.__file__)"], cwd=edition["folder"],
                           check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(site) and ROOT not in Path(where).parents, where
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(venv / "share" / "jupyter"))  # its kernel first: same name, other Python
        patch.delenv("PYTHONPATH", raising=False)
        patch.setenv("OMP_NUM_THREADS", "1")  # two kernels at a time on the course's 2 cores
        yield {"venv": venv, "site": site}


def _run_with_probe(notebook_path: Path, *, allow_errors: bool = False):
    """Execute a copy of the notebook, in its folder, with PROBE as its last cell (where genlib came from)."""
    notebook = nbformat.read(notebook_path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PROBE))
    copy = notebook_path.with_name(f"_probe_{notebook_path.name}")
    nbformat.write(notebook, copy)
    if not allow_errors:
        return execute_notebook(copy)[0]
    client = NotebookClient(notebook, timeout=600, kernel_name=KERNEL_NAME, allow_errors=True,
                            resources={"metadata": {"path": str(copy.parent)}})
    return client.execute()


def _check_probe(notebook, site: Path, name: str) -> None:
    text = _text_outputs(notebook)
    where = re.search(r"genlib at (\S+)", text)
    assert where and Path(where.group(1)).is_relative_to(site), f"{name} did not import the wheel's genlib: {text[-500:]}"
    assert "instructor modules: []" in text, f"{name} imports an instructor's or a test tool: {text[-300:]}"


def test_every_lecture_runs_from_the_edition_with_the_installed_wheel(edition, student_venv):
    folder = edition["folder"] / "lectures"

    def run(name: str):
        try:
            return name, _run_with_probe(folder / name), None
        except Exception as error:  # noqa: BLE001 - reported per lecture below
            return name, None, error

    failures = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for name, notebook, error in pool.map(run, LECTURES):
            if error is not None:
                failures.append(f"{name}: {str(error)[-1500:]}")
                continue
            _check_probe(notebook, student_venv["site"], name)
            warnings = stderr_outputs(notebook)
            if warnings:
                failures.append(f"{name} writes to stderr: {warnings[:2]}")
    assert not failures, "\n\n".join(failures)


def test_an_exercise_runs_from_the_edition_and_fails_only_at_its_blanks(edition, student_venv):
    path = edition["folder"] / "exercises" / EXERCISE / f"{EXERCISE}.ipynb"
    notebook = _run_with_probe(path, allow_errors=True)
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    names = {o["ename"] for o in errors}
    assert "NotImplementedError" in names, "the released exercise should stop at its blanks"
    assert names <= {"NotImplementedError", "NameError"}, (
        f"{EXERCISE} fails for other reasons than its blanks: {[(o['ename'], o['evalue']) for o in errors][:5]}")
    _check_probe(notebook, student_venv["site"], EXERCISE)
