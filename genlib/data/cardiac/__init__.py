"""The cardiac MR data engine: short-axis phantoms, rendering styles, deformations, ACDC.

anatomy (``sample_subject``) -> label and tissue maps (``make_slices``) -> images (``render``)
"""
from genlib.data.cardiac.acdc import ACDCSlices, FIELD_OF_VIEW_MM, list_patients, load_acdc, mnms_to_acdc, read_info
from genlib.data.cardiac.acdc import CardiacSlices, Exam, SubjectInfo, acdc_subjects, add_clinical_measures, exams_to_slices, load_exam  # noqa: E501
from genlib.data.cardiac.mnms import as_columns, mnms2_subjects, mnms_subjects
from genlib.data.cardiac.splits import check_disjoint, domain_split, split_subjects
from genlib.data.cardiac.clinical import (
    acdc_criteria, acdc_measures, body_surface_area, ejection_fraction, lv_mass_g, phantom_stack, volumes_ml,
)
from genlib.data.cardiac.deform import elastic_deform
from genlib.data.cardiac.morphology import dilate_cavity, edit_lv, shrink_cavity, thicken_wall, thin_wall
from genlib.data.cardiac.topology import count_components, is_one_ring
from genlib.data.cardiac.labels import (
    LABEL_NAMES, N_LABELS, N_TISSUES, PATHOLOGIES, TISSUE_NAMES, check_label_map,
)
from genlib.data.cardiac.pathology import (
    PARAM_RANGES, SEGMENTS, TERRITORIES, SubjectBatch, SubjectParams, sample_subject, sample_subjects,
)
from genlib.data.cardiac.phantom import DEFAULT_FOV_MM, PHASES, PhantomBatch, make_slices, sample_phantoms
from genlib.data.cardiac.render import STYLES, Style, render

__all__ = [
    "ACDCSlices", "FIELD_OF_VIEW_MM", "list_patients", "load_acdc", "mnms_to_acdc", "read_info",
    "count_components", "dilate_cavity", "edit_lv", "elastic_deform", "is_one_ring", "shrink_cavity", "thicken_wall",
    "thin_wall", "LABEL_NAMES", "N_LABELS", "N_TISSUES", "PATHOLOGIES", "TISSUE_NAMES", "check_label_map",
    "PARAM_RANGES", "SEGMENTS", "TERRITORIES", "SubjectBatch", "SubjectParams", "sample_subject",
    "sample_subjects", "DEFAULT_FOV_MM", "PHASES", "PhantomBatch", "make_slices", "sample_phantoms",
    "STYLES", "Style", "render",
]
__all__ += [  # real data sets
    "CardiacSlices", "Exam", "SubjectInfo", "acdc_subjects", "add_clinical_measures", "exams_to_slices", "load_exam",
    "as_columns", "mnms2_subjects", "mnms_subjects", "check_disjoint", "domain_split", "split_subjects",
]
