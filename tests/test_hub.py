"""The instructor's semester on a real local JupyterHub (make test-hub; docs/instructor_hub.md).

tools/hub/setup.py makes the course's Unix users (one instructor, two students), their runtime and
nbgrader's exchange, and empties the course's semester; the test then starts the hub of
tools/hub/jupyterhub_config.py on free loopback ports and drives everything as the users would,
through the hub's REST API (a token per user, their servers started) and the users' own servers:
the instructor generates and releases unit 01 in the formgrader; both students fetch it (nbgrader's
assignment list); one pastes the solution into the fetched notebook (the Jupyter contents API), the
other leaves it blank, and both submit; the instructor collects, autogrades in a terminal of their
server with `sudo genlib-autograde` (every kernel in the grading sandbox, under the integrity
guard), generates and releases feedback; each student fetches feedback and reads their score in it,
the name, points and pass/fail of each hidden-test cell, and not one line of the hidden tests.
It stops the hub, which stops the servers and the proxy, and checks that the ports are free.

It needs root (real users), the proxy (make hub-deps: npm), sudo and the grading sandbox. Without
them it is skipped with the reason, unless GENLIB_REQUIRE_E2E=1 (CI), where it fails instead.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import requests

from tests.conftest import ROOT
from tools import submissions as subs
from tools.feedback import hidden_test_lines, leaked_lines
from tools.hub import COURSE_ID, INSTRUCTOR, PROXY, STUDENTS, USERS, paths

pytestmark = pytest.mark.hub
UNIT = "01_vae_recap"
SOLVER, BLANK = STUDENTS
REQUIRED = os.environ.get("GENLIB_REQUIRE_E2E") == "1"


def _missing() -> str | None:
    """Why the hub semester cannot run here, or None."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return "the hub test makes Unix users and runs servers as them: it needs root on Linux"
    if not PROXY.exists():
        return ("the hub's proxy is missing: run `make hub-deps` (configurable-http-proxy from npm"
                + ("" if shutil.which("npm") else "; npm is not installed") + ")")
    if shutil.which("sudo") is None:
        return "sudo is missing (make hub-deps installs it): the instructor grades with `sudo genlib-autograde`"
    from tools.sandbox import sandbox_problem

    problem = sandbox_problem()
    return f"the grading sandbox cannot run: {problem}" if problem else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _user_processes() -> list[int]:
    """PIDs of processes that run as one of the course's users."""
    import pwd

    uids = {pwd.getpwnam(u).pw_uid for u in USERS}
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid in uids:
                found.append(int(entry.name))
        except FileNotFoundError:
            pass
    return found


class Hub:
    """The running hub: its URL, the service token, and a token per user."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token
        self.user_tokens: dict[str, str] = {}

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(method, f"{self.url}/hub/api{path}", headers=headers, timeout=60, **kwargs)

    def user(self, name: str, method: str, path: str, **kwargs) -> requests.Response:
        """A request to ``name``'s own server with ``name``'s token."""
        headers = {"Authorization": f"token {self.user_tokens[name]}"}
        return requests.request(method, f"{self.url}/user/{name}/{path.lstrip('/')}", headers=headers,
                                timeout=kwargs.pop("timeout", 180), **kwargs)

    def ok(self, name: str, method: str, path: str, **kwargs) -> dict | list:
        response = self.user(name, method, path, **kwargs)
        assert response.status_code == 200, f"{name} {method} {path}: {response.status_code} {response.text[:500]}"
        return response.json()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    missing = _missing()
    if missing:
        (pytest.fail if REQUIRED else pytest.skip)(f"hub semester not run: {missing}")
    from tools.hub.setup import setup

    start = time.perf_counter()
    setup(reset=True)
    setup_seconds = time.perf_counter() - start
    state = tmp_path_factory.mktemp("hub-state")
    ports = {"GENLIB_HUB_PORT": _free_port(), "GENLIB_HUB_HUB_PORT": _free_port(),
             "GENLIB_HUB_PROXY_API_PORT": _free_port()}
    token = secrets.token_hex(32)
    env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "GENLIB_HUB_STATE": str(state),
           "GENLIB_HUB_API_TOKEN": token, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    log = open(state / "hub.log", "w")
    process = subprocess.Popen([str(Path(sys.executable).parent / "jupyterhub"), "-f",
                                str(ROOT / "tools" / "hub" / "jupyterhub_config.py")],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    running = Hub(f"http://127.0.0.1:{ports['GENLIB_HUB_PORT']}", token)
    running.log, running.setup_seconds = state / "hub.log", setup_seconds
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, f"the hub exited:\n{(state / 'hub.log').read_text()[-3000:]}"
            try:
                if running.api("GET", "/").status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, f"the hub did not answer:\n{(state / 'hub.log').read_text()[-3000:]}"
            time.sleep(1)
        yield running
    finally:
        process.send_signal(signal.SIGTERM)  # the hub stops every user's server and the proxy
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        left = [pid for pid in _user_processes()
                if "jupyterhub-singleuser" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")]
        for pid in left:  # servers of this hub the hub failed to stop
            os.kill(pid, signal.SIGKILL)
        busy = [port for port in ports.values() if _port_open(port)]
        assert not left and not busy, f"after the hub stopped: servers left {left}, ports still open {busy}"


def _start_servers(hub: Hub) -> None:
    for name in USERS:
        response = hub.api("POST", f"/users/{name}/tokens", json={"note": "semester test", "expires_in": 3600})
        assert response.status_code == 201, response.text
        hub.user_tokens[name] = response.json()["token"]
        response = hub.api("POST", f"/users/{name}/server")
        assert response.status_code in (201, 202), f"starting {name}'s server: {response.status_code} {response.text}"
    deadline = time.monotonic() + 240
    waiting = set(USERS)
    while waiting:
        for name in sorted(waiting):
            server = hub.api("GET", f"/users/{name}").json()["servers"].get("", {})
            if server.get("ready"):
                waiting.discard(name)
        assert time.monotonic() < deadline, f"servers not ready: {waiting}\n{hub.log.read_text()[-3000:]}"
        time.sleep(1)


def _instructor_terminal(hub: Hub, command: str, timeout: float = 240) -> tuple[int, str]:
    """Type ``command`` in a new terminal of the instructor's server; its exit status and output."""
    import websocket

    name = hub.ok(INSTRUCTOR, "POST", "api/terminals")["name"]
    url = hub.url.replace("http://", "ws://") + f"/user/{INSTRUCTOR}/terminals/websocket/{name}"
    connection = websocket.create_connection(url, header=[f"Authorization: token {hub.user_tokens[INSTRUCTOR]}"],
                                             timeout=timeout)
    output, deadline = "", time.monotonic() + timeout
    try:
        connection.send(json.dumps(["stdin", f"{command}; echo GENLIB-EXIT=$?\r"]))
        while not (done := re.search(r"GENLIB-EXIT=(\d+)", output)):
            assert time.monotonic() < deadline, f"no end of `{command}` in the terminal:\n{output[-3000:]}"
            message = json.loads(connection.recv())
            if message[0] == "stdout":
                output += message[1]
    finally:
        connection.close()
        hub.user(INSTRUCTOR, "DELETE", f"api/terminals/{name}")
    return int(done.group(1)), output


def _feedback_page(hub: Hub, student: str) -> str:
    """The feedback HTML ``student`` fetched, read through their own server."""
    folder = f"api/contents/{COURSE_ID}/{UNIT}/feedback"
    stamps = [entry["name"] for entry in hub.ok(student, "GET", folder)["content"] if entry["type"] == "directory"]
    assert len(stamps) == 1, f"{student} has feedback folders {stamps}"
    return hub.ok(student, "GET", f"{folder}/{stamps[0]}/{UNIT}.html")["content"]


def _feedback_score(page: str, student: str) -> tuple[float, float]:
    """The score in a feedback page: (score, max) from its header."""
    found = re.search(r"\(Score: ([0-9.]+) / ([0-9.]+)\)", page)
    assert found, f"no score in {student}'s feedback"
    return float(found.group(1)), float(found.group(2))


def _check_no_hidden_test(page: str, student: str, solution, known: str, passed: bool) -> None:
    """The feedback names each hidden-test cell with its points and pass/fail, and shows no line of it."""
    assert "BEGIN HIDDEN TESTS" not in page and "END HIDDEN TESTS" not in page, f"a marker in {student}'s feedback"
    leaked = leaked_lines(page, solution, known)
    assert not leaked, f"{len(leaked)} lines of hidden tests in {student}'s feedback, e.g. {leaked[:3]}"
    for cell in solution.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and hidden_test_lines(nbformat.v4.new_notebook(cells=[cell])):
            points, word = meta["points"], "point" if meta["points"] == 1 else "points"
            status = f"{points if passed else 0:g} of {points:g} {word}, {'passed' if passed else 'failed'}"
            assert f"{meta['grade_id']}: {status}" in page, f"{student}'s feedback lacks '{meta['grade_id']}: {status}'"


def test_semester_on_the_hub(hub):
    times = {"set-up (users, runtime, reset)": hub.setup_seconds}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        times[step] = time.perf_counter() - clock
        clock = time.perf_counter()

    _start_servers(hub)
    lap("three servers started")
    solution = nbformat.read(ROOT / "solutions" / UNIT / f"{UNIT}.ipynb", as_version=4)
    points = sum(c.metadata["nbgrader"]["points"] for c in solution.cells
                 if c.metadata.get("nbgrader", {}).get("grade"))
    assert points > 0

    # The instructor generates the student version from the source and releases it to the exchange.
    for action in ("assign", "release"):
        result = hub.ok(INSTRUCTOR, "POST", f"formgrader/api/assignment/{UNIT}/{action}")
        assert result["success"], f"formgrader {action}: {result}"
    lap("instructor: generate + release")

    # Both students fetch it from their assignment list.
    for student in STUDENTS:
        listed = hub.ok(student, "GET", "assignments", params={"course_id": COURSE_ID})
        assert [a["status"] for a in listed["value"] if a["assignment_id"] == UNIT] == ["released"], listed
        fetched = hub.ok(student, "POST", "assignments/fetch", data={"assignment_id": UNIT, "course_id": COURSE_ID})
        assert [a["status"] for a in fetched["value"] if a["assignment_id"] == UNIT] == ["fetched"], fetched
    lap("students: fetch")

    # One answers every exercise with the solution's code, in the notebook they fetched; both submit.
    path = f"api/contents/{COURSE_ID}/{UNIT}/{UNIT}.ipynb"
    fetched = nbformat.from_dict(hub.ok(SOLVER, "GET", path)["content"])
    answered = subs.fill(fetched, subs.solution_answers(ROOT, UNIT))
    assert answered != fetched
    hub.ok(SOLVER, "PUT", path, json={"type": "notebook", "format": "json", "content": answered})
    for student in STUDENTS:
        result = hub.ok(student, "POST", "assignments/submit", data={"assignment_id": UNIT, "course_id": COURSE_ID})
        assert "success" not in result or result["success"], f"{student} submit: {result}"
        mine = [a for a in result["value"] if a["assignment_id"] == UNIT and a["status"] == "submitted"]
        assert mine and mine[0]["submissions"], f"{student}'s submission is not listed: {result}"
    lap("students: solve / leave blank, submit")

    # The instructor collects; the formgrader refuses to autograde (it would run student code as
    # the instructor); the instructor autogrades in a terminal, in the sandbox, with sudo.
    result = hub.ok(INSTRUCTOR, "POST", f"formgrader/api/assignment/{UNIT}/collect")
    assert result["success"], result
    collected = hub.ok(INSTRUCTOR, "GET", f"formgrader/api/submissions/{UNIT}")
    assert sorted(s["student"] for s in collected if s["submitted"]) == sorted(STUDENTS), collected
    refused = hub.ok(INSTRUCTOR, "POST", f"formgrader/api/submission/{UNIT}/{SOLVER}/autograde")
    assert not refused["success"] and "sudo genlib-autograde" in refused["error"] + refused.get("log", ""), refused
    lap("instructor: collect")
    status, output = _instructor_terminal(hub, f"sudo -n genlib-autograde {UNIT}")
    assert status == 0, f"sudo genlib-autograde failed:\n{output[-3000:]}"
    assert "autograded in the sandbox" in output and "FLAGGED" not in output, output[-3000:]
    assert not re.search(r"\w*Warning: ", output), f"library warnings in the instructor's terminal:\n{output[-3000:]}"
    lap("instructor: sudo genlib-autograde (sandboxed)")
    graded = {s["student"]: s for s in hub.ok(INSTRUCTOR, "GET", f"formgrader/api/submissions/{UNIT}")}
    assert graded[SOLVER]["autograded"] and graded[BLANK]["autograded"], graded
    assert (graded[SOLVER]["score"], graded[SOLVER]["max_score"]) == (points, points), graded[SOLVER]
    assert (graded[BLANK]["score"], graded[BLANK]["max_score"]) == (0, points), graded[BLANK]

    # Feedback: generated and released by the instructor, fetched by each student.
    for action in ("generate_feedback", "release_feedback"):
        result = hub.ok(INSTRUCTOR, "POST", f"formgrader/api/assignment/{UNIT}/{action}")
        assert result["success"], f"formgrader {action}: {result}"
    lap("instructor: generate + release feedback")
    known = "\n".join(c.source for c in answered.cells + fetched.cells)  # what the students had anyway
    for student, expected in ((SOLVER, points), (BLANK, 0.0)):
        hub.ok(student, "POST", "assignments/fetch_feedback", data={"assignment_id": UNIT, "course_id": COURSE_ID})
        page = _feedback_page(hub, student)
        assert _feedback_score(page, student) == (expected, points), student
        _check_no_hidden_test(page, student, solution, known, passed=expected == points)
    lap("students: fetch feedback")
    print("\nhub semester, seconds per step: " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()))


def test_students_are_kept_apart(hub):
    """A student logs in with their Unix password, has no formgrader, cannot reach another user's
    server, and cannot read the instructor's course, the other students' submissions or homes
    (checked as that Unix user)."""
    import pwd

    from tools.hub.setup import as_user

    if not hub.user_tokens:
        _start_servers(hub)
    # The hub's login page takes the Unix password make hub printed (PAM), and no other.
    password = json.loads((paths()["state"] / "passwords.json").read_text())[SOLVER]
    for attempt, expected in ((password, 302), (password + "x", 403)):
        browser = requests.Session()
        page = browser.get(f"{hub.url}/hub/login", timeout=60)
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        login = browser.post(f"{hub.url}/hub/login", allow_redirects=False, timeout=60,
                             data={"username": SOLVER, "password": attempt, "_xsrf": xsrf.group(1) if xsrf else ""})
        assert login.status_code == expected, (attempt == password, login.status_code)
    assert hub.user(SOLVER, "GET", "formgrader/api/status").status_code == 404
    assert hub.user(INSTRUCTOR, "GET", "formgrader/api/status").status_code == 200
    for user, hidden in ((SOLVER, True), (INSTRUCTOR, False)):  # JupyterLab's Nbgrader menu items
        page = hub.user(user, "GET", "lab").text
        config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S).group(1))
        assert ("@jupyter/nbgrader:formgrader" in config.get("disabledExtensions", [])) == hidden, (user, config)
    stranger = requests.get(f"{hub.url}/user/{BLANK}/api/contents", timeout=60,
                            headers={"Authorization": f"token {hub.user_tokens[SOLVER]}"}, allow_redirects=False)
    assert stranger.status_code in (302, 403, 404), stranger.status_code
    instructor_home = Path(pwd.getpwnam(INSTRUCTOR).pw_dir)
    inbound = paths()["exchange"] / COURSE_ID / "inbound"
    owners = [(instructor_home / "course", INSTRUCTOR), (Path(pwd.getpwnam(BLANK).pw_dir), BLANK)]
    if inbound.exists():  # made by the instructor's release (the semester test, run first)
        owners.append((inbound, INSTRUCTOR))
    for path, owner in owners:
        assert as_user(owner, "ls", str(path)).returncode == 0, f"{owner} cannot list {path}"
        assert as_user(SOLVER, "ls", str(path)).returncode != 0, f"{SOLVER} can list {path}"
