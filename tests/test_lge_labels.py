"""genlib.data.cardiac.lge: public LGE label conventions mapped to the course's scar labels."""
import pytest
import torch

from genlib.data.cardiac.lge import SCAR_LABEL, emidec_to_course, myops_to_course
from genlib.synthesis.scar import SCAR, SCAR_LABEL_NAMES


def test_the_scar_label_is_the_synthesis_one():
    assert SCAR_LABEL == SCAR and SCAR_LABEL_NAMES[SCAR_LABEL] == "scar"


def test_emidec_infarct_and_no_reflow_become_scar_and_the_cavity_the_lv():
    emidec = torch.tensor([[0, 1, 2], [3, 4, 2]])
    course = emidec_to_course(emidec)
    names = [[SCAR_LABEL_NAMES[int(v)] for v in row] for row in course]
    assert names == [["background", "LV cavity", "LV myocardium"], ["scar", "scar", "LV myocardium"]]


def test_myops_edema_stays_myocardium_and_scar_becomes_scar():
    myops = torch.tensor([0, 500, 600, 200, 1220, 2221], dtype=torch.int32)
    names = [SCAR_LABEL_NAMES[int(v)] for v in myops_to_course(myops)]
    assert names == ["background", "LV cavity", "RV cavity", "LV myocardium", "LV myocardium", "scar"]


def test_values_of_another_data_set_are_refused_by_name():
    with pytest.raises(ValueError, match=r"EMIDEC labels hold values \[5\]"):
        emidec_to_course(torch.tensor([0, 5]))
    with pytest.raises(ValueError, match=r"values \[1, 2\]"):
        myops_to_course(torch.tensor([1, 2, 200]))
    with pytest.raises(ValueError, match="nearest neighbour"):
        emidec_to_course(torch.tensor([0.5, 1.0]))
