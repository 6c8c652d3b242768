"""Training data: notes of a built-in patch rendered by the Rust CLI, or a user's WAV file.

Patch notes are rendered one per `mephisto render` call (about 0.1 s each) so that no note's
release or reverb leaks into the next one's frames, and each note's f0 is the frequency it was
played at. Every pitch is rendered at each of RENDER_VELOCITIES (the score's `*VELOCITY`), so
the decoder hears how the patch's level and timbre follow the key press; each note's own
envelope and the level augmentation in train.py fill in the loudness between. A user's file
has no score: its f0 is estimated with YIN.
"""

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from . import HOP, LOUDNESS_WINDOW, SAMPLE_RATE

REPO = Path(__file__).resolve().parents[2]
AUDIBLE_RANGE_DB = 45.0
"""Frames of a user's file this far below its loudest are not searched for a pitch."""
RENDER_VELOCITIES = (0.35, 0.65, 1.0)
"""The velocities each pitch of a patch is rendered at: soft, medium and full."""


@dataclass
class Note:
    """One stretch of training audio at the model rate with its frame features."""

    name: str
    audio: np.ndarray
    """Mono float32 samples, a whole number of frames long."""
    f0_hz: np.ndarray
    """Per frame."""
    rms: np.ndarray
    """Per frame: RMS of the 1024-sample window centred on the frame."""
    note_off: int | None
    """Frame of the note-off, when known (rendered notes)."""
    velocity: float | None = None
    """The velocity a rendered note was played at."""
    group: int = 0
    """Notes of one group are held out together: one pitch at every velocity, or one stretch
    of a file."""

    @property
    def loudness_db(self) -> np.ndarray:
        return loudness_db(self.rms)

    @property
    def frames(self) -> int:
        return len(self.f0_hz)


def midi_hz(note: int) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12.0)


def loudness_db(rms: np.ndarray) -> np.ndarray:
    """The contract's frame loudness: 20*log10(rms + 1e-7)."""
    return (20.0 * np.log10(rms + 1e-7)).astype(np.float32)


def frame_rms(audio: np.ndarray) -> np.ndarray:
    """RMS of a rectangular LOUDNESS_WINDOW window centred on each frame (frame i at sample
    i * HOP), zeros outside the signal."""
    frames = len(audio) // HOP
    half = LOUDNESS_WINDOW // 2
    padded = np.pad(audio.astype(np.float64), (half, half))
    energy = np.concatenate([[0.0], np.cumsum(padded**2)])
    starts = np.arange(frames) * HOP
    window_energy = energy[starts + LOUDNESS_WINDOW] - energy[starts]
    return np.sqrt(np.maximum(window_energy, 0.0) / LOUDNESS_WINDOW).astype(np.float32)


def mephisto_binary() -> Path:
    """The release CLI ($MEPHISTO_BIN, else target/release/mephisto), built when missing."""
    if os.environ.get("MEPHISTO_BIN"):
        return Path(os.environ["MEPHISTO_BIN"])
    binary = REPO / "target" / "release" / "mephisto"
    if not binary.exists():
        print("data: building target/release/mephisto", flush=True)
        subprocess.run(
            ["cargo", "build", "--release", "-p", "mephisto-cli", "--bin", "mephisto"],
            cwd=REPO,
            check=True,
        )
    return binary


def read_mono(path: Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A sound file as mono float32 at sample_rate (channels averaged, band-limited resampling)."""
    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != sample_rate:
        mono = resample(mono, rate, sample_rate)
    return mono.astype(np.float32)


def resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    """FFT resampling: exact band-limiting, fine for the short files this is used on."""
    length = int(round(len(audio) * target / rate))
    spectrum = np.fft.rfft(audio)
    bins = length // 2 + 1
    spectrum = np.pad(spectrum[:bins], (0, max(0, bins - len(spectrum))))
    return np.fft.irfft(spectrum, n=length) * (length / len(audio))


def render_note(
    patch: str, note: int, hold_s: float, tail_s: float, velocity: float
) -> np.ndarray:
    """One note of a patch at `velocity`, held hold_s then released for tail_s, mono at the
    model rate."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "note.wav"
        subprocess.run(
            [
                str(mephisto_binary()),
                "render",
                "--patch",
                patch,
                "--notes",
                f"{note}:{hold_s}*{velocity}",
                "--seconds",
                str(hold_s + tail_s),
                "--sr",
                str(SAMPLE_RATE),
                "--out",
                str(out),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return read_mono(out)


def make_note(name: str, audio: np.ndarray, f0_hz, note_off: int | None, **extra) -> Note:
    frames = len(audio) // HOP
    audio = audio[: frames * HOP].astype(np.float32)
    f0 = np.broadcast_to(np.asarray(f0_hz, dtype=np.float32), (frames,)).copy()
    return Note(name, audio, f0, frame_rms(audio), note_off, **extra)


def patch_notes(
    patch: str,
    low: int,
    high: int,
    hold_s: float,
    tail_s: float,
    velocities=RENDER_VELOCITIES,
) -> list:
    """Every semitone from MIDI low to high (inclusive) of a built-in patch, each at every
    velocity; the notes of one pitch form a group."""
    return [
        make_note(
            f"{patch}:{note}*{velocity}",
            render_note(patch, note, hold_s, tail_s, velocity),
            midi_hz(note),
            int(round(hold_s * SAMPLE_RATE / HOP)),
            velocity=velocity,
            group=note - low,
        )
        for note in range(low, high + 1)
        for velocity in velocities
    ]


def yin_f0(
    audio: np.ndarray,
    audible: np.ndarray,
    lo_hz: float = 40.0,
    hi_hz: float = 1200.0,
    threshold: float = 0.15,
    fill: bool = True,
) -> np.ndarray:
    """Per-frame f0 by YIN (de Cheveigné & Kawahara, 2002) on windows centred on the frames.
    Frames without a clear period, or not `audible` (near-silent tails fool YIN), take the f0
    of the nearest frame that has one (`fill`), or are NaN."""
    frames = len(audio) // HOP
    tau_max = int(SAMPLE_RATE / lo_hz)
    tau_min = max(2, int(SAMPLE_RATE / hi_hz))
    span = LOUDNESS_WINDOW
    half = (span + tau_max) // 2
    padded = np.pad(audio.astype(np.float64), (half, half + tau_max + span))
    starts = np.arange(frames) * HOP
    windows = np.stack([padded[s : s + span + tau_max] for s in starts])
    diff = np.zeros((frames, tau_max + 1))
    for tau in range(1, tau_max + 1):
        delta = windows[:, :span] - windows[:, tau : tau + span]
        diff[:, tau] = (delta * delta).sum(axis=1)
    cumulative = np.cumsum(diff[:, 1:], axis=1)
    cmnd = np.ones_like(diff)
    cmnd[:, 1:] = diff[:, 1:] * np.arange(1, tau_max + 1) / np.maximum(cumulative, 1e-12)
    f0 = np.full(frames, np.nan)
    for i in np.nonzero(audible)[0]:
        below = np.nonzero(cmnd[i, tau_min:tau_max] < threshold)[0]
        if len(below) == 0:
            continue
        tau = tau_min + below[0]
        while tau + 1 < tau_max and cmnd[i, tau + 1] < cmnd[i, tau]:
            tau += 1
        a, b, c = cmnd[i, tau - 1], cmnd[i, tau], cmnd[i, tau + 1]
        shift = 0.5 * (a - c) / (a - 2 * b + c) if abs(a - 2 * b + c) > 1e-12 else 0.0
        f0[i] = SAMPLE_RATE / (tau + float(np.clip(shift, -1, 1)))
    if not fill:
        return f0.astype(np.float32)
    voiced = np.nonzero(~np.isnan(f0))[0]
    if len(voiced) == 0:
        raise ValueError("no pitched frames found: the file needs a clear, monophonic pitch")
    nearest = voiced[np.clip(np.searchsorted(voiced, np.arange(frames)), 0, len(voiced) - 1)]
    previous = voiced[np.clip(np.searchsorted(voiced, np.arange(frames)) - 1, 0, len(voiced) - 1)]
    use_previous = np.abs(previous - np.arange(frames)) < np.abs(nearest - np.arange(frames))
    fill = np.where(use_previous, previous, nearest)
    return np.where(np.isnan(f0), f0[fill], f0).astype(np.float32)


def audio_notes(path: Path, pieces: int = 10) -> list:
    """A user's monophonic file as `pieces` equal stretches (so some can be held out), f0 by
    YIN on the whole file."""
    audio = read_mono(path)
    whole = make_note(path.name, audio, 0.0, None)
    loudness = whole.loudness_db
    whole.f0_hz = yin_f0(whole.audio, loudness > loudness.max() - AUDIBLE_RANGE_DB)
    frames_each = max(1, whole.frames // pieces)
    notes = []
    for i in range(0, whole.frames, frames_each):
        j = min(whole.frames, i + frames_each)
        if j - i < 8:
            break
        notes.append(
            Note(
                f"{path.name}@{i * HOP / SAMPLE_RATE:.2f}s",
                whole.audio[i * HOP : j * HOP],
                whole.f0_hz[i:j],
                whole.rms[i:j],
                None,
                group=len(notes),
            )
        )
    return notes
