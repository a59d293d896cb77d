"""Unit 07 probes: cheats that call genlib's reference (score 0 for those parts) and classic mistakes the visible and hidden tests catch.

Each classic mistake below used to pass the visible test and fail only the hidden one; the visible tests now have the
case that shows it too (a fractional shift, a corner leak, a half to round, an empty class, a blob, an outlier pixel),
so each scores one point less than it did.

Totals are out of 16: A 3 (visible 1, hidden 2), B 2 (1, 1), C 3 (1, 2), D 2 (1, 1), E 3 (1, 2), F 3 (gain 1 + 1, answer 1).
"""

# Parts A to E through genlib's references (each through another route): only Part F keeps its 3 points
CHEAT_WARP = '''import genlib.data.cardiac.deform as _d
def warp_labels(labels, field):
    return _d._resample_labels(labels, field.float(), "nearest")'''
CHEAT_RING = '''from genlib.data.cardiac import is_one_ring as _library_ring_check
def is_one_ring(labels):
    return _library_ring_check(labels)'''
CHEAT_MIX = '''from genlib.synthesis.mixing import mix_batches'''
CHEAT_DICE = '''import genlib.metrics.segmentation
def dice_per_image(pred, target, n_classes=4):
    return genlib.metrics.segmentation.dice_per_image(pred, target, n_classes)'''
CHEAT_HD = '''from genlib.metrics import surface as _surface
def hausdorff_distance(pred, target, n_classes=4, percentile=95.0, pixel_mm=1.0):
    return _surface.hausdorff_distance(pred, target, n_classes=n_classes, percentile=percentile, pixel_mm=pixel_mm)'''

# interpolates the labels bilinearly and rounds: exact for whole-pixel shifts, invents labels between
# two labels at fractional ones (visible u_col = 0.6, hidden): 16 - 1 - 2 = 13
BILINEAR = '''import torch
import torch.nn.functional as F
def warp_labels(labels, field):
    count, height, width = labels.shape
    rows = torch.arange(height, dtype=torch.float32).view(1, height, 1) + field[:, 0].float()
    cols = torch.arange(width, dtype=torch.float32).view(1, 1, width) + field[:, 1].float()
    grid = torch.stack([(2 * cols + 1) / width - 1, (2 * rows + 1) / height - 1], dim=-1)
    values = F.grid_sample(labels.unsqueeze(1).float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return values.squeeze(1).round().long()'''

# splits the non-myocardium pixels with 4-connectivity: a cavity that leaks through a corner passes (visible, hidden): 14
RING_FOUR_OUTSIDE = '''import numpy as np
import scipy.ndimage
import torch
def is_one_ring(labels):
    grid = torch.as_tensor(labels).numpy()
    wall, lumen = grid == 2, grid == 3
    if scipy.ndimage.label(wall)[1] != 1 or scipy.ndimage.label(lumen)[1] != 1:
        return False
    parts, _ = scipy.ndimage.label(~wall)
    touching = set(parts[0]) | set(parts[-1]) | set(parts[:, 0]) | set(parts[:, -1])
    enclosed = [k for k in range(1, parts.max() + 1) if k not in touching]
    return len(enclosed) == 1 and bool(np.array_equal(parts == enclosed[0], lumen))'''

# Python's round() sends halves to the even number (2.5 -> 2): right for f = 0.25, B = 8, wrong for the visible
# f = 0.5, B = 5 and the hidden halves: 16 - 1 - 2 = 13
PYTHON_ROUND = '''import torch
def mix_batches(real_images, real_labels, synthetic_images, synthetic_labels, *, synthetic_fraction, batch_size, generator=None):
    n_syn = round(synthetic_fraction * batch_size)
    n_real = batch_size - n_syn
    if n_real > len(real_images) or n_syn > len(synthetic_images):
        raise ValueError("a pool is too small")
    r = torch.randperm(len(real_images), generator=generator)[:n_real]
    s = torch.randperm(len(synthetic_images), generator=generator)[:n_syn]
    order = torch.randperm(batch_size, generator=generator)
    flags = torch.cat([torch.zeros(n_real, dtype=torch.bool), torch.ones(n_syn, dtype=torch.bool)])
    return (torch.cat([real_images[r], synthetic_images[s]])[order], torch.cat([real_labels[r], synthetic_labels[s]])[order],
            flags[order])'''

# scores "absent from both maps" as a perfect 1 instead of NaN (visible, hidden): 14
DICE_EMPTY_IS_ONE = '''import torch
def dice_per_image(pred, target, n_classes=4):
    out = []
    for c in range(1, n_classes):
        p, t = pred == c, target == c
        inter = (p & t).sum(dim=(1, 2)).double()
        size = (p.sum(dim=(1, 2)) + t.sum(dim=(1, 2))).double()
        out.append(torch.where(size > 0, 2 * inter / size.clamp_min(1), torch.ones_like(size)))
    return torch.stack(out, dim=1)'''

_HD_TEMPLATE = '''import math
import torch
import torch.nn.functional as F
def _edge(mask):
    padded = F.pad(mask.float(), (1, 1, 1, 1)) > 0.5
    inside = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return (mask & ~inside).nonzero().double()
def hausdorff_distance(pred, target, n_classes=4, percentile=95.0, pixel_mm=1.0):
    n, h, w = pred.shape
    out = torch.full((n, n_classes - 1), float("nan"), dtype=torch.float64)
    for i in range(n):
        for k in range(n_classes - 1):
            p, t = pred[i] == k + 1, target[i] == k + 1
            if not p.any() and not t.any():
                continue
            if bool(p.any()) != bool(t.any()):
                out[i, k] = math.hypot(h, w) * pixel_mm
                continue
            d = torch.cdist(_edge(p), _edge(t)) * pixel_mm
            out[i, k] = {value}
    return out'''
# only the direction pred -> target: right for a symmetric shift, wrong for a blob in the target (visible, hidden): 13
HD_ONE_SIDED = _HD_TEMPLATE.format(value="torch.quantile(d.min(dim=1).values, percentile / 100)")
# the maximum (classic Hausdorff) instead of the 95th percentile: right for a shift, not for an outlier (visible, hidden): 13
HD_MAXIMUM = _HD_TEMPLATE.format(value="max(d.min(dim=1).values.max(), d.min(dim=0).values.max())")

PROBES = [
    ("p07-cheat-genlib-in-parts-a-to-e", {"warp_labels": CHEAT_WARP, "is_one_ring": CHEAT_RING, "mix_batches": CHEAT_MIX,
                                          "dice_per_image": CHEAT_DICE, "hausdorff_distance": CHEAT_HD}, 3),
    ("p07-bilinear-labels", {"warp_labels": BILINEAR}, 13),
    ("p07-ring-four-connected-outside", {"is_one_ring": RING_FOUR_OUTSIDE}, 14),
    ("p07-python-round-halves-to-even", {"mix_batches": PYTHON_ROUND}, 13),
    ("p07-dice-empty-class-scores-one", {"dice_per_image": DICE_EMPTY_IS_ONE}, 14),
    ("p07-hausdorff-one-sided", {"hausdorff_distance": HD_ONE_SIDED}, 13),
    ("p07-hausdorff-maximum-not-95th-percentile", {"hausdorff_distance": HD_MAXIMUM}, 13),
]
