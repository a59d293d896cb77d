"""make release: regenerate exercises/ (the student release) from solutions/ with nbgrader.

``python -m tools.release`` releases every unit; ``python -m tools.release 02_gans`` (or
``make release UNITS=02_gans``) only the units named.
"""
import sys

from tools.course import ROOT, release, units


def main(argv: list[str] | None = None) -> None:
    known = units(ROOT)
    chosen = (sys.argv[1:] if argv is None else argv) or known
    unknown = [u for u in chosen if u not in known]
    if unknown:
        raise SystemExit(f"no unit {unknown} in solutions/; the units are {known}")
    for unit in chosen:
        path = release(unit, ROOT)
        print(f"released {unit:<24} -> {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
