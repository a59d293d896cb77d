"""genlib: the small, tested helper library of the course.

Layers, in the order data flows; a module imports only from its own layer and the layers before it
(``tests/test_layers.py`` keeps it so, and no module imports another's private names)::

    foundation -> data -> train -> models -> metrics -> families, synthesis -> viz -> widgets

- foundation: ``_validation`` (the input checks every layer shares), ``results`` (the committed
  benchmark tables, package data in ``genlib/tables``, read by the lectures wherever they run),
  ``claims`` (``claim``: a lecture's statement about its outputs, printed and checked),
  ``pretrained`` (the registry of the shipped weights) and ``grading`` (helpers of the test cells);
- ``train`` (the training loop: seeding, device, progress) sits below ``models`` because the models'
  own ``fit`` functions call it;
- ``families`` holds what unit 08 compares: one recipe and one evaluation for each of the four
  families (VAE, GAN, flow, diffusion); ``synthesis`` is unit 07's cardiac synthesis and its
  experiment. Both are built from the models of the units that teach them.
"""
__version__ = "0.1.0"
