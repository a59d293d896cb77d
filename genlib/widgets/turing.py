"""A visual Turing test: is this image real or synthetic? The reader clicks, then sees the score.

Expert reading is how medical image synthesis is often judged: radiologists label a shuffled
mix of real and synthetic images. Accuracy near 0.5 means they could not tell them apart; the
Clopper-Pearson interval says how sure that statement is after only a few dozen images.
"""
from __future__ import annotations

import io
from typing import NamedTuple

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display

from genlib.viz import to_numpy_images


class TuringResult(NamedTuple):
    """The score of a visual Turing test."""

    n: int  # images answered
    correct: int
    accuracy: float
    low: float  # Clopper-Pearson confidence interval of the accuracy
    high: float
    real_called_real: int
    synthetic_called_real: int


def binomial_confidence_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) confidence interval for a binomial proportion.

    Parameters
    ----------
    successes, trials : int
        0 <= successes <= trials, trials >= 1.
    level : float
        Coverage, e.g. 0.95.

    Returns
    -------
    low, high : float
    """
    from scipy.stats import beta  # loaded on use: keeps importing genlib.widgets light

    if not (isinstance(trials, (int, np.integer)) and trials >= 1):
        raise ValueError(f"trials must be a positive integer, got {trials!r}.")
    if not (isinstance(successes, (int, np.integer)) and 0 <= successes <= trials):
        raise ValueError(f"successes must be an integer between 0 and trials={trials}, got {successes!r}.")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95, got {level!r}.")
    alpha = 1 - level
    low = 0.0 if successes == 0 else float(beta.ppf(alpha / 2, successes, trials - successes + 1))
    high = 1.0 if successes == trials else float(beta.ppf(1 - alpha / 2, successes + 1, trials - successes))
    return low, high


def _png(image: np.ndarray, pixels: int, cmap: str) -> bytes:
    """A crisp PNG of a (H, W) image in [0, 1], upsampled by pixel repetition to about ``pixels`` wide."""
    factor = max(1, pixels // image.shape[1])
    big = np.kron(np.clip(image, 0, 1), np.ones((factor, factor)))
    buffer = io.BytesIO()
    plt.imsave(buffer, big, cmap=cmap, vmin=0, vmax=1, format="png")
    return buffer.getvalue()


class VisualTuringTest:
    """Show a shuffled mix of real and synthetic images one at a time; score the reader's clicks.

    Parameters
    ----------
    real, synthetic : tensor or array, shape (N, D), (N, H, W) or (N, 1, H, W), values in [0, 1]
        Pools of images; ``n_trials`` of them are drawn, about half from each.
    n_trials : int
        Images shown (at most len(real) + len(synthetic)).
    seed : int
        Which images are drawn, and their order.
    pixels : int
        Approximate width of the displayed image.
    cmap : str
        Matplotlib colour map: "gray" for MR images, "gray_r" for the digits (dark ink).

    Attributes
    ----------
    widget : ipywidgets.VBox
    buttons : dict "real" / "synthetic" -> ipywidgets.Button
    answers : list of bool
        True where the reader said "real", in the order shown.
    is_real : numpy.ndarray of bool, shape (n_trials,)
        The truth of each trial.
    """

    def __init__(self, real, synthetic, *, n_trials: int = 20, seed: int = 0, pixels: int = 128,
                 cmap: str = "gray"):
        real_images, synthetic_images = to_numpy_images(real), to_numpy_images(synthetic)
        if real_images.shape[1:] != synthetic_images.shape[1:]:
            raise ValueError(
                f"real and synthetic images must have the same size, got {real_images.shape[1:]} and "
                f"{synthetic_images.shape[1:]}."
            )
        if not isinstance(n_trials, int) or not 1 <= n_trials <= len(real_images) + len(synthetic_images):
            raise ValueError(
                f"n_trials must be an integer between 1 and {len(real_images) + len(synthetic_images)} "
                f"(the images given), got {n_trials!r}."
            )
        rng = np.random.default_rng(seed)
        n_real = min(len(real_images), max(n_trials - len(synthetic_images), rng.binomial(n_trials, 0.5)))
        n_synthetic = n_trials - n_real
        images = np.concatenate([real_images[rng.choice(len(real_images), n_real, replace=False)],
                                 synthetic_images[rng.choice(len(synthetic_images), n_synthetic, replace=False)]])
        truth = np.r_[np.ones(n_real, bool), np.zeros(n_synthetic, bool)]
        order = rng.permutation(n_trials)
        self.images, self.is_real = images[order], truth[order]  # (T, H, W), (T,)
        self.n_trials, self.pixels, self.cmap = n_trials, pixels, cmap
        self.answers: list[bool] = []
        self.buttons = {"real": widgets.Button(description="Real", button_style="success"),
                        "synthetic": widgets.Button(description="Synthetic", button_style="danger")}
        self.buttons["real"].on_click(lambda _: self.answer(True))
        self.buttons["synthetic"].on_click(lambda _: self.answer(False))
        self.image = widgets.Image(format="png", width=self.pixels)  # its own size, not stretched to the output's width
        self.status = widgets.HTML()
        self.widget = widgets.VBox([self.image, widgets.HBox(list(self.buttons.values())), self.status])
        self._show()

    @property
    def done(self) -> bool:
        return len(self.answers) >= self.n_trials

    def answer(self, says_real: bool) -> None:
        """Record the reader's answer for the current image and show the next one (or the score)."""
        if self.done:
            return
        self.answers.append(bool(says_real))
        self._show()

    def results(self, level: float = 0.95) -> TuringResult:
        """Accuracy of the answers so far, with a Clopper-Pearson interval."""
        n = len(self.answers)
        if n == 0:
            raise ValueError("no answers yet: click Real or Synthetic (or call .answer(True/False)) first.")
        said_real, truth = np.array(self.answers), self.is_real[:n]
        correct = int((said_real == truth).sum())
        low, high = binomial_confidence_interval(correct, n, level)
        return TuringResult(n, correct, correct / n, low, high,
                            int((said_real & truth).sum()), int((said_real & ~truth).sum()))

    def summary(self) -> str:
        """The score in words."""
        r = self.results()
        verdict = ("0.5 is inside the interval: these answers cannot tell real from synthetic better than chance."
                   if r.low <= 0.5 <= r.high else
                   "0.5 is outside the interval: the reader tells real from synthetic better than chance."
                   if r.low > 0.5 else "the reader is worse than chance: the labels look swapped.")
        return (f"accuracy {r.correct}/{r.n} = {r.accuracy:.2f}, 95% CI [{r.low:.2f}, {r.high:.2f}]; "
                f"real called real {r.real_called_real}/{int(self.is_real[:r.n].sum())}, synthetic called real "
                f"{r.synthetic_called_real}/{int((~self.is_real[:r.n]).sum())}. {verdict}")

    def _show(self) -> None:
        if self.done:
            for button in self.buttons.values():
                button.disabled = True
            self.status.value = f"<b>Done.</b> {self.summary()}"
            return
        self.image.value = _png(self.images[len(self.answers)], self.pixels, self.cmap)
        self.status.value = f"image {len(self.answers) + 1} of {self.n_trials}: real or synthetic?"

    def _ipython_display_(self):
        display(self.widget)
