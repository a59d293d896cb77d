"""The feature networks of unit 04: architecture, training, committed weights, loaders."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch.nn import functional as F

from genlib.data import load_digits
from genlib.models.features import (
    CARDIAC_STYLES, CardiacFeatureNet, DigitsFeatureNet, extract_features, load_feature_network,
    load_inception_torchscript, styled_phantoms, weights_path,
)


@pytest.mark.parametrize("net, x", [(DigitsFeatureNet(), torch.rand(5, 64)), (DigitsFeatureNet(), torch.rand(5, 1, 8, 8)),
                                    (CardiacFeatureNet(), torch.rand(5, 1, 64, 64))])
def test_features_and_logits_have_the_documented_shapes(net, x):
    assert net.features(x).shape == (5, 64)
    out = net(x)
    if isinstance(net, CardiacFeatureNet):
        assert out[0].shape == (5, 5) and out[1].shape == (5, len(CARDIAC_STYLES))
    else:
        assert out.shape == (5, 10)


@pytest.mark.parametrize("make", [DigitsFeatureNet, CardiacFeatureNet])
def test_every_parameter_learns(make):
    torch.manual_seed(0)
    net = make()
    x = torch.rand(8, 1, 8, 8) if make is DigitsFeatureNet else torch.rand(8, 1, 64, 64)
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    out = net(x)
    loss = sum(F.cross_entropy(o, torch.arange(8) % o.shape[1]) for o in (out if isinstance(out, tuple) else (out,)))
    loss.backward()
    optimizer.step()
    frozen = [name for name, p in net.named_parameters() if torch.equal(p, before[name])]
    assert not frozen, f"parameters that did not change: {frozen}"


def test_committed_digits_network_classifies_the_test_digits():
    net = load_feature_network("digits")
    x, y = load_digits("test", shape="image")
    with torch.no_grad():
        accuracy = (net(x).argmax(1) == y).float().mean().item()
    assert accuracy > 0.9, accuracy
    assert not net.training


def test_committed_cardiac_network_sees_both_anatomy_and_style():
    net = load_feature_network("cardiac")
    x, groups, styles = styled_phantoms(300, seed=123)
    with torch.no_grad():
        group_logits, style_logits = net(x)
    assert (group_logits.argmax(1) == groups).float().mean() > 0.4  # chance 0.2
    assert (style_logits.argmax(1) == styles).float().mean() > 0.8  # chance 0.25


def test_committed_weights_are_small():
    for name in ("digits", "cardiac"):
        assert weights_path(name).stat().st_size < 1_000_000


def test_building_the_weights_is_deterministic(tmp_path, monkeypatch):
    import tools.weights_features as builder

    monkeypatch.setattr(builder, "DIGITS_EPOCHS", 1)
    states = []
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        states.append(torch.load(builder.build_digits(tmp_path / run), weights_only=True))
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_missing_weights_say_how_to_build_them(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no weights for the 'digits' feature network at .*Build them with `make weights`"):
        load_feature_network("digits", tmp_path / "none.pt")
    with pytest.raises(ValueError, match=r"name must be one of 'digits', 'cardiac'; got 'inception'"):
        load_feature_network("inception")


def test_extract_features_batches_without_changing_the_result():
    torch.manual_seed(0)
    net = DigitsFeatureNet().eval()
    x = torch.rand(23, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    whole = extract_features(net, x, batch_size=100)
    assert whole.dtype == torch.float64 and whole.shape == (23, 64)
    # The network computes in float32: another batch size may change the last bit (about 1e-7), no more.
    torch.testing.assert_close(extract_features(net, x, batch_size=5), whole, rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match=r"images must be a torch.Tensor, got list"):
        extract_features(net, [[0.0]])


def test_styled_phantoms_are_seeded_images_with_labels():
    a = styled_phantoms(12, seed=4)
    b = styled_phantoms(12, seed=4)
    images, groups, styles = a
    assert images.shape == (12, 1, 64, 64) and 0 <= images.min() and images.max() <= 1
    assert groups.max() < 5 and styles.max() < len(CARDIAC_STYLES)
    assert all(torch.equal(u, v) for u, v in zip(a, b))


class _FakeInception(torch.nn.Module):
    """Stands in for NVIDIA's TorchScript Inception: same call signature, features = channel means."""

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        if not return_features:
            return x[:, :1, 0, 0]
        return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)  # (B, 6)


def test_inception_torchscript_option_loads_a_local_file_and_feeds_it_rgb_0_to_255(tmp_path):
    path = tmp_path / "inception.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated in torch 2.13, still works
        torch.jit.script(_FakeInception()).save(str(path))
    network = load_inception_torchscript(path)
    images = torch.rand(4, 1, 8, 8)
    features = extract_features(network, images)
    assert features.shape == (4, 6)
    torch.testing.assert_close(features[:, 3:], (images.amax(dim=(2, 3)) * 255).repeat(1, 3).double())
    with pytest.raises(ValueError, match=r"images must have shape \(B, 1, H, W\) or \(B, 3, H, W\)"):
        network.features(torch.rand(4, 64))


def test_inception_option_explains_missing_and_wrong_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no file at .*The course downloads nothing"):
        load_inception_torchscript(tmp_path / "missing.pt")
    state_dict = tmp_path / "pt_inception.pth"
    torch.save({"w": torch.zeros(2)}, state_dict)
    with pytest.raises(ValueError, match=r"is not a TorchScript file .*A state dict \(.pth\) needs the model's Python class"):
        load_inception_torchscript(state_dict)
