"""Label maps of public LGE (scar) data sets, in the course's scar-label convention.

Unit 07 synthesises late-gadolinium-enhancement (LGE) images from label maps with a scar class:
0 background, 1 RV cavity, 2 LV myocardium (viable), 3 LV cavity, 4 scar (``genlib.synthesis.scar``).
ACDC and M&Ms are cine (bSSFP) data and have no scar labels; two public LGE data sets have them, each
with its own convention (as their providers describe them):

- **EMIDEC** (emidec.com; University Hospital of Dijon; 100 training exams, 67 pathological and 33
  normal; registration, CC BY-NC-SA 4.0): 0 background, 1 LV cavity, 2 normal myocardium,
  3 myocardial infarction, 4 no-reflow. The whole myocardium is 2, 3 and 4. There is no RV label.
  No-reflow (microvascular obstruction) lies inside the infarct and is dark on LGE; the course has no
  class for it, so it becomes scar, and a study of no-reflow should keep it apart instead.
- **MyoPS 2020** (multi-sequence: LGE, T2-weighted and bSSFP; 25 training and 20 test subjects):
  500 LV blood pool, 600 RV blood pool, 200 normal LV myocardium, 1220 LV myocardial edema,
  2221 LV myocardial scar. Edema is viable (it is bright on T2, not on LGE), so it becomes myocardium.

Both functions raise on a value the data set does not define, naming it.
"""
from __future__ import annotations

import torch

SCAR_LABEL = 4  # genlib.synthesis.scar.SCAR (data may not import synthesis: a test keeps the two equal)
BACKGROUND, RV_CAVITY, LV_MYOCARDIUM, LV_CAVITY = 0, 1, 2, 3

EMIDEC_TO_COURSE = {0: BACKGROUND, 1: LV_CAVITY, 2: LV_MYOCARDIUM, 3: SCAR_LABEL, 4: SCAR_LABEL}
MYOPS_TO_COURSE = {0: BACKGROUND, 500: LV_CAVITY, 600: RV_CAVITY, 200: LV_MYOCARDIUM, 1220: LV_MYOCARDIUM,
                   2221: SCAR_LABEL}


def _relabel(labels, mapping: dict[int, int], dataset: str) -> torch.Tensor:
    labels = torch.as_tensor(labels)
    if labels.is_floating_point():
        if not torch.equal(labels, labels.round()):
            raise ValueError(f"{dataset} labels must be integers, got non-integer floats (was the label map "
                             "resampled with linear interpolation? use nearest neighbour).")
    labels = labels.long()
    unexpected = sorted(int(v) for v in torch.unique(labels) if int(v) not in mapping)
    if unexpected:
        known = ", ".join(str(k) for k in mapping)
        raise ValueError(f"{dataset} labels hold values {unexpected} that {dataset} does not define (its values: "
                         f"{known}). Is this label map from another data set?")
    out = torch.zeros_like(labels)
    for source, target in mapping.items():
        out[labels == source] = target
    return out


def emidec_to_course(labels) -> torch.Tensor:
    """EMIDEC label map (values 0..4, any shape) -> the course's scar labels (0..4), int64, same shape."""
    return _relabel(labels, EMIDEC_TO_COURSE, "EMIDEC")


def myops_to_course(labels) -> torch.Tensor:
    """MyoPS 2020 label map (values 0, 200, 500, 600, 1220, 2221) -> the course's scar labels (0..4), int64."""
    return _relabel(labels, MYOPS_TO_COURSE, "MyoPS")
