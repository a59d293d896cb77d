"""Models the course reuses: unit 01's VAE pieces, the linear-Gaussian model, a segmentation U-Net, GAN nets and losses."""
from genlib.models.vae import (
    VAE,
    bernoulli_log_likelihood,
    categorical_log_likelihood,
    elbo_bernoulli,
    gaussian_log_likelihood,
    kl_standard_normal,
    reparameterize,
)
from genlib.models.linear_gaussian import LinearGaussianModel
from genlib.models.flows import (
    ActNorm, AffineCoupling, Flow, InvertibleLinear, LogitTransform, Permutation, SplineCoupling, fit_flow, realnvp,
)
from genlib.models.diffusion import ConvDenoiser, GaussianDiffusion, MLPDenoiser, cosine_betas, linear_betas
from genlib.models.gan import (
    ConvDiscriminator,
    ConvGenerator,
    MLPDiscriminator,
    MLPGenerator,
    discriminator_loss,
    generator_loss_nonsaturating,
    generator_loss_saturating,
    gradient_penalty,
    optimal_discriminator,
    TwoHeadDiscriminator,
    pack,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from genlib.models.gan_sampling import RejectionResult, discriminator_rejection_sampling
from genlib.models.gan_training import train_gan
from genlib.models.pixelcnn import MaskedConv2d, PixelCNN, causal_mask, fit_pixelcnn
from genlib.models.pixelvae import PixelVAE, fit_pixelvae
from genlib.models.unet import UNet, fit_segmenter, predict_labels, segmentation_loss
from genlib.models.spade import SPADE, SPADEGenerator, SPADEResBlock, StyleEncoder, one_hot_labels
from genlib.models.translation import (
    ImagePool, PatchGANDiscriminator, UNetGenerator, cycle_consistency_loss, identity_loss, lsgan_discriminator_loss,
    lsgan_generator_loss, pix2pix_generator_loss,
)
from genlib.models.cgan import (
    ConditionalDiscriminator, ConditionalGenerator, conditional_discriminator_loss, conditional_generator_loss, train_cgan,
)
from genlib.models.features import (
    CardiacFeatureNet, DigitsFeatureNet, extract_features, load_feature_network, load_inception_torchscript,
)

__all__ = [
    "VAE", "LinearGaussianModel", "reparameterize", "kl_standard_normal",
    "bernoulli_log_likelihood", "gaussian_log_likelihood", "categorical_log_likelihood",
    "elbo_bernoulli", "UNet", "fit_segmenter", "predict_labels", "segmentation_loss",
    "AffineCoupling", "Permutation", "InvertibleLinear", "ActNorm", "LogitTransform", "Flow", "realnvp", "fit_flow",
    "SplineCoupling",
]
__all__ += ["DigitsFeatureNet", "CardiacFeatureNet", "extract_features", "load_feature_network",
            "load_inception_torchscript"]
__all__ += ["GaussianDiffusion", "MLPDenoiser", "ConvDenoiser", "linear_betas", "cosine_betas"]
__all__ += ["MLPGenerator", "MLPDiscriminator", "ConvGenerator", "ConvDiscriminator", "discriminator_loss",
            "generator_loss_saturating", "generator_loss_nonsaturating", "optimal_discriminator",
            "wasserstein_critic_loss", "wasserstein_generator_loss", "gradient_penalty", "pack", "train_gan",
            "TwoHeadDiscriminator", "discriminator_rejection_sampling", "RejectionResult"]
__all__ += ["SPADE", "SPADEResBlock", "SPADEGenerator", "StyleEncoder", "one_hot_labels", "UNetGenerator",
            "PatchGANDiscriminator", "ImagePool", "pix2pix_generator_loss", "lsgan_discriminator_loss",
            "lsgan_generator_loss", "cycle_consistency_loss", "identity_loss", "ConditionalGenerator",
            "ConditionalDiscriminator", "conditional_discriminator_loss", "conditional_generator_loss", "train_cgan"]
