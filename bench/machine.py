"""What a benchmark table records about where it ran: the commit and the CPU model."""
from __future__ import annotations

import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commit() -> str:
    """The repository's HEAD commit, or "unknown" outside a git checkout."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def arithmetic() -> str:
    """A fingerprint of this machine's floating-point training arithmetic, for reproduction checks.

    One-thread training is deterministic on one machine, but two machines can round differently: torch, oneDNN
    and MKL pick kernels by the CPU's instruction set (AVX2, AVX-512, ...), and a different kernel sums in a
    different order. Three seeded Adam steps of a small conv net (convolution, group norm, pooling, transposed
    convolution, cross-entropy: the U-Net's operations) hashed bit for bit tell two such machines apart. Equal
    fingerprints: a seeded run should reproduce to rounding. Different: a rerun is a perturbed run.
    """
    import hashlib

    import torch
    from torch import nn

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        generator = torch.Generator().manual_seed(0)
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.GroupNorm(4, 16), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.ConvTranspose2d(32, 16, 2, stride=2),
                            nn.ReLU(), nn.Conv2d(16, 4, 1))
        optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
        images = torch.randn(8, 1, 48, 48, generator=generator)
        labels = torch.randint(0, 4, (8, 48, 48), generator=generator)
        for _ in range(3):
            optimiser.zero_grad()
            nn.functional.cross_entropy(net(images), labels).backward()
            optimiser.step()
        digest = hashlib.sha256()
        for parameter in net.parameters():
            digest.update(parameter.detach().numpy().tobytes())
        return digest.hexdigest()[:16]
    finally:
        torch.set_num_threads(threads)


def same_arithmetic(recorded: dict) -> bool:
    """Whether a table's ``machine`` record was made with this machine's arithmetic (see ``arithmetic``);
    False for a table that predates the fingerprint."""
    return recorded.get("arithmetic") == arithmetic()
