"""Sandboxed autograding: every student kernel runs inside bubblewrap, as an unprivileged user.

nbgrader runs a submission by starting a Jupyter kernel and executing its cells; by default that
kernel has the grader's permissions. Here the kernel is started by :class:`SandboxedKernelManager`
instead, through nbgrader's own extension point (the ``Autograde.autograde_preprocessors`` list of
``nbgrader_config.py``, where :class:`SandboxedExecute` replaces nbgrader's ``Execute``):

    bwrap (new mount, PID, network, IPC and UTS namespaces; read-only system, Python and genlib)
      -> setpriv (a uid of its own that owns nothing, no capabilities, no new privileges)
        -> prlimit (CPU seconds, address space, number of processes)
          -> python -m ipykernel_launcher

Inside, a student's code sees the operating system, the course's Python environment and
``genlib/`` and ``weights/`` read-only, and one writable scratch directory (its working
directory, HOME and TMPDIR), deleted when the kernel stops. It cannot see ``solutions/``, the
gradebook, other submissions or the grader's home; it has no network (the kernel talks to
nbgrader over Unix sockets in the scratch directory, not TCP); a fork bomb or a huge allocation
fails inside that kernel only.

It needs Linux, ``bwrap`` (Debian package bubblewrap, installed by ``make setup``), ``setpriv``
and ``prlimit`` (util-linux), and root, which only the sandbox setup uses: switching to
an unprivileged uid is what makes the process limit apply. Each kernel runs as a uid that no account
has, one per grading process; when a kernel stops, every process left under that uid (a fork bomb's
sleeping children) is killed and awaited before the next kernel may start, so one submission's
processes never count against another's limit. :func:`sandbox_problem` says what is missing.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbgrader.preprocessors import Execute
from traitlets import Integer

ROOT = Path(__file__).resolve().parents[1]
FIRST_SANDBOX_UID = 2_000_000  # kernel uids: this + the grading process's PID, so unique among running kernels
PASSED_ENVIRONMENT = ("LANG", "LC_ALL", "TZ", "OMP_NUM_THREADS", "MKL_NUM_THREADS")  # all else is cleared
UNSANDBOXED_ENV = "GENLIB_GRADE_UNSANDBOXED"  # "1": run student kernels with the grader's permissions
_TOOLS = ("bwrap", "setpriv", "prlimit")


def sandbox_problem() -> str | None:
    """Why student kernels cannot be sandboxed on this machine, or None when they can."""
    if not sys.platform.startswith("linux"):
        return f"the sandbox needs Linux (bubblewrap); this is {sys.platform}."
    missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
    if missing:
        return (f"{', '.join(missing)} not found. On Debian or Ubuntu: `sudo apt-get install bubblewrap util-linux` "
                "(make setup does this when it runs as root).")
    if os.geteuid() != 0:
        return ("the sandbox runs each kernel as an unprivileged uid of its own, which needs root: grade on a "
                "dedicated machine or container as root (e.g. `sudo make grade`).")
    probe = subprocess.run(["bwrap", "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "--", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return f"bwrap cannot create namespaces here ({probe.stderr.strip() or probe.returncode})."
    return None


def unsandboxed_allowed() -> bool:
    return os.environ.get(UNSANDBOXED_ENV) == "1"


def _parent_dirs(*paths: Path) -> list[str]:
    """bwrap arguments creating every ancestor of ``paths`` as a world-readable directory.

    bwrap would otherwise create them with mode 0700 (root only), and the kernel's unprivileged
    uid could not reach the Python environment bound below them.
    """
    arguments, seen = [], set()
    for path in paths:
        for parent in reversed(Path(path).parents):
            if parent != Path("/") and parent not in seen:
                seen.add(parent)
                arguments += ["--perms", "0755", "--dir", str(parent)]
    return arguments


def processes_of(uid: int) -> list[int]:
    """PIDs (as this machine numbers them) of the running processes whose real uid is ``uid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:  # the process ended while we looked
            continue
        uid_line = next((line for line in status.splitlines() if line.startswith("Uid:")), "")
        if uid_line.split()[1:2] == [str(uid)]:
            pids.append(int(entry.name))
    return pids


def end_processes_of(uid: int, timeout: float = 10.0) -> None:
    """Kill every process of ``uid`` and wait until none is left; raise if some outlive ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while pids := processes_of(uid):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(pids)} processes of sandbox uid {uid} survived SIGKILL for {timeout:.0f} s; "
                               f"grade again once they are gone (ps -u {uid}).")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts its kernel inside the sandbox described in the module docstring."""

    cpu_seconds = Integer(600, help="CPU time of the whole kernel, in seconds (RLIMIT_CPU).").tag(config=True)
    memory_bytes = Integer(8 * 2**30, help="Address space of the kernel process (RLIMIT_AS).").tag(config=True)
    max_processes = Integer(
        256, help="Processes and threads of the kernel's uid (RLIMIT_NPROC; torch alone starts a few dozen threads)."
    ).tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.uid = FIRST_SANDBOX_UID + os.getpid()  # one kernel at a time per grading process
        self._holder = Path(tempfile.mkdtemp(prefix="genlib-kernel-"))  # 0700, root: closed to other users
        self.scratch = self._holder / "scratch"  # the kernel's working directory, HOME and TMPDIR
        self.scratch.mkdir(mode=0o755)
        os.chown(self.scratch, self.uid, self.uid)
        self.transport = "ipc"  # Unix sockets: TCP on the loopback is out of reach without a network
        self.ip = str(self.scratch / "ipc")

    @property
    def kernel_spec(self):
        # Interrupt (a cell over its time limit) by a message on the control channel: a SIGINT
        # would reach bwrap, outside the sandbox, not the kernel inside it.
        spec = super().kernel_spec
        if spec is not None:
            spec.interrupt_mode = "message"
        return spec

    def _sandbox_connection_file(self) -> str:
        """A copy of the connection file (it holds the message-signing key) that only the kernel's uid reads."""
        copy = self.scratch / "connection.json"
        shutil.copyfile(self.connection_file, copy)
        os.chown(copy, self.uid, self.uid)
        os.chmod(copy, 0o600)
        return str(copy)

    def format_kernel_cmd(self, extra_arguments=None) -> list[str]:
        command = super().format_kernel_cmd(extra_arguments)
        connection = self._sandbox_connection_file()
        command = [connection if argument == self.connection_file else argument for argument in command]
        python_homes = [Path(sys.base_prefix), Path(sys.prefix)]
        readable = sorted({str(p) for p in python_homes} | {str(ROOT / "genlib")}
                          | ({str(ROOT / "weights")} if (ROOT / "weights").is_dir() else set()))
        sandbox = ["bwrap", "--die-with-parent", "--new-session", "--clearenv",
                   "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                   "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc",
                   "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
                   "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
                   "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp",
                   *_parent_dirs(*map(Path, readable), self.scratch)]
        for path in readable:
            sandbox += ["--ro-bind", path, path]
        sandbox += ["--bind", str(self.scratch), str(self.scratch), "--chdir", str(self.scratch),
                    "--setenv", "HOME", str(self.scratch), "--setenv", "TMPDIR", str(self.scratch),
                    "--setenv", "MPLCONFIGDIR", str(self.scratch), "--setenv", "PATH", "/usr/bin:/bin",
                    *[arg for name in PASSED_ENVIRONMENT if name in os.environ
                      for arg in ("--setenv", name, os.environ[name])],
                    # ipykernel watches the PID in JPY_PARENT_PID and exits when it goes; in a new PID
                    # namespace that PID means nothing. 1 (init) turns the watch off, and bwrap's
                    # --die-with-parent ends the kernel with the grader instead.
                    "--setenv", "JPY_PARENT_PID", "1", "--"]
        drop_privileges = ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                           "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
        limits = ["prlimit", f"--cpu={self.cpu_seconds}", f"--as={self.memory_bytes}",
                  f"--nproc={self.max_processes}", "--"]
        return sandbox + drop_privileges + limits + command

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            end_processes_of(self.uid)  # the next kernel of this grading process reuses the uid and its limit
            shutil.rmtree(self._holder, ignore_errors=True)

    cleanup_resources = _async_cleanup_resources


class SandboxedExecute(Execute):
    """nbgrader's Execute preprocessor with every kernel started by :class:`SandboxedKernelManager`.

    Refuses to run when the sandbox is unavailable, unless the instructor has set
    ``GENLIB_GRADE_UNSANDBOXED=1`` (``make grade ARGS=--unsandboxed``).
    """

    def __init__(self, *args, **kwargs):
        if not unsandboxed_allowed():
            problem = sandbox_problem()
            if problem:
                raise RuntimeError(f"refusing to run student code unsandboxed: {problem} "
                                   f"To grade with your own permissions anyway, set {UNSANDBOXED_ENV}=1 "
                                   "(make grade ARGS=--unsandboxed).")
            kwargs["kernel_manager_class"] = SandboxedKernelManager
        super().__init__(*args, **kwargs)
