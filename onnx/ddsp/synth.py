"""The harmonic-plus-filtered-noise synthesiser, differentiable so the decoder trains through it.

Both parts follow docs/NEURAL.md to the letter, because the plugin's Rust synth must give the
same samples (onnx/parity.py writes references the Rust tests compare against; the noise part's
filters the stored white noise). It works in the dtype of its inputs: float32 for training,
float64 for the parity reference.
"""

import math

import torch

from . import NOISE_BANDS
from .scaling import remove_above_nyquist

NOISE_TAPS = 2 * (NOISE_BANDS - 1)
"""Length of the linear-phase FIR made from the 65 band magnitudes (128 taps)."""


def frames_to_samples(x: torch.Tensor, hop: int, samples: int) -> torch.Tensor:
    """Linearly interpolates frame controls x [B, T, C] to [B, samples, C]: frame i sits at
    sample i * hop, samples between frames i and i + 1 blend them, the last frame is held."""
    frames = x.shape[1]
    position = torch.arange(samples, dtype=torch.float64) / hop
    lower = torch.floor(position).long().clamp(max=frames - 1)
    upper = (lower + 1).clamp(max=frames - 1)
    fraction = (position - lower.to(torch.float64)).clamp(0.0, 1.0).to(x.dtype)
    a, b = x[:, lower], x[:, upper]
    return a + (b - a) * fraction[None, :, None]


def harmonic(
    f0_hz: torch.Tensor,
    amplitude: torch.Tensor,
    harmonics: torch.Tensor,
    sample_rate: float,
    hop: int,
    samples: int,
) -> torch.Tensor:
    """Sum of harmonics k = 1..K of f0: f0, amplitude [B, T, 1] and harmonics [B, T, K] frame
    controls -> [B, samples].

    Harmonics at or above Nyquist get weight 0 and the others are renormalised to sum 1, sample by
    sample; the phase accumulates 2*pi*f0/sr in float64 and is wrapped to [0, 2*pi)."""
    f0 = frames_to_samples(f0_hz, hop, samples)
    amp = frames_to_samples(amplitude, hop, samples)
    dist = frames_to_samples(harmonics, hop, samples)
    k = torch.arange(1, harmonics.shape[-1] + 1, dtype=f0.dtype)
    weights = remove_above_nyquist(dist, f0, sample_rate)
    step = 2.0 * math.pi * f0[..., 0].to(torch.float64) / sample_rate
    phase = torch.remainder(torch.cumsum(step, dim=1), 2.0 * math.pi).to(f0.dtype)
    partials = torch.sin(k * phase[..., None])
    return amp[..., 0] * (weights * partials).sum(dim=-1)


def noise_filters(noise: torch.Tensor) -> torch.Tensor:
    """Band magnitudes [B, T, 65] -> linear-phase FIRs [B, T, 128]: the zero-phase impulse
    response of the sampled magnitude response, centred and Hann-windowed."""
    complex_type = torch.complex128 if noise.dtype == torch.float64 else torch.complex64
    impulse = torch.fft.irfft(noise.to(complex_type), n=NOISE_TAPS)
    impulse = torch.roll(impulse, NOISE_TAPS // 2, dims=-1)
    return impulse * torch.hann_window(NOISE_TAPS, periodic=False, dtype=impulse.dtype)


def filtered_noise(
    noise: torch.Tensor,
    hop: int,
    samples: int,
    generator: torch.Generator | None = None,
    white: torch.Tensor | None = None,
) -> torch.Tensor:
    """White noise, uniform in [-1, 1], filtered block by block: block i (samples
    [i*hop, (i+1)*hop)) goes through frame i's FIR and the blocks overlap-add. The FIR's delay
    (64 taps) is removed so the noise lines up with the harmonic part. Returns [B, samples].

    `white` [B, frames * hop] replaces the random source (the parity data stores its own, so
    another implementation can filter the same samples)."""
    batch, frames, _ = noise.shape
    filters = noise_filters(noise)
    if white is None:
        white = torch.rand(batch, frames, hop, generator=generator, dtype=filters.dtype) * 2 - 1
    else:
        white = white.to(filters.dtype).reshape(batch, frames, hop)
    size = 1 << (hop + NOISE_TAPS - 1).bit_length()
    blocks = torch.fft.irfft(
        torch.fft.rfft(white, n=size) * torch.fft.rfft(filters, n=size), n=size
    )[..., : hop + NOISE_TAPS - 1]
    # Overlap-add: each block spills NOISE_TAPS - 1 samples (< hop) into the next one.
    body = blocks[..., :hop].clone()
    spill = torch.nn.functional.pad(blocks[..., hop:], (0, 2 * hop - blocks.shape[-1]))
    body[:, 1:] = body[:, 1:] + spill[:, :-1]
    out = torch.cat([body.reshape(batch, frames * hop), spill[:, -1]], dim=-1)
    delay = NOISE_TAPS // 2
    out = out[:, delay : delay + samples]
    return torch.nn.functional.pad(out, (0, samples - out.shape[-1]))


def synthesize(
    f0_hz: torch.Tensor,
    amplitude: torch.Tensor,
    harmonics: torch.Tensor,
    noise: torch.Tensor,
    sample_rate: float,
    hop: int,
    samples: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The full voice: harmonic part plus filtered noise, [B, samples]."""
    tone = harmonic(f0_hz, amplitude, harmonics, sample_rate, hop, samples)
    return tone + filtered_noise(noise, hop, samples, generator)


def convolve(audio: torch.Tensor, impulse_response: torch.Tensor) -> torch.Tensor:
    """Linear convolution of audio [B, N] with one impulse response [L], by FFT, cut to the
    first N samples: y[n] = sum_m ir[m] * audio[n - m] (audio is 0 before sample 0)."""
    length = audio.shape[-1]
    size = 1 << (length + impulse_response.shape[-1] - 1).bit_length()
    spectrum = torch.fft.rfft(audio, n=size) * torch.fft.rfft(impulse_response, n=size)
    return torch.fft.irfft(spectrum, n=size)[..., :length]


def resample_impulse_response(
    impulse_response: torch.Tensor, rate: int, target: int
) -> torch.Tensor:
    """An impulse response [L] at `rate` made for a convolution at a rate `target` >= rate, by
    FFT: the rfft of ir, its Nyquist bin (when L is even) halved because it stands for both
    signs of that frequency, zero-padded to L'//2 + 1 bins and inverse-transformed at length
    L' = round(L * target / rate). The inverse transform at the longer length scales the
    samples by L / L' (about rate / target), which is what keeps the convolution's gain at
    every frequency the same at the new rate (a discrete convolution sums target / rate times
    as many samples)."""
    if target < rate:
        raise ValueError(f"an impulse response at {rate} Hz cannot be made for {target} Hz")
    length = impulse_response.shape[-1]
    if target == rate:
        return impulse_response
    new_length = int(round(length * target / rate))
    spectrum = torch.fft.rfft(impulse_response)
    if length % 2 == 0:
        spectrum = torch.cat([spectrum[:-1], 0.5 * spectrum[-1:]])
    spectrum = torch.nn.functional.pad(spectrum, (0, new_length // 2 + 1 - spectrum.shape[-1]))
    return torch.fft.irfft(spectrum, n=new_length)
