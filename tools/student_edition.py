"""make student: the student edition of the course, a folder and a zip to hand out.

``dist/student/`` holds what a student needs and nothing an instructor keeps:

- ``lectures/`` and ``exercises/`` (the nbgrader release, never ``solutions/``);
- the genlib wheel, with its pretrained weights and committed tables as package data;
- ``requirements.txt`` and ``environment.yml``: the course's pinned packages without the instructor's
  tools (nbgrader, the website builder) and without the test tools (the ``test`` extra);
- ``README.md``, filled in from the template ``edition/README.md``; everything else under ``edition/``
  (the Jupyter settings of the student's first screen) is copied verbatim to the edition's root.

No ``solutions/``, ``tests/``, ``tools/``, ``bench/``, probes, gradebook or ``grading/``. Before it returns,
the build checks that no file, the wheel's members included, holds an nbgrader solution or hidden-test
marker. ``dist/student.zip`` is the same folder zipped (top folder ``student/``).

    python -m tools.student_edition [--out DIR] [--no-zip]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import string
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "dist" / "student"
TEMPLATE = "README.md"  # edition/README.md, filled in; the rest of edition/ is copied as it is
# Packages of the course extra that only an instructor uses: grading and the website.
INSTRUCTOR_ONLY = {"nbgrader", "jupyter-book", "sphinx-mathjax-offline"}
# Text that must never reach a student (nbgrader's solution and hidden-test delimiters).
MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN SOLUTION", "END SOLUTION")
SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", ".DS_Store")


def _name(requirement: str) -> str:
    return requirement.split("==")[0].strip().lower().replace("_", "-")


def student_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The pinned packages a student installs: genlib's dependencies and the course extra, less
    ``INSTRUCTOR_ONLY`` (no nbgrader, no pytest, no playwright: the ``test`` extra is left out)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    course = project.get("optional-dependencies", {}).get("course", [])
    return [r for r in [*project["dependencies"], *course] if _name(r) not in INSTRUCTOR_ONLY]


def build_wheel(out_dir: Path, root: Path = ROOT) -> Path:
    """Build genlib's wheel into ``out_dir`` offline, from a clean copy of the package (nothing is
    written into the checkout: no build/, no stale files from an earlier build)."""
    with tempfile.TemporaryDirectory(prefix="genlib-wheel-") as tmp:
        source, wheels = Path(tmp) / "src", Path(tmp) / "wheels"
        source.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(root / name, source / name)
        shutil.copytree(root / "genlib", source / "genlib", ignore=SKIPPED)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                        "--no-index", "--wheel-dir", str(wheels), str(source)],
                       check=True, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
        (built,) = wheels.glob("genlib-*.whl")
        return Path(shutil.move(built, out_dir / built.name))


def _environment_yml(requirements: list[str], wheel: Path) -> str:
    lines = ["# The course's environment for conda users (Python 3.11 whatever the laptop has):",
             "#   conda env create -f environment.yml && conda activate genlib-course",
             "name: genlib-course", "channels:", "  - conda-forge", "dependencies:", "  - python=3.11", "  - pip",
             "  - pip:", *[f"      - {r}" for r in requirements], f"      - ./{wheel.name}"]
    return "\n".join(lines) + "\n"


def _listing(out: Path, folder: str) -> str:
    return "\n".join(f"- `{p.relative_to(out).as_posix()}`" for p in sorted((out / folder).rglob("*.ipynb")))


def _readme(template: Path, wheel: Path, requirements: list[str], out: Path) -> str:
    """The template with ``$wheel``, ``$torch`` (its pinned version), ``$lectures`` and ``$exercises`` filled in."""
    pins = {_name(r): r.split("==")[1] for r in requirements}
    return string.Template(template.read_text()).substitute(
        wheel=wheel.name, torch=pins["torch"], lectures=_listing(out, "lectures"), exercises=_listing(out, "exercises"))


def _texts(name: str, data: bytes) -> list[str]:
    """The text of a file; for a notebook also its cells' sources and outputs, unescaped from the JSON."""
    text = data.decode("utf-8", errors="replace")
    if not name.endswith(".ipynb"):
        return [text]
    cells = json.loads(text).get("cells", [])
    outputs = [str(o.get("text", "")) + str(o.get("data", {})) for c in cells for o in c.get("outputs", [])]
    return [text, *("".join(c.get("source", "")) for c in cells), *outputs]


def leaks(folder: Path, substrings=MARKERS, lines=()) -> list[str]:
    """'file: needle' for every file under ``folder``, and every member of its wheels and zips, that
    contains one of ``substrings`` or holds one of ``lines`` as a line (leading and trailing spaces aside).
    Binary files (a NUL byte among their first 8 kB: the weights) are searched for ``substrings`` only."""
    lines, found = frozenset(lines), []

    def scan(label: str, data: bytes) -> None:
        binary = b"\0" in data[:8192]
        for text in ([data.decode("latin-1")] if binary else _texts(label, data)):
            found.extend(f"{label}: {needle[:80]!r}" for needle in substrings if needle in text)
            if lines and not binary:
                found.extend(f"{label}: {line[:80]!r}" for line in lines & {x.strip() for x in text.splitlines()})

    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        label = path.relative_to(folder).as_posix()
        if path.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    scan(f"{label}!{member}", archive.read(member))
        else:
            scan(label, path.read_bytes())
    return sorted(set(found))


def _zip(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            archive.write(path, Path(folder.name) / path.relative_to(folder))
    return target


def _edition_ignore(edition: Path):
    """copytree's ignore for edition/: the README template at its top, and generated files anywhere."""
    def ignore(folder: str, names: list[str]) -> set[str]:
        return set(SKIPPED(folder, names)) | ({TEMPLATE} if Path(folder) == edition else set())
    return ignore


def build(out: Path = OUT, *, make_zip: bool = True, root: Path = ROOT) -> dict:
    """Build the edition into ``out`` (replaced), and ``out``'s zip beside it.

    Returns
    -------
    dict with ``folder``, ``zip`` (or None), ``wheel`` and ``files`` (paths relative to ``out``).
    """
    out = Path(out)
    if out.resolve() in (root.resolve(), *root.resolve().parents):
        raise ValueError(f"out must be a folder of its own, not {out} (it is replaced).")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for folder in ("lectures", "exercises"):
        shutil.copytree(root / folder, out / folder, ignore=SKIPPED)
    edition = root / "edition"
    if edition.is_dir():  # the student's Jupyter settings and the README template
        shutil.copytree(edition, out, ignore=_edition_ignore(edition), dirs_exist_ok=True)
    wheel = build_wheel(out, root)
    requirements = student_requirements(root / "pyproject.toml")
    (out / "requirements.txt").write_text(
        "# The course's packages for students (pip install -r requirements.txt), then the genlib wheel.\n"
        + "\n".join(requirements) + "\n")
    (out / "environment.yml").write_text(_environment_yml(requirements, wheel))
    (out / "README.md").write_text(_readme(edition / TEMPLATE, wheel, requirements, out))
    found = leaks(out)
    if found:
        raise RuntimeError(f"the student edition holds nbgrader's solution or hidden-test text: {found[:5]}")
    archive = _zip(out, out.with_suffix(".zip")) if make_zip else None
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    return {"folder": out, "zip": archive, "wheel": wheel, "files": files}


def summary(result: dict) -> str:
    """Files per top-level entry with their size, and the totals."""
    out = result["folder"]
    groups: dict[str, list[Path]] = {}
    for name in result["files"]:
        groups.setdefault(name.split("/")[0], []).append(out / name)
    lines = [f"student edition in {out}:"]
    for top, paths in sorted(groups.items()):
        size = sum(p.stat().st_size for p in paths)
        lines.append(f"  {top:<40} {len(paths):3d} file{'s' if len(paths) > 1 else ' '} {size / 1e6:7.2f} MB")
    total = sum(p.stat().st_size for paths in groups.values() for p in paths)
    lines.append(f"  {'total':<40} {len(result['files']):3d} files {total / 1e6:7.2f} MB")
    if result["zip"] is not None:
        lines.append(f"  zip: {result['zip']} ({result['zip'].stat().st_size / 1e6:.2f} MB)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="the edition's folder (replaced); default dist/student")
    parser.add_argument("--no-zip", action="store_true", help="do not write the zip beside the folder")
    args = parser.parse_args(argv)
    print(summary(build(args.out, make_zip=not args.no_zip)))


if __name__ == "__main__":
    main()
