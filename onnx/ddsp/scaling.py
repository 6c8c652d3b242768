"""How raw network outputs become valid synthesiser controls (DDSP's scaling functions).

The processors (ddsp/processors.py) apply these in `get_controls`; the exported ONNX model
contains them, so the plugin receives controls, never raw network outputs.
"""

import math

import torch

F0_MIN_HZ = 20.0
F0_MAX_HZ = 8000.0
"""The pitch range the decoder reads: f0 is clamped to it before it is normalised."""


def exp_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """DDSP's positive output nonlinearity, `2 * sigmoid(x) ** ln(10) + 1e-7`: logarithmic in
    x over a wide range (about -70 dB to +6 dB), at most 2, never 0 (so logs stay finite)."""
    return 2.0 * torch.sigmoid(x) ** math.log(10.0) + 1e-7


def softmax_distribution(x: torch.Tensor) -> torch.Tensor:
    """A distribution over the last axis by softmax (the contract's harmonic distribution)."""
    return torch.softmax(x, dim=-1)


def sum_distribution(x: torch.Tensor) -> torch.Tensor:
    """A distribution over the last axis as DDSP builds it: exp_sigmoid, divided by its sum.
    Never divides by 0, since exp_sigmoid >= 1e-7."""
    positive = exp_sigmoid(x)
    return positive / positive.sum(dim=-1, keepdim=True)


DISTRIBUTIONS = {"softmax": softmax_distribution, "sum": sum_distribution}
"""The harmonic processor's `normalize` settings."""


def remove_above_nyquist(
    distribution: torch.Tensor, f0_hz: torch.Tensor, sample_rate: float
) -> torch.Tensor:
    """Harmonics k = 1..K of f0 with k * f0 >= sample_rate / 2 get weight 0 and the others are
    renormalised to sum 1 (when their sum is > 0); distribution [..., K], f0_hz [..., 1].

    This is a frequency limit of the rate the voice is *rendered* at (48 kHz in the plugin,
    16 kHz in training), so it is applied by the synthesiser, sample by sample, not by the
    exported decoder."""
    k = torch.arange(1, distribution.shape[-1] + 1, dtype=f0_hz.dtype)
    audible = (k * f0_hz < sample_rate / 2).to(distribution.dtype)
    weights = distribution * audible
    total = weights.sum(dim=-1, keepdim=True)
    return torch.where(total > 0, weights / torch.clamp(total, min=1e-30), weights)


def clamp_f0(f0_hz: torch.Tensor) -> torch.Tensor:
    """f0 limited to the range the decoder's pitch features are defined on."""
    return torch.clamp(f0_hz, F0_MIN_HZ, F0_MAX_HZ)
