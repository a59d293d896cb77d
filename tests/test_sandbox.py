"""The grading sandbox (tools/sandbox.py) on its own: a kernel started by SandboxedKernelManager,
and the refusal to grade unsandboxed. The attacks through real nbgrader runs are in test_nbgrader.py."""
import asyncio
import os
import re
import socket

import pytest

import tools.grade
import tools.sandbox as sandbox
from tests.conftest import ROOT

PROBLEM = sandbox.sandbox_problem()
requires_sandbox = pytest.mark.skipif(PROBLEM is not None and os.geteuid() != 0,
                                      reason=f"no grading sandbox on this machine: {PROBLEM}")


def test_sandbox_works_wherever_grading_runs_as_root():
    if os.geteuid() == 0 and os.uname().sysname == "Linux":
        assert PROBLEM is None, f"make setup should have made the sandbox work here: {PROBLEM}"


@pytest.mark.parametrize("patch, message", [
    ({"which": lambda tool: None}, r"bwrap, setpriv, prlimit not found\. On Debian or Ubuntu: `sudo apt-get install bubblewrap"),
    ({"geteuid": lambda: 1000}, r"needs root: grade on a dedicated machine or container"),
])
def test_sandbox_problem_says_what_is_missing_and_the_fix(monkeypatch, patch, message):
    if "which" in patch:
        monkeypatch.setattr(sandbox.shutil, "which", patch["which"])
    else:
        monkeypatch.setattr(sandbox.shutil, "which", lambda tool: f"/usr/bin/{tool}")
        monkeypatch.setattr(sandbox.os, "geteuid", patch["geteuid"])
    assert sandbox.sandbox_problem() is not None
    assert re.search(message, sandbox.sandbox_problem())


def test_grading_refuses_to_run_unsandboxed_without_the_flag(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(tools.grade, "sandbox_problem", lambda: "bwrap not found.")
    monkeypatch.delenv(sandbox.UNSANDBOXED_ENV, raising=False)
    assert tools.grade.main(["--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Not grading: the sandbox for student code cannot run here: bwrap not found." in err
    assert "--unsandboxed" in err


def test_the_unsandboxed_flag_grades_with_a_warning(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(tools.grade, "sandbox_problem", lambda: "bwrap not found.")
    monkeypatch.delenv(sandbox.UNSANDBOXED_ENV, raising=False)
    (tmp_path / "solutions").mkdir()
    (tmp_path / "grading" / "submitted").mkdir(parents=True)
    assert tools.grade.main(["--root", str(tmp_path), "--unsandboxed"]) == 0
    captured = capsys.readouterr()
    assert "WARNING: grading without a sandbox (bwrap not found.)" in captured.err
    assert "No submissions to grade" in captured.out
    assert os.environ.pop(sandbox.UNSANDBOXED_ENV) == "1"


def test_the_execute_preprocessor_refuses_when_the_sandbox_is_missing(monkeypatch):
    monkeypatch.setattr(sandbox, "sandbox_problem", lambda: "bwrap not found.")
    monkeypatch.delenv(sandbox.UNSANDBOXED_ENV, raising=False)
    with pytest.raises(RuntimeError, match=r"refusing to run student code unsandboxed: bwrap not found\. .*"
                                           r"GENLIB_GRADE_UNSANDBOXED=1"):
        sandbox.SandboxedExecute()


PROBE = r'''
import os, socket, pathlib
report = {"uid": os.getuid(), "cwd": os.getcwd(), "home": os.environ.get("HOME")}
report["sees_solutions"] = pathlib.Path(r"{root}/solutions").exists()
report["sees_genlib"] = pathlib.Path(r"{root}/genlib/__init__.py").exists()
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3)
    report["network"] = "connected"
except OSError as error:
    report["network"] = type(error).__name__
pathlib.Path("scratch.txt").write_text("ok")
report["scratch_writable"] = pathlib.Path("scratch.txt").read_text() == "ok"
try:
    open(r"{root}/genlib/written_by_a_kernel.txt", "w")
    report["course_writable"] = True
except OSError:
    report["course_writable"] = False
report["environment"] = sorted(os.environ)
import genlib.grading
print(report)
'''


async def _run_in_sandbox(code: str, interrupt_after: float | None = None):
    manager = sandbox.SandboxedKernelManager(kernel_name="genlib")
    await manager.start_kernel()
    client = manager.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        outputs = []
        if interrupt_after is not None:
            asyncio.get_running_loop().call_later(interrupt_after, lambda: asyncio.ensure_future(manager.interrupt_kernel()))
        reply = await client.execute_interactive(code, timeout=60, output_hook=outputs.append)
        return reply["content"], outputs, manager
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(now=True)


@requires_sandbox
def test_a_sandboxed_kernel_sees_no_solutions_no_network_and_writes_only_its_scratch(monkeypatch):
    monkeypatch.setenv("GENLIB_TEST_SECRET", "the grader's token")
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        code = PROBE.replace("{root}", str(ROOT)).replace("{port}", str(listener.getsockname()[1]))
        reply, outputs, manager = asyncio.run(_run_in_sandbox(code))
    finally:
        listener.close()
    assert reply["status"] == "ok", reply
    report = eval([o["content"]["text"] for o in outputs if o["msg_type"] == "stream"][-1])
    assert report["uid"] >= sandbox.FIRST_SANDBOX_UID, "the kernel should run as an unprivileged uid of its own"
    assert report["cwd"] == report["home"] == str(manager.scratch)
    assert report["sees_genlib"] and not report["sees_solutions"]
    assert report["network"] in ("ConnectionRefusedError", "OSError"), report["network"]
    assert report["scratch_writable"] and not report["course_writable"]
    assert "GENLIB_TEST_SECRET" not in report["environment"], "the grader's environment leaked into the kernel"
    assert not (ROOT / "genlib" / "written_by_a_kernel.txt").exists()
    assert not manager._holder.exists(), "the scratch directory should be deleted with the kernel"


@requires_sandbox
def test_a_sandboxed_kernel_can_be_interrupted_and_its_processes_are_limited():
    fork_bomb = ("import os, time\nfor i in range(5000):\n    if os.fork() == 0:\n        time.sleep(20)\n"
                 "        os._exit(0)")
    reply, _, manager = asyncio.run(_run_in_sandbox(fork_bomb))
    assert reply["status"] == "error" and reply["ename"] == "BlockingIOError", reply
    assert not sandbox.processes_of(manager.uid), (
        "the fork bomb's children outlived their kernel: the next kernel of this grading process (same uid) would "
        "start at the process limit; SandboxedKernelManager's cleanup must end them")
    reply, _, _ = asyncio.run(_run_in_sandbox("while True:\n    pass", interrupt_after=3.0))
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt", reply
