"""Each processor's scaling (raw network outputs -> valid controls) and signal."""

import math
import sys
import unittest
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ddsp import synth  # noqa: E402
from ddsp.processors import Add, FilteredNoise, Harmonic, RenderContext, Reverb  # noqa: E402
from ddsp.scaling import exp_sigmoid, remove_above_nyquist  # noqa: E402

RATE, HOP = 16000, 320


def context(frames: int, f0_hz: float = 220.0, rate: int = RATE, hop: int = HOP, **extra):
    f0 = torch.full((1, frames, 1), f0_hz, dtype=torch.float64)
    return RenderContext(f0, rate, hop, frames * hop, **extra)


def spectrum_peak_hz(audio: torch.Tensor, rate: int) -> float:
    magnitudes = torch.fft.rfft(audio * torch.hann_window(audio.shape[-1], dtype=audio.dtype))
    return float(torch.argmax(magnitudes.abs())) * rate / audio.shape[-1]


class Scaling(unittest.TestCase):
    def test_exp_sigmoid_is_ddsps(self):
        x = torch.tensor([-50.0, -5.0, 0.0, 5.0, 50.0], dtype=torch.float64)
        expected = 2.0 * torch.sigmoid(x) ** math.log(10.0) + 1e-7
        torch.testing.assert_close(exp_sigmoid(x), expected)
        at_0 = 2 * 0.5 ** math.log(10) + 1e-7
        self.assertAlmostEqual(float(exp_sigmoid(torch.tensor(0.0))), at_0, 6)
        self.assertAlmostEqual(float(exp_sigmoid(torch.tensor(-50.0))), 1e-7, 12)
        self.assertAlmostEqual(float(exp_sigmoid(torch.tensor(50.0))), 2.0, 6)
        self.assertTrue(bool((exp_sigmoid(x).diff() > 0).all()))

    def test_harmonics_above_nyquist_are_zeroed_and_the_rest_renormalised(self):
        distribution = torch.full((1, 1, 10), 0.1, dtype=torch.float64)
        f0 = torch.tensor([[[1000.0]]], dtype=torch.float64)
        weights = remove_above_nyquist(distribution, f0, 16000)
        # k * 1000 >= 8000 for k >= 8: harmonics 8..10 silent, 1..7 share the weight.
        torch.testing.assert_close(weights[0, 0, :7], torch.full((7,), 1 / 7, dtype=torch.float64))
        self.assertEqual(float(weights[0, 0, 7:].abs().sum()), 0.0)
        # Nothing audible: all zero, no division by zero.
        silent = remove_above_nyquist(distribution, torch.tensor([[[9000.0]]]), 16000)
        self.assertEqual(float(silent.abs().sum()), 0.0)


class HarmonicProcessor(unittest.TestCase):
    def test_controls_are_an_amplitude_and_a_distribution(self):
        raw = {"amplitude": torch.randn(2, 5, 1) * 5, "harmonics": torch.randn(2, 5, 60) * 5}
        for normalize in ("softmax", "sum"):
            with self.subTest(normalize):
                controls = Harmonic("h", {"normalize": normalize}, RATE).get_controls(raw)
                torch.testing.assert_close(controls["amplitude"], exp_sigmoid(raw["amplitude"]))
                harmonics = controls["harmonics"]
                self.assertTrue(bool((harmonics > 0).all()))
                torch.testing.assert_close(harmonics.sum(-1), torch.ones(2, 5))
        summed = Harmonic("h", {"normalize": "sum"}, RATE).get_controls(raw)["harmonics"]
        positive = exp_sigmoid(raw["harmonics"])
        torch.testing.assert_close(summed, positive / positive.sum(-1, keepdim=True))
        with self.assertRaises(ValueError):
            Harmonic("h", {"normalize": "max"}, RATE)

    def test_one_harmonic_is_a_sine_of_that_amplitude(self):
        frames = 50
        harmonics = torch.zeros(1, frames, 60, dtype=torch.float64)
        harmonics[..., 2] = 1.0  # harmonic 3 of 200 Hz
        amplitude = torch.full((1, frames, 1), 0.5, dtype=torch.float64)
        controls = {"amplitude": amplitude, "harmonics": harmonics}
        out = Harmonic("h", {}, RATE).get_signal(context(frames, 200.0), controls, [])[0]
        self.assertAlmostEqual(float(out.pow(2).mean().sqrt()), 0.5 / math.sqrt(2), 3)
        self.assertAlmostEqual(spectrum_peak_hz(out, RATE), 600.0, delta=RATE / out.shape[-1])

    def test_a_harmonic_above_the_render_nyquist_is_silent(self):
        frames = 20
        harmonics = torch.zeros(1, frames, 60, dtype=torch.float64)
        harmonics[..., 0] = 0.5
        harmonics[..., 1] = 0.5  # 2 * 5 kHz is above 8 kHz: its weight goes to harmonic 1
        amplitude = torch.ones(1, frames, 1, dtype=torch.float64)
        controls = {"amplitude": amplitude, "harmonics": harmonics}
        out = Harmonic("h", {}, RATE).get_signal(context(frames, 5000.0), controls, [])[0]
        self.assertAlmostEqual(float(out.pow(2).mean().sqrt()), 1 / math.sqrt(2), 3)
        # At 48 kHz the same frames keep both harmonics, each at half the amplitude.
        wide = Harmonic("h", {}, 48000).get_signal(
            context(frames, 5000.0, rate=48000, hop=960), controls, []
        )[0]
        self.assertAlmostEqual(float(wide.pow(2).mean().sqrt()), math.sqrt(2 * 0.25 / 2), 3)


class FilteredNoiseProcessor(unittest.TestCase):
    def test_controls_are_exp_sigmoid_with_the_bias(self):
        raw = torch.randn(1, 4, 65) * 4
        noise = FilteredNoise("n", {}, RATE).get_controls({"noise": raw})["noise"]
        torch.testing.assert_close(noise, exp_sigmoid(raw - 5.0))
        # The bias starts training from a clean tone: a raw 0 is a quiet band.
        quiet = FilteredNoise("n", {}, RATE).get_controls({"noise": torch.zeros(1)})["noise"]
        self.assertLess(float(quiet), 1e-3)
        unbiased = FilteredNoise("n", {"initial_bias": 0.0}, RATE)
        louder = unbiased.get_controls({"noise": raw})["noise"]
        torch.testing.assert_close(louder, exp_sigmoid(raw))

    def test_flat_bands_pass_the_white_noise_at_that_level(self):
        frames, level = 200, 0.3
        controls = {"noise": torch.full((1, frames, 65), level, dtype=torch.float64)}
        generator = torch.Generator().manual_seed(0)
        node = FilteredNoise("n", {}, RATE)
        out = node.get_signal(context(frames, generator=generator), controls, [])
        # Uniform [-1, 1] noise has variance 1/3.
        self.assertAlmostEqual(float(out.var()), level**2 / 3, delta=0.05 * level**2 / 3)

    def test_one_band_gives_noise_around_its_centre(self):
        frames = 100
        noise = torch.zeros(1, frames, 65, dtype=torch.float64)
        noise[..., 32] = 1.0  # centred on 32 * 125 Hz = 4 kHz
        out = FilteredNoise("n", {}, RATE).get_signal(context(frames), {"noise": noise}, [])[0]
        self.assertAlmostEqual(spectrum_peak_hz(out, RATE), 4000.0, delta=150.0)

    def test_given_white_noise_replaces_the_random_source(self):
        frames = 6
        white = torch.rand(1, frames * HOP, dtype=torch.float64) * 2 - 1
        controls = {"noise": torch.rand(1, frames, 65, dtype=torch.float64)}
        node = FilteredNoise("n", {}, RATE)
        a = node.get_signal(context(frames, white={"n": white}), controls, [])
        b = node.get_signal(context(frames, white={"n": white}), controls, [])
        torch.testing.assert_close(a, b)


class ReverbProcessor(unittest.TestCase):
    def test_the_initial_ir_decays_exponentially_at_the_set_level(self):
        settings = {"ir_seconds": 1.0, "initial_decay_s": 0.5, "initial_level_db": -12.0}
        reverb = Reverb("r", settings, RATE)
        ir = reverb.impulse_response().detach().double()
        self.assertEqual(ir.shape[0], RATE)
        self.assertEqual(float(ir[0]), 0.0)
        self.assertAlmostEqual(10 * math.log10(float(ir.pow(2).sum())), -12.0, places=4)
        # 60 dB per 0.5 s: the 100 ms around 0.45 s sit about 48 dB below those around 0.05 s.
        early = ir[int(0.0 * RATE) : int(0.1 * RATE)].pow(2).mean()
        late = ir[int(0.4 * RATE) : int(0.5 * RATE)].pow(2).mean()
        self.assertAlmostEqual(10 * math.log10(float(late / early)), -48.0, delta=3.0)

    def test_dry_plus_wet_convolution(self):
        reverb = Reverb("r", {"ir_seconds": 0.01, "dry": 0.5, "wet": 2.0}, RATE)
        ir = reverb.impulse_response().detach().double()
        impulse = torch.zeros(1, 400, dtype=torch.float64)
        impulse[0, 10] = 1.0
        ctx = RenderContext(None, RATE, 1, 400)
        out = reverb.get_signal(ctx, {}, [impulse])[0].detach()
        expected = torch.zeros(400, dtype=torch.float64)
        expected[10] = 0.5
        expected[10 : 10 + ir.shape[0]] += 2.0 * ir
        torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
        # Causal: nothing before the impulse.
        self.assertLess(float(out[:10].abs().max()), 1e-12)

    def test_the_ir_resampled_for_48_khz_keeps_its_response(self):
        reverb = Reverb("r", {"ir_seconds": 0.05, "initial_decay_s": 0.02}, RATE)
        ir = reverb.impulse_response().detach().double()
        wide = synth.resample_impulse_response(ir, RATE, 48000)
        self.assertEqual(wide.shape[0], 3 * ir.shape[0])
        # The same gain and phase at every frequency the 16 kHz IR's DFT samples (below Nyquist).
        bins = ir.shape[0] // 2
        torch.testing.assert_close(torch.fft.rfft(wide)[:bins], torch.fft.rfft(ir)[:bins])
        self.assertLess(float(torch.fft.rfft(wide)[bins + 1 :].abs().max()), 1e-9)
        # A 1 kHz tone comes out at the same level at either rate.
        levels = []
        for rate, response in ((RATE, ir), (48000, wide)):
            t = torch.arange(rate, dtype=torch.float64) / rate
            tone = torch.sin(2 * math.pi * 1000.0 * t)[None]
            steady = synth.convolve(tone, response)[0, rate // 2 :]
            levels.append(float(steady.pow(2).mean().sqrt()))
        self.assertAlmostEqual(levels[0], levels[1], delta=1e-3 * levels[0])

    def test_the_ir_its_level_and_its_decay_learn(self):
        reverb = Reverb("r", {"ir_seconds": 0.01}, RATE)
        self.assertEqual(sum(p.numel() for p in reverb.parameters()), 160 + 2)
        x = torch.randn(1, 800)
        reverb.get_signal(RenderContext(None, RATE, 1, 800), {}, [x]).pow(2).sum().backward()
        # The direct sound is the dry path's.
        self.assertEqual(float(reverb.ir_relative.grad[0]), 0.0)
        self.assertGreater(float(reverb.ir_relative.grad[1:].abs().sum()), 0.0)
        self.assertNotEqual(float(reverb.log_gain.grad), 0.0)
        self.assertNotEqual(float(reverb.log_t60.grad), 0.0)

    def test_a_loaded_ir_plays_exactly(self):
        reverb = Reverb("r", {"ir_seconds": 0.01}, RATE)
        stored = reverb.learned()
        stored["ir"] = [v * 3.0 for v in stored["ir"]]
        copy = Reverb("r", {"ir_seconds": 0.01}, RATE)
        copy.load_learned(stored)
        torch.testing.assert_close(
            copy.impulse_response(), torch.tensor(stored["ir"]), rtol=0, atol=0
        )
        # What a sidecar stores reads back to the same float32 values.
        self.assertEqual(Reverb("r", {"ir_seconds": 0.01}, RATE).learned(), reverb.learned())
        copy.load_learned(reverb.learned())
        self.assertEqual(copy.learned(), reverb.learned())
        with self.assertRaises(ValueError):
            copy.load_learned({**stored, "ir": stored["ir"][1:]})
        with self.assertRaises(ValueError):
            copy.load_learned({**stored, "ir_sample_rate": 48000})


class AddProcessor(unittest.TestCase):
    def test_sums_with_gains(self):
        a, b = torch.randn(1, 50), torch.randn(1, 50)
        torch.testing.assert_close(Add("m", {}, RATE).get_signal(None, {}, [a, b]), a + b)
        gained = Add("m", {"gains": [0.5, -2.0]}, RATE).get_signal(None, {}, [a, b])
        torch.testing.assert_close(gained, 0.5 * a - 2.0 * b)


if __name__ == "__main__":
    unittest.main()
