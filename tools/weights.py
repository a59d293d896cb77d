"""make weights: rebuild the small pretrained weights in weights/ with the project's own scripts.

Each ``tools/weights_<name>.py`` defines ``build(weights_dir: Path) -> list[Path]``, which trains
its networks from the course's own data (nothing is downloaded) and returns the files it wrote.
``python -m tools.weights`` runs them all; ``python -m tools.weights features`` only the one named.
"""
import importlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "weights"


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
        sizes = ", ".join(f"{p.relative_to(ROOT)} ({p.stat().st_size / 1e6:.2f} MB)" for p in written)
        print(f"built {name} in {time.perf_counter() - start:.0f} s: {sizes}")


if __name__ == "__main__":
    main()
