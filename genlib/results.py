"""The committed tables the lectures print: benchmark results that ship with genlib.

``make bench`` writes them (``bench/*.py``) and git keeps them in ``genlib/tables/``, package data of
genlib, so that a lecture finds them wherever it runs: in the repository, copied to another folder,
or beside an installed genlib. A lecture never reads a path relative to its own folder.

>>> from genlib import results
>>> table = results.load("unit07_synthesis_table")      # doctest: +SKIP
"""
from __future__ import annotations

import json
from pathlib import Path

TABLES_DIR = Path(__file__).resolve().parent / "tables"


def path(name: str) -> Path:
    """The file of the committed table ``name`` (``"results"``, ``"unit02_gans_table"``, ...), existing or not.

    Parameters
    ----------
    name : str
        The table's name without ``.json``, as listed by ``available()``.
    """
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.endswith(".json"):
        raise ValueError(f"name must be a table's bare name such as 'unit02_gans_table' (no folder, no .json), "
                         f"got {name!r}.")
    return TABLES_DIR / f"{name}.json"


def available() -> list[str]:
    """The names of the committed tables, sorted."""
    return sorted(p.stem for p in TABLES_DIR.glob("*.json"))


def load(name: str) -> dict:
    """The committed table ``name`` as a dict.

    Raises
    ------
    FileNotFoundError
        When no such table is committed: the message names the tables there are and the bench that writes one.
    """
    file = path(name)
    if not file.exists():
        raise FileNotFoundError(f"no committed table {name!r} in {TABLES_DIR}; there are {available()}. "
                                f"The benchmark writes it: python bench/run.py <section> from the repository.")
    return json.loads(file.read_text())
