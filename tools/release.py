"""make release: regenerate exercises/ (the student release) from solutions/ with nbgrader."""
from tools.course import ROOT, release, units


def main() -> None:
    for unit in units(ROOT):
        path = release(unit, ROOT)
        print(f"released {unit:<24} -> {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
