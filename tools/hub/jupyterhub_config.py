"""JupyterHub configuration of the course's local hub (make hub; tests/test_hub.py).

The hub runs as root on 127.0.0.1 and starts each user's Jupyter server as that Unix user
(LocalProcessSpawner) from the copy of the course's environment under PREFIX (tools/hub/setup.py
makes it; the users never read this repository, which holds the solutions). Users log in with
their Unix password (PAM); make hub prints the passwords it set. Settings from the environment:

    GENLIB_HUB_PREFIX      where setup.py put the users' runtime, exchange and state (/srv/genlib-hub)
    GENLIB_HUB_STATE       the hub's database, cookie secret and proxy pid (PREFIX/state)
    GENLIB_HUB_PORT        the public port on 127.0.0.1 (8000); GENLIB_HUB_HUB_PORT the hub's API (8081),
    GENLIB_HUB_PROXY_API_PORT  the proxy's REST API (8001)
    GENLIB_HUB_API_TOKEN   when set, a service "semester-driver" with the admin role uses it (the test)
"""
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from tools.hub import INSTRUCTOR, PROXY, STUDENTS, USERS, course_root, paths  # noqa: E402

c = get_config()  # noqa: F821 (provided by traitlets when jupyterhub loads this file)

PREFIX = Path(os.environ.get("GENLIB_HUB_PREFIX", "/srv/genlib-hub"))
WHERE = paths(PREFIX)
STATE = Path(os.environ.get("GENLIB_HUB_STATE", str(WHERE["state"])))
PORT = int(os.environ.get("GENLIB_HUB_PORT", "8000"))
HUB_PORT = int(os.environ.get("GENLIB_HUB_HUB_PORT", "8081"))
PROXY_API_PORT = int(os.environ.get("GENLIB_HUB_PROXY_API_PORT", "8001"))
STATE.mkdir(mode=0o700, parents=True, exist_ok=True)

# Network: everything on the loopback.
c.JupyterHub.bind_url = f"http://127.0.0.1:{PORT}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{HUB_PORT}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PROXY_API_PORT}"
c.ConfigurableHTTPProxy.command = [str(PROXY)]  # make hub-deps installs it (npm)
c.ConfigurableHTTPProxy.pid_file = str(STATE / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops the users' servers and the proxy

# Users: the course's three Unix accounts, with their Unix passwords.
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False
c.Authenticator.allowed_users = set(USERS)

# Each server runs as its user from the copied environment, with its role's Jupyter and nbgrader
# configuration (PREFIX/etc/<role>: the students' has no formgrader) and nothing of the hub's environment.
ROLE = {INSTRUCTOR: "instructor", **{s: "student" for s in STUDENTS}}


def _role(spawner) -> str:
    return ROLE.get(spawner.user.name, "student")


def _config_path(spawner) -> str:
    return os.pathsep.join([str(WHERE["etc"] / _role(spawner)), str(WHERE["etc"] / "common")])


def _course_root(spawner) -> str:
    import pwd

    return str(course_root(pwd.getpwnam(spawner.user.name).pw_dir)) if _role(spawner) == "instructor" else ""


c.Spawner.cmd = [str(WHERE["venv"] / "bin" / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.env_keep = ["LANG", "LC_ALL"]
c.Spawner.environment = {
    "PATH": f"{WHERE['venv'] / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/bin:/bin",
    "JUPYTER_CONFIG_PATH": _config_path,
    "GENLIB_HUB_ROLE": _role,
    "GENLIB_HUB_EXCHANGE": str(WHERE["exchange"]),
    "GENLIB_HUB_COURSE_ROOT": _course_root,
    "MPLBACKEND": "Agg",
}
# A busy 2-core machine takes a while to import JupyterLab, nbgrader and the kernel.
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}  # a start request answers at once (202), not after 10 s

# The semester test drives the hub through its REST API with this service's token.
if os.environ.get("GENLIB_HUB_API_TOKEN"):
    c.JupyterHub.services = [{"name": "semester-driver", "api_token": os.environ["GENLIB_HUB_API_TOKEN"]}]
    c.JupyterHub.load_roles = [{"name": "admin", "services": ["semester-driver"]}]
