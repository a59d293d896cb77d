"""genlib.pretrained: the one registry of the course's weights, package data of genlib."""
import asyncio
import importlib.resources
from pathlib import Path

import pytest
import torch

from genlib import pretrained
from genlib.models import conditional_pretrained as cp
from genlib.models.diffusion import pretrained as dp
from genlib.models import features
from genlib.synthesis import pretrained as sp
from genlib import families
from tests.test_sandbox import _run_in_sandbox, requires_sandbox

ROOT = Path(__file__).resolve().parents[1]


def test_the_weights_are_package_data_found_through_importlib_resources():
    assert pretrained.WEIGHTS_DIR == Path(str(importlib.resources.files("genlib") / "weights"))
    assert pretrained.WEIGHTS_DIR.is_dir() and "features_digits" in pretrained.available()
    assert not (ROOT / "weights").exists(), "the weights moved into the package: genlib/weights"


def test_make_weights_writes_where_the_editable_install_reads():
    import tools.weights

    assert tools.weights.WEIGHTS == pretrained.WEIGHTS_DIR == ROOT / "genlib" / "weights"


def test_every_unit_reads_the_one_folder():
    """Five loaders, one location: each module's WEIGHTS_DIR and paths are the registry's."""
    for module in (cp, dp, features, sp, families):
        assert module.WEIGHTS_DIR == pretrained.WEIGHTS_DIR, module.__name__
    assert cp.weights_path("spade") == pretrained.path("conditional_spade")
    assert sp.provenance_path() == pretrained.path("synthesis_scenario.json")
    assert dp.digits_weights_path(5) == pretrained.path("diffusion_digits_T5")
    assert features.weights_path("digits") == pretrained.path("features_digits")
    assert families.weights_path("vae") == pretrained.path("families_vae")
    shipped = {p.name for p in pretrained.WEIGHTS_DIR.iterdir() if p.suffix in (".pt", ".json")}
    named = {pretrained.path(n).name for n in pretrained.available()}
    assert shipped == named


def test_names_are_bare_and_name_their_builder():
    with pytest.raises(ValueError, match=r"bare name '<builder>_<model>'.*got 'weights/features_digits'"):
        pretrained.path("weights/features_digits")
    with pytest.raises(ValueError, match=r"builder among .*got 'inception_v3'"):
        pretrained.path("inception_v3")
    with pytest.raises(ValueError, match=r"no \.pt"):
        pretrained.path("features_digits.pt")


def test_save_then_load_into_round_trips_in_float16(tmp_path):
    torch.manual_seed(0)
    net, other = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    file = pretrained.save("conditional_test", {"net": net}, tmp_path)
    assert file == tmp_path / "conditional_test.pt"
    assert pretrained.load("conditional_test", tmp_path)["net"]["weight"].dtype == torch.float16
    loaded = pretrained.load_into("conditional_test", {"net": other}, tmp_path)
    assert loaded is other and not loaded.training and loaded.weight.dtype == torch.float32
    torch.testing.assert_close(loaded.weight, net.weight, atol=1e-3, rtol=1e-3)
    pretrained.save("features_test", net, tmp_path, half=False)  # one module, full precision
    assert torch.equal(pretrained.load_into("features_test", torch.nn.Linear(3, 2), tmp_path).weight, net.weight)
    pretrained.write("synthesis_test.json", {"a": [1]}, tmp_path)
    assert pretrained.load("synthesis_test.json", tmp_path) == {"a": [1]}


def test_a_missing_file_names_the_builder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no weights for 'synthesis_x' at .*python -m tools.weights synthesis"):
        pretrained.load("synthesis_x", tmp_path)
    with pytest.raises(TypeError, match=r"modules must be a torch.nn.Module or a dict of them"):
        pretrained.save("features_x", [torch.nn.Linear(1, 1)], tmp_path)


@requires_sandbox
def test_a_sandboxed_grading_kernel_loads_the_shipped_weights():
    """make grade runs answers in bubblewrap, which shows genlib/ read-only: the weights inside it come along."""
    code = ("from genlib.models.features import load_feature_network\n"
            "import torch\n"
            "print(load_feature_network('digits').features(torch.zeros(2, 1, 8, 8)).shape)\n")
    reply, outputs, _ = asyncio.run(_run_in_sandbox(code))
    assert reply["status"] == "ok", reply
    assert "torch.Size([2, 64])" in "".join(o["content"].get("text", "") for o in outputs if o["msg_type"] == "stream")
