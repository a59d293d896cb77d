"""Shared fixtures: the repository root, and a table of notebook run times at the end."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")  # no windows from matplotlib during tests

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_SECONDS: dict[str, float] = {}


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture
def one_thread():
    """torch on one thread for the test (small convolutions: one thread is faster than two on a shared
    machine), restored afterwards. Use it with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_terminal_summary(terminalreporter):
    if NOTEBOOK_SECONDS:
        terminalreporter.section("notebook run times (fresh kernel; budgets are checked by make bench)")
        for name, seconds in sorted(NOTEBOOK_SECONDS.items()):
            terminalreporter.write_line(f"{name:<55} {seconds:7.1f} s")
