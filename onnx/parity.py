"""Parity data for the Rust side: the decoder's outputs on fixed inputs and a reference rendering
of the harmonic synthesiser, so plugin/src/neural/ can test its ONNX run and its synth against
PyTorch (both within 1e-4).

train.py writes onnx/testdata/parity_MODEL.json next to each shipped model (write_parity).
Checking an existing file replays it through onnxruntime and the PyTorch synth:

    python onnx/parity.py --check onnx/testdata/parity_tine_keys.json

File layout (all arrays nested lists, float32 values written with 7 significant digits):
  model, tolerance,
  decoder: {f0_hz, loudness_db: [3, 8, 1]; amplitude [3, 8, 1], harmonics [3, 8, 60],
            noise [3, 8, 65]}; with an encoder also the input z [3, 8, z_dims]
  synth: {sample_rate 48000, hop 960, samples 12000 (0.25 s), f0_hz [13], amplitude [13],
          harmonics [13, 60], output [12000]} — the output computed in float64.

The processors of the synthesis graph have parity files of their own,
onnx/testdata/processor_*.json (processor_parity.py); --check replays either kind, and

    python onnx/parity.py --write-processors      # (re)writes onnx/testdata/processor_*.json
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import processor_parity  # noqa: E402
from ddsp import synth  # noqa: E402
from ddsp.model import Voice  # noqa: E402

TOLERANCE = 1e-4
SYNTH_RATE = 48_000
SYNTH_HOP = 960
SYNTH_FRAMES = 13
SYNTH_SAMPLES = 12_000


def rounded(x) -> np.ndarray:
    """float32 values rounded to 7 significant digits, as they are written to the file."""
    return np.array([float(f"{v:.7g}") for v in np.asarray(x, np.float32).ravel()]).reshape(
        np.shape(x)
    )


def decoder_inputs() -> tuple:
    """[3, 8, 1] f0 and loudness: three registers with glides, loudness from silence (and
    beyond the clamp, -120 dB and +5 dB) to loud."""
    t = np.arange(8, dtype=np.float32)
    f0 = np.stack([55.0 + 2.5 * t, 220.0 + 10.0 * t, 880.0 - 40.0 * t])[..., None]
    loudness = np.stack([-120.0 + 15.0 * t, np.full(8, -24.0), -50.0 + 7.5 * t + (t == 7) * 2.5])
    return f0.astype(np.float32), loudness[..., None].astype(np.float32)


def z_inputs(model: Voice) -> np.ndarray:
    """[3, 8, z_dims]: the play-time z moved by fixed steps from -1.5 to 1.5, a different one
    for every value."""
    dims = model.encoder.z_dims
    steps = np.linspace(-1.5, 1.5, 3 * 8 * dims).reshape(3, 8, dims)
    return (model.z_mean.numpy() + steps).astype(np.float32)


def synth_controls(model: Voice) -> tuple:
    """13 frames gliding 300 -> 520 Hz (so harmonics cross 24 kHz while it plays) with the
    model's own amplitude and harmonic distribution, rounded as stored."""
    t = np.arange(SYNTH_FRAMES, dtype=np.float32)
    f0 = (300.0 + 220.0 * t / (SYNTH_FRAMES - 1)).astype(np.float32)
    loudness = (-40.0 + 30.0 * np.sin(np.pi * t / (SYNTH_FRAMES - 1))).astype(np.float32)
    with torch.no_grad():
        controls = model.controls(
            torch.from_numpy(f0)[None, :, None], torch.from_numpy(loudness)[None, :, None]
        )
    amplitude, harmonics = controls["amplitude"], controls["harmonics"]
    return rounded(f0), rounded(amplitude[0, :, 0].numpy()), rounded(harmonics[0].numpy())


def reference_synth(f0, amplitude, harmonics, dtype=torch.float64) -> np.ndarray:
    """The harmonic synth at 48 kHz, hop 960, 12000 samples, in dtype."""
    out = synth.harmonic(
        torch.tensor(f0, dtype=dtype)[None, :, None],
        torch.tensor(amplitude, dtype=dtype)[None, :, None],
        torch.tensor(harmonics, dtype=dtype)[None],
        SYNTH_RATE,
        SYNTH_HOP,
        SYNTH_SAMPLES,
    )
    return out[0].numpy()


def write_parity(model: Voice, model_name: str, path: Path) -> None:
    """Writes the parity file for `model` (exported as `model_name`)."""
    model.eval()
    f0, loudness = decoder_inputs()
    inputs = {"f0_hz": rounded(f0), "loudness_db": rounded(loudness)}
    if model.encoder is not None:
        inputs["z"] = rounded(z_inputs(model))
    with torch.no_grad():
        outputs = model(*(torch.tensor(v, dtype=torch.float32) for v in inputs.values()))
    s_f0, s_amplitude, s_harmonics = synth_controls(model)
    data = {
        "model": model_name,
        "tolerance": TOLERANCE,
        "decoder": {
            **{name: value.tolist() for name, value in inputs.items()},
            **{
                name: rounded(value.numpy()).tolist()
                for name, value in zip(model.output_names, outputs)
            },
        },
        "synth": {
            "sample_rate": SYNTH_RATE,
            "hop": SYNTH_HOP,
            "samples": SYNTH_SAMPLES,
            "f0_hz": s_f0.tolist(),
            "amplitude": s_amplitude.tolist(),
            "harmonics": s_harmonics.tolist(),
            "output": rounded(reference_synth(s_f0, s_amplitude, s_harmonics)).tolist(),
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, separators=(",", ":")) + "\n")


def check_parity(path: Path, model_path: Path | None = None) -> dict:
    """Replays a parity file: the ONNX model in onnxruntime against the stored decoder outputs,
    and the float32 PyTorch synth against the float64 reference. Raises past the tolerance."""
    data = json.loads(path.read_text())
    if "processor" in data:
        return processor_parity.check(data, path)
    model_path = model_path or path.parent.parent / "models" / data["model"]
    session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    d = data["decoder"]
    feed = {i.name: np.array(d[i.name], np.float32) for i in session.get_inputs()}
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(None, feed)))
    decoder_diff = max(float(np.abs(got[k] - np.array(d[k])).max()) for k in got)
    s = data["synth"]
    ours = reference_synth(s["f0_hz"], s["amplitude"], s["harmonics"], dtype=torch.float32)
    synth_diff = float(np.abs(ours - np.array(s["output"])).max())
    result = {"decoder_max_diff": decoder_diff, "synth_max_diff": synth_diff}
    if decoder_diff > data["tolerance"] or synth_diff > data["tolerance"]:
        raise ValueError(f"{path}: parity fails: {result}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument(
        "--check", type=Path, help="a parity_MODEL.json or processor_KIND.json file"
    )
    action.add_argument(
        "--write-processors",
        type=Path,
        nargs="?",
        const=processor_parity.TESTDATA,
        metavar="DIR",
        help="write processor_*.json (default: onnx/testdata)",
    )
    parser.add_argument("--model", type=Path, help="the ONNX file (default: onnx/models/MODEL)")
    args = parser.parse_args()
    if args.write_processors:
        for path in processor_parity.write_all(args.write_processors):
            print(f"wrote {path}: {processor_parity.check(json.loads(path.read_text()), path)}")
        return
    print(f"{args.check}: {check_parity(args.check, args.model)}")


if __name__ == "__main__":
    main()
