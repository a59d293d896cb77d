"""Set up the local JupyterHub's users, runtime, exchange and grading command (as root; idempotent).

    python -m tools.hub.setup [--reset-course]

1. Users: one instructor and two students (tools/hub/__init__.py names them), real Unix accounts
   made with useradd, homes 0700, a random password each (kept in PREFIX/state/passwords.json, root only).
2. The users' runtime under PREFIX, readable by all, writable by root only. The users do not read
   this repository: it holds the solutions and hidden tests, and its Python may not be theirs to
   run (here the venv's interpreter lives under /root, mode 0700). So PREFIX/venv is a venv on an
   interpreter every user can run, of the same Python version, holding the course environment's
   packages (hard links to .venv's files where the file system allows, else copies), its
   scripts with their first line pointing at the new venv, the `genlib` kernel, and
   PREFIX/course/{genlib,weights} on sys.path instead of the editable install.
3. Jupyter and nbgrader configuration per role (PREFIX/etc/{common,instructor,student}): the
   course id and the exchange for all; the formgrader and the assignment creator for the
   instructor only; the feedback filter that hides the hidden tests (tools/feedback.py, copied).
4. nbgrader's exchange PREFIX/exchange (1777, sticky, as nbgrader requires) with the course's
   folder made and owned by the instructor, so no student can claim it first.
5. The instructor's course folder ~/course: a copy of solutions/ (nbgrader's source); nbgrader
   writes exercises/ and grading/ there. The students cannot read it.
6. The instructor's grading command /usr/local/sbin/genlib-autograde, run as
   `sudo genlib-autograde UNIT` (rule in /etc/sudoers.d/genlib-hub): the sandbox needs root.
7. A copy of lectures/ in each student's home.

--reset-course empties the course's exchange folder, the instructor's exercises/ and grading/,
and the students' fetched work, for a fresh semester (the hub test does this).
"""
from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tools.hub import COURSE_ID, INSTRUCTOR, PREFIX, REPO, STUDENTS, USERS, course_root, paths

REPO_VENV = REPO / ".venv"
GRADE_COMMAND = Path("/usr/local/sbin/genlib-autograde")
SUDOERS = Path("/etc/sudoers.d/genlib-hub")


def _run(*command: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)


def as_user(user: str, *command: str, **kwargs) -> subprocess.CompletedProcess:
    """Run ``command`` as ``user`` (runuser, util-linux), without raising on failure."""
    return subprocess.run(["runuser", "-u", user, "--", *command], capture_output=True, text=True, **kwargs)


def _chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for folder, dirs, files in os.walk(path):
        os.lchown(folder, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.lchown(os.path.join(folder, name), entry.pw_uid, entry.pw_gid)


# 1. Users ---------------------------------------------------------------------------------------

def ensure_users(state: Path) -> dict[str, str]:
    """Create the course's Unix users where missing; return {user: password}."""
    password_file = state / "passwords.json"
    passwords = json.loads(password_file.read_text()) if password_file.exists() else {}
    for user in USERS:
        role = "instructor" if user == INSTRUCTOR else "student"
        try:
            pwd.getpwnam(user)
        except KeyError:
            _run("useradd", "--create-home", "--shell", "/bin/bash", "--user-group",
                 "--comment", f"genlib hub {role}", user)
            passwords.pop(user, None)
        os.chmod(pwd.getpwnam(user).pw_dir, 0o700)
        if user not in passwords:
            passwords[user] = secrets.token_urlsafe(12)
            _run("chpasswd", input=f"{user}:{passwords[user]}\n")
    password_file.touch(mode=0o600)
    password_file.write_text(json.dumps(passwords, indent=1))
    return passwords


# 2. The users' runtime --------------------------------------------------------------------------

def _python_version(python: str, user: str = "nobody") -> str | None:
    """The full version of ``python`` when ``user`` can run it, else None."""
    result = as_user(user, python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])")
    return result.stdout.strip() if result.returncode == 0 else None


def _relocate_python(base: Path, target: Path) -> None:
    """Copy the Python installation ``base`` to ``target`` (its own site-packages and tests left out),
    with hard links, and point the library search path of its programs at the copy.

    An interpreter built with a shared libpython (pyenv does) finds it through an absolute
    RUNPATH ("<base>/lib"): in the copy's ELF files that string becomes "$ORIGIN/<relative>"
    (shorter; padded with NUL bytes), in new files, never through a hard link.
    """
    version = next(base.glob("lib/python3.*/os.py")).parent.name
    skip = {str(base / "lib" / version / name) for name in ("site-packages", "test")}

    def ignore(folder, names):
        return [n for n in names if os.path.join(folder, n) in skip or n == "__pycache__"]

    def link(source, destination):
        try:
            os.link(source, destination)
        except OSError:
            shutil.copy2(source, destination)

    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(base, target, symlinks=True, ignore=ignore, copy_function=link)
    old = str(base / "lib").encode()
    for folder, _, files in os.walk(target):
        for name in files:
            path = Path(folder) / name
            if path.is_symlink() or not (name.startswith("python") or ".so" in name):
                continue
            data = path.read_bytes()
            if not data.startswith(b"\x7fELF") or data.count(old + b"\0") == 0:
                continue
            new = ("$ORIGIN/" + os.path.relpath(target / "lib", folder)).encode()
            if len(new) > len(old):
                raise SystemExit(f"cannot relocate {path}: its library path {old!r} is shorter than {new!r}")
            mode = path.stat().st_mode
            path.unlink()
            path.write_bytes(data.replace(old + b"\0", new + b"\0" * (len(old) - len(new) + 1)))
            path.chmod(mode)


def shared_python(prefix: Path) -> str:
    """An interpreter of exactly the course venv's Python version that every user can run.

    The venv's own base interpreter when other users can run it; else a relocated copy of it under
    PREFIX/python (here: pyenv's Python under /root, mode 0700); else a system Python of the same
    version. A different patch release is not enough: soupsieve (nbconvert's HTML export, used by
    nbgrader's feedback) requires Python >= 3.11.5 and fails on Debian 12's 3.11.2.
    """
    config = dict(line.split(" = ", 1) for line in (REPO_VENV / "pyvenv.cfg").read_text().splitlines() if " = " in line)
    version = config["version"]
    minor = ".".join(version.split(".")[:2])
    base_python = Path(config["home"]) / f"python{minor}"
    if _python_version(str(base_python)) == version:
        return str(base_python)
    copy = prefix / "python"
    copied = copy / "bin" / f"python{minor}"
    if not (copied.exists() and _python_version(str(copied)) == version):
        _relocate_python(base_python.resolve().parents[1], copy)
        for folder, dirs, _ in os.walk(copy):
            os.chmod(folder, 0o755)
    if _python_version(str(copied)) == version:
        return str(copied)
    for candidate in (Path(f"/usr/bin/python{minor}"), Path(f"/usr/local/bin/python{minor}")):
        if candidate.exists() and _python_version(str(candidate)) == version:
            return str(candidate)
    raise SystemExit(f"No Python {version} that other users can run: the course's venv uses {base_python}, "
                     f"which they cannot reach, and a copy of it under {copy} did not run. Build the venv "
                     f"(make setup PYTHON=...) on an interpreter every user can run, and run make hub again.")


def _source_stamp() -> str:
    site = next((REPO_VENV / "lib").glob("python*/site-packages"))
    times = [site.stat().st_mtime] + [p.stat().st_mtime for p in [REPO_VENV / ".installed"] if p.exists()]
    return f"{REPO_VENV} {max(times):.0f}"


def _copy_tree(source: Path, target: Path, *, link: bool) -> str:
    """Copy ``source`` to ``target`` (replaced), with hard links when ``link`` and possible."""
    if target.exists():
        shutil.rmtree(target)
    if link and subprocess.run(["cp", "-al", str(source), str(target)], capture_output=True).returncode == 0:
        return "hard links"
    if target.exists():
        shutil.rmtree(target)
    _run("cp", "-a", str(source), str(target))
    return "copies"


def ensure_runtime(prefix: Path) -> str:
    """PREFIX/venv and PREFIX/course (see the module docstring); returns what was done."""
    where = paths(prefix)
    venv, course = where["venv"], where["course"]
    python = shared_python(prefix)
    version = ".".join(python.rsplit("python", 1)[1].split(".")[:2])
    stamp_file = venv / ".genlib-hub-source"
    done = "runtime up to date"
    if not (stamp_file.exists() and stamp_file.read_text() == _source_stamp()
            and (venv / "bin" / "python").resolve() == Path(python).resolve()):
        start = time.perf_counter()
        if venv.exists():
            shutil.rmtree(venv)
        _run(python, "-m", "venv", "--without-pip", str(venv))
        site = venv / "lib" / f"python{version}" / "site-packages"
        site.rmdir()
        how = _copy_tree(next((REPO_VENV / "lib").glob(f"python{version}/site-packages")), site, link=True)
        for editable in site.glob("__editable__*genlib*"):
            editable.unlink()
        (site / "genlib-hub-course.pth").write_text(f"{course}\n")
        # Scripts: the same files with the first line pointing at this venv's Python.
        shebang = re.compile(r"^#!" + re.escape(str(REPO_VENV / "bin")) + r"/python[0-9.]*\s*$")
        for script in sorted((REPO_VENV / "bin").iterdir()):
            target = venv / "bin" / script.name
            if not script.is_file() or script.is_symlink() or target.exists():
                continue
            with open(script, "rb") as handle:
                first = handle.readline().decode(errors="replace")
                if not shebang.match(first):
                    continue
                target.write_bytes(f"#!{venv / 'bin' / 'python'}\n".encode() + handle.read())
            target.chmod(0o755)
        _copy_tree(REPO_VENV / "share", venv / "share", link=True)
        _copy_tree(REPO_VENV / "etc", venv / "etc", link=False)
        for spec in (venv / "share" / "jupyter" / "kernels").glob("*/kernel.json"):
            kernel = json.loads(spec.read_text())
            if Path(kernel["argv"][0]).parent == REPO_VENV / "bin":
                kernel["argv"][0] = str(venv / "bin" / "python")
                spec.unlink()  # a hard link to .venv's file: write a new file, not through the link
                spec.write_text(json.dumps(kernel, indent=1))
        stamp_file.write_text(_source_stamp())
        done = f"runtime copied from {REPO_VENV} ({how}, Python {python}) in {time.perf_counter() - start:.0f} s"
    # genlib and its weights: small, refreshed every time.
    course.mkdir(parents=True, exist_ok=True)
    for name in ("genlib", "weights"):
        if (course / name).exists():
            shutil.rmtree(course / name)
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, course / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for folder in (prefix, venv, course):
        os.chmod(folder, 0o755)
    return done


# 3. Configuration per role ----------------------------------------------------------------------

STUDENT_SERVER = {"ServerApp": {"jpserver_extensions": {
    "nbgrader.server_extensions.formgrader": False,
    "nbgrader.server_extensions.create_assignment": False,
    "nbgrader.server_extensions.assignment_list": True,
    "nbgrader.server_extensions.course_list": False,
    "nbgrader.server_extensions.validate_assignment": True}}}
STUDENT_LAB = {"disabledExtensions": {"@jupyter/nbgrader:formgrader": True,
                                      "@jupyter/nbgrader:create-assignment": True,
                                      "@jupyter/nbgrader:course-list": True}}


def ensure_config(prefix: Path) -> None:
    etc = paths(prefix)["etc"]
    for role in ("common", "instructor", "student"):
        (etc / role).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "tools" / "hub" / "nbgrader_config.py", etc / "common" / "nbgrader_config.py")
    shutil.copyfile(REPO / "tools" / "feedback.py", etc / "common" / "genlib_feedback.py")  # read by the config
    (etc / "student" / "jupyter_server_config.json").write_text(json.dumps(STUDENT_SERVER, indent=1))
    (etc / "student" / "labconfig").mkdir(exist_ok=True)
    (etc / "student" / "labconfig" / "page_config.json").write_text(json.dumps(STUDENT_LAB, indent=1))
    for folder, dirs, files in os.walk(etc):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)


# 4.-5. Exchange and course ----------------------------------------------------------------------

def ensure_exchange(prefix: Path, *, reset: bool) -> Path:
    exchange = paths(prefix)["exchange"]
    exchange.mkdir(parents=True, exist_ok=True)
    os.chown(exchange, 0, 0)
    os.chmod(exchange, 0o1777)  # nbgrader's release insists on rwx for all; the sticky bit keeps users apart
    course = exchange / COURSE_ID
    if reset and course.exists():
        shutil.rmtree(course)
    course.mkdir(exist_ok=True)
    entry = pwd.getpwnam(INSTRUCTOR)
    os.lchown(course, entry.pw_uid, entry.pw_gid)
    os.chmod(course, 0o755)
    return exchange


def ensure_course(*, reset: bool) -> Path:
    home = Path(pwd.getpwnam(INSTRUCTOR).pw_dir)
    root = course_root(home)
    if reset:
        for name in ("exercises", "grading"):
            shutil.rmtree(root / name, ignore_errors=True)
    (root / "solutions").mkdir(parents=True, exist_ok=True)
    for unit in sorted(p for p in (REPO / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file()):
        if reset or not (root / "solutions" / unit.name).exists():
            shutil.rmtree(root / "solutions" / unit.name, ignore_errors=True)
            shutil.copytree(unit, root / "solutions" / unit.name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    _chown_tree(root, INSTRUCTOR)
    os.chmod(root, 0o700)
    if reset:
        shutil.rmtree(home / ".local" / "share" / "jupyter" / "nbgrader_cache", ignore_errors=True)
    return root


def ensure_students(*, reset: bool) -> None:
    for student in STUDENTS:
        home = Path(pwd.getpwnam(student).pw_dir)
        if reset:
            shutil.rmtree(home / COURSE_ID, ignore_errors=True)
            shutil.rmtree(home / ".local" / "share" / "jupyter" / "nbgrader_cache", ignore_errors=True)
        lectures = home / "lectures"
        if not lectures.exists():
            shutil.copytree(REPO / "lectures", lectures, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
            _chown_tree(lectures, student)


# 6. The instructor's grading command ------------------------------------------------------------

GRADE_SCRIPT = """#!/bin/sh
# Autograde the collected submissions of one unit of the hub's course, each kernel in the grading
# sandbox (tools/sandbox.py, which needs root). Written by tools/hub/setup.py; the instructor runs
# it as `sudo genlib-autograde UNIT` (rule: /etc/sudoers.d/genlib-hub).
set -eu
cd {repo}
exec env -i GENLIB_HUB_ROLE=grader GENLIB_HUB_COURSE_ROOT={course} GENLIB_HUB_EXCHANGE={exchange} \\
    GENLIB_HUB_COURSE_OWNER={owner} PATH={repo}/.venv/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \\
    {repo}/.venv/bin/python -m tools.hub.autograde "$@"
"""


def ensure_grading_command(prefix: Path, course: Path) -> str:
    GRADE_COMMAND.parent.mkdir(parents=True, exist_ok=True)
    GRADE_COMMAND.write_text(GRADE_SCRIPT.format(repo=REPO, course=course, exchange=paths(prefix)["exchange"],
                                                 owner=INSTRUCTOR))
    os.chown(GRADE_COMMAND, 0, 0)
    os.chmod(GRADE_COMMAND, 0o755)
    rule = (f"# The course's instructor may run the sandboxed autograder as root (tools/hub/setup.py).\n"
            f"{INSTRUCTOR} ALL=(root) NOPASSWD: {GRADE_COMMAND}\n")
    if shutil.which("visudo") is None:
        return "WARNING: sudo is not installed (apt-get install sudo): the instructor cannot autograde"
    SUDOERS.parent.mkdir(parents=True, exist_ok=True)
    candidate = SUDOERS.with_name(".genlib-hub.new")
    candidate.write_text(rule)
    os.chmod(candidate, 0o440)
    check = subprocess.run(["visudo", "-cf", str(candidate)], capture_output=True, text=True)
    if check.returncode != 0:
        candidate.unlink()
        raise SystemExit(f"visudo rejected the grading rule: {check.stdout}{check.stderr}")
    candidate.rename(SUDOERS)
    return f"grading command {GRADE_COMMAND} (sudo rule {SUDOERS})"


# Checks -----------------------------------------------------------------------------------------

def check(prefix: Path, course: Path) -> list[str]:
    """What the users can and cannot do, checked as them; returns warnings."""
    where, student = paths(prefix), STUDENTS[0]
    python = str(where["venv"] / "bin" / "python")
    imports = as_user(student, python, "-c", "import genlib, torch, nbgrader, jupyterhub, jupyterlab")
    if imports.returncode != 0:
        raise SystemExit(f"{student} cannot import the course's packages from {python}:\n{imports.stderr}")
    if as_user(student, "test", "-r", str(course / "solutions")).returncode == 0:
        raise SystemExit(f"{student} can read the instructor's source {course / 'solutions'}")
    warnings = []
    if as_user(student, "test", "-r", str(REPO / "solutions")).returncode == 0:
        warnings.append(f"the students can read {REPO / 'solutions'} (the hidden tests): the hub does not need them "
                        f"to; on a shared machine keep the repository in a folder they cannot enter "
                        f"(e.g. chmod 700 {REPO.parent}).")
    return warnings


def setup(prefix: Path = PREFIX, *, reset: bool = False) -> dict:
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        raise SystemExit("tools/hub/setup.py makes Unix users and runs servers as them: run it as root on Linux.")
    for tool in ("useradd", "chpasswd", "runuser"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found (Debian: passwd / util-linux).")
    where = paths(prefix)
    prefix.mkdir(parents=True, exist_ok=True)
    os.chmod(prefix, 0o755)
    where["state"].mkdir(mode=0o700, exist_ok=True)
    os.chmod(where["state"], 0o700)
    passwords = ensure_users(where["state"])
    runtime = ensure_runtime(prefix)
    ensure_config(prefix)
    exchange = ensure_exchange(prefix, reset=reset)
    course = ensure_course(reset=reset)
    ensure_students(reset=reset)
    grading = ensure_grading_command(prefix, course)
    warnings = check(prefix, course)
    return {"passwords": passwords, "runtime": runtime, "exchange": exchange, "course": course,
            "grading": grading, "warnings": warnings}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reset-course", action="store_true", help="start the course's semester afresh")
    args = parser.parse_args(argv)
    done = setup(PREFIX, reset=args.reset_course)
    print(f"users: {', '.join(USERS)} | {done['runtime']} | exchange {done['exchange']} | "
          f"instructor's course {done['course']} | {done['grading']}")
    for warning in done["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
