"""The decoder: per-frame (f0 Hz, loudness dB) -> amplitude, harmonic distribution, noise bands.

It is a plain MLP applied to each frame on its own, with no recurrent state, so the plugin can
stream one frame for all voices (T = 1, B = voices) and get exactly the numbers an offline call
gives. Callers feed raw f0 and loudness; the normalisation lives inside the model so the ONNX
file is self-contained and the Rust side has nothing to keep in step.
"""

import math

import torch
from torch import nn

from . import FLOOR_DB, HARMONICS, NOISE_BANDS

F0_MIN_HZ = 20.0
F0_MAX_HZ = 8000.0
NOISE_BIAS = -5.0
"""Shifts the noise outputs down at initialisation so training starts from a clean tone."""


def exp_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """DDSP's positive output nonlinearity: logarithmic in x over a wide range, at most 2."""
    return 2.0 * torch.sigmoid(x) ** math.log(10.0) + 1e-7


class Decoder(nn.Module):
    """Maps f0_hz [B, T, 1] and loudness_db [B, T, 1] to amplitude [B, T, 1] (linear, >= 0),
    harmonics [B, T, 60] (softmax, sums to 1) and noise [B, T, 65] (linear magnitudes, >= 0)."""

    def __init__(self, hidden: int = 128, layers: int = 3):
        super().__init__()
        blocks = []
        width = 2 + 2 * len(self.pitch_octaves())
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.LeakyReLU(0.1)]
            width = hidden
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(hidden, 1 + HARMONICS + NOISE_BANDS)

    @staticmethod
    def pitch_octaves() -> tuple:
        """Periods (in normalised pitch units) of the sinusoidal pitch features: they let a
        small MLP bend its harmonic distribution from note to note, not just along one slope."""
        return (0.5, 0.25)

    def features(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor) -> torch.Tensor:
        """Normalised inputs: MIDI pitch centred on C4 over two octaves, loudness mapped from
        [-100, 0] dB onto [-1, 1], and sin/cos of the pitch at a few scales."""
        f0 = torch.clamp(f0_hz, F0_MIN_HZ, F0_MAX_HZ)
        pitch = (12.0 * torch.log2(f0 / 440.0) + 69.0 - 60.0) / 24.0
        loudness = (torch.clamp(loudness_db, FLOOR_DB, 0.0) - FLOOR_DB / 2) / (-FLOOR_DB / 2)
        parts = [pitch, loudness]
        for period in self.pitch_octaves():
            angle = pitch * (2.0 * math.pi / period)
            parts += [torch.sin(angle), torch.cos(angle)]
        return torch.cat(parts, dim=-1)

    def forward(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor):
        out = self.head(self.body(self.features(f0_hz, loudness_db)))
        amplitude = exp_sigmoid(out[..., :1])
        harmonics = torch.softmax(out[..., 1 : 1 + HARMONICS], dim=-1)
        noise = exp_sigmoid(out[..., 1 + HARMONICS :] + NOISE_BIAS)
        return amplitude, harmonics, noise


def state_size_bytes(model: nn.Module) -> int:
    """Bytes of the model's float32 parameters: what the ONNX file mostly holds."""
    return sum(p.numel() for p in model.parameters()) * 4
