"""genlib's layers, kept by a test: data flows one way, and no module reaches into another's private names.

The order (``genlib/__init__.py`` states it once; the README points to it)::

    foundation -> data -> train -> models -> metrics -> families, synthesis -> viz -> widgets

``foundation`` holds what every layer may use: the shared input checks (``_validation``), the committed
tables (``results``), lecture claims (``claims``), the weights registry (``pretrained``) and the test
cells' helpers (``grading``). ``train`` (one training loop: seeding, device, progress) sits below
``models`` because the models' own ``fit`` functions call it. A module may import from its own layer
and the layers before it; imports inside functions count too.
"""
from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

GENLIB = ROOT / "genlib"
FOUNDATION = ("_validation", "results", "claims", "pretrained", "grading")
LAYERS = (FOUNDATION, ("data",), ("train",), ("models",), ("metrics",), ("families", "synthesis"), ("viz",),
          ("widgets",))
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, module: str, is_package: bool = False):
    """(imported module, names taken from it, line) for every genlib import in ``source`` (the text of
    ``module``), relative imports resolved."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            names = [alias.name for alias in node.names]
            if base == "genlib":  # from genlib import results, train: each name is a module
                for name in names:
                    yield f"genlib.{name}", [], node.lineno
            elif base.startswith("genlib."):
                yield base, names, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("genlib."):
                    yield alias.name, [], node.lineno


def top(module: str) -> str:
    return module.split(".")[1]


def upward_imports(modules) -> list[str]:
    """Imports that go up the layers, from ``modules``: (module name, source text, is_package) triples."""
    found = []
    for module, source, is_package in modules:
        for imported, _, line in imports_of(source, module, is_package):
            if top(imported) in RANK and RANK[top(imported)] > RANK[top(module)]:
                found.append(f"{module}:{line} ({top(module)}) imports {imported} ({top(imported)})")
    return found


def private_imports(modules) -> list[str]:
    """Private names (one leading underscore) that ``modules`` import from another module."""
    return [f"{module}:{line} imports {name} from {imported}"
            for module, source, is_package in modules
            for imported, names, line in imports_of(source, module, is_package)
            for name in names if name.startswith("_") and not name.startswith("__")]


SOURCES = sorted(p for p in GENLIB.rglob("*.py") if p != GENLIB / "__init__.py")
MODULES = [(module_name(p), p.read_text(), p.name == "__init__.py") for p in SOURCES]


def test_every_genlib_module_has_a_layer():
    tops = sorted({top(module) for module, _, _ in MODULES})
    missing = [t for t in tops if t not in RANK]
    assert not missing, (f"genlib.{missing} has no place in the layer order: add it to LAYERS in tests/test_layers.py "
                         f"and to the order in genlib/__init__.py (which layers may it import, which may import it?).")
    print(f"every one of genlib's {len(tops)} top-level modules and packages has a layer")


def test_no_import_goes_up_the_layers():
    upward = upward_imports(MODULES)
    assert not upward, ("imports that go up genlib's layers (" + " -> ".join("/".join(n) for n in LAYERS) + "):\n  "
                        + "\n  ".join(upward) + "\nMove the shared piece down a layer, or pass it in as an argument.")
    print(f"no upward import in {len(MODULES)} modules")


def test_no_private_name_is_imported_across_modules():
    private = private_imports(MODULES)
    assert not private, ("private names imported from another module:\n  " + "\n  ".join(private)
                         + "\nA helper that two modules need is public: drop the underscore, give it a docstring "
                           "(shared input checks live in genlib/_validation.py).")
    print(f"no private name crosses a module boundary in {len(MODULES)} modules")


def test_the_checks_find_planted_imports():
    """The checks are not vacuous: an upward import (also one inside a function, also a relative one) and a
    private import planted in a data module are found."""
    planted = [("genlib.data.planted", "def f():\n    from genlib.widgets import latent\n", False),
               ("genlib.data.cardiac.planted", "from ...viz import show\n", False),
               ("genlib.metrics.planted", "from genlib.models.unet import _secret\n", False)]
    assert upward_imports(planted) == ["genlib.data.planted:2 (data) imports genlib.widgets (widgets)",
                                       "genlib.data.cardiac.planted:1 (data) imports genlib.viz (viz)"]
    assert private_imports(planted) == ["genlib.metrics.planted:1 imports _secret from genlib.models.unet"]
    print("planted upward and private imports are found")
