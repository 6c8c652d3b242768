"""Multi-scale spectral loss (Engel et al., "DDSP", 2020), the same definition as the plugin's
plugin/src/analysis/loss.rs so the figures in docs/NEURAL.md read like the rest of the project's.

FFT sizes 2048 … 64, hop a quarter of the size (75 % overlap), periodic Hann window divided by
its sum, frames starting at every hop inside the signal (zero-padded past the end). Per size:
mean|A - B| / mean((A + B) / 2) (L1 on linear magnitude, made level-independent) plus
mean|ln(A + eps) - ln(B + eps)| (L1 on log magnitude); summed over the sizes.
"""

import torch

FFT_SIZES = (2048, 1024, 512, 256, 128, 64)
LOG_EPSILON = 1e-5


def magnitudes(audio: torch.Tensor, fft_size: int) -> torch.Tensor:
    """|STFT| of audio [B, N] -> [B, frames, bins], frames starting at 0, hop, 2*hop, …"""
    hop = fft_size // 4
    frames = -(-audio.shape[-1] // hop)
    padded = torch.nn.functional.pad(audio, (0, frames * hop + fft_size - audio.shape[-1]))
    window = torch.hann_window(fft_size, periodic=True, dtype=audio.dtype)
    window = window / window.sum()
    chunks = padded.unfold(-1, fft_size, hop)[:, :frames]
    return torch.fft.rfft(chunks * window, dim=-1).abs()


def multiscale_spectral_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The loss between two batches of mono signals [B, N] (compared over the shorter length)."""
    length = min(a.shape[-1], b.shape[-1])
    a, b = a[..., :length], b[..., :length]
    total = a.new_zeros(())
    for size in FFT_SIZES:
        ma, mb = magnitudes(a, size), magnitudes(b, size)
        scale = (0.5 * (ma + mb)).mean()
        if scale > 0:
            total = total + (ma - mb).abs().mean() / scale
        total = total + (torch.log(ma + LOG_EPSILON) - torch.log(mb + LOG_EPSILON)).abs().mean()
    return total
