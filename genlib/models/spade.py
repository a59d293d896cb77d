"""SPADE: spatially-adaptive normalisation, a SPADE generator and a style encoder.

Park et al. (2019), "Semantic image synthesis with spatially-adaptive normalization".
A label map m (one channel per class, one-hot) conditions every normalisation layer:

    out = norm(x) * (1 + gamma(m)) + beta(m)

with ``norm`` a normalisation *without* learned affine parameters (instance norm here),
and gamma, beta of shape (B, C, H, W): one scale and one shift per channel **and pixel**,
predicted from m resized to x's size through a shared 3x3 conv + ReLU, then one 3x3 conv
each. The (1 + gamma) form makes a freshly initialised layer (gamma ~ 0) start close to
plain normalisation.

Resizing m (``label_resize``). The paper, and the ``SPADE`` layer's default, resize m by
nearest neighbour, so labels are never blended. Shrinking by nearest neighbour, though, keeps
one pixel of every k x k block (PyTorch's: the top-left one): a layer at 1/4 of the image's
size sees the map shifted by 1.5 pixels and loses every structure thinner than 4 pixels
(a 2-pixel wall, a small cavity). ``label_resize="area"`` averages the one-hot map over each
block instead: each class's *share* of the block, centred on it (the map at full size is
unchanged). ``SPADEGenerator`` offers both and uses "nearest" by default (see its notes for the measurement).

Why not feed m at the input only: normalisation subtracts each channel's mean over the
image, and a map that is constant inside each region is mostly "washed away" by it
(a uniform label map is erased entirely). SPADE re-injects m after every normalisation.

Public objects (unit 07 reuses them):

- ``one_hot_labels(labels, n_labels)``: (B, H, W) int -> (B, n_labels, H, W) float.
- ``spade(x, segmap, shared, conv_gamma, conv_beta)``: the layer's forward pass, functional.
- ``resize_segmap(segmap, size, mode)``: the map at a layer's size, by nearest neighbour or by area.
- ``SPADE``: the layer; ``SPADEResBlock``: two SPADE-ReLU-conv steps with a (SPADE-)skip.
- ``SPADEGenerator``: (label map, style code z) -> image in [0, 1].
- ``StyleEncoder``: image -> (mu, log_var) of q(z | x), the VAE-style encoder of the code z.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from genlib._validation import check_int, check_ndim
from genlib.data.cardiac.labels import N_LABELS, check_label_map


def one_hot_labels(labels, n_labels: int = N_LABELS) -> torch.Tensor:
    """One channel per class: (B, H, W) integer labels -> (B, n_labels, H, W) float32 in {0, 1}.

    Parameters
    ----------
    labels : torch.Tensor or array of int, shape (B, H, W)
        Values in 0 .. n_labels - 1 (ACDC: 0 background, 1 RV, 2 myocardium, 3 LV).
    n_labels : int

    Returns
    -------
    torch.Tensor, float32, shape (B, n_labels, H, W)
    """
    check_int("n_labels", n_labels, 2)
    labels = check_label_map(labels, name="labels", n_values=n_labels)
    if labels.ndim != 3:
        hint = " For one map (H, W), add the batch dimension: labels[None]." if labels.ndim == 2 else ""
        raise ValueError(f"labels must have shape (B, H, W), got shape {tuple(labels.shape)}.{hint}")
    return F.one_hot(labels, n_labels).permute(0, 3, 1, 2).float()  # (B, L, H, W)


LABEL_RESIZE = ("nearest", "area")
UPSAMPLE = ("nearest", "bilinear")


def _check_mode(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}.")


def resize_segmap(segmap: torch.Tensor, size, mode: str = "nearest") -> torch.Tensor:
    """A one-hot map (B, L, H_m, W_m) at ``size`` = (H, W): by nearest neighbour, or by ``"area"``.

    ``"area"`` averages each class's channel over the block of pixels that one output pixel covers when
    the map shrinks (the class's share of the block; channels still sum to 1) and falls back to nearest
    neighbour when it grows or keeps its size, so a full-size map is never blended.
    """
    _check_mode("label_resize", mode, LABEL_RESIZE)
    size = tuple(size)
    if mode == "area" and (size[0] < segmap.shape[-2] or size[1] < segmap.shape[-1]):
        return F.interpolate(segmap, size=size, mode="area")
    return F.interpolate(segmap, size=size, mode="nearest")


def spade(x: torch.Tensor, segmap: torch.Tensor, shared: nn.Module, conv_gamma: nn.Module,
          conv_beta: nn.Module, eps: float = 1e-5, label_resize: str = "nearest") -> torch.Tensor:
    """The forward pass of a SPADE layer: norm(x) * (1 + gamma) + beta.

    Parameters
    ----------
    x : torch.Tensor, shape (B, C, H, W)
        Activations to normalise.
    segmap : torch.Tensor, shape (B, L, H_m, W_m)
        One-hot label map at any resolution; resized to (H, W) by ``resize_segmap``.
    shared : module
        (B, L, H, W) -> (B, K, H, W): the shared conv + ReLU.
    conv_gamma, conv_beta : module
        (B, K, H, W) -> (B, C, H, W) each.
    eps : float
        Added to the variance in the instance normalisation.
    label_resize : {"nearest", "area"}
        How a larger map shrinks to (H, W): one pixel per block, or each class's share of the block.

    Returns
    -------
    torch.Tensor, shape (B, C, H, W)
    """
    check_ndim("x", x, 4, "(B, C, H, W)")
    check_ndim("segmap", segmap, 4, "(B, L, H, W) (one-hot: use one_hot_labels(labels))")
    if len(segmap) != len(x):
        raise ValueError(f"segmap must have one map per image of x: x has {len(x)} images, segmap {len(segmap)}.")
    normalized = F.instance_norm(x, eps=eps)  # (B, C, H, W), zero mean and unit variance per image and channel
    segmap = resize_segmap(segmap.to(x.dtype), x.shape[-2:], label_resize)  # (B, L, H, W)
    hidden = shared(segmap)  # (B, K, H, W)
    gamma, beta = conv_gamma(hidden), conv_beta(hidden)  # (B, C, H, W) each
    return normalized * (1 + gamma) + beta


class SPADE(nn.Module):
    """Spatially-adaptive normalisation: instance norm (no affine), then a per-pixel scale and shift.

    Parameters
    ----------
    channels : int
        C, the channels of the activations x.
    label_channels : int
        L, the channels of the one-hot label map.
    hidden : int
        K, the channels of the shared conv.
    label_resize : {"nearest", "area"}
        How the map is resized to x's size (``resize_segmap``); "nearest" as in the paper.

    Notes
    -----
    ``forward(x, segmap)``: x (B, C, H, W), segmap (B, L, H_m, W_m) -> (B, C, H, W).
    """

    def __init__(self, channels: int, label_channels: int = N_LABELS, hidden: int = 32,
                 label_resize: str = "nearest"):
        super().__init__()
        for name, value in (("channels", channels), ("label_channels", label_channels), ("hidden", hidden)):
            check_int(name, value)
        _check_mode("label_resize", label_resize, LABEL_RESIZE)
        self.label_resize = label_resize
        self.shared = nn.Sequential(nn.Conv2d(label_channels, hidden, 3, padding=1), nn.ReLU())
        self.conv_gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.conv_beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W), segmap: (B, L, H_m, W_m) -> (B, C, H, W)."""
        return spade(x, segmap, self.shared, self.conv_gamma, self.conv_beta, label_resize=self.label_resize)


class SPADEResBlock(nn.Module):
    """SPADE -> LeakyReLU -> 3x3 conv, twice, plus a skip (SPADE -> 1x1 conv when the channels change).

    ``forward(x, segmap)``: (B, in_channels, H, W) -> (B, out_channels, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, label_channels: int = N_LABELS, hidden: int = 32,
                 label_resize: str = "nearest"):
        super().__init__()
        middle = min(in_channels, out_channels)
        self.norm_0 = SPADE(in_channels, label_channels, hidden, label_resize)
        self.conv_0 = nn.Conv2d(in_channels, middle, 3, padding=1)
        self.norm_1 = SPADE(middle, label_channels, hidden, label_resize)
        self.conv_1 = nn.Conv2d(middle, out_channels, 3, padding=1)
        self.learned_skip = in_channels != out_channels
        if self.learned_skip:
            self.norm_skip = SPADE(in_channels, label_channels, hidden, label_resize)
            self.conv_skip = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        skip = self.conv_skip(self.norm_skip(x, segmap)) if self.learned_skip else x
        h = self.conv_0(F.leaky_relu(self.norm_0(x, segmap), 0.2))
        h = self.conv_1(F.leaky_relu(self.norm_1(h, segmap), 0.2))
        return skip + h


class SPADEGenerator(nn.Module):
    """Label map + style code -> image: z -> a small grid, then SPADE residual blocks and 2x upsamplings.

    The code z (from ``StyleEncoder``, or drawn from N(0, I)) sets what the labels leave open
    (contrast, texture, the surroundings); the label map sets the anatomy at every scale.

    Parameters
    ----------
    n_labels : int
        L, the classes of the label map (4 for ACDC maps).
    size : int
        H = W of the images; must be divisible by 2**n_up.
    z_dim : int
        Dimension of the style code.
    channels : int
        Channels of the first block; they halve at every upsampling (at least 8).
    n_up : int
        Number of 2x upsamplings; the first grid is size / 2**n_up pixels wide.
    hidden : int
        Channels of each SPADE layer's shared conv.
    label_resize : {"nearest", "area"}
        How the label map reaches the SPADE layers of the coarser blocks (``resize_segmap``).
    upsample : {"nearest", "bilinear"}
        How the activations double in size before the next block's 3x3 convs (a resize-convolution,
        Odena et al. 2016; no transposed convolution either way).
    code_in_layers : bool
        False (every shipped generator; Park et al.'s layout, with this module's instance norm where they
        use batch norm): z enters once, as the first grid, and the SPADE layers after it divide out each
        channel's mean and scale per image, much of what a global style is. True: z, broadcast over the image, joins the label map as input of every SPADE layer (as
        OASIS joins its 3-D noise, Sushko et al. 2021), so each layer's gamma and beta depend on the code and
        the tissue together (a contrast is a tissue-by-style interaction).

    Notes
    -----
    ``forward(labels, z=None)``: labels (B, H, W) int or one-hot (B, L, H, W), z (B, z_dim)
    -> images (B, 1, H, W) in [0, 1]. z = None uses z = 0, the mean style.

    Why "nearest" by default, with "area" and "bilinear" on offer: a map shrunk by nearest neighbour to the
    coarse layers (k x k blocks) is shifted by (k - 1) / 2 pixels, 1.5 at the coarsest, and loses structures
    thinner than a block (``tests/test_spade_artefacts.py``), and a generator trained that way can place its
    edges on one phase of the coarse grid more often than real renders do: blocky seams
    (``genlib.metrics.spectral.grid_phase_excess``). Block shares keep the map centred and its thin structures;
    bilinear growth adds no block edges; the parameters are the same. Whether that changes trained generators
    was decided by ``bench/unit03_artefacts.py``'s controlled pilot (both trained from the same 8 seeds, a rule
    fixed before the run, bench/NOTES.md): area + bilinear lowered the period-4 grid-phase excess on average,
    but its 95 % interval included zero, so by the rule the paper's nearest neighbour stays the default.
    """

    def __init__(self, n_labels: int = N_LABELS, size: int = 64, z_dim: int = 8, channels: int = 32,
                 n_up: int = 3, hidden: int = 16, label_resize: str = "nearest", upsample: str = "nearest",
                 code_in_layers: bool = False):
        super().__init__()
        for name, value in (("n_labels", n_labels), ("size", size), ("z_dim", z_dim), ("channels", channels),
                            ("n_up", n_up), ("hidden", hidden)):
            check_int(name, value)
        if not isinstance(code_in_layers, bool):
            raise TypeError(f"code_in_layers must be True or False, got {code_in_layers!r}.")
        self.code_in_layers = code_in_layers
        _check_mode("label_resize", label_resize, LABEL_RESIZE)
        _check_mode("upsample", upsample, UPSAMPLE)
        self.label_resize, self.upsample = label_resize, upsample
        if size % 2**n_up:
            raise ValueError(f"size must be divisible by 2**n_up = {2**n_up}, got size={size}. "
                             f"Use size={size // 2**n_up * 2**n_up or 2**n_up} or a smaller n_up.")
        self.n_labels, self.size, self.z_dim, self.n_up = n_labels, size, z_dim, n_up
        self.start = size // 2**n_up
        widths = [max(channels // 2**level, 8) for level in range(n_up + 1)]
        self.fc = nn.Linear(z_dim, widths[0] * self.start**2)
        layer_inputs = n_labels + (z_dim if code_in_layers else 0)
        self.blocks = nn.ModuleList(
            SPADEResBlock(widths[max(level - 1, 0)], widths[level], layer_inputs, hidden, label_resize)
            for level in range(n_up + 1)
        )
        self.out = nn.Conv2d(widths[-1], 1, 3, padding=1)
        self.widths = widths

    def segmap(self, labels) -> torch.Tensor:
        """(B, H, W) integer labels or a (B, L, H, W) one-hot map -> the one-hot map (B, L, H, W)."""
        if isinstance(labels, torch.Tensor) and labels.ndim == 4 and labels.is_floating_point():
            if labels.shape[1] != self.n_labels:
                raise ValueError(f"a one-hot labels map must have n_labels = {self.n_labels} channels, "
                                 f"got shape {tuple(labels.shape)}.")
            return labels
        return one_hot_labels(labels, self.n_labels)

    def _up(self, h: torch.Tensor) -> torch.Tensor:
        if self.upsample == "bilinear":
            return F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
        return F.interpolate(h, scale_factor=2, mode="nearest")

    def forward(self, labels, z: torch.Tensor | None = None) -> torch.Tensor:
        """labels: (B, H, W) or (B, L, H, W), z: (B, z_dim) or None -> images (B, 1, H, W) in [0, 1]."""
        segmap = self.segmap(labels).to(self.fc.weight.device)  # (B, L, H, W)
        if segmap.shape[-2:] != (self.size, self.size):
            raise ValueError(f"labels must be {self.size}x{self.size} maps (the generator's size), "
                             f"got {tuple(segmap.shape[-2:])}.")
        if z is None:
            z = torch.zeros(len(segmap), self.z_dim, device=segmap.device)
        if z.shape != (len(segmap), self.z_dim):
            raise ValueError(f"z must have shape (B, z_dim) = {(len(segmap), self.z_dim)}, got {tuple(z.shape)}.")
        layer_input = segmap  # (B, L', H, W): what every SPADE layer reads
        if self.code_in_layers:
            layer_input = torch.cat([layer_input, z[:, :, None, None].expand(-1, -1, *segmap.shape[-2:])], 1)
        h = self.fc(z).reshape(len(z), self.widths[0], self.start, self.start)  # (B, C0, s, s)
        for level, block in enumerate(self.blocks):
            if level:
                h = self._up(h)  # (B, C, 2s, 2s)
            h = block(h, layer_input)
        return torch.sigmoid(self.out(F.leaky_relu(h, 0.2)))  # (B, 1, H, W)


class StyleEncoder(nn.Module):
    """q(z | x): an image -> the mean and log-variance of its style code.

    Four stride-2 convs (instance norm, LeakyReLU), a global average pool, then two linear
    heads. Trained with the SPADE generator as a VAE (reconstruction + KL to N(0, I)), so at
    test time z ~ N(0, I) gives new styles and E(x) copies the style of a reference image.

    Parameters
    ----------
    z_dim : int
    channels : int
        Channels of the first conv; they double at every stride (at most 8 x channels).
    in_channels : int
    instance_norm : bool
        Instance normalisation after each conv (unit 03's encoder). It divides out every channel's
        mean and scale per image, which is much of what a style *is* (contrast, brightness): without it
        (unit 07's scenario encoder) the code keeps them.

    Notes
    -----
    ``forward(x)``: x (B, in_channels, H, W), H and W >= 32 -> (mu, log_var), each (B, z_dim).
    """

    def __init__(self, z_dim: int = 8, channels: int = 16, in_channels: int = 1, instance_norm: bool = True):
        super().__init__()
        for name, value in (("z_dim", z_dim), ("channels", channels), ("in_channels", in_channels)):
            check_int(name, value)
        if not isinstance(instance_norm, bool):
            raise TypeError(f"instance_norm must be True or False, got {instance_norm!r}.")
        self.z_dim, self.in_channels = z_dim, in_channels
        layers, n_in = [], in_channels
        for level in range(4):
            n_out = channels * 2 ** min(level, 3)
            norm = nn.InstanceNorm2d(n_out) if instance_norm else nn.Identity()
            layers += [nn.Conv2d(n_in, n_out, 3, stride=2, padding=1), norm, nn.LeakyReLU(0.2)]
            n_in = n_out
        self.net = nn.Sequential(*layers)
        self.mu = nn.Linear(n_in, z_dim)
        self.log_var = nn.Linear(n_in, z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, in_channels, H, W) -> mu, log_var: (B, z_dim) each."""
        check_ndim("x", x, 4, f"(B, {self.in_channels}, H, W)")
        if x.shape[1] != self.in_channels or min(x.shape[-2:]) < 32:
            raise ValueError(f"x must have shape (B, {self.in_channels}, H, W) with H, W >= 32 (four halvings), "
                             f"got {tuple(x.shape)}.")
        h = self.net(x).mean(dim=(2, 3))  # (B, channels * 8)
        return self.mu(h), self.log_var(h)
