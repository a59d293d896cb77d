"""make weights: rebuild the small pretrained weights in genlib/weights/ with the project's own scripts.

They are package data of genlib, found through ``genlib.pretrained`` (its ``WEIGHTS_DIR``), so this writes
where the package reads, in the checkout and in the wheel built from it.

Each ``tools/weights_<name>.py`` defines ``build(weights_dir: Path) -> list[Path]``, which trains
its networks from the course's own data (nothing is downloaded) and returns the files it wrote.
``python -m tools.weights`` runs them all; ``python -m tools.weights features`` only the one named.
"""
import contextlib
import importlib
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from genlib import pretrained

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = pretrained.WEIGHTS_DIR  # genlib/weights: where the package reads


@contextlib.contextmanager
def one_thread():
    """Run the block on one torch thread (deterministic, one process per core), then restore the setting."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train_groups(train, weights_dir: Path, short: bool, groups: list[list[str]]) -> list[Path]:
    """Call ``train(weights_dir, short, group)`` for every group of stages: one process per group when
    there are several (``train`` must be a module-level function), in this process otherwise.
    Returns the files written, in the groups' order."""
    groups = [group for group in groups if group]
    if len(groups) <= 1:
        return train(weights_dir, short, groups[0] if groups else [])
    with ProcessPoolExecutor(len(groups)) as pool:
        return [path for paths in pool.map(train, [weights_dir] * len(groups), [short] * len(groups), groups)
                for path in paths]


def builders() -> dict:
    return {path.stem.removeprefix("weights_"): importlib.import_module(f"tools.{path.stem}")
            for path in sorted(Path(__file__).parent.glob("weights_*.py"))}


def main(argv: list[str] | None = None) -> None:
    known = builders()
    chosen = (sys.argv[1:] if argv is None else argv) or list(known)
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise SystemExit(f"no weight builder {unknown}; the builders are {list(known)} (tools/weights_<name>.py)")
    if not chosen:
        print("No unit ships pretrained weights yet.")
    WEIGHTS.mkdir(exist_ok=True)
    for name in chosen:
        start = time.perf_counter()
        written = known[name].build(WEIGHTS)
        sizes = ", ".join(f"{p.relative_to(ROOT) if p.is_relative_to(ROOT) else p} ({p.stat().st_size / 1e6:.2f} MB)"
                          for p in written)
        print(f"built {name} in {time.perf_counter() - start:.0f} s: {sizes}")


if __name__ == "__main__":
    main()
