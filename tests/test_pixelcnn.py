"""genlib.models.pixelcnn: the masks make the model autoregressive, its likelihood is normalised, it trains."""
import math

import pytest
import torch

from genlib.data import load_digits
from genlib.models import MaskedConv2d, PixelCNN, causal_mask, fit_pixelcnn
from genlib.models.pixelcnn import bits_per_dim_of


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _model(seed=0, **kwargs):
    """A PixelCNN in float64 with its weights scaled up: at PyTorch's default initialisation the logits
    move by only ~1e-5 when an input pixel changes, too little to tell a leak from rounding."""
    torch.manual_seed(seed)
    model = PixelCNN(**kwargs).double().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight"):
                p.mul_(2.5)
    return model


def _images(n, seed=0, levels=17):
    return torch.randint(0, levels, (n, 64), generator=torch.Generator().manual_seed(seed)).float()


def test_masks_keep_the_pixels_before_the_centre_in_raster_order():
    a, b = causal_mask(3, "A"), causal_mask(3, "B")
    assert torch.equal(a, torch.tensor([[1., 1., 1.], [1., 0., 0.], [0., 0., 0.]]))
    assert torch.equal(b, torch.tensor([[1., 1., 1.], [1., 1., 0.], [0., 0., 0.]]))
    seven = causal_mask(7, "A")
    assert seven.sum() == 24 and seven[3, 3] == 0 and causal_mask(7, "B")[3, 3] == 1  # 3 rows of 7, then 3


@pytest.mark.parametrize("seed", [0, 1])
def test_logits_of_pixel_i_do_not_change_when_pixels_from_i_on_change(seed):
    model = _model(seed)
    x = _images(4, seed)
    base = model.logits(x).flatten(2)  # (4, 17, 64)
    for i in (0, 1, 7, 8, 20, 36, 62):
        perturbed = x.clone()
        perturbed[:, i:] = (x[:, i:] + 1 + _images(4, seed + 100 + i, levels=16)[:, i:]) % 17  # every pixel >= i changed
        after = model.logits(perturbed).flatten(2)
        leak = (after[:, :, : i + 1] - base[:, :, : i + 1]).abs().max().item()
        assert leak < 1e-12, f"the logits of pixels <= {i} moved by {leak:.3g} when pixels >= {i} changed: a mask leaks"
        # the test could not fail if the logits ignored the input: the pixels after i see pixel i, so they move
        assert (after[:, :, i + 1:] - base[:, :, i + 1:]).abs().max() > 1e-6, f"no pixel after {i} sees pixel {i}"


def test_autograd_gradient_of_pixel_i_is_zero_on_pixels_from_i_on_and_not_before():
    model = _model(2)
    one_hot = torch.nn.functional.one_hot(_images(2, 3).long().reshape(2, 8, 8), 17).permute(0, 3, 1, 2).double()
    one_hot.requires_grad_(True)
    for i in (9, 27, 50):
        r, c = divmod(i, 8)
        (grad,) = torch.autograd.grad(model.net(one_hot)[:, :, r, c].sum(), one_hot)
        seen = grad.abs().sum((0, 1)).flatten() > 0  # (64,): which pixels the logits of pixel i depend on
        assert not seen[i:].any(), f"the logits of pixel {i} depend on pixels {seen[i:].nonzero().flatten() + i}"
        assert seen[i - 1] and seen[i - 8], f"the logits of pixel {i} should see its left and upper neighbours"


def test_per_pixel_distributions_sum_to_one_and_the_likelihood_adds_them_up():
    model = _model(3)
    x = _images(3, 4)
    probs = model.logits(x).softmax(1)  # (3, 17, 8, 8)
    assert torch.allclose(probs.sum(1), torch.ones(3, 8, 8, dtype=torch.float64))
    # The last pixel: summing p(x_<63, x_63 = k) over the 17 levels k must give p(x_<63), the product of
    # the first 63 conditionals, read here from the logits of an independent forward pass.
    with torch.no_grad():
        variants = x.repeat_interleave(17, 0)
        variants[:, 63] = torch.arange(17.0).repeat(3)
        total = model.log_likelihood(variants).reshape(3, 17).logsumexp(1)
        log_probs = model.logits(x).log_softmax(1).flatten(2)  # (3, 17, 64)
        prefix = log_probs.gather(1, x.long()[:, None]).squeeze(1)[:, :63].sum(1)
    assert torch.allclose(total, prefix, atol=1e-9)


def test_the_sampler_draws_the_first_pixel_from_its_softmax():
    torch.manual_seed(4)
    model = PixelCNN(channels=8, n_layers=1, head_channels=8).eval()  # small, float32: 64 passes over 1,000 images
    with torch.no_grad():  # make the first pixel's distribution far from uniform
        model.net[-1].bias.copy_(torch.linspace(-3, 3, 17))
    draws = model.sample(1000, generator=torch.Generator().manual_seed(0))
    assert draws.shape == (1000, 1, 8, 8) and bool(((draws >= 0) & (draws <= 16) & (draws == draws.round())).all())
    expected = model.logits(torch.zeros(1, 64))[0, :, 0, 0].softmax(0)  # pixel 0 sees no pixel: one distribution
    observed = torch.bincount(draws[:, 0, 0, 0].long(), minlength=17).float() / 1000
    assert (observed - expected).abs().max() < 0.05, (observed, expected)
    again = model.sample(5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(again, model.sample(5, generator=torch.Generator().manual_seed(1)))


def test_one_step_changes_every_parameter():
    model = PixelCNN().train()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.loss(load_digits("train", scale="levels")[0][:32]).backward()
    optimizer.step()
    frozen = [name for name, p in model.named_parameters() if torch.equal(p, before[name])]
    assert not frozen, f"parameters that one step did not change: {frozen}"


def test_default_model_has_the_documented_size():
    assert sum(p.numel() for p in PixelCNN().parameters()) == 285_457
    assert isinstance(PixelCNN().net[0], MaskedConv2d) and PixelCNN().net[0].mask_type == "A"


def test_fit_keeps_the_best_validation_epoch_and_beats_uniform():
    x_train, x_val = load_digits("train", scale="levels")[0][:200], load_digits("val", scale="levels")[0][:100]
    model, info = fit_pixelcnn(x_train, x_val, epochs=3, seed=0, channels=16, n_layers=2, head_channels=16)
    assert len(info["val_bits_per_dim"]) == 3 and 1 <= info["best_epoch"] <= 3
    assert math.isclose(bits_per_dim_of(model, x_val), info["best_val_bits_per_dim"], rel_tol=1e-6)
    assert info["best_val_bits_per_dim"] < math.log2(17), "three epochs should beat the uniform 4.09 bits/dim"
    assert info["cpu_seconds"] > 0 and info["seconds"] > 0


def test_errors_name_the_fix():
    model = _model()
    with pytest.raises(ValueError, match=r"shape \(B, 64\) or \(B, 1, 8, 8\).*unsqueeze"):
        model.log_likelihood(torch.zeros(64))
    with pytest.raises(ValueError, match="scale='levels'"):
        model.log_likelihood(torch.full((2, 64), 0.5))
    with pytest.raises(TypeError, match="torch.as_tensor"):
        model.log_likelihood([[0] * 64])
    with pytest.raises(ValueError, match="odd positive integer"):
        causal_mask(4, "A")
    with pytest.raises(ValueError, match="mask_type must be one of 'A', 'B'"):
        MaskedConv2d(1, 1, 3, "C")
    with pytest.raises(ValueError, match="n must be a positive integer"):
        model.sample(0)
    with pytest.raises(ValueError, match=r"x_val must be a tensor of levels with shape \(N, 64\).*scale='levels'"):
        fit_pixelcnn(torch.zeros(4, 64), torch.zeros(4, 1, 8, 8), epochs=1)
