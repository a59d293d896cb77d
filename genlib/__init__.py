"""genlib: the small, tested helper library of the course.

Layers, in the order data flows (a module imports only from the layers before it)::

    data -> models -> train -> metrics -> families -> viz, widgets      (grading: helpers for test cells)

Beside the layers: ``results`` (the committed benchmark tables, package data in ``genlib/tables``,
read by the lectures wherever they run) and ``claims`` (``claim``: a lecture's statement about its
outputs, printed and checked).

``families`` holds what unit 08 compares: one recipe and one evaluation for each of the four
families (VAE, GAN, flow, diffusion), built from the models of the units that teach them.
"""
__version__ = "0.1.0"
