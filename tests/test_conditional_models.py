"""Tests of unit 03's VAE-GAN, training loops, fidelity metrics, shipped weights and their builder."""
from __future__ import annotations

import pytest
import torch

from genlib.metrics.fidelity import label_fidelity, label_survival
from genlib.models import conditional_pretrained as cp
from genlib.models.conditional_training import train_cyclegan, train_pix2pix, train_spade
from genlib.models.vaegan import VAEGAN, train_vaegan


@pytest.mark.parametrize("gan_weight", [0.0, 1.0])
def test_vaegan_trains_its_parts(gan_weight):
    torch.manual_seed(0)
    model = VAEGAN(latent_dim=3, hidden=16, channels=16)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    history = train_vaegan(model, torch.rand(32, 1, 8, 8), steps=2, batch_size=8, gan_weight=gan_weight)
    assert len(history["rec"]) == 2
    changed = {name.split(".")[0] for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    expected = {"encoder", "decoder", "discriminator"} if gan_weight else {"encoder", "decoder"}
    assert changed == expected
    assert model.sample(4).shape == (4, 1, 8, 8)


def test_training_loops_move_every_network():
    torch.manual_seed(0)
    labels, images, _ = cp.styled_crops(8, seed=3)
    nets = [cp.spade_generator(), cp.style_encoder(), cp.patch_discriminator()]
    train_spade(*nets, labels, images, steps=1, batch_size=4)
    pix = [cp.translation_generator(), cp.patch_discriminator(2)]
    train_pix2pix(*pix, images, images.flip(-1), steps=1, batch_size=4)
    cyc = [cp.translation_generator(), cp.translation_generator(), cp.patch_discriminator(), cp.patch_discriminator()]
    fresh = [{k: v.clone() for k, v in net.state_dict().items()} for net in nets + pix + cyc]
    history = train_cyclegan(*cyc, images, images.flip(-2), steps=1, batch_size=4)
    assert set(history) == {"g_adv", "cycle", "identity", "d_loss"}
    for net, state in zip(cyc, fresh[-4:]):
        assert any(not torch.equal(v, net.state_dict()[k]) for k, v in state.items())


class Oracle(torch.nn.Module):
    """A 'segmenter' that reads the label from the intensity (label / 3), for testing the metrics."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):
        level = (x * 3).round().clamp(0, 3).long()[:, 0]  # (B, H, W)
        return torch.nn.functional.one_hot(level, 4).permute(0, 3, 1, 2).float() * self.scale


def test_label_fidelity_and_survival_with_an_oracle():
    labels = cp.sample_crops(6, seed=1).labels
    images = labels[:, None].float() / 3
    fidelity = label_fidelity(Oracle(), images, labels)
    torch.testing.assert_close(fidelity, torch.ones(3, dtype=torch.float64))
    fraction, dice = label_survival(Oracle(), images, images)
    assert fraction == 1.0 and dice.shape == (6,)
    wiped = torch.zeros_like(images)  # a 'translation' that erases the heart
    fraction, dice = label_survival(Oracle(), images, wiped)
    assert fraction == 0.0 and (dice == 0).all()
    with pytest.raises(ValueError, match=r"before and after must have the same shape"):
        label_survival(Oracle(), images, images[:3])


def test_the_builder_writes_weights_that_load_and_run(tmp_path):
    import tools.weights_conditional as builder

    written = builder.build(tmp_path, short=True)
    assert sorted(p.name for p in written) == sorted(f"conditional_{name}.pt" for name in cp.MODELS)
    labels = cp.sample_crops(2, seed=0).labels
    generator, encoder = cp.load_conditional("spade", tmp_path)
    mu, _ = encoder(generator(labels))
    assert mu.shape == (2, cp.Z_DIM)
    g_ab, g_ba = cp.load_conditional("cyclegan", tmp_path)
    assert g_ba(g_ab(torch.rand(2, 1, cp.SIZE, cp.SIZE))).shape == (2, 1, cp.SIZE, cp.SIZE)
    assert cp.load_conditional("segmenter", tmp_path)(torch.rand(2, 1, cp.SIZE, cp.SIZE)).shape == (2, 4, cp.SIZE, cp.SIZE)
    assert cp.load_conditional("cgan", tmp_path).sample(torch.arange(3)).shape == (3, 1, 8, 8)
    with pytest.raises(ValueError, match=r"only must list stages among"):
        builder.build(tmp_path, short=True, only=("gan",))


def test_missing_weights_say_how_to_build_them(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no weights for the 'spade' model at .*Build them with `make weights`"):
        cp.load_conditional("spade", tmp_path)
    with pytest.raises(ValueError, match=r"name must be one of 'segmenter'"):
        cp.load_conditional("stylegan")


def test_shipped_weights_are_small_and_work():
    paths = [cp.weights_path(name) for name in cp.MODELS]
    assert sum(p.stat().st_size for p in paths) < 3_000_000
    test = cp.sample_crops(40, seed=123)
    segmenter = cp.load_conditional("segmenter")
    generator, _ = cp.load_conditional("spade")
    with torch.no_grad():
        synthetic = generator(test.labels, torch.randn(40, cp.Z_DIM, generator=torch.Generator().manual_seed(0)))
    assert label_fidelity(segmenter, synthetic, test.labels).mean() > 0.7  # the bench holds the 0.85 target
