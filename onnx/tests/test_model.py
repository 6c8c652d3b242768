"""The model built from a graph config: MFCCs, the encoder, the exported decoder's inputs and
outputs, and the sidecar description."""

import json
import math
import sys
import tempfile
import types
import unittest
from pathlib import Path

import numpy as np
import onnx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import export  # noqa: E402
from ddsp import HOP, SAMPLE_RATE  # noqa: E402
from ddsp.graph import DEFAULT_CONFIG, load_config  # noqa: E402
from ddsp.mfcc import dct_matrix, mel_filterbank, mfcc  # noqa: E402
from ddsp.model import Voice  # noqa: E402
import train  # noqa: E402

GRAPHS = Path(__file__).resolve().parents[1] / "graphs"
DEFAULT_INITIALIZERS = 50430
"""Values in the default decoder's ONNX initializers: its 50,942 parameters less the 512 of
two LayerNorms that the exporter writes as constants instead."""


def tone(frames: int, f0: float, partials: int, level: float = 0.5) -> torch.Tensor:
    t = torch.arange(frames * HOP) / SAMPLE_RATE
    k = torch.arange(1, partials + 1)[:, None]
    wave = (torch.sin(2 * math.pi * f0 * k * t) / k).sum(0)
    return level * wave / wave.abs().max()


class Mfcc(unittest.TestCase):
    def test_building_blocks(self):
        bank = mel_filterbank()
        self.assertEqual(tuple(bank.shape), (513, 64))
        self.assertAlmostEqual(float(bank.max()), 1.0, places=2)
        dct = dct_matrix(64, 64).double()
        identity = torch.eye(64, dtype=torch.float64)
        torch.testing.assert_close(dct.T @ dct, identity, atol=1e-5, rtol=0)

    def test_timbre_not_level(self):
        # Partials up to 7.9 kHz: every mel band holds some of the tone (a band that holds only
        # rounding noise sinks to the log floor when the tone is quieter, as it should).
        bright, dull = tone(40, 220.0, 36), tone(40, 220.0, 1)
        coefficients = mfcc(bright)
        self.assertEqual(tuple(coefficients.shape), (40, 30))
        middle = slice(5, 35)
        quieter = mfcc(0.1 * bright)
        self.assertLess(float((coefficients - quieter)[middle].abs().max()), 0.05)
        self.assertGreater(float((coefficients - mfcc(dull))[middle].abs().mean()), 1.0)
        batched = mfcc(torch.stack([bright, dull]))
        torch.testing.assert_close(batched[0], coefficients)


class Models(unittest.TestCase):
    def export(self, model: Voice) -> tuple:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            export.export(model, path)
            difference = export.check(model, path)
            graph = onnx.load(str(path)).graph
        inputs = [i.name for i in graph.input]
        outputs = [o.name for o in graph.output]
        parameters = sum(math.prod(i.dims) for i in graph.initializer)
        return inputs, outputs, parameters, difference

    def test_the_default_model_exports_the_contract(self):
        torch.manual_seed(0)
        model = Voice()
        self.assertEqual(sum(p.numel() for p in model.parameters()), 50942)
        inputs, outputs, parameters, difference = self.export(model)
        self.assertEqual(inputs, ["f0_hz", "loudness_db"])
        self.assertEqual(outputs, ["amplitude", "harmonics", "noise"])
        self.assertEqual(parameters, DEFAULT_INITIALIZERS)
        self.assertLessEqual(difference, export.TOLERANCE)

    def test_a_reverb_stays_out_of_the_onnx_file_and_goes_to_the_sidecar(self):
        model = Voice(load_config(GRAPHS / "reverb.json"))
        inputs, outputs, parameters, _ = self.export(model)
        self.assertEqual(inputs, ["f0_hz", "loudness_db"])
        self.assertEqual(outputs, ["amplitude", "harmonics", "noise"])
        self.assertEqual(parameters, DEFAULT_INITIALIZERS)
        described = json.loads(json.dumps(model.describe()))
        room = described["nodes"][-1]
        self.assertEqual(room["kind"], "reverb")
        self.assertEqual(room["ir_sample_rate"], SAMPLE_RATE)
        self.assertEqual(len(room["ir"]), int(room["ir_seconds"] * SAMPLE_RATE))
        rebuilt = Voice(described)
        torch.testing.assert_close(
            rebuilt.graph.processors["room"].impulse_response(),
            model.graph.processors["room"].impulse_response(),
        )

    def test_an_encoder_adds_the_z_input_and_its_play_time_value(self):
        model = Voice(load_config(GRAPHS / "encoder.json"))
        self.assertEqual(model.encoder.z_dims, 16)
        model.z_mean.copy_(torch.linspace(-1, 1, 16))
        inputs, outputs, parameters, _ = self.export(model)
        self.assertEqual(inputs, ["f0_hz", "loudness_db", "z"])
        self.assertEqual(outputs, ["amplitude", "harmonics", "noise"])
        self.assertEqual(parameters, DEFAULT_INITIALIZERS + 16 * 128)  # z widens the first layer
        described = json.loads(json.dumps(model.describe()))
        self.assertEqual(described["encoder"]["kind"], "mfcc_gru")
        torch.testing.assert_close(torch.tensor(described["encoder"]["z_mean"]), model.z_mean)
        # Without z the model plays the stored z_mean.
        f0, loudness = torch.full((2, 3, 1), 220.0), torch.full((2, 3, 1), -20.0)
        with torch.no_grad():
            played = model(f0, loudness)
            given = model(f0, loudness, model.z_mean.expand(2, 3, 16))
        for a, b in zip(played, given):
            torch.testing.assert_close(a, b)
        rebuilt = Voice(described)
        torch.testing.assert_close(rebuilt.z_mean, model.z_mean)

    def test_the_encoder_gives_z_per_frame(self):
        for kind in ("mfcc_gru", "mfcc_mlp"):
            with self.subTest(kind):
                model = Voice({**DEFAULT_CONFIG, "encoder": {"kind": kind, "z_dims": 8}})
                coefficients = mfcc(torch.stack([tone(12, 220.0, 5), tone(12, 330.0, 9)]))
                model.encoder.fit_normalisation(coefficients)
                z = model.encoder(coefficients)
                self.assertEqual(tuple(z.shape), (2, 12, 8))

    def test_quiet_frames_are_played_softer_with_their_targets(self):
        frames = 50
        targets = types.SimpleNamespace(
            f0=np.full(frames, 220.0, dtype=np.float32),
            rms=np.full(frames, 0.1, dtype=np.float32),
            harmonics=np.ones((frames, 60), dtype=np.float32),
            noise=np.ones((frames, 65), dtype=np.float32),
        )
        model = Voice(DEFAULT_CONFIG)
        for quiet, low, high in ((0.0, -6.0, 2.0), (1.0, -60.0, -6.0)):
            with self.subTest(quiet=quiet):
                _, loudness, _, harmonics, _ = train.frame_batch(
                    model, targets, 2000, np.random.default_rng(1), quiet
                )
                level = loudness.flatten() + 20.0  # the original frames are at -20 dB
                self.assertGreaterEqual(level.min().item(), low - 1e-3)
                self.assertLessEqual(level.max().item(), high + 1e-3)
                self.assertLess(level.min().item(), low + 1.0)
                # The targets follow the level (the loudness adds 1e-7 to the RMS).
                gain = harmonics[0, :, 0]
                torch.testing.assert_close(20.0 * torch.log10(gain), level, atol=0.02, rtol=0)

    def test_a_fraction_of_the_frames_learns_the_mean_z(self):
        # Crops of 3 and 2 frames (the second padded to 3), 2 z dims.
        encoded = torch.arange(12, dtype=torch.float32).reshape(2, 3, 2)
        rows, columns = np.array([0, 0, 0, 1, 1]), np.array([0, 1, 2, 0, 1])
        mean = encoded[torch.from_numpy(rows), torch.from_numpy(columns)].mean(dim=0)
        z = torch.full((4000, 2), -1.0)
        out = train.with_mean_z(z, encoded, rows, columns, np.random.default_rng(0))
        replaced = (out == mean).all(dim=1).float().mean().item()
        kept = (out == z).all(dim=1).float().mean().item()
        self.assertAlmostEqual(replaced, train.MEAN_Z_FRACTION, delta=0.03)
        self.assertAlmostEqual(replaced + kept, 1.0, places=6)
        # The padding (crop 2's third frame: 10, 11) is not part of the mean.
        torch.testing.assert_close(mean, torch.tensor([4.0, 5.0]))


if __name__ == "__main__":
    unittest.main()
