"""Feature networks for FID, KID and precision/recall, trained offline on the course's own data.

- ``DigitsFeatureNet``: a small CNN classifying the 8x8 digits (10 classes).
- ``CardiacFeatureNet``: a small CNN for 64x64 cardiac phantoms with two heads, the ACDC
  group (anatomy: cavity size, wall thickness, right ventricle) and the rendering style
  (vendor contrast, noise, blur, LGE). Trained on both, its features respond to anatomy
  and to appearance; a network trained on the group alone could learn to ignore noise and
  contrast, and one trained on the style alone to ignore the anatomy, and FID would then be
  blind to the other half of what a generator can get wrong.

``features(x)`` returns the penultimate layer (64 numbers per image); ``forward`` the logits.
``tools/weights_features.py`` trains both (``make weights``) into ``genlib/weights/`` (``genlib.pretrained``).
``load_feature_network(name)`` loads them; ``load_inception_torchscript(path)`` wraps an
Inception-V3 FID network you already have as a TorchScript file (nothing is downloaded).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from genlib import pretrained
from genlib._validation import as_seed

WEIGHTS_DIR = pretrained.WEIGHTS_DIR  # the package's folder, through the registry
FEATURE_NETWORKS = ("digits", "cardiac")
CARDIAC_STYLES = ("cine_vendor_a", "cine_vendor_b", "cine_vendor_c", "lge")  # the style head's classes
FEATURE_DIM = 64


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))


class DigitsFeatureNet(nn.Module):
    """8x8 digits -> 64 features -> 10 class logits.

    Input (B, 1, 8, 8) or (B, 64), values in [0, 1]. About 14k parameters.
    """

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(_block(1, 16), _block(16, 32), nn.Flatten(),  # (B, 32 * 2 * 2)
                                  nn.Linear(128, FEATURE_DIM), nn.ReLU())
        self.head = nn.Linear(FEATURE_DIM, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations, shape (B, 64)."""
        return self.body(x.reshape(-1, 1, 8, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits, shape (B, 10)."""
        return self.head(self.features(x))


class CardiacFeatureNet(nn.Module):
    """64x64 phantoms -> 64 features -> (group logits (B, 5), style logits (B, 4)).

    Input (B, 1, 64, 64), values in [0, 1]. About 41k parameters.
    """

    def __init__(self, n_groups: int = 5, n_styles: int = len(CARDIAC_STYLES)):
        super().__init__()
        self.body = nn.Sequential(_block(1, 8), _block(8, 16), _block(16, 32), _block(32, 64),  # (B, 64, 4, 4)
                                  nn.AdaptiveAvgPool2d(2), nn.Flatten(),  # (B, 256)
                                  nn.Linear(256, FEATURE_DIM), nn.ReLU())
        self.group_head = nn.Linear(FEATURE_DIM, n_groups)
        self.style_head = nn.Linear(FEATURE_DIM, n_styles)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations, shape (B, 64)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)
        return self.group_head(h), self.style_head(h)


_CLASSES = {"digits": DigitsFeatureNet, "cardiac": CardiacFeatureNet}


def weights_path(name: str) -> Path:
    """Where ``make weights`` writes the feature network ``name`` (``pretrained.path``)."""
    return pretrained.path(f"features_{name}")


def load_feature_network(name: str, path: str | Path | None = None) -> nn.Module:
    """A trained feature network, in eval mode, on the CPU.

    Parameters
    ----------
    name : {"digits", "cardiac"}
    path : str or Path, optional
        A weights file; default the package's ``genlib/weights/features_<name>.pt``.

    Returns
    -------
    DigitsFeatureNet or CardiacFeatureNet
        Call ``.features(images)`` for (B, 64) features.
    """
    if name not in _CLASSES:
        raise ValueError(f"name must be one of {', '.join(map(repr, FEATURE_NETWORKS))}; got {name!r}.")
    network = _CLASSES[name]()
    return pretrained.load_into(f"features_{name}", network, file=path, what=f"the {name!r} feature network")


@torch.no_grad()
def extract_features(network: nn.Module, images: torch.Tensor, *, batch_size: int = 512) -> torch.Tensor:
    """Features of ``images`` in batches, without gradients.

    Parameters
    ----------
    network : nn.Module with a ``features`` method (or a callable images -> features)
    images : torch.Tensor, shape (N, ...)

    Returns
    -------
    torch.Tensor, float64, shape (N, F)
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}; use torch.as_tensor(images).")
    embed = getattr(network, "features", network)
    chunks = [embed(images[i:i + batch_size].float()).reshape(len(images[i:i + batch_size]), -1)
              for i in range(0, len(images), batch_size)]
    return torch.cat(chunks).double()


class InceptionTorchScript(nn.Module):
    """Wraps a TorchScript Inception-V3 FID network so that it takes the course's images.

    The wrapped module is NVIDIA's ``inception-2015-12-05.pt`` format (used by
    stylegan2-ada-pytorch and clean-fid): ``module(images, return_features=True)`` with
    images of shape (B, 3, H, W), values 0..255, returns (B, 2048) pool features; it
    resizes to 299x299 itself. This wrapper repeats a grey channel three times and scales
    [0, 1] to 0..255.
    """

    def __init__(self, module):
        super().__init__()
        self.module = module

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"images must have shape (B, 1, H, W) or (B, 3, H, W) in [0, 1], got {tuple(x.shape)}.")
        x = (x.clamp(0, 1) * 255).expand(-1, 3, -1, -1)
        return self.module(x, return_features=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def load_inception_torchscript(path: str | Path) -> InceptionTorchScript:
    """Load an Inception-V3 FID network from a local TorchScript file (nothing is downloaded).

    Parameters
    ----------
    path : str or Path
        A TorchScript file in the format of NVIDIA's ``inception-2015-12-05.pt`` (see
        ``InceptionTorchScript``). pytorch-fid's ``pt_inception-*.pth`` is a state dict for
        torchvision's Inception class and cannot be loaded without torchvision.

    Returns
    -------
    InceptionTorchScript
        ``.features(images)`` gives (B, 2048) features for images (B, 1 or 3, H, W) in [0, 1].
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no file at {path}. The course downloads nothing: put a TorchScript Inception-V3 FID network "
            "(e.g. inception-2015-12-05.pt) on disk yourself and pass its path, or use "
            "load_feature_network('digits' or 'cardiac')."
        )
    try:
        with warnings.catch_warnings():  # torch 2.13 marks TorchScript deprecated; the files still load
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu")
    except RuntimeError as error:
        raise ValueError(
            f"{path} is not a TorchScript file ({error.__class__.__name__}: {str(error).splitlines()[0]}). "
            "A state dict (.pth) needs the model's Python class; export the network with torch.jit.script "
            "or use a TorchScript release such as inception-2015-12-05.pt."
        ) from None
    return InceptionTorchScript(module.eval())


def styled_phantoms(n: int, *, seed: int | torch.Generator = 0, styles=CARDIAC_STYLES, size: int = 64):
    """Random phantom slices (any ACDC group, phase and level), each rendered in a random style.

    The training data of ``CardiacFeatureNet``, and the "real" cardiac images of unit 04.

    Parameters
    ----------
    n : int
    seed : int or torch.Generator
        Seeds the phantoms, the style draw and, as ``seed + 1000 * s``, the rendering in style s (a Generator
        gives one int, ``as_seed``).
    styles : sequence of str
        Names in ``genlib.data.cardiac.STYLES``, drawn uniformly.
    size : int

    Returns
    -------
    images : torch.Tensor, float32, shape (n, 1, size, size), in [0, 1]
    groups : torch.Tensor, int64, shape (n,)
        Index into ``genlib.data.cardiac.PATHOLOGIES``.
    style_index : torch.Tensor, int64, shape (n,)
        Index into ``styles``.
    """
    from genlib.data.cardiac import PATHOLOGIES, render, sample_phantoms  # the data layer, loaded on use

    seed = as_seed(seed)  # one int: the function derives several seeds from it
    batch = sample_phantoms(n, size=size, phase=None, seed=seed)
    groups = torch.tensor([PATHOLOGIES.index(p) for p in batch.pathologies])
    style_index = torch.randint(len(styles), (n,), generator=torch.Generator().manual_seed(seed))
    images = torch.empty(n, 1, size, size)
    for s, style in enumerate(styles):
        rows = (style_index == s).nonzero().flatten()
        if len(rows):
            images[rows] = render(batch.tissues[rows], style, seed=seed + 1000 * s)
    return images, groups, style_index
