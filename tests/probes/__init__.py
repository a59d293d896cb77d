"""Per-unit nbgrader probes: tests/probes/unit<NN>.py defines PROBES (see tests/test_nbgrader.py)."""
