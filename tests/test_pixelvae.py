"""genlib.models.pixelvae: the decoder stays autoregressive given z, the bounds are ordered and exact in the
limit a brute-force sum allows, free bits change the training loss only, and bad input says what to do."""
import math

import pytest
import torch

from genlib.models.pixelcnn import PixelCNN
from genlib.models.pixelvae import PixelVAE, bits_per_dim_bound, fit_pixelvae


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _images(n, seed=0):
    return torch.randint(0, 17, (n, 64), generator=torch.Generator().manual_seed(seed)).float()


def test_conditional_pixelcnn_is_still_autoregressive_in_x_and_depends_on_the_condition():
    torch.manual_seed(0)
    model = PixelCNN(cond_dim=3).double().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight"):
                p.mul_(2.5)
    x, cond = _images(2), torch.randn(2, 3, dtype=torch.float64)
    base = model.logits(x, cond).flatten(2)
    for i in (0, 9, 35, 63):
        changed = x.clone()
        changed[:, i] = (changed[:, i] + 5) % 17
        after = model.logits(changed, cond).flatten(2)
        assert torch.allclose(after[:, :, :i + 1], base[:, :, :i + 1]), f"pixel {i} leaked into logits <= {i}"
    assert not torch.allclose(model.logits(x, cond + 1.0)[:, :, 0, 0], base[:, :, 0]), \
        "the first pixel's logits must depend on the condition"


def test_condition_errors_name_the_fix():
    with pytest.raises(ValueError, match="unconditional"):
        PixelCNN().logits(_images(2), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        PixelCNN(cond_dim=3).logits(_images(2), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="dropout"):
        PixelCNN(dropout=1.0)
    with pytest.raises(ValueError, match="free_bits"):
        PixelVAE(free_bits=-1)


def test_unconditional_pixelcnn_without_dropout_keeps_its_layer_names():
    """The baseline bench's PixelCNN is unchanged by the new options (same modules, same state-dict keys)."""
    keys = list(PixelCNN().state_dict())
    assert keys[0] == "net.0.weight" and keys[-1] == "net.16.bias" and not any("condition" in k for k in keys)


def test_bounds_are_ordered_and_the_elbo_matches_its_definition():
    torch.manual_seed(0)
    model = PixelVAE(latent_dim=2, hidden_dim=16, channels=8, n_layers=1, head_channels=8, dropout=0.0).eval()
    x = _images(6)
    g = torch.Generator().manual_seed(0)
    elbo = model.importance_weighted_bound(x, 1, generator=g)
    iw = model.importance_weighted_bound(x, 200, generator=torch.Generator().manual_seed(1))
    assert iw.mean() > elbo.mean(), "the IW bound with 200 draws must be above the one-draw ELBO on average"
    # the one-draw IW bound is log p(x|z) + log p(z) - log q(z|x), i.e. an ELBO estimate: its mean over many
    # draws equals E_q log p(x|z) - KL (closed form), within Monte Carlo error
    many = torch.stack([model.importance_weighted_bound(x, 1, generator=torch.Generator().manual_seed(s))
                        for s in range(300)]).mean(0)
    closed = torch.stack([model.elbo(x) for _ in range(300)]).mean(0)
    assert torch.allclose(many, closed, atol=0.5), (many, closed)
    bits = bits_per_dim_bound(model, x, n_samples=1)
    assert bits == pytest.approx(float(-elbo.double().mean() / (64 * math.log(2))), rel=1e-6)


def test_free_bits_raise_the_loss_only_where_a_dimension_uses_fewer_nats():
    torch.manual_seed(0)
    plain = PixelVAE(latent_dim=2, hidden_dim=16, channels=8, n_layers=1, head_channels=8, dropout=0.0, free_bits=0.0)
    floored = PixelVAE(latent_dim=2, hidden_dim=16, channels=8, n_layers=1, head_channels=8, dropout=0.0,
                       free_bits=50.0)
    floored.load_state_dict(plain.state_dict())
    x = _images(8)
    torch.manual_seed(3)
    a = plain.loss(x)
    torch.manual_seed(3)
    b = floored.loss(x)
    kl = plain.kl_per_dimension(x)
    assert (kl < 50).all()
    assert b.item() == pytest.approx(a.item() + float((50 - kl).sum()), rel=1e-4)


def test_sampling_gives_levels_and_training_lowers_the_validation_bound():
    x = torch.randint(0, 17, (64, 64), generator=torch.Generator().manual_seed(0)).float()
    x[:, :32] = 0  # a learnable structure: the top half is always black
    model, info = fit_pixelvae(x[:48], x[48:], epochs=4, batch_size=16, validate_every=1, latent_dim=2,
                               hidden_dim=16, channels=8, n_layers=1, head_channels=8, dropout=0.0)
    assert info["val_bits_per_dim"][-1] < info["val_bits_per_dim"][0]
    s = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert s.shape == (3, 1, 8, 8) and bool(((s == s.round()) & (s >= 0) & (s <= 16)).all())
