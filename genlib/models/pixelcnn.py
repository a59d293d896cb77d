"""A small PixelCNN for the 17-level 8x8 digits: the course's autoregressive likelihood yardstick.

An autoregressive model writes the joint distribution of the D = 64 pixels with the chain rule, in
raster order (row by row, left to right):

    p(x) = prod_i p(x_i | x_1, ..., x_{i-1}),

and a network gives each conditional as a 17-way softmax. The log-likelihood is then exact (a sum of 64
log-probabilities, no bound, no dequantisation), which is why such a model is the yardstick the
likelihood families (VAE, flow, diffusion) are measured against. A PixelCNN computes all 64 conditionals
in one pass of a convolutional network whose kernels are *masked* so that the output at pixel i never
sees pixels >= i (van den Oord et al., 2016). Sampling needs 64 passes, one pixel at a time.

Layer: a model (``genlib.models``); it imports only torch, ``genlib._validation`` and ``genlib.train``.
"""
from __future__ import annotations

import math
import time

import torch
from torch import nn
from torch.nn import functional as F

from genlib._validation import as_seed, check_choice

N_LEVELS = 17
SIDE = 8


def causal_mask(kernel_size: int, mask_type: str) -> torch.Tensor:
    """The spatial mask of a masked convolution, shape (kernel_size, kernel_size), ones where weights are kept.

    With the kernel centred on pixel i (row r, column c), raster order puts before i every pixel of
    the rows above and the pixels left of c on row r. The mask keeps the weights on those positions
    and zeroes those on the positions after i. Type "A" also zeroes the centre (the first layer: its
    input at i *is* x_i, which the output at i must not see); type "B" keeps it (later layers: their
    input at i already depends only on pixels < i).

    >>> causal_mask(3, "A")
    tensor([[1., 1., 1.],
            [1., 0., 0.],
            [0., 0., 0.]])
    """
    if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be an odd positive integer (the kernel has a centre pixel), "
                         f"got {kernel_size!r}.")
    check_choice("mask_type", mask_type, ("A", "B"))
    c = kernel_size // 2
    mask = torch.ones(kernel_size, kernel_size)
    mask[c, c + (mask_type == "B"):] = 0  # the centre row: from the centre (A) or after it (B) on
    mask[c + 1:] = 0  # every row below the centre
    return mask


class MaskedConv2d(nn.Conv2d):
    """A "same"-padded convolution whose kernel is multiplied by ``causal_mask`` at every call.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int
        Odd.
    mask_type : {"A", "B"}
        "A" hides the centre pixel from itself (first layer), "B" lets a feature see its own position.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str):
        mask = causal_mask(kernel_size, mask_type)  # validates both arguments first
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.mask_type = mask_type
        self.register_buffer("mask", mask[None, None], persistent=False)  # (1, 1, k, k)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.conv2d(h, self.weight * self.mask, self.bias, padding=self.padding)


class PixelCNN(nn.Module):
    """A PixelCNN over 8x8 images of ``n_levels`` grey levels, with a softmax per pixel.

    The input image (levels 0..L-1) enters one-hot, (B, L, 8, 8). A masked 7x7 convolution of type A
    is followed by ``n_layers`` masked 3x3 convolutions of type B (ReLU between), then two 1x1
    convolutions give L logits per pixel. Because every kernel is masked, the logits of pixel i are a
    function of pixels 1..i-1 only (raster order), so ``softmax(logits)[:, :, i]`` is
    p(x_i | x_<i) and the log-likelihood is the sum of the 64 log-probabilities of the pixels seen.
    (The stack of masked 3x3 kernels has the classic "blind spot": some pixels up and to the right
    are never seen. It is still a valid autoregressive model, only a less expressive one.)

    Parameters
    ----------
    n_levels : int
        L, the number of grey levels (17 for the course's digits).
    channels : int
        Width of every hidden layer.
    n_layers : int
        Number of masked 3x3 type-B layers.
    head_channels : int
        Width of the 1x1 layer before the logits.
    dropout : float in [0, 1)
        Dropout after every ReLU while training (a regulariser for the 1,000 training digits); 0 adds
        no dropout layers.
    cond_dim : int, optional
        Makes the model conditional, p(x | c) = prod_i p(x_i | x_<i, c): a linear map of a vector c
        (B, cond_dim) to one (channels, 8, 8) map is added after the first layer. Every pixel may see
        all of c, so the model stays autoregressive in x. ``PixelVAE`` uses it as its decoder, with c = z.

    Examples
    --------
    >>> model = PixelCNN()
    >>> x = torch.randint(0, 17, (5, 64)).float()   # levels 0..16, (B, 64) or (B, 1, 8, 8)
    >>> model.log_likelihood(x).shape                # nats per image
    torch.Size([5])
    """

    def __init__(self, n_levels: int = N_LEVELS, channels: int = 64, n_layers: int = 6, head_channels: int = 128,
                 dropout: float = 0.0, cond_dim: int | None = None):
        super().__init__()
        for name, value, low in (("n_levels", n_levels, 2), ("channels", channels, 1), ("n_layers", n_layers, 0),
                                 ("head_channels", head_channels, 1)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
        if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}.")
        if cond_dim is not None and (not isinstance(cond_dim, int) or cond_dim < 1):
            raise ValueError(f"cond_dim must be a positive integer (the size of the conditioning vector) or None, "
                             f"got {cond_dim!r}.")
        self.n_levels, self.channels, self.cond_dim = n_levels, channels, cond_dim

        def relu() -> list[nn.Module]:
            return [nn.ReLU(), nn.Dropout(dropout)] if dropout > 0 else [nn.ReLU()]

        layers: list[nn.Module] = [MaskedConv2d(n_levels, channels, 7, "A")]
        for _ in range(n_layers):
            layers += [*relu(), MaskedConv2d(channels, channels, 3, "B")]
        layers += [*relu(), nn.Conv2d(channels, head_channels, 1), *relu(), nn.Conv2d(head_channels, n_levels, 1)]
        self.net = nn.Sequential(*layers)
        self.condition = None if cond_dim is None else nn.Linear(cond_dim, channels * SIDE * SIDE)

    def _levels(self, x: torch.Tensor) -> torch.Tensor:
        """Check x and return its levels as a long tensor (B, 8, 8)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor of levels, got {type(x).__name__}. Convert it with "
                            "torch.as_tensor(x).")
        if x.ndim == 2 and x.shape[1] == SIDE * SIDE:
            x = x.reshape(-1, SIDE, SIDE)
        elif x.ndim == 4 and x.shape[1:] == (1, SIDE, SIDE):
            x = x[:, 0]
        else:
            raise ValueError(f"x must have shape (B, 64) or (B, 1, 8, 8), got {tuple(x.shape)}. For a single "
                             "image add a batch dimension: x.unsqueeze(0).")
        top = self.n_levels - 1
        if not bool(((x == x.round()) & (x >= 0) & (x <= top)).all()):
            raise ValueError(f"x must hold integer levels 0..{top}, got values in [{x.min().item():g}, "
                             f"{x.max().item():g}]. Load the digits with load_digits(..., scale='levels'), "
                             "not scale='unit'.")
        return x.long()

    def _check_cond(self, cond, batch: int):
        if self.cond_dim is None:
            if cond is not None:
                raise ValueError("this PixelCNN is unconditional (cond_dim=None) and takes no cond; build it with "
                                 "PixelCNN(cond_dim=...) to condition it.")
            return
        if not isinstance(cond, torch.Tensor) or cond.shape != (batch, self.cond_dim):
            got = tuple(cond.shape) if isinstance(cond, torch.Tensor) else type(cond).__name__
            raise ValueError(f"cond must be a tensor of shape (B, cond_dim) = ({batch}, {self.cond_dim}), got {got}.")

    def logits(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of p(x_i | x_<i[, c]) for every pixel i, shape (B, L, 8, 8).

        x: levels, (B, 64) or (B, 1, 8, 8); cond: (B, cond_dim), only for a conditional model.
        """
        levels = self._levels(x)  # (B, 8, 8)
        self._check_cond(cond, len(levels))
        one_hot = F.one_hot(levels, self.n_levels).permute(0, 3, 1, 2).to(self.net[0].weight.dtype)  # (B, L, 8, 8)
        h = self.net[0](one_hot)
        if cond is not None:
            h = h + self.condition(cond).reshape(len(h), self.channels, SIDE, SIDE)
        return self.net[1:](h)

    def log_likelihood(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """The exact log p(x[ | c]) = sum_i log p(x_i | x_<i[, c]) of each image, in nats, shape (B,)."""
        levels = self._levels(x)  # (B, 8, 8)
        log_probs = F.log_softmax(self.logits(x, cond), dim=1)  # (B, L, 8, 8)
        return log_probs.gather(1, levels[:, None]).squeeze(1).flatten(1).sum(1)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """The training loss: the mean negative log-likelihood in nats per image."""
        return -self.log_likelihood(x).mean()

    @torch.no_grad()
    def sample(self, n: int, *, cond: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` images pixel by pixel in raster order (64 network passes); ``cond`` (n, cond_dim) if conditional.

        Returns
        -------
        torch.Tensor, float32, shape (n, 1, 8, 8)
            Levels 0..L-1 (divide by L - 1 for images in [0, 1]).
        """
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}.")
        self._check_cond(cond, n)
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        x = torch.zeros(n, 1, SIDE, SIDE, device=device)
        for i in range(SIDE * SIDE):
            r, c = divmod(i, SIDE)
            probs = self.logits(x, cond)[:, :, r, c].softmax(1).cpu()  # (n, L): p(x_i | x_<i), x_<i already drawn
            x[:, 0, r, c] = torch.multinomial(probs, 1, generator=generator)[:, 0].float().to(device)
        self.train(was_training)
        return x


def bits_per_dim_of(model: PixelCNN, x: torch.Tensor, batch_size: int = 512) -> float:
    """The mean exact NLL of ``x`` (levels, (N, 64)) in bits per dimension: nats / (64 ln 2)."""
    model.eval()
    with torch.no_grad():
        nll = torch.cat([-model.log_likelihood(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    return float(nll.double().mean() / (SIDE * SIDE * math.log(2)))


def fit_pixelcnn(x_train: torch.Tensor, x_val: torch.Tensor, *, epochs: int = 15, batch_size: int = 32,
                 lr: float = 1e-3, seed: int | torch.Generator = 0, progress: bool = False, **model_kwargs) -> tuple[PixelCNN, dict]:
    """Train a ``PixelCNN`` by maximum likelihood, with early stopping on the validation bits/dim.

    Parameters
    ----------
    x_train, x_val : torch.Tensor, shapes (N, 64) and (M, 64)
        Levels 0..L-1 (``load_digits("train", scale="levels")`` and ``"val"``).
    epochs : int
        Epochs trained; the weights of the epoch with the lowest validation bits/dim are kept.
    batch_size : int
    lr : float
        Adam's learning rate.
    seed : int or torch.Generator (a Generator gives one int, ``as_seed``)
        Seeds the initial weights and the shuffling.
    progress : bool
        Show a progress bar with the running loss.
    **model_kwargs
        Passed to ``PixelCNN``.

    Returns
    -------
    model : PixelCNN
        In eval mode, with the best validation epoch's weights.
    info : dict
        "val_bits_per_dim" (one per epoch), "best_epoch" (counted from 1), "best_val_bits_per_dim",
        "seconds" (wall) and "cpu_seconds" (this process).
    """
    seed = as_seed(seed)
    from genlib.train import isolated_rng, train

    for name, x in (("x_train", x_train), ("x_val", x_val)):
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != SIDE * SIDE:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{name} must be a tensor of levels with shape (N, 64), got {shape}. Load it with "
                             "load_digits(split, scale='levels').")
    with isolated_rng(seed):  # the initial weights; the caller's global random states are restored after
        model = PixelCNN(**model_kwargs)
    model._levels(x_train), model._levels(x_val)  # check the levels before training
    cpu0, wall0 = time.process_time(), time.perf_counter()
    history = train(model, model.loss, x_train, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device="cpu",
                    progress=progress, description="PixelCNN", validate=lambda: bits_per_dim_of(model, x_val),
                    keep_best=True)
    info = {"val_bits_per_dim": history["val"], "best_epoch": history["best_epoch"],
            "best_val_bits_per_dim": min(history["val"]),
            "seconds": time.perf_counter() - wall0, "cpu_seconds": time.process_time() - cpu0}
    return model.eval(), info
