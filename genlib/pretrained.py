"""The course's pretrained weights: one registry, package data of genlib in ``genlib/weights``.

Lectures load small networks instead of training them on the spot. Every such file is named
``<builder>_<model>`` (``features_digits``, ``conditional_spade``, ``synthesis_scenario``): the prefix
is the ``tools/weights_<builder>.py`` that trains it from the course's own data (``make weights``,
nothing is downloaded), and the files ship inside the genlib package, so an installed wheel finds
them as the repository does. The units' loaders (``load_feature_network``, ``load_digits_diffusion``,
``load_conditional``, ``load_synthesis``, ``families.load``) build their untrained models and fill
them through this module.

- ``path(name)``: the file of ``name`` (``.pt``, or ``.json`` for a JSON sidecar), existing or not;
- ``load(name)``: what the file holds (a state dict, ``{module name: state dict}``, a record, or JSON);
- ``load_into(name, modules)``: fill untrained modules from the file, float32, eval mode, on the CPU;
- ``save(name, modules)``: write modules' state dicts (floating-point tensors in float16 by default,
  which halves the files); ``write(name, obj)`` writes any other record or JSON sidecar.

Every function takes ``weights_dir`` to read or write another folder (``make weights`` writes the
package's; the tests write a scratch folder). Layer: beside ``_validation``; it imports only torch.

>>> from genlib import pretrained
>>> pretrained.path("features_digits").name
'features_digits.pt'
"""
from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

import torch

# The package's folder, through importlib.resources: the checkout's genlib/weights in an editable
# install, site-packages/genlib/weights in a wheel's.
WEIGHTS_DIR = Path(str(importlib.resources.files("genlib") / "weights"))
BUILDERS = ("conditional", "diffusion", "families", "features", "synthesis")  # tools/weights_<builder>.py


def _check_name(name: str) -> None:
    bare = isinstance(name, str) and name and not any(c in name for c in "/\\") and not name.endswith(".pt")
    if not bare or name.split("_", 1)[0] not in BUILDERS or "_" not in name:
        raise ValueError(f"name must be a weights file's bare name '<builder>_<model>' with a builder among "
                         f"{BUILDERS} (no folder, no .pt), such as 'features_digits'; got {name!r}.")


def path(name: str, weights_dir: str | Path | None = None) -> Path:
    """The file of the weights ``name``, existing or not.

    Parameters
    ----------
    name : str
        ``'<builder>_<model>'``, e.g. ``'conditional_spade'``; add ``.json`` for a JSON sidecar
        (``'synthesis_scenario.json'``).
    weights_dir : str or Path, optional
        Another folder than the package's ``genlib/weights``.
    """
    stem = name[:-len(".json")] if isinstance(name, str) and name.endswith(".json") else name
    _check_name(stem)
    folder = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    return folder / (name if stem != name else f"{name}.pt")


def available(weights_dir: str | Path | None = None) -> list[str]:
    """The names of the weights files there are (``.pt`` without, JSON sidecars with their suffix), sorted."""
    folder = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    return sorted([p.stem for p in folder.glob("*.pt")] + [p.name for p in folder.glob("*.json")])


def _existing(name: str, weights_dir, file, what: str | None) -> Path:
    file = path(name, weights_dir) if file is None else Path(file)
    if not file.exists():
        builder = name.split("_", 1)[0]
        raise FileNotFoundError(
            f"no weights for {what or repr(name)} at {file}. Build them with `make weights` (or `python -m "
            f"tools.weights {builder}` in the repository), which trains them from the course's own data.")
    return file


def load(name: str, weights_dir: str | Path | None = None, *, file: str | Path | None = None,
         what: str | None = None):
    """What the file of ``name`` holds, on the CPU: a state dict, ``{module name: state dict}``, a record
    (``torch.load`` with ``weights_only=True``), or, for a ``.json`` name, the parsed JSON.

    Parameters
    ----------
    name : str
    weights_dir : str or Path, optional
        Another folder than the package's.
    file : str or Path, optional
        A file of the same kind anywhere (then ``name`` only says what it is and who builds it).
    what : str, optional
        How the error message names the model, e.g. ``"the 'spade' model"``; default ``name``.

    Raises
    ------
    FileNotFoundError
        When the file is missing; the message names the command that builds it.
    """
    file = _existing(name, weights_dir, file, what)
    if file.suffix == ".json":
        return json.loads(file.read_text())
    return torch.load(file, map_location="cpu", weights_only=True)


def _as_float32(state: dict) -> dict:
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def load_into(name: str, modules: torch.nn.Module | dict[str, torch.nn.Module],
              weights_dir: str | Path | None = None, *, file: str | Path | None = None, what: str | None = None):
    """Fill freshly built ``modules`` from the file of ``name``; put them in eval mode on the CPU.

    Parameters
    ----------
    name : str
    modules : torch.nn.Module, or dict of str -> torch.nn.Module
        One module (the file holds its state dict) or several, keyed as when they were saved
        (the file holds ``{key: state dict}``).
    weights_dir, file, what
        As in ``load``.

    Returns
    -------
    The module when there is one, else a tuple of the modules in ``modules``' order.
    """
    state = load(name, weights_dir, file=file, what=what)
    if isinstance(modules, torch.nn.Module):
        modules.load_state_dict(_as_float32(state))
        return modules.eval()
    for key, module in modules.items():
        module.load_state_dict(_as_float32(state[key]))
        module.eval()
    values = tuple(modules.values())
    return values[0] if len(values) == 1 else values


def _state(module: torch.nn.Module, half: bool) -> dict:
    state = module.state_dict()
    return {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()} if half else state


def save(name: str, modules: torch.nn.Module | dict[str, torch.nn.Module],
         weights_dir: str | Path | None = None, *, half: bool = True) -> Path:
    """Write ``modules``' state dicts to the file of ``name``; return its path.

    Parameters
    ----------
    name : str
    modules : torch.nn.Module, or dict of str -> torch.nn.Module
        One module (its state dict is written) or several (``{key: state dict}``).
    weights_dir : str or Path, optional
        Default: the package's folder (what ``make weights`` rebuilds).
    half : bool
        Store floating-point tensors in float16 (half the size; ``load_into`` reads them back as float32).
    """
    if isinstance(modules, torch.nn.Module):
        state = _state(modules, half)
    elif isinstance(modules, dict) and all(isinstance(m, torch.nn.Module) for m in modules.values()):
        state = {key: _state(module, half) for key, module in modules.items()}
    else:
        raise TypeError(f"modules must be a torch.nn.Module or a dict of them, got {type(modules).__name__}; "
                        "write other records with pretrained.write(name, obj).")
    return write(name, state, weights_dir)


def write(name: str, obj, weights_dir: str | Path | None = None, *, file: str | Path | None = None) -> Path:
    """Write ``obj`` to the file of ``name`` (or to ``file``): JSON for a ``.json`` name, else ``torch.save``;
    return the path."""
    file = path(name, weights_dir) if file is None else Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    if file.suffix == ".json":
        file.write_text(json.dumps(obj, indent=1) + "\n")
    else:
        torch.save(obj, file)
    return file
