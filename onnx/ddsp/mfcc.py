"""MFCCs of training audio, per frame, in torch: the timbre encoder's input (ddsp/encoder.py).

Frame i's coefficients describe the same 1024 samples centred on sample i * HOP as its
loudness (ddsp/data.py: frame_rms), under a Hann window: power spectrum -> triangular mel
filterbank (HTK mel scale) -> log -> orthonormal DCT-II. Coefficient 0 (the overall level)
is dropped: the decoder hears the level through its loudness input, so z is left to describe
the spectral shape. For the same reason the log's floor follows the frame's own level
(RELATIVE_FLOOR), so a quieter copy of a sound has the same coefficients: with a fixed floor,
bands holding only leakage sink into it as the level drops and the "timbre" changes.
"""

import math

import torch

from . import HOP, LOUDNESS_WINDOW, SAMPLE_RATE

MEL_BANDS = 64
LOW_HZ = 20.0
HIGH_HZ = SAMPLE_RATE / 2
RELATIVE_FLOOR = 1e-8
"""Added to each mel band's power before the log, times the frame's total mel power: bands
more than 80 dB below the frame count as empty."""
SILENCE_FLOOR = 1e-20
"""An absolute floor under that, so digital silence reads as a flat spectrum (all 0)."""


def hz_to_mel(hz):
    return 2595.0 * math.log10(1.0 + hz / 700.0)


def mel_filterbank(
    fft_size: int = LOUDNESS_WINDOW,
    sample_rate: int = SAMPLE_RATE,
    bands: int = MEL_BANDS,
    low_hz: float = LOW_HZ,
    high_hz: float = HIGH_HZ,
) -> torch.Tensor:
    """[fft_size // 2 + 1, bands]: triangles with peak 1, centred on points evenly spaced in
    mel between low_hz and high_hz, each reaching 0 at its neighbours' centres."""
    mels = torch.linspace(hz_to_mel(low_hz), hz_to_mel(high_hz), bands + 2, dtype=torch.float64)
    edges = 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    hz = torch.arange(fft_size // 2 + 1, dtype=torch.float64) * sample_rate / fft_size
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (hz[:, None] - lower) / (centre - lower)
    falling = (upper - hz[:, None]) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).to(torch.float32)


def dct_matrix(size: int, coefficients: int) -> torch.Tensor:
    """[size, coefficients]: the orthonormal DCT-II, x @ M gives the first coefficients."""
    n = torch.arange(size, dtype=torch.float64)[:, None]
    k = torch.arange(coefficients, dtype=torch.float64)[None, :]
    matrix = torch.cos(math.pi / size * (n + 0.5) * k) * math.sqrt(2.0 / size)
    matrix[:, 0] /= math.sqrt(2.0)
    return matrix.to(torch.float32)


def mfcc(audio: torch.Tensor, coefficients: int = 30) -> torch.Tensor:
    """MFCCs 1..coefficients of audio [N] or [B, N] at the model rate, one row per frame
    (len // HOP frames): [frames, coefficients] or [B, frames, coefficients]."""
    batched = audio.dim() == 2
    audio = audio if batched else audio[None]
    frames = audio.shape[-1] // HOP
    half = LOUDNESS_WINDOW // 2
    padded = torch.nn.functional.pad(audio.to(torch.float32), (half, half))
    windows = padded.unfold(-1, LOUDNESS_WINDOW, HOP)[:, :frames]
    window = torch.hann_window(LOUDNESS_WINDOW, periodic=True)
    power = torch.fft.rfft(windows * window).abs() ** 2
    mel = power @ mel_filterbank()
    floor = RELATIVE_FLOOR * mel.sum(dim=-1, keepdim=True) + SILENCE_FLOOR
    log_mel = torch.log(mel + floor)
    out = (log_mel @ dct_matrix(MEL_BANDS, coefficients + 1))[..., 1:]
    return out if batched else out[0]
