"""A small 2-D U-Net for segmenting cardiac MR images, and the helpers that train and apply it.

The U-Net (Ronneberger et al., 2015) maps an image x of shape (N, 1, H, W) to ``logits``
of shape (N, C, H, W), one score per class and pixel; the predicted label map is
``logits.argmax(1)``.

    encoder:  at each of ``depth`` levels, a block (two 3x3 conv -> GroupNorm -> ReLU)
              whose output is kept as a skip connection, then a 2x2 max-pool (H, W halve)
    bottom:   one block at H / 2**depth, W / 2**depth
    decoder:  at each level, a 2x2 transposed conv (H, W double), concatenation with the
              skip of the same level (fine detail from the encoder, context from below),
              then a block
    head:     a 1x1 conv to C logits

Channels double at every level: base, 2 base, ..., 2**depth base at the bottom. With the
defaults (base 16, depth 3) it has 482,388 parameters.

Why GroupNorm and not BatchNorm: GroupNorm normalises each image on its own, so the
network computes the same function in training and in evaluation mode and for any batch
size. BatchNorm's running averages lag behind the weights early in training, the classic
"trains well, predicts badly in eval() mode": on the tests' toy task after 16 steps, a
BatchNorm U-Net scored a Dice of 0.50 in training mode and 0.14 in eval mode (GroupNorm:
0.49 in both; the gap had closed by 32 steps). BatchNorm also makes the output for one
image depend on the others in its batch, and gets noisy with the batches of 4-8 that
128x128 images need on a laptop. The two cost the same on a CPU. Eight
groups (two channels per group at base 16) because fewer, larger groups learned much more
slowly: on the tests' toy task (base 8, 64 steps, four seeds) the mean Dice was 0.66 with
eight groups and 0.64 with BatchNorm, but 0.12 with four channels per group and 0.06 with
a single group.

Why transposed convolutions to go up: the original U-Net's "up-convolution"; with a 2x2
kernel and stride 2 the kernels do not overlap (no checkerboard artefacts), and it costs a
ninth of the multiply-adds of an upsample followed by a 3x3 convolution (measured: 25% less
time per training step on a CPU).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from genlib._validation import as_seed, as_tensor, check_int, check_ndim
from genlib.data.cardiac.labels import N_LABELS, check_label_map
from genlib.train import train

GROUPS = 8  # GroupNorm groups (fewer when a block has fewer channels)


def _block(in_channels: int, out_channels: int) -> nn.Sequential:
    """(3x3 conv -> GroupNorm -> ReLU) twice; keeps H and W."""
    layers: list[nn.Module] = []
    for channels in (in_channels, out_channels):
        layers += [
            nn.Conv2d(channels, out_channels, kernel_size=3, padding=1, bias=False),  # the norm's shift is the bias
            nn.GroupNorm(math.gcd(GROUPS, out_channels), out_channels),
            nn.ReLU(),
        ]
    return nn.Sequential(*layers)


def _check_image_batch(name: str, x: torch.Tensor, in_channels: int) -> None:
    """Raise a ValueError unless ``x`` has 4 dimensions (N, C, H, W), with the fix for 3 or 2."""
    if x.ndim == 3:
        raise ValueError(
            f"{name} must have 4 dimensions (N, {in_channels}, H, W), got shape {tuple(x.shape)}. For a batch "
            f"of single-channel images (N, H, W), add the channel dimension: {name}.unsqueeze(1); for one "
            f"image (C, H, W), add the batch dimension: {name}.unsqueeze(0)."
        )
    if x.ndim == 2:
        raise ValueError(
            f"{name} must have 4 dimensions (N, {in_channels}, H, W), got shape {tuple(x.shape)}. For one "
            f"image (H, W), add the batch and channel dimensions: {name}[None, None]."
        )
    check_ndim(name, x, 4, f"(N, {in_channels}, H, W)")


class UNet(nn.Module):
    """A small 2-D U-Net: images in, per-pixel class logits out.

    Parameters
    ----------
    in_channels : int
        Channels of the input images (1 for MR).
    n_classes : int
        C, the number of labels, background included (4 for ACDC label maps).
    base_channels : int
        Channels of the first level; each level down doubles them.
    depth : int
        Number of 2x2 poolings. H and W must be divisible by 2**depth.

    Notes
    -----
    ``forward(x)``: x of shape (N, in_channels, H, W) -> logits of shape (N, n_classes, H, W).
    """

    def __init__(self, in_channels: int = 1, n_classes: int = N_LABELS, base_channels: int = 16, depth: int = 3):
        super().__init__()
        check_int("in_channels", in_channels, 1)
        check_int("n_classes", n_classes, 2)
        check_int("base_channels", base_channels, 1)
        check_int("depth", depth, 1)
        self.in_channels, self.n_classes = in_channels, n_classes
        self.base_channels, self.depth = base_channels, depth
        channels = [base_channels * 2**level for level in range(depth + 1)]  # top ... bottom
        self.down = nn.ModuleList(
            _block(in_channels if level == 0 else channels[level - 1], channels[level]) for level in range(depth)
        )
        self.bottom = _block(channels[depth - 1], channels[depth])
        # the decoder runs from the bottom up: level depth-1, ..., 0
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(channels[level + 1], channels[level], kernel_size=2, stride=2, bias=False)
            for level in reversed(range(depth))
        )
        self.decode = nn.ModuleList(_block(2 * channels[level], channels[level]) for level in reversed(range(depth)))
        self.head = nn.Conv2d(channels[0], n_classes, kernel_size=1)

    def check_input(self, x: torch.Tensor, name: str = "x") -> None:
        """Raise a ValueError unless ``x`` is (N, in_channels, H, W) with H, W divisible by 2**depth."""
        _check_image_batch(name, x, self.in_channels)
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"{name} must have {self.in_channels} channel(s), shape (N, {self.in_channels}, H, W), "
                f"got shape {tuple(x.shape)}."
            )
        height, width = x.shape[-2:]
        factor = 2**self.depth
        if height % factor or width % factor:
            up = (math.ceil(height / factor) * factor, math.ceil(width / factor) * factor)
            down = (height // factor * factor, width // factor * factor)
            crop = f" or crop to {down[0]}x{down[1]}" if min(down) > 0 else ""
            raise ValueError(
                f"{name} must have a height and width divisible by 2**depth = {factor} (the U-Net halves them "
                f"{self.depth} times), got {height}x{width}. Pad to {up[0]}x{up[1]}{crop}, "
                f"or build the UNet with a smaller depth."
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, in_channels, H, W) -> logits: (N, n_classes, H, W)."""
        self.check_input(x)
        skips = []
        for block in self.down:
            x = block(x)  # (N, base * 2**level, H / 2**level, W / 2**level)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)  # (N, base * 2**depth, H / 2**depth, W / 2**depth)
        for up, block in zip(self.up, self.decode):
            x = up(x)  # doubles H and W, halves the channels
            x = block(torch.cat([skips.pop(), x], dim=1))
        return self.head(x)  # (N, n_classes, H, W)


def _check_logits_and_labels(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    check_ndim("logits", logits, 4, "(N, C, H, W)")
    if labels.ndim != 3 or labels.shape != logits.shape[:1] + logits.shape[2:]:
        raise ValueError(
            f"labels must have shape (N, H, W) = {tuple(logits.shape[:1] + logits.shape[2:])} to match "
            f"logits (N, C, H, W) = {tuple(logits.shape)}, got {tuple(labels.shape)}."
        )
    return check_label_map(labels, name="labels", n_values=logits.shape[1])


def segmentation_loss(logits: torch.Tensor, labels: torch.Tensor, *, smooth: float = 1.0) -> torch.Tensor:
    """Cross-entropy plus soft Dice loss, with equal weights.

        loss = CE(logits, labels) + (1 - mean_{c >= 1} soft_Dice_c)

        soft_Dice_c = (2 sum p_c t_c + smooth) / (sum p_c + sum t_c + smooth)

    with p = softmax(logits) over the classes, t = the one-hot labels, and the sums over
    every pixel of the batch. Cross-entropy gives well-scaled gradients from the first
    step; the soft Dice term, over the foreground classes only, makes each structure count
    the same however few pixels it covers (the background is most of a cardiac image).
    Both terms lie in [0, about 1.5] once training is under way, so weighting them 1:1
    lets neither dominate (the nnU-Net default). ``smooth`` makes a class absent from the
    batch score 1 when it is not predicted, rather than 0 / 0.

    Parameters
    ----------
    logits : torch.Tensor, shape (N, C, H, W)
        Unnormalised class scores, e.g. a UNet's output.
    labels : torch.Tensor of int, shape (N, H, W)
        Values in 0 .. C - 1.
    smooth : float
        Added to the numerator and denominator of the soft Dice.

    Returns
    -------
    loss : torch.Tensor, scalar
    """
    labels = _check_logits_and_labels(logits, labels)
    cross_entropy = F.cross_entropy(logits, labels)
    p = logits.softmax(dim=1)  # (N, C, H, W)
    t = F.one_hot(labels, logits.shape[1]).permute(0, 3, 1, 2).to(p.dtype)  # (N, C, H, W)
    intersection = (p * t).sum(dim=(0, 2, 3))  # (C,)
    sizes = p.sum(dim=(0, 2, 3)) + t.sum(dim=(0, 2, 3))  # (C,)
    soft_dice = (2 * intersection + smooth) / (sizes + smooth)  # (C,)
    return cross_entropy + (1 - soft_dice[1:].mean())


def _check_images(images, model: nn.Module) -> torch.Tensor:
    images = as_tensor("images", images)
    parameter = next(model.parameters(), None)
    if parameter is not None and parameter.is_floating_point():
        images = images.to(parameter.dtype)  # float64 numpy arrays into a float32 model
    _check_image_batch("images", images, getattr(model, "in_channels", 1))
    if len(images) == 0:
        raise ValueError(f"images is empty (shape {tuple(images.shape)}): give at least one image.")
    if isinstance(model, UNet):
        model.check_input(images, name="images")
    return images


def fit_segmenter(
    model: nn.Module,
    images,
    labels,
    *,
    epochs: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int | torch.Generator = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    augment: Callable | None = None,
) -> dict[str, list[float]]:
    """Train a segmenter on (image, label map) pairs: ``segmentation_loss`` with Adam.

    One call trains the model, through the course's one training loop (``genlib.train.train``).

    Parameters
    ----------
    model : torch.nn.Module
        Maps (B, 1, H, W) images to (B, C, H, W) logits, e.g. ``UNet()``. Left in eval
        mode, on ``device``.
    images : torch.Tensor or array, shape (N, 1, H, W)
    labels : torch.Tensor or array of int, shape (N, H, W)
        Values in 0 .. C - 1 (ACDC convention: 0 background, 1 RV cavity, 2 LV
        myocardium, 3 LV cavity).
    epochs, batch_size : int
    lr : float
        Adam's learning rate.
    seed : int or torch.Generator (a Generator gives one int, ``as_seed``)
        Seeds the shuffling and any randomness in ``augment``: the same seed and the same
        initial model give the same history.
    device : str or torch.device, optional
        Default: the GPU when present, otherwise the CPU.
    progress : bool
        Show a progress bar.
    augment : callable, optional
        ``augment(images, labels) -> (images, labels)``, applied to every mini-batch
        ((B, 1, H, W) and (B, H, W), already on the device) before the loss. It must
        transform an image and its label map alike (e.g. the same flip); draw its
        randomness from torch's global generator so that ``seed`` controls it.

    Returns
    -------
    history : dict
        "loss": the mean training loss of every epoch (length ``epochs``).
    """
    seed = as_seed(seed)
    images = _check_images(images, model)
    labels = torch.as_tensor(labels)
    if labels.shape != images.shape[:1] + images.shape[2:]:
        raise ValueError(
            f"labels must have shape (N, H, W) = {tuple(images.shape[:1] + images.shape[2:])} to match "
            f"images (N, 1, H, W) = {tuple(images.shape)}, got {tuple(labels.shape)}."
        )
    labels = check_label_map(labels, name="labels", n_values=getattr(model, "n_classes", N_LABELS))
    if augment is not None and not callable(augment):
        raise TypeError(
            f"augment must be a function augment(images, labels) -> (images, labels), got {type(augment).__name__}."
        )

    def loss_fn(batch):
        x, y = batch  # (B, 1, H, W), (B, H, W)
        if augment is not None:
            x, y = augment(x, y)
        return segmentation_loss(model(x), y)

    return train(model, loss_fn, (images, labels), epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                 device=device, progress=progress, description="segmentation")


def predict_labels(model: nn.Module, images, batch_size: int = 256) -> torch.Tensor:
    """The model's label map for each image: argmax over the classes, in eval mode, no gradients.

    Parameters
    ----------
    model : torch.nn.Module
        Maps (B, 1, H, W) images to (B, C, H, W) logits. Run on the device of its
        parameters; its training/eval mode is restored afterwards.
    images : torch.Tensor or array, shape (N, 1, H, W)
    batch_size : int
        Images per forward pass (bounds the memory used).

    Returns
    -------
    labels : torch.Tensor, int64, shape (N, H, W), on the CPU
        Values in 0 .. C - 1.
    """
    images = _check_images(images, model)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            labels = [model(images[start:start + batch_size].to(device)).argmax(dim=1).cpu()
                      for start in range(0, len(images), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(labels)  # (N, H, W), int64
