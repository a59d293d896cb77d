"""Train unit 08's four digits models (seed 0 of ``genlib.families.RECIPES``) and write them to genlib/weights/.

- ``families_vae.pt``, ``families_gan.pt`` (the generator only), ``families_flow.pt``,
  ``families_diffusion.pt``: float tensors stored as float16 (about 2 MB in all).

Deterministic on one thread. ``python -m tools.weights families`` runs it; ``build(folder, short=True)``
trains a few steps of each (for the tests).
"""
from __future__ import annotations

from pathlib import Path

import torch

from genlib import families

SHORT = {"vae": dict(epochs=5), "gan": dict(steps=20), "flow": dict(epochs=5), "diffusion": dict(epochs=1)}


def build(weights_dir: Path, short: bool = False) -> list[Path]:
    torch.set_num_threads(1)
    written = []
    for family in families.FAMILIES:
        config = families.recipe(family, **SHORT[family]) if short else families.recipe(family)
        model, info = families.fit(family, seed=0, config=config)
        path = families.save(family, model, families.weights_path(family, weights_dir), config)
        print(f"unit 08 {family}: trained in {info['seconds']:.0f} s -> {path.name} ({path.stat().st_size / 1e6:.2f} MB)")
        written.append(path)
    return written
