"""Label and tissue conventions of the cardiac data engine.

Label maps follow the ACDC convention (what a segmentation model predicts):
0 background, 1 RV cavity, 2 LV myocardium, 3 LV cavity.

Tissue maps are finer (what an MR image shows); rendering turns them into intensities.
"""
from __future__ import annotations

import torch

LABEL_NAMES = {0: "background", 1: "RV cavity", 2: "LV myocardium", 3: "LV cavity"}
N_LABELS = len(LABEL_NAMES)
BACKGROUND, RV_CAVITY, LV_MYOCARDIUM, LV_CAVITY = 0, 1, 2, 3

TISSUE_NAMES = {
    0: "air",  # outside the body
    1: "blood pool",  # LV and RV cavities
    2: "myocardium",
    3: "scar",  # infarcted myocardium (bright in LGE)
    4: "lung",
    5: "liver",
    6: "fat",
    7: "chest wall",  # muscle and skin of the thorax
}
N_TISSUES = len(TISSUE_NAMES)
AIR, BLOOD, MYOCARDIUM, SCAR, LUNG, LIVER, FAT, CHEST_WALL = range(N_TISSUES)

# The five ACDC groups (the course text may call the last one ARV; ACDC's Info.cfg says RV).
PATHOLOGIES = ("NOR", "DCM", "HCM", "MINF", "ARV")


def check_label_map(labels, *, name: str = "labels", n_values: int = N_LABELS) -> torch.Tensor:
    """Return ``labels`` as an int64 tensor, or raise naming the unexpected values.

    Parameters
    ----------
    labels : tensor or array of integers, any shape
    n_values : int
        Valid values are 0 .. n_values - 1 (4 for ACDC label maps, 8 for tissue maps).
    """
    labels = torch.as_tensor(labels)
    if labels.is_floating_point():
        if not torch.equal(labels, labels.round()):
            raise ValueError(f"{name} must hold integer label values, got non-integer floats.")
        labels = labels.long()
    labels = labels.long()
    found = torch.unique(labels)
    unexpected = [int(v) for v in found if not 0 <= v < n_values]
    if unexpected:
        names = {N_LABELS: LABEL_NAMES, N_TISSUES: TISSUE_NAMES}.get(n_values)
        meaning = f" ({', '.join(f'{k} {v}' for k, v in names.items())})" if names else ""
        hint = (" For M&Ms label maps (1 LV, 2 MYO, 3 RV) use genlib.data.cardiac.mnms_to_acdc first."
                if n_values == N_LABELS else "")
        raise ValueError(
            f"{name} holds unexpected values {unexpected}; valid values are 0..{n_values - 1}{meaning}.{hint}"
        )
    return labels
