"""Tests of genlib.models.unet: shapes, input checks, the loss, training through genlib.train, prediction."""
from __future__ import annotations

import copy
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from genlib.metrics.segmentation import dice_per_class, mean_dice
from genlib.models.unet import UNet, fit_segmenter, predict_labels, segmentation_loss


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Train on one intra-op thread, then restore the setting.

    Measured on the 2-core machines while other jobs ran (load average 4-5): torch's two
    OpenMP threads wait on each other and this file took 155-260 s, against 28 s on one
    thread (about 12 s of CPU time in all). On an idle machine one thread costs little.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _rings(n, size=32, *, seed=0, noise=0.1):
    """A toy short-axis slice: an LV disc (3) in a myocardial ring (2), an RV disc (1) beside it.

    Drawn in torch from random centres and radii; each structure has its own intensity plus
    Gaussian noise. Returns images (n, 1, size, size) float32 and labels (n, size, size) int64.
    """
    gen = torch.Generator().manual_seed(seed)

    def uniform(low, high):  # one value per image, (n, 1, 1)
        return low + (high - low) * torch.rand(n, 1, 1, generator=gen)

    centres = (torch.arange(size) + 0.5) / size
    y, x = centres[:, None], centres[None, :]  # (size, 1), (1, size)
    cy, cx, r_cavity, wall = uniform(0.4, 0.6), uniform(0.4, 0.6), uniform(0.08, 0.14), uniform(0.05, 0.08)
    rho_lv = ((x - cx) ** 2 + (y - cy) ** 2).sqrt()  # (n, size, size)
    angle, r_rv = uniform(0.75, 1.25) * math.pi, uniform(0.1, 0.16)  # the RV on the image left
    offset = r_cavity + wall + 0.5 * r_rv
    rho_rv = ((x - cx - offset * torch.cos(angle)) ** 2 + (y - cy - offset * torch.sin(angle)) ** 2).sqrt()
    labels = torch.zeros(n, size, size, dtype=torch.long)
    labels[(rho_rv < r_rv) & (rho_lv >= r_cavity + wall + 0.02)] = 1
    labels[(rho_lv >= r_cavity) & (rho_lv < r_cavity + wall)] = 2
    labels[rho_lv < r_cavity] = 3
    intensity = torch.tensor([0.2, 1.0, 0.45, 0.75])  # background, RV, myocardium, LV
    images = intensity[labels] + noise * torch.randn(n, size, size, generator=gen)
    return images.unsqueeze(1), labels


# ----------------------------------------------------------------------------- the network


@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("depth", [2, 3, 4])
def test_output_is_one_logit_per_class_and_pixel(size, depth):
    torch.manual_seed(0)
    model = UNet(n_classes=4, base_channels=4, depth=depth)
    logits = model(torch.randn(2, 1, size, size))
    assert logits.shape == (2, 4, size, size)
    assert logits.dtype == torch.float32 and torch.isfinite(logits).all()


def test_default_size_and_other_channel_counts():
    model = UNet()
    assert (model.in_channels, model.n_classes, model.base_channels, model.depth) == (1, 4, 16, 3)
    assert sum(p.numel() for p in model.parameters()) == 482_388  # "a few hundred thousand"
    assert len(model.down) == len(model.up) == len(model.decode) == 3
    two_channel = UNet(in_channels=2, n_classes=3, base_channels=3, depth=1)  # 3 channels: GroupNorm(1, 3)
    assert two_channel(torch.randn(1, 2, 6, 10)).shape == (1, 3, 6, 10)  # rectangular, any multiple of 2


def test_height_and_width_must_be_divisible_by_two_to_the_depth():
    model = UNet(base_channels=4, depth=3)
    with pytest.raises(ValueError, match=re.escape(
            "x must have a height and width divisible by 2**depth = 8 (the U-Net halves them 3 times), "
            "got 60x64. Pad to 64x64 or crop to 56x64, or build the UNet with a smaller depth.")):
        model(torch.zeros(1, 1, 60, 64))
    with pytest.raises(ValueError, match=re.escape("got 4x36. Pad to 8x40, or build the UNet")):
        model(torch.zeros(1, 1, 4, 36))  # too small to crop
    model(torch.zeros(1, 1, 8, 40))  # multiples of 8 are fine


def test_input_must_be_a_batch_of_images_with_the_right_channels():
    model = UNet(base_channels=4, depth=2)
    with pytest.raises(ValueError, match=re.escape(
            "x must have 4 dimensions (N, 1, H, W), got shape (5, 32, 32). For a batch of single-channel "
            "images (N, H, W), add the channel dimension: x.unsqueeze(1); for one image (C, H, W), add the "
            "batch dimension: x.unsqueeze(0).")):
        model(torch.zeros(5, 32, 32))
    with pytest.raises(ValueError, match=re.escape(
            "x must have 4 dimensions (N, 1, H, W), got shape (32, 32). For one image (H, W), add the batch "
            "and channel dimensions: x[None, None].")):
        model(torch.zeros(32, 32))
    with pytest.raises(ValueError, match=re.escape(
            "x must have 1 channel(s), shape (N, 1, H, W), got shape (2, 3, 32, 32).")):
        model(torch.zeros(2, 3, 32, 32))


@pytest.mark.parametrize("argument, value, minimum", [
    ("in_channels", 0, 1), ("n_classes", 1, 2), ("base_channels", 2.0, 1), ("depth", 0, 1), ("depth", True, 1),
])
def test_constructor_arguments_are_checked(argument, value, minimum):
    what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    with pytest.raises(ValueError, match=re.escape(f"{argument} must be {what}, got {value!r}.")):
        UNet(**{argument: value})


def test_every_parameter_learns():
    torch.manual_seed(0)
    model = UNet()  # the default configuration, as the lectures use it
    images, labels = _rings(2, size=32)
    before = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    segmentation_loss(model(images), labels).backward()
    optimizer.step()
    unchanged = [name for name, p in model.named_parameters() if torch.equal(p, before[name])]
    assert not unchanged, f"these parameters did not change after one Adam step: {unchanged}"


def test_group_norm_gives_the_same_function_in_train_and_eval_mode_and_for_any_batch():
    torch.manual_seed(0)
    model = UNet(base_channels=8, depth=2)
    images, _ = _rings(4)
    model.train()
    train_mode = model(images)
    model.eval()
    torch.testing.assert_close(model(images), train_mode)
    torch.testing.assert_close(model(images[1:2]), train_mode[1:2], rtol=1e-4, atol=1e-5)  # no batch statistics


# ----------------------------------------------------------------------------- the loss


def _reference_loss(logits, labels, smooth=1.0):
    """Cross-entropy and soft Dice written out pixel by pixel, in float64."""
    logits, labels = logits.double(), labels.long()
    n, c, h, w = logits.shape
    log_p = logits - logits.logsumexp(dim=1, keepdim=True)
    cross_entropy = -np.mean([log_p[i, labels[i, y, x], y, x].item()
                              for i in range(n) for y in range(h) for x in range(w)])
    p = log_p.exp()
    soft_dice = []
    for k in range(1, c):  # foreground classes
        t = (labels == k).double()
        soft_dice.append((2 * (p[:, k] * t).sum() + smooth) / (p[:, k].sum() + t.sum() + smooth))
    return cross_entropy + 1 - torch.stack(soft_dice).mean().item()


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n_classes", [2, 4])
def test_segmentation_loss_is_cross_entropy_plus_one_minus_soft_dice(seed, n_classes):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, n_classes, 5, 6, generator=gen)
    labels = torch.randint(0, n_classes, (2, 5, 6), generator=gen)
    loss = segmentation_loss(logits, labels)
    assert loss.ndim == 0
    assert loss.item() == pytest.approx(_reference_loss(logits, labels), rel=1e-5)
    assert segmentation_loss(logits, labels, smooth=0.0).item() == pytest.approx(
        _reference_loss(logits, labels, smooth=0.0), rel=1e-5)


def test_segmentation_loss_is_near_zero_for_confident_correct_logits_and_has_gradients():
    _, labels = _rings(3)
    logits = 30.0 * F.one_hot(labels, 4).permute(0, 3, 1, 2).float()
    assert segmentation_loss(logits, labels).item() < 1e-6
    wrong = 30.0 * F.one_hot((labels + 1) % 4, 4).permute(0, 3, 1, 2).float()
    assert segmentation_loss(wrong, labels).item() > 30  # CE ~ 30, Dice ~ 0
    logits = torch.zeros(3, 4, 32, 32, requires_grad=True)
    segmentation_loss(logits, labels).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_segmentation_loss_checks_its_inputs():
    logits = torch.zeros(2, 4, 8, 8)
    with pytest.raises(ValueError, match=re.escape(
            "labels must have shape (N, H, W) = (2, 8, 8) to match logits (N, C, H, W) = (2, 4, 8, 8), got (2, 8, 9).")):
        segmentation_loss(logits, torch.zeros(2, 8, 9, dtype=torch.long))
    with pytest.raises(ValueError, match=re.escape(
            "logits must have 4 dimensions (N, C, H, W), got shape (4, 8, 8). For a single example, add a batch "
            "dimension: logits.unsqueeze(0).")):
        segmentation_loss(torch.zeros(4, 8, 8), torch.zeros(8, 8, dtype=torch.long))
    labels = torch.zeros(2, 8, 8, dtype=torch.long)
    labels[0, 0, 0] = 4
    with pytest.raises(ValueError, match=re.escape("labels holds unexpected values [4]; valid values are 0..3")):
        segmentation_loss(logits, labels)


# ----------------------------------------------------------------------------- training and prediction

# Measured (torch 2.13, one thread): this run reaches a mean Dice of 0.949 on fresh images
# (RV 0.988, myocardium 0.908, LV 0.949) and its loss falls from 1.86 to 0.35, in 3.5-5 s of
# CPU time; seeds 1-4 of the data and the network give 0.965-0.973. The thresholds leave a
# margin of about 0.1 for other CPUs.
TOY_RUN = dict(epochs=16, batch_size=8, lr=1e-2)


@pytest.fixture(scope="module")
def trained():
    images, labels = _rings(64, seed=0)
    torch.manual_seed(0)
    model = UNet(base_channels=8, depth=2)
    history = fit_segmenter(model, images, labels, seed=0, progress=False, **TOY_RUN)
    return model, history


def test_fit_segmenter_learns_a_toy_segmentation(trained):
    model, history = trained
    assert len(history["loss"]) == TOY_RUN["epochs"]
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert not model.training  # left in eval mode by genlib.train
    images, labels = _rings(128, seed=1)  # images the model has not seen
    pred = predict_labels(model, images)
    assert mean_dice(pred, labels) > 0.85
    assert (dice_per_class(pred, labels) > 0.75).all()


def test_fit_segmenter_is_deterministic():
    images, labels = _rings(16, seed=3)

    def run(seed):
        torch.manual_seed(0)
        model = UNet(base_channels=4, depth=2)
        return fit_segmenter(model, images, labels, epochs=2, batch_size=4, seed=seed, progress=False), model

    (first, model_a), (second, model_b) = run(seed=0), run(seed=0)
    assert first == second
    for a, b in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(a, b)
    assert run(seed=1)[0] != first  # another seed shuffles differently


def test_fit_segmenter_applies_augment_to_every_batch():
    images, labels = _rings(10, seed=4)
    seen = []

    def flip(x, y):  # the same random horizontal flip of an image and of its label map
        seen.append((tuple(x.shape), tuple(y.shape), y.dtype))
        flipped = torch.rand(len(x)) < 0.5
        return torch.where(flipped[:, None, None, None], x.flip(-1), x), torch.where(flipped[:, None, None], y.flip(-1), y)

    torch.manual_seed(0)
    history = fit_segmenter(UNet(base_channels=4, depth=2), images, labels, epochs=2, batch_size=4,
                            progress=False, augment=flip)
    assert len(history["loss"]) == 2
    assert seen == [((4, 1, 32, 32), (4, 32, 32), torch.int64), ((4, 1, 32, 32), (4, 32, 32), torch.int64),
                    ((2, 1, 32, 32), (2, 32, 32), torch.int64)] * 2


def test_fit_segmenter_checks_its_inputs():
    model = UNet(base_channels=4, depth=2)
    images, labels = _rings(4)
    with pytest.raises(ValueError, match=re.escape(
            "labels must have shape (N, H, W) = (4, 32, 32) to match images (N, 1, H, W) = (4, 1, 32, 32), "
            "got (4, 1, 32, 32).")):
        fit_segmenter(model, images, labels.unsqueeze(1), epochs=1)
    with pytest.raises(ValueError, match=re.escape("images must have 4 dimensions (N, 1, H, W), got shape (4, 32, 32). "
                                                   "For a batch of single-channel images (N, H, W), add the channel "
                                                   "dimension: images.unsqueeze(1)")):
        fit_segmenter(model, images[:, 0], labels, epochs=1)
    with pytest.raises(ValueError, match=re.escape("images must have a height and width divisible by 2**depth = 4")):
        fit_segmenter(model, images[..., :30], labels[..., :30], epochs=1)
    with pytest.raises(ValueError, match=re.escape("labels holds unexpected values [4]; valid values are 0..3")):
        fit_segmenter(model, images, labels + 1, epochs=1)
    with pytest.raises(TypeError, match=re.escape(
            "augment must be a function augment(images, labels) -> (images, labels), got str.")):
        fit_segmenter(model, images, labels, epochs=1, augment="flip")
    with pytest.raises(ValueError, match=re.escape("images is empty (shape (0, 1, 32, 32)): give at least one image.")):
        fit_segmenter(model, images[:0], labels[:0], epochs=1)
    with pytest.raises(ValueError, match=re.escape("epochs must be a positive integer, got 0.")):  # from genlib.train
        fit_segmenter(model, images, labels, epochs=0)


def test_predict_labels_returns_int64_labels_in_range(trained):
    model, _ = trained
    images, _ = _rings(10, seed=5)
    pred = predict_labels(model, images)
    assert pred.shape == (10, 32, 32) and pred.dtype == torch.int64 and pred.device.type == "cpu"
    assert 0 <= pred.min() and pred.max() <= 3
    with torch.no_grad():
        torch.testing.assert_close(pred, model(images).argmax(dim=1), rtol=0, atol=0)
    assert torch.equal(predict_labels(model, images, batch_size=3), pred)  # batches do not matter
    assert torch.equal(predict_labels(model, images.double().numpy()), pred)  # numpy float64 in


def test_predict_labels_uses_eval_mode_without_gradients_and_restores_the_mode():
    model = UNet(base_channels=4, depth=2)
    modes = []
    model.register_forward_hook(lambda module, args, out: modes.append((module.training, out.requires_grad)))
    model.train()
    predict_labels(model, torch.zeros(2, 1, 8, 8))
    assert modes == [(False, False)]
    assert model.training  # as it was before


def test_predict_labels_checks_its_inputs():
    model = UNet(base_channels=4, depth=2)
    with pytest.raises(ValueError, match=re.escape("batch_size must be a positive integer, got 0.")):
        predict_labels(model, torch.zeros(2, 1, 8, 8), batch_size=0)
    with pytest.raises(ValueError, match=re.escape("images must have 1 channel(s), shape (N, 1, H, W), got shape (2, 3, 8, 8).")):
        predict_labels(model, torch.zeros(2, 3, 8, 8))
    with pytest.raises(TypeError, match="images must be a torch.Tensor or a numpy array, got str"):
        predict_labels(model, "scan.nii")
