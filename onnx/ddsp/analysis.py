"""Per-frame targets for the decoder: the harmonic amplitudes and noise-band magnitudes that,
fed to the synthesiser, rebuild each frame of the training audio.

Rendering every training step through the synthesiser and the multi-scale loss costs about a
second on two shared CPU cores, so a few minutes would buy a few hundred steps. With f0 known,
each frame can instead be analysed once: a least-squares fit of sin/cos at k * f0 over a Hann
window centred on the frame gives harmonic k's amplitude, and the residual's spectrum, averaged
over the 65 bands, gives the noise magnitudes in the synthesiser's units. The decoder then learns
these targets at thousands of frames per step (train.py), and the spectral loss judges the result.
"""

import numpy as np

from . import HARMONICS, HOP, LOUDNESS_WINDOW, NOISE_BANDS, SAMPLE_RATE

EULER_GAMMA = 0.5772156649
CENTS_STEP = 0.5
"""f0 is rounded to this many cents so frames at (nearly) one pitch share one basis."""


def frame_windows(audio: np.ndarray, frames: int) -> np.ndarray:
    """[frames, LOUDNESS_WINDOW] samples centred on each frame (zeros outside the signal)."""
    half = LOUDNESS_WINDOW // 2
    padded = np.pad(audio.astype(np.float64), (half, half + LOUDNESS_WINDOW))
    index = np.arange(frames)[:, None] * HOP + np.arange(LOUDNESS_WINDOW)[None, :]
    return padded[index]


def harmonic_basis(f0_hz: float) -> tuple:
    """Hann-weighted cos/sin columns of the audible harmonics of f0 over one window, and
    the least-squares solver for their weights."""
    n = np.arange(LOUDNESS_WINDOW) - LOUDNESS_WINDOW / 2
    k = np.arange(1, HARMONICS + 1)
    audible = k[k * f0_hz < SAMPLE_RATE / 2]
    angle = 2 * np.pi * f0_hz * n[:, None] * audible[None, :] / SAMPLE_RATE
    basis = np.concatenate([np.cos(angle), np.sin(angle)], axis=1)
    weighted = basis * np.hanning(LOUDNESS_WINDOW)[:, None]
    # Normal equations with a little ridge: far cheaper than an SVD, and as exact here, where
    # the columns are near-orthogonal sinusoids.
    gram = weighted.T @ weighted
    gram += 1e-9 * np.trace(gram) / len(gram) * np.eye(len(gram))
    solver = np.linalg.solve(gram, weighted.T)
    return audible, basis, solver


def analyse(audio: np.ndarray, f0_hz: np.ndarray) -> tuple:
    """(harmonic amplitudes [T, 60], noise magnitudes [T, 65]) of audio with per-frame f0."""
    frames = len(f0_hz)
    windows = frame_windows(audio, frames)
    weight = np.hanning(LOUDNESS_WINDOW)
    amplitudes = np.zeros((frames, HARMONICS))
    residual = np.empty_like(windows)
    cents = np.round(1200 * np.log2(np.maximum(f0_hz, 1.0) / 440.0) / CENTS_STEP)
    for value in np.unique(cents):
        rows = np.nonzero(cents == value)[0]
        audible, basis, solver = harmonic_basis(440.0 * 2 ** (value * CENTS_STEP / 1200))
        coefficients = (windows[rows] * weight) @ solver.T
        count = len(audible)
        amplitudes[rows[:, None], audible[None, :] - 1] = np.hypot(
            coefficients[:, :count], coefficients[:, count:]
        )
        residual[rows] = windows[rows] - coefficients @ basis.T
    return amplitudes.astype(np.float32), noise_bands(residual, weight).astype(np.float32)


def noise_bands(residual: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Band magnitudes H such that uniform [-1, 1] white noise (variance 1/3) filtered by H has
    the residual's power spectrum, per band centred at k * 125 Hz. The band's power is the
    geometric mean over its bins (times e^γ, which makes it unbiased for noise): an arithmetic
    mean would let a few bins of leakage from a strong harmonic fill the whole band with noise
    that the quiet bins around it do not have."""
    power = np.abs(np.fft.rfft(residual * weight, axis=1)) ** 2
    hz = np.fft.rfftfreq(LOUDNESS_WINDOW, 1.0 / SAMPLE_RATE)
    band_hz = SAMPLE_RATE / 2 / (NOISE_BANDS - 1)
    band = np.clip(np.round(hz / band_hz).astype(int), 0, NOISE_BANDS - 1)
    counts = np.bincount(band, minlength=NOISE_BANDS)
    log_power = np.log(power + 1e-30)
    mean_log = np.stack([np.bincount(band, p, NOISE_BANDS) for p in log_power]) / counts
    return np.sqrt(3.0 * np.exp(mean_log + EULER_GAMMA) / (weight**2).sum())
