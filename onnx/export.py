"""Exports a decoder to ONNX (opset 17, dynamic B and T) and checks onnxruntime against torch.

The plugin runs the decoder with onnxruntime through the `ort` crate, so the file this writes is
the model as far as the plugin is concerned: the check below runs it with the same runtime the
plugin loads and fails unless every output is within 1e-4 of PyTorch's, including the streaming
shape (T = 1, B = voices) the plugin uses.

    python onnx/export.py --out model.onnx [--seed N]   # an untrained decoder, for plumbing tests
"""

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import onnxruntime
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ddsp.model import Decoder  # noqa: E402

OPSET = 17
INPUTS = ("f0_hz", "loudness_db")
OUTPUTS = ("amplitude", "harmonics", "noise")
TOLERANCE = 1e-4


def export(model: Decoder, path: Path) -> None:
    """Writes the model to path with named inputs/outputs and dynamic batch and frame axes."""
    model.eval()
    example = (torch.full((2, 3, 1), 220.0), torch.full((2, 3, 1), -20.0))
    axes = {name: {0: "B", 1: "T"} for name in INPUTS + OUTPUTS}
    # The TorchScript exporter is chosen on purpose (opset 17 exactly, named dynamic axes, no
    # onnxscript dependency); torch 2.8 warns that 2.9 changes the default.
    warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
    torch.onnx.export(
        model,
        example,
        str(path),
        input_names=list(INPUTS),
        output_names=list(OUTPUTS),
        dynamic_axes=axes,
        opset_version=OPSET,
        dynamo=False,
    )


def check(model: Decoder, path: Path, seed: int = 0) -> float:
    """Runs the ONNX file in onnxruntime (CPU) and torch on random inputs of several shapes,
    and once more frame by frame (T = 1); returns the largest difference and raises if it
    exceeds TOLERANCE."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    if tuple(i.name for i in session.get_inputs()) != INPUTS or tuple(names) != OUTPUTS:
        raise ValueError(f"{path}: inputs/outputs are not {INPUTS} -> {OUTPUTS}")
    generator = torch.Generator().manual_seed(seed)
    worst = 0.0
    for batch, frames in ((1, 1), (8, 1), (3, 50)):
        f0 = 30.0 * 2.0 ** (8.0 * torch.rand(batch, frames, 1, generator=generator))
        loudness = -110.0 + 115.0 * torch.rand(batch, frames, 1, generator=generator)
        with torch.no_grad():
            expected = model(f0, loudness)
        got = session.run(None, {"f0_hz": f0.numpy(), "loudness_db": loudness.numpy()})
        for name, e, g in zip(OUTPUTS, expected, got):
            if g.shape != tuple(e.shape):
                raise ValueError(f"{path}: {name} has shape {g.shape}, expected {tuple(e.shape)}")
            worst = max(worst, float(np.abs(e.numpy() - g).max()))
        # Streaming: every frame as its own voice (T = 1) must give the offline numbers.
        streamed = session.run(
            None,
            {
                "f0_hz": f0.reshape(-1, 1, 1).numpy(),
                "loudness_db": loudness.reshape(-1, 1, 1).numpy(),
            },
        )
        for name, offline, one in zip(OUTPUTS, got, streamed):
            worst = max(worst, float(np.abs(offline.reshape(one.shape) - one).max()))
    if worst > TOLERANCE:
        raise ValueError(f"{path}: onnxruntime differs from torch by {worst:.2e} > {TOLERANCE}")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    model = Decoder()
    export(model, args.out)
    print(f"wrote {args.out}; onnxruntime vs torch max |diff| {check(model, args.out):.2e}")


if __name__ == "__main__":
    main()
