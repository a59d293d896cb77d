"""Interactive explorers built on ipywidgets, one module per explorer.

``LatentExplorer`` (unit 01): sliders over latent coordinates -> decoded image.
``CardiacExplorer`` (unit 00): phantom anatomy and contrast in, label map and image out.
``FlowLayersExplorer`` (unit 05): a slider over a 2-D flow's layers, samples from the Gaussian to the data.
"""
from genlib.widgets.cardiac import CardiacExplorer
from genlib.widgets.flows import FlowLayersExplorer
from genlib.widgets.latent import LatentExplorer

__all__ = ["LatentExplorer", "CardiacExplorer"]
__all__ += ["FlowLayersExplorer"]
