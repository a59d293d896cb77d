"""The cardiac MR data engine: short-axis phantoms, rendering styles, deformations, ACDC."""
from genlib.data.cardiac.labels import (
    LABEL_NAMES, N_LABELS, N_TISSUES, PATHOLOGIES, TISSUE_NAMES, check_label_map,
)

__all__ = ["LABEL_NAMES", "N_LABELS", "N_TISSUES", "PATHOLOGIES", "TISSUE_NAMES", "check_label_map"]
