"""Interactive explorers built on ipywidgets, one module per explorer.

``LatentExplorer`` (unit 01): sliders over latent coordinates -> decoded image.
``CardiacExplorer`` (unit 00): phantom anatomy and contrast in, label map and image out.
``FlowLayersExplorer`` (unit 05): a slider over a 2-D flow's layers, samples from the Gaussian to the data.
``DiffusionExplorer`` (unit 06): a timestep slider, forward noising and reverse denoising side by side.
``VisualTuringTest`` (unit 04): real or synthetic? The reader clicks; accuracy with a binomial interval.
``TrainingReplay`` (unit 02): a slider over a GAN's saved training steps -> its samples.
``LatentInterpolation`` (unit 02): G((1 - t) z_0 + t z_1) along a slider t.
``RejectionExplorer`` (unit 02): a slider over the cap of discriminator rejection sampling -> the draws kept.
``ClassLatentExplorer`` (unit 03): a class and a latent seed -> the conditional GAN's digit.
``LabelMapEditor`` (unit 03): edit a cardiac label map (wall, cavity), pick a style -> the SPADE image.
``SynthesisExplorer`` (unit 07): edit a label map (wall, cavity, scar), pick a vendor, LGE or random style -> the image.
"""
from genlib.widgets.cardiac import CardiacExplorer
from genlib.widgets.conditional import ClassLatentExplorer, LabelMapEditor
from genlib.widgets.diffusion import DiffusionExplorer
from genlib.widgets.flows import FlowLayersExplorer
from genlib.widgets.gan import LatentInterpolation, RejectionExplorer, TrainingReplay
from genlib.widgets.latent import LatentExplorer
from genlib.widgets.synthesis import SynthesisExplorer
from genlib.widgets.turing import VisualTuringTest, binomial_confidence_interval

__all__ = ["LatentExplorer", "CardiacExplorer"]
__all__ += ["VisualTuringTest", "binomial_confidence_interval"]
__all__ += ["FlowLayersExplorer"]
__all__ += ["DiffusionExplorer"]
__all__ += ["TrainingReplay", "LatentInterpolation", "RejectionExplorer"]
__all__ += ["ClassLatentExplorer", "LabelMapEditor"]
__all__ += ["SynthesisExplorer"]
