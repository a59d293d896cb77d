"""Diffusion models as hierarchical VAEs (unit 06).

- ``schedule``: noise schedules (linear, cosine) -> alpha_bar, the forward process q(x_t | x_0),
  the posterior q(x_{t-1} | x_t, x_0), the reverse mean in noise-prediction form.
- ``denoisers``: small networks eps_theta(x_t, t) with a time embedding (MLP for points, conv for 8x8 images).
- ``process``: the simplified loss, one ancestral step, ``GaussianDiffusion`` (train, sample).
- ``elbo``: the ELBO term by term, with a discretised decoder for the 17-level digits.
- ``decoder``: after training, KL-optimal reverse variances and a learned 17-level decoder (unit 08).
- ``vdm``: a variational diffusion model trained on its own continuous-time bound, learned schedule (unit 08).
"""
from genlib.models.diffusion.decoder import (
    CategoricalDecoder,
    fit_categorical_decoder,
    kl_optimal_variances,
)
from genlib.models.diffusion.denoisers import ConvDenoiser, MLPDenoiser, time_embedding
from genlib.models.diffusion.elbo import (
    discretised_gaussian_log_likelihood,
    elbo_terms,
    gaussian_kl,
    levels_to_signed,
    negative_elbo,
)
from genlib.models.diffusion.process import GaussianDiffusion, p_sample_step, simple_loss
from genlib.models.diffusion.schedule import (
    alpha_bar,
    cosine_betas,
    linear_betas,
    posterior_mean_var,
    predict_x0,
    q_mean_var,
    q_sample,
    reverse_mean,
    reverse_var,
    signal_to_noise,
)
from genlib.models.diffusion.vdm import VDM, fit_vdm

__all__ = [
    "linear_betas", "cosine_betas", "alpha_bar", "signal_to_noise", "q_mean_var", "q_sample",
    "posterior_mean_var", "predict_x0", "reverse_mean", "reverse_var", "time_embedding",
    "MLPDenoiser", "ConvDenoiser", "simple_loss", "p_sample_step", "GaussianDiffusion",
    "gaussian_kl", "levels_to_signed", "discretised_gaussian_log_likelihood", "elbo_terms", "negative_elbo",
    "kl_optimal_variances", "CategoricalDecoder", "fit_categorical_decoder", "VDM", "fit_vdm",
]
