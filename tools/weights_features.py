"""Train the feature networks of unit 04 (evaluation) and write them to genlib/weights/ (``genlib.pretrained``).

- ``features_digits.pt``: ``DigitsFeatureNet`` trained to classify the 1,000 training digits.
- ``features_cardiac.pt``: ``CardiacFeatureNet`` trained to tell the ACDC group and the rendering
  style of 6,000 random phantom slices (``styled_phantoms``).

Deterministic: fixed seeds and one thread. ``python -m tools.weights features`` runs it (a few
minutes on a CPU) and prints each network's validation accuracy.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch.nn import functional as F

from genlib import pretrained
from genlib.data import load_digits
from genlib.models.features import CardiacFeatureNet, DigitsFeatureNet, styled_phantoms
from genlib.train import train

DIGITS_EPOCHS = 60
CARDIAC_TRAIN, CARDIAC_VAL, CARDIAC_EPOCHS = 6000, 1000, 8


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(dim=1) == labels).float().mean())


def build_digits(weights_dir: Path) -> Path:
    x, y = load_digits("train", shape="image")
    x_val, y_val = load_digits("val", shape="image")
    torch.manual_seed(0)
    net = DigitsFeatureNet()
    train(net, lambda batch: F.cross_entropy(net(batch[0]), batch[1]), (x, y), epochs=DIGITS_EPOCHS,
          batch_size=64, lr=2e-3, seed=0, device="cpu", progress=False)
    net.eval()
    with torch.no_grad():
        print(f"digits feature network: validation accuracy {_accuracy(net(x_val), y_val):.3f}")
    return pretrained.save("features_digits", net, weights_dir, half=False)


def build_cardiac(weights_dir: Path) -> Path:
    x, groups, styles = styled_phantoms(CARDIAC_TRAIN, seed=0)
    x_val, groups_val, styles_val = styled_phantoms(CARDIAC_VAL, seed=1)
    torch.manual_seed(0)
    net = CardiacFeatureNet()

    def loss(batch):
        group_logits, style_logits = net(batch[0])
        return F.cross_entropy(group_logits, batch[1]) + F.cross_entropy(style_logits, batch[2])

    train(net, loss, (x, groups, styles), epochs=CARDIAC_EPOCHS, batch_size=64, lr=2e-3, seed=0,
          device="cpu", progress=False)
    net.eval()
    with torch.no_grad():
        group_logits, style_logits = net(x_val)
    print(f"cardiac feature network: validation accuracy {_accuracy(group_logits, groups_val):.3f} (ACDC group, "
          f"chance 0.2), {_accuracy(style_logits, styles_val):.3f} (style, chance 0.25)")
    return pretrained.save("features_cardiac", net, weights_dir, half=False)


def build(weights_dir: Path) -> list[Path]:
    """Train both networks on one thread (deterministic) and return the files written."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return [build_digits(weights_dir), build_cardiac(weights_dir)]
    finally:
        torch.set_num_threads(threads)
