"""Execute a notebook top to bottom in a fresh kernel and time it (tests and benchmark)."""
from __future__ import annotations

import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

KERNEL_NAME = "genlib"


def execute_notebook(path: Path, *, timeout: int = 600) -> tuple[nbformat.NotebookNode, float]:
    """Run every cell of ``path`` in a fresh ``genlib`` kernel, in the notebook's folder.

    Returns the executed notebook and the wall-clock seconds. A failing cell raises
    nbclient's CellExecutionError, whose message shows the cell and the traceback.
    """
    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name=KERNEL_NAME,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return notebook, time.perf_counter() - start


def stderr_outputs(notebook: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(cell id, text) of everything the cells wrote to stderr: warnings, mostly."""
    return [(cell.get("id", "?"), output.get("text", ""))
            for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.get("outputs", [])
            if output.get("output_type") == "stream" and output.get("name") == "stderr"]
