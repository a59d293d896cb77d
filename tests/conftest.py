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


def pytest_terminal_summary(terminalreporter):
    if NOTEBOOK_SECONDS:
        terminalreporter.section("notebook run times (fresh kernel; budgets are checked by make bench)")
        for name, seconds in sorted(NOTEBOOK_SECONDS.items()):
            terminalreporter.write_line(f"{name:<55} {seconds:7.1f} s")
