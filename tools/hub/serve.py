"""make hub: set up (tools/hub/setup.py), then run the course's JupyterHub on 127.0.0.1 until Ctrl-C."""
import os
import sys

from tools.hub import INSTRUCTOR, PREFIX, PROXY, REPO, STUDENTS
from tools.hub.setup import setup


def main() -> int:
    if not PROXY.exists():
        print(f"The hub's proxy is missing ({PROXY}): run `make hub-deps` (needs npm).", file=sys.stderr)
        return 2
    done = setup(PREFIX)
    port = os.environ.get("GENLIB_HUB_PORT", "8000")
    for warning in done["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"""
The course's JupyterHub: http://127.0.0.1:{port}/  (from another machine: ssh -L {port}:127.0.0.1:{port} <this host>)
Log in with a Unix account of the course (passwords in {PREFIX / 'state' / 'passwords.json'}, root only):""")
    for user in (INSTRUCTOR, *STUDENTS):
        role = "instructor: Formgrader in the Nbgrader menu" if user == INSTRUCTOR else "student: Assignments"
        print(f"  {user:<20} {done['passwords'][user]:<18} ({role})")
    print(f"""The instructor releases and collects in the formgrader, autogrades in a terminal with
  sudo genlib-autograde 01_vae_recap      (every kernel in the grading sandbox)
then generates and releases feedback in the formgrader. Exchange: {done['exchange']}.
Stop the hub (and every user's server) with Ctrl-C. docs/instructor_hub.md has the whole semester.
""", flush=True)
    os.chdir(REPO)
    hub = os.path.join(os.path.dirname(sys.executable), "jupyterhub")
    os.execv(hub, [hub, "-f", str(REPO / "tools" / "hub" / "jupyterhub_config.py")])


if __name__ == "__main__":
    sys.exit(main())
