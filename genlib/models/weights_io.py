"""Save and load the course's small pretrained weights: a few named modules in one float16 file.

Units 03 and 07 ship their models this way (``weights/conditional_*.pt``, ``weights/synthesis_*.pt``):
every floating-point tensor of every module's state dict is stored in float16, which halves the
files, and read back as float32. The file holds ``{module name: state dict}``.
"""
from __future__ import annotations

from pathlib import Path

import torch


def save_modules(modules: dict[str, torch.nn.Module], path: str | Path) -> Path:
    """Write ``modules``' state dicts, floating-point tensors in float16, to ``path``; return the path."""
    state = {key: {k: (v.half() if v.is_floating_point() else v) for k, v in module.state_dict().items()}
             for key, module in modules.items()}
    torch.save(state, path)
    return Path(path)


def load_modules(modules: dict[str, torch.nn.Module], path: str | Path, *, name: str, rebuild: str):
    """Fill the freshly built ``modules`` from ``path``; put them in eval mode on the CPU.

    Parameters
    ----------
    modules : dict of str -> torch.nn.Module
        The untrained modules, keyed as when they were saved.
    path : path
        The weights file.
    name : str
        The model's name, for the error message.
    rebuild : str
        The command that rebuilds the file, for the error message.

    Returns
    -------
    The module when there is one, else a tuple of the modules in ``modules``' order.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"no weights for the '{name}' model at {path}. Build them with `make weights` "
            f"(or `{rebuild}`), which trains them from the course's own data.")
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key, module in modules.items():
        module.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state[key].items()})
        module.eval()
    values = tuple(modules.values())
    return values[0] if len(values) == 1 else values
