"""genlib: the small, tested helper library of the course.

Layers, in the order data flows (a module imports only from the layers before it)::

    data -> models -> train -> metrics -> families -> viz, widgets      (grading: helpers for test cells)

``families`` holds what unit 08 compares: one recipe and one evaluation for each of the four
families (VAE, GAN, flow, diffusion), built from the models of the units that teach them.
"""
__version__ = "0.1.0"
