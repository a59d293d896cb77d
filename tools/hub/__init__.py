"""The course on a local JupyterHub: real Unix users, nbgrader's exchange, sandboxed autograding.

    make hub-deps   the hub's proxy (configurable-http-proxy, from npm) into .hub/
    make hub        set up users, runtime and exchange (tools/hub/setup.py), then run the hub
    make test-hub   the whole semester through the hub (tests/test_hub.py)

Everything the hub's users run lives under PREFIX (default /srv/genlib-hub, see docs/instructor_hub.md):
a copy of the course's Python environment, genlib and weights (users never read this repository,
which holds the solutions), the exchange, the hub's state. The instructor's grading command is
/usr/local/sbin/genlib-autograde.
"""
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PREFIX = Path(os.environ.get("GENLIB_HUB_PREFIX", "/srv/genlib-hub"))
COURSE_ID = "genai-med"
INSTRUCTOR = os.environ.get("GENLIB_HUB_INSTRUCTOR", "genlib-instructor")
STUDENTS = tuple(os.environ.get("GENLIB_HUB_STUDENTS", "genlib-student1,genlib-student2").split(","))
USERS = (INSTRUCTOR, *STUDENTS)
PROXY = REPO / ".hub" / "node_modules" / ".bin" / "configurable-http-proxy"
PROXY_VERSION = "5.3.0"  # pinned in make/hub.mk too


def paths(prefix: Path = PREFIX) -> dict[str, Path]:
    """Where the hub keeps each thing under ``prefix``."""
    prefix = Path(prefix)
    return {
        "venv": prefix / "venv",  # the users' Python: the course's environment, copied
        "course": prefix / "course",  # genlib/ and weights/ (on the users' sys.path)
        "etc": prefix / "etc",  # Jupyter and nbgrader configuration, one folder per role
        "exchange": prefix / "exchange",  # nbgrader's exchange root (1777, sticky)
        "state": prefix / "state",  # the hub's database, cookie secret, passwords (root only)
    }


def course_root(home: Path) -> Path:
    """The instructor's nbgrader course directory (source, release, grading)."""
    return Path(home) / "course"
