"""Exports a decoder to ONNX (opset 17, dynamic B and T) and checks onnxruntime against torch.

The plugin runs the decoder with onnxruntime through the `ort` crate, so the file this writes is
the model as far as the plugin is concerned: the check below runs it with the same runtime the
plugin loads and fails unless every output is within 1e-4 of PyTorch's, including the streaming
shape (T = 1, B = voices) the plugin uses.

What is exported is the decoder network and the graph's control scaling (ddsp/model.py: Voice):
inputs `f0_hz`, `loudness_db` (and `z` [B, T, z_dims] when the config has an encoder), one
output per control the graph reads. The processors' audio half (synthesis, reverb) is not in
the file: the plugin renders it from the sidecar's "graph".

    python onnx/export.py --out model.onnx [--seed N] [--graph CONFIG.json]
        # an untrained decoder, for plumbing tests
"""

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import onnxruntime
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ddsp.graph import load_config  # noqa: E402
from ddsp.model import Voice  # noqa: E402

OPSET = 17
TOLERANCE = 1e-4


def example_inputs(model: Voice, batch: int, frames: int, generator=None) -> dict:
    """Random inputs by name: f0 over 8 octaves from 30 Hz, loudness from -110 to +5 dB
    (beyond the clamp both ways) and, with an encoder, z around the play-time z."""
    inputs = {
        "f0_hz": 30.0 * 2.0 ** (8.0 * torch.rand(batch, frames, 1, generator=generator)),
        "loudness_db": -110.0 + 115.0 * torch.rand(batch, frames, 1, generator=generator),
    }
    if model.encoder is not None:
        spread = torch.randn(batch, frames, model.encoder.z_dims, generator=generator)
        inputs["z"] = model.z_mean + spread
    return inputs


def export(model: Voice, path: Path) -> None:
    """Writes the model to path with named inputs/outputs and dynamic batch and frame axes."""
    model.eval()
    inputs, outputs = model.input_names, model.output_names
    example = tuple(example_inputs(model, 2, 3, torch.Generator().manual_seed(0)).values())
    axes = {name: {0: "B", 1: "T"} for name in inputs + outputs}
    # The TorchScript exporter is chosen on purpose (opset 17 exactly, named dynamic axes, no
    # onnxscript dependency); torch 2.8 warns that 2.9 changes the default.
    warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
    torch.onnx.export(
        model,
        example,
        str(path),
        input_names=list(inputs),
        output_names=list(outputs),
        dynamic_axes=axes,
        opset_version=OPSET,
        dynamo=False,
    )


def check(model: Voice, path: Path, seed: int = 0) -> float:
    """Runs the ONNX file in onnxruntime (CPU) and torch on random inputs of several shapes,
    and once more frame by frame (T = 1); returns the largest difference and raises if it
    exceeds TOLERANCE."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs, outputs = model.input_names, model.output_names
    got_inputs = tuple(i.name for i in session.get_inputs())
    got_outputs = tuple(o.name for o in session.get_outputs())
    if got_inputs != inputs or got_outputs != outputs:
        raise ValueError(
            f"{path}: {got_inputs} -> {got_outputs} are not the model's {inputs} -> {outputs}"
        )
    generator = torch.Generator().manual_seed(seed)
    worst = 0.0
    for batch, frames in ((1, 1), (8, 1), (3, 50)):
        feed = example_inputs(model, batch, frames, generator)
        with torch.no_grad():
            expected = model(*feed.values())
        got = session.run(None, {k: v.numpy() for k, v in feed.items()})
        for name, e, g in zip(outputs, expected, got):
            if g.shape != tuple(e.shape):
                raise ValueError(f"{path}: {name} has shape {g.shape}, expected {tuple(e.shape)}")
            worst = max(worst, float(np.abs(e.numpy() - g).max()))
        # Streaming: every frame as its own voice (T = 1) must give the offline numbers.
        streamed = session.run(
            None, {k: v.reshape(-1, 1, v.shape[-1]).numpy() for k, v in feed.items()}
        )
        for name, offline, one in zip(outputs, got, streamed):
            worst = max(worst, float(np.abs(offline.reshape(one.shape) - one).max()))
    if worst > TOLERANCE:
        raise ValueError(f"{path}: onnxruntime differs from torch by {worst:.2e} > {TOLERANCE}")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--graph", type=Path, help="graph config JSON (default: the contract's)")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    try:
        model = Voice(load_config(args.graph) if args.graph else None)
    except ValueError as error:
        raise SystemExit(f"export.py: {error}") from error
    export(model, args.out)
    print(f"wrote {args.out}; onnxruntime vs torch max |diff| {check(model, args.out):.2e}")


if __name__ == "__main__":
    main()
