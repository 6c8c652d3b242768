"""Trains the neural voice's decoder on a built-in patch or a WAV file and writes MODEL.onnx,
its sidecar MODEL.json and the parity data the Rust tests replay.

    python onnx/train.py --patch tine_keys --out onnx/models/tine_keys.onnx
    python onnx/train.py --audio cello.wav --out cello.onnx --seconds 300
    python onnx/train.py --smoke            # CI: a short render, ~30 s of training, all checks
    python onnx/train.py --patch nylon_pluck --graph onnx/graphs/reverb.json \
        --out onnx/models/nylon_pluck.onnx  # a model whose graph has a learned reverb

Patch notes are rendered one semitone apart over three octaves, each at three velocities;
every fifth pitch is held out (at all its velocities).

The synthesis graph (ddsp/graph.py) comes from --graph CONFIG.json, else it is the contract's
harmonic plus filtered noise. The decoder learns per-frame analysis targets first; when the
graph has processors with parameters of their own (a reverb's IR), the whole model then
trains through the rendered audio (ddsp/audio_training.py). A config with an "encoder" adds
the MFCC timbre encoder: the decoder reads its z, and the sidecar stores the mean z the plugin
plays with.
After training, the held-out notes are resynthesised from the model's controls and compared with
the original audio by the multi-scale spectral loss, against the same loss for a plain sine at
the same f0 and loudness. A model passes when its loss is at most half the sine's.
"""

import os

# One BLAS/OpenMP thread unless told otherwise: on shared cores, spinning worker threads cost
# more than they give (set before numpy and torch start their pools).
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import export  # noqa: E402
import parity  # noqa: E402
from ddsp import HARMONICS, HOP, NOISE_BANDS, SAMPLE_RATE  # noqa: E402
from ddsp import analysis, data, envelope, synth  # noqa: E402
from ddsp.audio_training import train_on_audio  # noqa: E402
from ddsp.graph import load_config  # noqa: E402
from ddsp.loss import multiscale_spectral_loss  # noqa: E402
from ddsp.mfcc import mfcc  # noqa: E402
from ddsp.model import Voice, state_size_bytes  # noqa: E402

ONNX_DIR = Path(__file__).resolve().parent
QUALITY_RATIO = 0.5
"""A model must beat a plain sine's held-out loss by this factor."""
HELD_OUT_EVERY = 5
LOW_REGISTER_ARCHETYPES = ("bass",)
ENCODED_NOTES_PER_STEP = 16
ENCODED_CROP_FRAMES = 100
"""With an encoder, each step's frames come from a crop of this many frames (2 s) of each of
ENCODED_NOTES_PER_STEP notes, which the encoder reads from the crop's start (a GRU needs the
frames before). Whole stretches of a file (8 s) made a step 10 times slower."""
MEAN_Z_FRACTION = 0.25
"""With an encoder, this fraction of each step's frames is given the mean z of the step's
crops instead of its own, so the decoder also learns the best single timbre for a mean z, which
is what the plugin plays (the sidecar's z_mean). Trained on each frame's own z only, warm_pad
played its z_mean worse than a model without an encoder (held-out ratio 0.505 against 0.424)."""
QUIET_DB = (-60.0, -6.0)
"""`--quiet-frames` plays that fraction of the frames this many dB softer. The plugin's loudness
contour starts every note and ends every release at -100 dB, below the quietest frames of a
rendered note (a pad's 1-s tail ends near -60 dB), where the decoder only extrapolates; warm_pad
with an encoder kept its level almost flat there (-58 to -51 dB for loudness -100 to -60 dB), so
a swell longer than the probe's held note read as one that had already arrived (Punch
calibration)."""
PLAYABLE_OUTPUTS = ("amplitude", "harmonics", "noise")
AUDIO_STEPS = 400
"""Steps through the rendered audio when the graph has processor parameters (a reverb)."""
SIDECAR_VERSION = 1
SIDECAR_VERSION_WITH_Z = 2
"""A model with an encoder needs the input z, which a version-1 reader would not feed: such a
sidecar says version 2 so that reader refuses it instead of failing at inference."""


def archetype(patch: str) -> str:
    """The archetype `mephisto list` gives a built-in patch ("" when it is not listed)."""
    listing = subprocess.run(
        [str(data.mephisto_binary()), "list"], check=True, capture_output=True, text=True
    ).stdout
    for line in listing.splitlines():
        name, _, kind = line.partition(",")
        if name.strip() == patch:
            return kind.strip()
    return ""


def held_out(notes: list) -> tuple:
    """(training, held-out): every fifth group (a pitch at all its velocities, or a stretch of
    a file), starting with the third, is held out."""
    test = [n for n in notes if n.group % HELD_OUT_EVERY == 2]
    train = [n for n in notes if n.group % HELD_OUT_EVERY != 2]
    return train, test


def tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def frame_batch(
    model: Voice, targets: "Targets", size: int, rng: np.random.Generator, quiet: float = 0.0
) -> tuple:
    """`size` random frames, each at a random level within [-6, +2] dB of the original (the
    analysis targets scale with it) so the decoder sees loudness it will be asked for around
    the rendered velocity's; a fraction `quiet` of them within QUIET_DB instead. Returns f0, loudness [1, size, 1], z [1, size, z_dims] (None
    without an encoder), harmonic amplitudes [1, size, 60] and noise magnitudes [1, size, 65].

    Without an encoder the frames come from all notes; with one, from crops of
    ENCODED_NOTES_PER_STEP random notes, whose z the encoder computes from the crops."""
    z = None
    if model.encoder is None:
        which = rng.integers(0, len(targets.f0), size=size)
    else:
        which, z = encoded_frames(model, targets, size, rng)
    level_db = rng.uniform(-6.0, 2.0, size=size)
    if quiet > 0.0:
        softer = rng.random(size) < quiet
        level_db[softer] = rng.uniform(*QUIET_DB, size=int(softer.sum()))
    gain = 10.0 ** (level_db / 20.0).astype(np.float32)
    return (
        tensor(targets.f0[which])[None, :, None],
        tensor(data.loudness_db(gain * targets.rms[which]))[None, :, None],
        z,
        tensor(gain[:, None] * targets.harmonics[which])[None],
        tensor(gain[:, None] * targets.noise[which])[None],
    )


def encoded_frames(model: Voice, targets: "Targets", size: int, rng: np.random.Generator):
    """(`size` random frame indices, their z [1, size, z_dims]) from crops of random notes."""
    count = len(targets.mfccs)
    notes = rng.choice(count, min(ENCODED_NOTES_PER_STEP, count), replace=False)
    crops = []
    for note in notes:
        frames = len(targets.mfccs[note])
        start = int(rng.integers(0, max(1, frames - ENCODED_CROP_FRAMES + 1)))
        crops.append((note, start, min(frames, start + ENCODED_CROP_FRAMES)))
    # A GRU is causal: the padding after a shorter crop does not change the crop's own z.
    mfccs = torch.nn.utils.rnn.pad_sequence(
        [targets.mfccs[n][a:b] for n, a, b in crops], batch_first=True
    )
    encoded = model.encoder(mfccs)
    frames = np.concatenate([targets.starts[n] + np.arange(a, b) for n, a, b in crops])
    rows = np.concatenate([np.full(b - a, i) for i, (_, a, b) in enumerate(crops)])
    columns = np.concatenate([np.arange(b - a) for _, a, b in crops])
    position = rng.integers(0, len(frames), size=size)
    z = encoded[torch.from_numpy(rows[position]), torch.from_numpy(columns[position])]
    return frames[position], with_mean_z(z, encoded, rows, columns, rng)[None]


def with_mean_z(z: torch.Tensor, encoded: torch.Tensor, rows, columns, rng) -> torch.Tensor:
    """z [size, z_dims] with MEAN_Z_FRACTION of its frames (chosen at random) replaced by the
    mean z over every frame of the crops (`encoded` [crops, frames, z_dims] at `rows`,
    `columns`, which leaves out the padding)."""
    mean = encoded[torch.from_numpy(rows), torch.from_numpy(columns)].mean(dim=0)
    replaced = torch.from_numpy(rng.random(len(z)) < MEAN_Z_FRACTION)[:, None]
    return torch.where(replaced, mean.expand_as(z), z)


class Targets:
    """Every training frame's f0, RMS and analysis targets, stacked (see ddsp/analysis.py);
    with an encoder, each note's MFCCs too (`starts[i]` is note i's first frame)."""

    def __init__(self, notes: list, coefficients: int | None = None):
        analysed = [analysis.analyse(n.audio, n.f0_hz) for n in notes]
        self.f0 = np.concatenate([n.f0_hz for n in notes])
        self.rms = np.concatenate([n.rms for n in notes])
        self.harmonics = np.concatenate([h for h, _ in analysed])
        self.noise = np.concatenate([z for _, z in analysed])
        self.starts = np.cumsum([0] + [n.frames for n in notes])
        self.mfccs = note_mfccs(notes, coefficients) if coefficients else []


def note_mfccs(notes: list, coefficients: int) -> list:
    """Each note's MFCCs [1..coefficients] per frame (ddsp/mfcc.py), [frames, coefficients]."""
    return [mfcc(torch.from_numpy(n.audio), coefficients) for n in notes]


def log_l1(a: torch.Tensor, b: torch.Tensor, eps: float, mask=None) -> torch.Tensor:
    difference = (torch.log(a + eps) - torch.log(b + eps)).abs()
    if mask is None:
        return difference.mean()
    return (difference * mask).sum() / mask.sum().clamp(min=1.0)


def target_loss(model: Voice, f0, loudness, z, harmonic_amplitudes, noise) -> torch.Tensor:
    """L1 between log amplitudes of the decoder's audible harmonics (as the synth renormalises
    them) and the analysis targets, plus the same for the overall amplitude and noise bands
    (for the controls the graph has). The epsilons sit near the spectral loss's own floor
    (-100 dB for a sine)."""
    controls = model.controls(f0, loudness, z)
    loss = 0.0
    if "harmonics" in controls:
        amplitude = controls["amplitude"]
        k = torch.arange(1, HARMONICS + 1, dtype=f0.dtype)
        audible = (k * f0 < SAMPLE_RATE / 2).to(f0.dtype)
        # remove_above_nyquist's renormalisation, without its guard for an all-zero sum
        # (harmonic 1 of a training f0 is always audible).
        weights = controls["harmonics"] * audible
        weights = weights / weights.sum(dim=-1, keepdim=True).clamp(min=1e-30)
        total = harmonic_amplitudes.sum(dim=-1, keepdim=True)
        loss = loss + log_l1(amplitude * weights, harmonic_amplitudes, 1e-5, audible)
        loss = loss + log_l1(amplitude, total, 1e-5)
    if "noise" in controls:
        loss = loss + log_l1(controls["noise"], noise, 1e-4)
    return loss


def train(model: Voice, notes: list, args) -> dict:
    """Adam on the analysis targets (ddsp/analysis.py) until --steps or --seconds."""
    rng = np.random.default_rng(args.seed)
    started = time.monotonic()
    targets = Targets(notes, model.encoder.settings["mfccs"] if model.encoder else None)
    if model.encoder is not None:
        model.encoder.fit_normalisation(torch.cat(targets.mfccs))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    step, losses = 0, []
    model.train()
    while step < args.steps and time.monotonic() - started < args.seconds:
        progress = max(step / args.steps, (time.monotonic() - started) / args.seconds)
        for group in optimizer.param_groups:
            group["lr"] = args.lr * (0.05 + 0.95 * 0.5 * (1.0 + np.cos(np.pi * min(progress, 1.0))))
        batch = frame_batch(model, targets, args.batch, rng, args.quiet_frames)
        loss = target_loss(model, *batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        step += 1
        if step % 500 == 0:
            print(
                f"step {step:5d}  loss {np.mean(losses[-500:]):.3f}  "
                f"{time.monotonic() - started:6.1f} s",
                flush=True,
            )
    return {"steps": step, "seconds": round(time.monotonic() - started, 1)}


def play_z(model: Voice, notes: list) -> torch.Tensor:
    """The z the plugin plays with: the mean of the encoder's z over the notes' audible frames
    (within data.AUDIBLE_RANGE_DB of the loudest; silence has no timbre to average)."""
    mfccs = note_mfccs(notes, model.encoder.settings["mfccs"])
    with torch.no_grad():
        z = torch.cat([model.encoder(m[None])[0] for m in mfccs])
    loudness = np.concatenate([n.loudness_db for n in notes])
    audible = torch.from_numpy(loudness > loudness.max() - data.AUDIBLE_RANGE_DB)
    return z[audible].mean(dim=0)


def resynthesis_losses(model: Voice, notes: list, seed: int, encoded: bool = False) -> tuple:
    """Mean multi-scale loss over whole held-out notes of (model controls -> graph) and of a
    sine of amplitude sqrt(2) * RMS (the frame's loudness) at the same f0, against the originals.
    With an encoder, z is the play-time z, or the note's own (`encoded`: the autoencoder's
    reconstruction)."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    ours, sines = [], []
    for note in notes:
        f0 = tensor(note.f0_hz)[None, :, None]
        target = tensor(note.audio)[None]
        with torch.no_grad():
            z = None
            if model.encoder is not None and encoded:
                z = model.encoder(mfcc(target[0], model.encoder.settings["mfccs"])[None])
            controls = model.controls(f0, tensor(note.loudness_db)[None, :, None], z)
            audio = model.render(controls, f0, SAMPLE_RATE, HOP, target.shape[-1], generator)
            one_hot = torch.zeros(1, note.frames, HARMONICS)
            one_hot[..., 0] = 1.0
            sine_amplitude = np.sqrt(2.0) * tensor(note.rms)[None, :, None]
            sine = synth.harmonic(f0, sine_amplitude, one_hot, SAMPLE_RATE, HOP, target.shape[-1])
            ours.append(multiscale_spectral_loss(audio, target).item())
            sines.append(multiscale_spectral_loss(sine, target).item())
    return float(np.mean(ours)), float(np.mean(sines))


def loudness_envelope(notes: list) -> dict:
    """The sidecar's envelope: from the rendered notes (which share one length and note-off),
    or from the notes found in a user's file (its stretches are contiguous)."""
    if notes[0].note_off is not None:
        return envelope.from_rendered(
            [n.loudness_db for n in notes], notes[0].note_off, [n.velocity for n in notes]
        )
    contour = np.concatenate([n.loudness_db for n in notes])
    return envelope.from_file(contour, np.concatenate([n.f0_hz for n in notes]))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train the DDSP decoder and export it to ONNX (see docs/NEURAL.md)."
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--patch", help="a built-in patch (mephisto list)")
    source.add_argument("--audio", type=Path, help="a monophonic WAV file; f0 estimated by YIN")
    parser.add_argument("--out", type=Path, help="MODEL.onnx; MODEL.json is written next to it")
    parser.add_argument(
        "--graph", type=Path, help="synthesis graph config JSON (default: harmonic + noise)"
    )
    parser.add_argument("--parity", type=Path, help="parity file (default: see docs/NEURAL.md)")
    parser.add_argument("--steps", type=int, default=3000, help="most optimiser steps")
    parser.add_argument("--seconds", type=float, default=240.0, help="most training seconds")
    parser.add_argument("--low", type=int, help="lowest MIDI note (default 48, bass 28)")
    parser.add_argument("--high", type=int, help="highest MIDI note (default low + 36)")
    parser.add_argument("--hold", type=float, default=1.5, help="seconds each note is held")
    parser.add_argument("--tail", type=float, default=1.0, help="seconds after note-off")
    parser.add_argument("--batch", type=int, default=1024, help="frames per step")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument(
        "--quiet-frames",
        type=float,
        default=0.0,
        help="fraction of each step's frames played 6 to 60 dB softer (default 0)",
    )
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (more only on idle cores)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--audio-steps",
        type=int,
        help="most steps of training through the rendered audio (default 400 when the graph "
        "has processor parameters, such as a reverb, else 0)",
    )
    parser.add_argument(
        "--audio-seconds", type=float, default=900.0, help="most seconds of audio training"
    )
    parser.add_argument("--audio-crops", type=int, default=4, help="crops per audio step")
    parser.add_argument(
        "--audio-crop-seconds",
        type=float,
        default=2.5,
        help="crop length (a rendered note, 2.5 s by default, is one crop)",
    )
    parser.add_argument("--audio-lr", type=float, default=3e-4, help="decoder rate, audio steps")
    parser.add_argument(
        "--processor-lr",
        type=float,
        default=1e-2,
        help="processor parameters' rate, audio steps (a reverb's IR, its gain and decay)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="CI check: tine_keys, 13 short notes, 1000 steps (at most 75 s), export, parity; "
        "fails unless the model beats the plain sine",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.patch = args.patch or "tine_keys"
        args.low, args.high = args.low or 48, args.high or 60
        args.hold, args.tail = 0.6, 0.4
        args.steps, args.seconds = min(args.steps, 1000), min(args.seconds, 75.0)
    if not (args.patch or args.audio):
        parser.error("give --patch NAME or --audio FILE.wav")
    if not args.out and not args.smoke:
        parser.error("--out MODEL.onnx is required")
    return args


def default_parity_path(out: Path) -> Path:
    """onnx/testdata/parity_MODEL.json for a shipped model, else next to the model."""
    directory = ONNX_DIR / "testdata" if out.resolve().parent == ONNX_DIR / "models" else out.parent
    return directory / f"parity_{out.stem}.json"


def load_notes(args) -> tuple:
    """(notes, f0_range_hz, trained_on, name)."""
    if args.patch:
        if args.low is None:
            args.low = 28 if archetype(args.patch) in LOW_REGISTER_ARCHETYPES else 48
        args.high = args.high if args.high is not None else args.low + 36
        notes = data.patch_notes(
            args.patch, args.low, args.high, args.hold, args.tail
        )
        f0_range = [data.midi_hz(args.low), data.midi_hz(args.high)]
        return notes, f0_range, f"patch {args.patch}", args.patch
    notes = data.audio_notes(args.audio)
    f0 = np.concatenate([n.f0_hz for n in notes])
    loudness = np.concatenate([n.loudness_db for n in notes])
    sounding = f0[loudness > loudness.max() - 30.0]
    f0_range = [float(np.percentile(sounding, 2)), float(np.percentile(sounding, 98))]
    return notes, f0_range, f"file {args.audio.name}", args.audio.stem


def sidecar_text(sidecar: dict) -> str:
    """The sidecar as indented JSON, each list of numbers on one line (a reverb's IR is
    thousands of them)."""
    text = json.dumps(sidecar, indent=2)
    numbers = re.compile(r"\[\s*(-?[\d.eE+-]+(?:,\s*-?[\d.eE+-]+)*)\s*\]")
    return numbers.sub(lambda m: "[" + ", ".join(re.split(r",\s*", m.group(1))) + "]", text) + "\n"


def build_model(args) -> Voice:
    """The model of --graph (default: the contract's graph); the plugin plays graphs whose
    decoder outputs are the contract's three."""
    try:
        model = Voice(load_config(args.graph) if args.graph else None, hidden=args.hidden)
    except ValueError as error:
        raise SystemExit(f"train.py: {args.graph}: {error}") from error
    if model.output_names != PLAYABLE_OUTPUTS:
        raise SystemExit(
            f"train.py: {args.graph}: the decoder would output {', '.join(model.output_names)}; "
            f"the plugin plays {', '.join(PLAYABLE_OUTPUTS)} (one harmonic and one "
            "filtered_noise node)"
        )
    return model


def run(args) -> int:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    began = time.monotonic()
    model = build_model(args)
    notes, f0_range, trained_on, name = load_notes(args)
    train_notes, test_notes = held_out(notes)
    print(
        f"{trained_on}: {len(train_notes)} training and {len(test_notes)} held-out notes "
        f"({sum(n.frames for n in notes) * HOP / SAMPLE_RATE:.1f} s) in "
        f"{time.monotonic() - began:.1f} s",
        flush=True,
    )

    training = train(model, train_notes, args)
    print(f"trained {training['steps']} steps in {training['seconds']} s", flush=True)
    if model.encoder is not None:
        model.z_mean.copy_(play_z(model, train_notes))
    audio_steps = args.audio_steps
    if audio_steps is None:
        audio_steps = AUDIO_STEPS if model.graph.has_trainable_processors() else 0
    if audio_steps > 0:
        mfccs = None
        if model.encoder is not None:
            mfccs = note_mfccs(train_notes, model.encoder.settings["mfccs"])
        audio = train_on_audio(
            model,
            train_notes,
            mfccs,
            {
                "steps": audio_steps,
                "seconds": args.audio_seconds,
                "crops": args.audio_crops,
                "crop_seconds": args.audio_crop_seconds,
                "lr": args.audio_lr,
                "processor_lr": args.processor_lr,
                "seed": args.seed,
            },
        )
        training.update({f"audio_{k}": v for k, v in audio.items()})
        print(f"trained {audio['steps']} audio steps in {audio['seconds']} s", flush=True)
        if model.encoder is not None:
            model.z_mean.copy_(play_z(model, train_notes))
    heldout_loss, sine_loss = resynthesis_losses(model, test_notes, args.seed)
    ratio = heldout_loss / sine_loss
    # The smoke run only has to show that the decoder learned something.
    limit = 1.0 if args.smoke else QUALITY_RATIO
    passed = ratio < limit if args.smoke else ratio <= limit
    print(
        f"held-out multi-scale loss {heldout_loss:.3f}, plain sine {sine_loss:.3f}, "
        f"ratio {ratio:.3f} ({'pass' if passed else 'FAIL'}: needs "
        f"{'<' if args.smoke else '<='} {limit})",
        flush=True,
    )
    quality = {
        "heldout_loss": round(heldout_loss, 4),
        "sine_loss": round(sine_loss, 4),
        "ratio": round(ratio, 4),
    }
    if model.encoder is not None:
        encoded_loss, _ = resynthesis_losses(model, test_notes, args.seed, encoded=True)
        quality["heldout_loss_encoded"] = round(encoded_loss, 4)
        quality["ratio_encoded"] = round(encoded_loss / sine_loss, 4)
        print(
            f"with each held-out note's own z: loss {encoded_loss:.3f}, "
            f"ratio {encoded_loss / sine_loss:.3f}",
            flush=True,
        )

    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / f"{name}.onnx"
        out.parent.mkdir(parents=True, exist_ok=True)
        export.export(model, out)
        onnx_diff = export.check(model, out)
        sidecar = {
            "version": SIDECAR_VERSION_WITH_Z if model.encoder is not None else SIDECAR_VERSION,
            "name": name,
            "trained_on": trained_on,
            "sample_rate": SAMPLE_RATE,
            "hop": HOP,
            "harmonics": HARMONICS,
            "noise_bands": NOISE_BANDS,
            "f0_range_hz": [round(f, 2) for f in f0_range],
            "loudness": loudness_envelope(notes),
            "quality": quality,
            "training": {
                **training,
                "notes": len(train_notes),
                "heldout_notes": len(test_notes),
                "parameters_kb": round(state_size_bytes(model.decoder) / 1024, 1),
                "processor_parameters": sum(p.numel() for p in model.graph.parameters()),
                "encoder_parameters": sum(
                    p.numel() for p in (model.encoder.parameters() if model.encoder else [])
                ),
            },
            "graph": model.describe(),
        }
        out.with_suffix(".json").write_text(sidecar_text(sidecar))
        parity_path = args.parity or (
            Path(tmp) / "parity.json" if args.smoke else default_parity_path(out)
        )
        parity.write_parity(model, out.name, parity_path)
        replay = parity.check_parity(parity_path, out)
        print(
            f"wrote {out} ({out.stat().st_size / 1024:.0f} KB) and "
            f"{out.with_suffix('.json').name} "
            f"({out.with_suffix('.json').stat().st_size / 1024:.0f} KB); "
            f"onnxruntime vs torch {onnx_diff:.1e}; parity {parity_path.name}: "
            f"decoder {replay['decoder_max_diff']:.1e}, synth {replay['synth_max_diff']:.1e}",
            flush=True,
        )
    print(f"total {time.monotonic() - began:.1f} s", flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(run(parse_args()))
