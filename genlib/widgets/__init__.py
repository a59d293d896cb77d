"""Interactive explorers built on ipywidgets, one module per explorer.

``LatentExplorer`` (unit 01): sliders over latent coordinates -> decoded image.
``CardiacExplorer`` (unit 00): phantom anatomy and contrast in, label map and image out.
"""
from genlib.widgets.cardiac import CardiacExplorer
from genlib.widgets.latent import LatentExplorer

__all__ = ["LatentExplorer", "CardiacExplorer"]
