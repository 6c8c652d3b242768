"""Training through the synthesiser: the decoder's controls rendered by the whole graph and
compared with the training audio by the multi-scale spectral loss (DDSP's own objective).

The analysis targets (ddsp/analysis.py) teach the decoder per frame and cheaply, but they say
nothing about a processor's own parameters, such as a reverb's impulse response, which only
the rendered audio can teach. Rendering costs about a second a step on a CPU core, so
train.py runs this after the target training, from its weights: the decoder (and encoder)
keep learning at a lower rate while the processors learn at theirs.
"""

import time

import numpy as np
import torch

from . import HOP, SAMPLE_RATE
from .loss import multiscale_spectral_loss
from .processors import Reverb


def context_frames(voice) -> int:
    """Frames of audio before a crop that reach into it: the longest reverb's IR."""
    longest = 0
    for processor in voice.graph.processors.values():
        if isinstance(processor, Reverb):
            longest = max(longest, processor.t.shape[0])
    return -(-longest // HOP)


def crops(notes: list, count: int, crop_frames: int, rng: np.random.Generator) -> list:
    """`count` (note index, first frame, end frame) crops: a whole note when it is no longer
    than crop_frames, else crop_frames placed at random, reaching up to half a crop past
    either end and cut there, so the first and last frames (a pluck's attack, the end of a
    tail) are trained as often as the middle."""
    chosen = rng.choice(len(notes), size=min(count, len(notes)), replace=False)
    out = []
    for index in chosen:
        frames = notes[index].frames
        if frames <= crop_frames:
            out.append((int(index), 0, frames))
            continue
        half = crop_frames // 2
        start = int(rng.integers(-half, frames - half))
        out.append((int(index), max(0, start), min(frames, start + crop_frames)))
    return out


def crop_loss(voice, note, z_note, start: int, end: int, context: int, generator) -> torch.Tensor:
    """The spectral loss of frames [start, end) of a note rendered by the graph from `context`
    frames earlier (so a reverb hears what came before)."""
    begin = max(0, start - context)
    f0 = torch.from_numpy(note.f0_hz[begin:end])[None, :, None]
    loudness = torch.from_numpy(note.loudness_db[begin:end])[None, :, None]
    z = None if z_note is None else z_note[None, begin:end]
    controls = voice.controls(f0, loudness, z)
    samples = (end - begin) * HOP
    audio = voice.render(controls, f0, SAMPLE_RATE, HOP, samples, generator)
    skip = (start - begin) * HOP
    target = torch.from_numpy(note.audio[start * HOP : end * HOP])[None]
    return multiscale_spectral_loss(audio[:, skip:], target)


def train_on_audio(voice, notes: list, mfccs: list | None, settings: dict) -> dict:
    """Adam on the spectral loss of rendered crops until settings["steps"] or ["seconds"].

    settings: steps, seconds, crops (per step), crop_seconds, lr (decoder and encoder),
    processor_lr, seed. Returns {"steps", "seconds", "loss"} (the mean of the last 50 steps)."""
    rng = np.random.default_rng(settings["seed"])
    generator = torch.Generator().manual_seed(settings["seed"])
    processor_parameters = list(voice.graph.parameters())
    network_parameters = list(voice.decoder.parameters())
    if voice.encoder is not None:
        network_parameters += list(voice.encoder.parameters())
    groups = [{"params": network_parameters, "lr": settings["lr"], "base": settings["lr"]}]
    if processor_parameters:
        lr = settings["processor_lr"]
        groups.append({"params": processor_parameters, "lr": lr, "base": lr})
    optimizer = torch.optim.Adam(groups)
    crop_frames = int(round(settings["crop_seconds"] * SAMPLE_RATE / HOP))
    context = context_frames(voice)
    started = time.monotonic()
    step, losses = 0, []
    voice.train()
    while step < settings["steps"] and time.monotonic() - started < settings["seconds"]:
        progress = max(step / settings["steps"], (time.monotonic() - started) / settings["seconds"])
        for group in optimizer.param_groups:
            decay = 0.05 + 0.95 * 0.5 * (1.0 + np.cos(np.pi * min(progress, 1.0)))
            group["lr"] = group["base"] * decay
        loss = 0.0
        chosen = crops(notes, settings["crops"], crop_frames, rng)
        for index, start, end in chosen:
            z_note = None
            if voice.encoder is not None:
                z_note = voice.encoder(mfccs[index][None])[0]
            loss = loss + crop_loss(voice, notes[index], z_note, start, end, context, generator)
        loss = loss / len(chosen)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        step += 1
        if step % 25 == 0 or step == 1:
            print(
                f"audio step {step:4d}  loss {np.mean(losses[-25:]):.3f}  "
                f"{time.monotonic() - started:6.1f} s",
                flush=True,
            )
    voice.eval()
    return {
        "steps": step,
        "seconds": round(time.monotonic() - started, 1),
        "loss": round(float(np.mean(losses[-50:])), 4) if losses else None,
    }
