"""genlib.results finds the committed tables from any folder; genlib.claims checks a lecture's claims."""
import numpy as np
import pytest
import torch

from genlib import results
from genlib.claims import ClaimFailed, claim


def test_every_committed_table_loads_from_another_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = results.available()
    assert {"results", "unit02_gans_table", "unit07_synthesis_table", "unit08_families_table"} <= set(names), names
    for name in names:
        assert isinstance(results.load(name), dict), name


def test_results_errors_name_the_fix():
    with pytest.raises(FileNotFoundError, match="there are .*python bench/run.py"):
        results.load("no_such_table")
    with pytest.raises(ValueError, match="bare name"):
        results.path("unit02_gans_table.json")
    with pytest.raises(ValueError, match="bare name"):
        results.path("../weights/x")


def test_claim_prints_what_holds(capsys):
    claim(np.float64(1.0) < 2.0, "one is below two")
    claim(torch.tensor(True), "a one-element tensor counts")
    assert capsys.readouterr().out == "claim holds: one is below two\nclaim holds: a one-element tensor counts\n"


def test_claim_raises_when_the_outputs_contradict_it():
    with pytest.raises(ClaimFailed, match="the lecture claims 'the gap shrinks'.*update the text"):
        claim(False, "the gap shrinks")
    with pytest.raises(TypeError, match=r"single truth value.*\.all\(\)"):
        claim(np.array([True, False]), "every gap shrinks")
    with pytest.raises(ValueError, match="state the claim"):
        claim(True, "  ")
