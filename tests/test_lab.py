"""`make lab` opens a JupyterLab that has the course kernel and nbgrader's extension."""
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

TOKEN = "genlib-test-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, path: str):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def lab():
    port = _free_port()
    jupyter = Path(sys.executable).parent / "jupyter"
    server = subprocess.Popen(
        [str(jupyter), "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={ROOT}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            try:
                _get(port, "/api/status")
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not answer within 60 s")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_lab_offers_the_genlib_kernel(lab):
    kernels = _get(lab, "/api/kernelspecs")["kernelspecs"]
    assert "genlib" in kernels, f"kernels offered: {sorted(kernels)}"
    assert kernels["genlib"]["spec"]["display_name"] == "Python 3 (genlib)"


def test_lab_has_the_nbgrader_and_widget_extensions(lab):
    names = {e["name"] for e in _get(lab, "/lab/api/extensions") if e.get("enabled", True)}
    assert "jupyter-nbgrader" in names, f"lab extensions: {sorted(names)}"
    assert "jupyter-widgets-jupyterlab-manager" in names, f"lab extensions: {sorted(names)}"


def test_lab_serves_the_course_folders(lab):
    listing = {item["name"] for item in _get(lab, "/api/contents")["content"]}
    assert {"lectures", "exercises", "solutions"} <= listing, listing
