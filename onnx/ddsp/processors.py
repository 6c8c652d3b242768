"""Processors: the nodes of the synthesis graph (ddsp/graph.py builds the graph from a config).

A processor has two halves:

* `get_controls` turns the decoder's raw outputs into valid controls (DDSP's scaling,
  ddsp/scaling.py). This half is exported inside the ONNX model, so the plugin receives
  controls, never raw network outputs.
* `get_signal` turns controls, and other processors' audio, into audio. This half runs in
  PyTorch for training and checking, and in the plugin's Rust synthesiser at play time, so
  every formula here is one the Rust side must match (docs/NEURAL.md §10).

Each kind declares the raw decoder outputs it needs (`control_sizes`: name -> size; the names
are the ONNX outputs), how many audio inputs it takes, and its settings with their defaults.
"""

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from . import HARMONICS, NOISE_BANDS, synth
from .scaling import DISTRIBUTIONS, exp_sigmoid


@dataclass
class RenderContext:
    """What every processor renders with: the pitch and the output's rate and length."""

    f0_hz: torch.Tensor
    """[B, T, 1] frame f0 in Hz."""
    sample_rate: int
    hop: int
    """Samples per frame at sample_rate."""
    samples: int
    generator: torch.Generator | None = None
    white: dict = field(default_factory=dict)
    """Node name -> [B, T * hop] white noise to use instead of the generator's (parity data)."""


class Processor(nn.Module):
    """One node: `name` is its name in the graph, `settings` its config without name, kind and
    inputs (validated against `defaults`)."""

    kind = ""
    defaults: dict = {}
    """Settings and their default values; any other setting is an error."""
    control_sizes: dict = {}
    """Raw decoder output name -> size, for the controls this kind reads."""
    audio_inputs = (0, 0)
    """The least and most audio inputs (None: no limit)."""
    learned_keys: tuple = ()
    """What `learned` writes into the node's description (and `load_learned` reads back)."""

    def __init__(self, name: str, settings: dict, sample_rate: int):
        super().__init__()
        self.name = name
        self.sample_rate = sample_rate
        """The model's rate: the rate learned parameters (a reverb's IR) are sampled at."""
        for key, value in settings.items():
            self.check_setting(key, value)
        self.settings = {**self.defaults, **settings}

    def check_setting(self, key: str, value) -> None:
        """A setting must have its default's type (an int does for a float, and a float must
        be finite); a setting whose default is None is checked by `check_inputs`."""
        default = self.defaults[key]
        if default is None:
            return
        allowed = (int, float) if isinstance(default, float) else type(default)
        if isinstance(value, bool) or not isinstance(value, allowed):
            raise ValueError(f"`{key}` must be a {type(default).__name__}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"`{key}` must be finite, got {value!r}")

    def check_inputs(self, inputs: list) -> None:
        """Raises ValueError when settings do not fit the audio inputs (names of nodes)."""

    def get_controls(self, raw: dict) -> dict:
        """Raw decoder outputs (this kind's `control_sizes` keys) -> controls."""
        return {}

    def get_signal(self, context: RenderContext, controls: dict, audio: list) -> torch.Tensor:
        """Controls (all of the graph's) and this node's audio inputs -> audio [B, samples]."""
        raise NotImplementedError

    def learned(self) -> dict:
        """What the runtime needs beyond the ONNX model and the settings (JSON-ready)."""
        return {}

    def load_learned(self, values: dict) -> None:
        """Takes back what `learned` wrote (a sidecar's graph); ValueError when it does not fit."""


class Harmonic(Processor):
    """A sum of harmonics 1..60 of f0 (ddsp/synth.py: harmonic). Controls: `amplitude` [1],
    through exp_sigmoid, and `harmonics` [60], a distribution (softmax, or DDSP's exp_sigmoid
    divided by its sum). Harmonics at or above the render rate's Nyquist are zeroed and the
    rest renormalised by the synthesiser, sample by sample."""

    kind = "harmonic"
    defaults = {"normalize": "softmax"}
    control_sizes = {"amplitude": 1, "harmonics": HARMONICS}

    def __init__(self, name: str, settings: dict, sample_rate: int):
        super().__init__(name, settings, sample_rate)
        if self.settings["normalize"] not in DISTRIBUTIONS:
            raise ValueError(
                f"`normalize` is {self.settings['normalize']!r}; "
                f"use one of {', '.join(sorted(DISTRIBUTIONS))}"
            )

    def get_controls(self, raw: dict) -> dict:
        normalize = DISTRIBUTIONS[self.settings["normalize"]]
        return {
            "amplitude": exp_sigmoid(raw["amplitude"]),
            "harmonics": normalize(raw["harmonics"]),
        }

    def get_signal(self, context: RenderContext, controls: dict, audio: list) -> torch.Tensor:
        return synth.harmonic(
            context.f0_hz,
            controls["amplitude"],
            controls["harmonics"],
            context.sample_rate,
            context.hop,
            context.samples,
        )


class FilteredNoise(Processor):
    """White noise through a linear-phase FIR per frame (ddsp/synth.py: filtered_noise).
    Control: `noise` [65] band magnitudes, exp_sigmoid of (raw + initial_bias); the bias
    starts training from a clean tone."""

    kind = "filtered_noise"
    defaults = {"initial_bias": -5.0}
    control_sizes = {"noise": NOISE_BANDS}

    def get_controls(self, raw: dict) -> dict:
        return {"noise": exp_sigmoid(raw["noise"] + self.settings["initial_bias"])}

    def get_signal(self, context: RenderContext, controls: dict, audio: list) -> torch.Tensor:
        return synth.filtered_noise(
            controls["noise"],
            context.hop,
            context.samples,
            context.generator,
            context.white.get(self.name),
        )


class Add(Processor):
    """The sum of its audio inputs, each times a fixed gain (`gains`, one per input; default
    all 1): the graph's mixer."""

    kind = "add"
    defaults = {"gains": None}
    audio_inputs = (1, None)

    def check_inputs(self, inputs: list) -> None:
        gains = self.settings["gains"]
        if gains is None:
            # Written out, so a sidecar says what the runtime multiplies by.
            self.settings["gains"] = [1.0] * len(inputs)
            return
        if not isinstance(gains, list) or not all(
            isinstance(g, (int, float)) and math.isfinite(g) for g in gains
        ):
            raise ValueError(f"`gains` must be a list of numbers, got {gains!r}")
        if len(gains) != len(inputs):
            raise ValueError(f"`gains` has {len(gains)} values for {len(inputs)} inputs")

    def get_signal(self, context: RenderContext, controls: dict, audio: list) -> torch.Tensor:
        gains = self.settings["gains"] or [1.0] * len(audio)
        total = 0.0
        for gain, signal in zip(gains, audio):
            total = total + gain * signal
        return total


class Reverb(Processor):
    """A learned room: y = dry * x + wet * (ir * x), the convolution of its one audio input x
    with a trainable impulse response of ir_seconds at the model rate.

    The IR is gain * 10^(max(-60 t / t60, -120) / 20) * ir_relative[t]: a trainable fine
    structure (ir_relative, one value per sample, starting as unit Gaussian noise) under an
    exponential decay whose gain and t60 (the time to fall 60 dB) are trainable too, starting
    at initial_level_db (the IR's energy relative to the direct sound) and initial_decay_s.
    Why not the raw samples alone: Adam moves every parameter by about the same step, so raw
    samples moved the quiet tail as fast as the loud start and filled it with noise (nylon_pluck
    at lr 1e-3: the training loss rose from 3.2 to 5.3 in 200 steps, held-out ratio 0.38 ->
    0.52), and samples scaled by a fixed envelope did not change the IR's level or decay in
    200 steps, because the spectral loss's gradient is noise-like sample by sample; the two
    scalars learn the level and decay within those steps (docs/NEURAL.md §10).
    ir[0] is held at 0: the direct sound is the dry path's, so the two cannot trade places.
    `dry` and `wet` are fixed gains, not trained: the IR's own level is the learned wet level,
    and the runtime may move `wet` (a Space control) without retraining.

    The sidecar stores the IR itself (`learned`), and a reverb rebuilt from it
    (`load_learned`) plays exactly that IR; it is not trained further."""

    kind = "reverb"
    defaults = {
        "ir_seconds": 1.0,
        "initial_decay_s": 1.0,
        "initial_level_db": -20.0,
        "dry": 1.0,
        "wet": 1.0,
        "seed": 0,
    }
    audio_inputs = (1, 1)
    learned_keys = ("ir_sample_rate", "ir")
    FLOOR_DB = -120.0
    """The decay stops here, so the tail's fine structure keeps a gradient to learn from."""

    def __init__(self, name: str, settings: dict, sample_rate: int):
        super().__init__(name, settings, sample_rate)
        s = self.settings
        length = int(round(s["ir_seconds"] * sample_rate))
        if length < 2:
            raise ValueError(f"`ir_seconds` {s['ir_seconds']} is shorter than two samples")
        if s["initial_decay_s"] <= 0:
            raise ValueError(f"`initial_decay_s` {s['initial_decay_s']} must be > 0")
        generator = torch.Generator().manual_seed(int(s["seed"]))
        noise = torch.randn(length, generator=generator, dtype=torch.float64)
        noise[0] = 0.0
        self.register_buffer("t", torch.arange(length, dtype=torch.float32) / sample_rate)
        self.ir_relative = nn.Parameter(noise.to(torch.float32))
        self.log_t60 = nn.Parameter(torch.tensor(math.log(s["initial_decay_s"])))
        self.log_gain = nn.Parameter(torch.tensor(0.0))
        self.loaded = None
        with torch.no_grad():
            energy = float(self.impulse_response().double().pow(2).sum())
            self.log_gain.fill_(0.5 * math.log(10.0 ** (s["initial_level_db"] / 10.0) / energy))

    def envelope(self) -> torch.Tensor:
        decay_db = torch.clamp(-60.0 * self.t / torch.exp(self.log_t60), min=self.FLOOR_DB)
        return torch.exp(self.log_gain + decay_db * (math.log(10.0) / 20.0))

    def impulse_response(self) -> torch.Tensor:
        """The IR as it is applied (ir[0] = 0), at the model rate."""
        if self.loaded is not None:
            return self.loaded
        ir = self.envelope() * self.ir_relative
        return torch.cat([ir.new_zeros(1), ir[1:]])

    def impulse_response_at(self, sample_rate: int) -> torch.Tensor:
        """The IR for a convolution at sample_rate (synth.resample_impulse_response)."""
        return synth.resample_impulse_response(
            self.impulse_response(), self.sample_rate, sample_rate
        )

    def get_signal(self, context: RenderContext, controls: dict, audio: list) -> torch.Tensor:
        (x,) = audio
        ir = self.impulse_response_at(context.sample_rate).to(x.dtype)
        return self.settings["dry"] * x + self.settings["wet"] * synth.convolve(x, ir)

    def learned(self) -> dict:
        ir = self.impulse_response().detach().numpy()
        # 9 significant digits: every float32 reads back exactly.
        return {"ir_sample_rate": self.sample_rate, "ir": [float(f"{v:.9g}") for v in ir]}

    def load_learned(self, values: dict) -> None:
        if not values:
            return
        rate, ir = values.get("ir_sample_rate"), values.get("ir")
        if rate != self.sample_rate:
            raise ValueError(f"`ir_sample_rate` is {rate}, the model's rate {self.sample_rate}")
        if not isinstance(ir, list) or len(ir) != self.t.shape[0]:
            raise ValueError(
                f"`ir` needs {self.t.shape[0]} values (ir_seconds "
                f"{self.settings['ir_seconds']} at {rate} Hz)"
            )
        self.loaded = torch.tensor(ir, dtype=torch.float32)


KINDS = {cls.kind: cls for cls in (Harmonic, FilteredNoise, Add, Reverb)}
"""The processors a graph config may name, by kind."""
