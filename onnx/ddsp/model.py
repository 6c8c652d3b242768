"""The model: a decoder network, the processor graph it drives and, optionally, a timbre
encoder.

* `Decoder` (the network): per-frame (f0 Hz, loudness dB[, z]) -> one raw output per control
  the graph reads. It is a plain MLP applied to each frame on its own, with no recurrent
  state, so the plugin can stream one frame for all voices (T = 1, B = voices) and get exactly
  the numbers an offline call gives. Callers feed raw f0 and loudness; the normalisation lives
  inside the model so the ONNX file is self-contained.
* `Voice` (what train.py trains): the decoder, the graph (ddsp/graph.py) and the encoder
  (ddsp/encoder.py) when the config has one. Its forward pass — decoder plus the processors'
  scaling — is what export.py writes to ONNX: the contract's outputs `amplitude` [B, T, 1],
  `harmonics` [B, T, 60] and `noise` [B, T, 65] for the default graph.
"""

import copy
import math

import torch
from torch import nn

from . import FLOOR_DB, SAMPLE_RATE
from .encoder import Encoder
from .graph import DEFAULT_CONFIG, GraphError, ProcessorGroup
from .processors import RenderContext
from .scaling import clamp_f0

INPUTS = ("f0_hz", "loudness_db")
Z_INPUT = "z"


class Decoder(nn.Module):
    """Maps f0_hz [B, T, 1], loudness_db [B, T, 1] (and z [B, T, z_dims] when z_dims > 0) to
    raw outputs {name: [B, T, size]} for `control_sizes` (in its order)."""

    def __init__(self, control_sizes: dict, hidden: int = 128, layers: int = 3, z_dims: int = 0):
        super().__init__()
        self.control_sizes = dict(control_sizes)
        self.z_dims = z_dims
        blocks = []
        width = 2 + 2 * len(self.pitch_octaves()) + z_dims
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.LeakyReLU(0.1)]
            width = hidden
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(hidden, sum(self.control_sizes.values()))

    @staticmethod
    def pitch_octaves() -> tuple:
        """Periods (in normalised pitch units) of the sinusoidal pitch features: they let a
        small MLP bend its harmonic distribution from note to note, not just along one slope."""
        return (0.5, 0.25)

    def features(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor) -> torch.Tensor:
        """Normalised inputs: MIDI pitch centred on C4 over two octaves, loudness mapped from
        [-100, 0] dB onto [-1, 1], and sin/cos of the pitch at a few scales."""
        f0 = clamp_f0(f0_hz)
        pitch = (12.0 * torch.log2(f0 / 440.0) + 69.0 - 60.0) / 24.0
        loudness = (torch.clamp(loudness_db, FLOOR_DB, 0.0) - FLOOR_DB / 2) / (-FLOOR_DB / 2)
        parts = [pitch, loudness]
        for period in self.pitch_octaves():
            angle = pitch * (2.0 * math.pi / period)
            parts += [torch.sin(angle), torch.cos(angle)]
        return torch.cat(parts, dim=-1)

    def forward(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor, z=None) -> dict:
        x = self.features(f0_hz, loudness_db)
        if self.z_dims:
            x = torch.cat([x, z], dim=-1)
        out = self.head(self.body(x))
        raw, start = {}, 0
        for name, size in self.control_sizes.items():
            raw[name] = out[..., start : start + size]
            start += size
        return raw


class Voice(nn.Module):
    """Decoder + processor graph (+ encoder), built from a graph config (None: the default
    graph). forward(f0_hz, loudness_db[, z]) returns the controls as a tuple in
    `output_names` order: the ONNX model."""

    def __init__(
        self, config: dict | None = None, hidden: int = 128, sample_rate: int = SAMPLE_RATE
    ):
        super().__init__()
        self.config = copy.deepcopy(DEFAULT_CONFIG if config is None else config)
        self.graph = ProcessorGroup(self.config, sample_rate)
        encoder_config = self.config.get("encoder")
        try:
            self.encoder = Encoder(encoder_config) if encoder_config is not None else None
        except ValueError as error:
            raise GraphError(str(error)) from error
        z_dims = self.encoder.z_dims if self.encoder else 0
        self.decoder = Decoder(self.graph.control_sizes(), hidden=hidden, z_dims=z_dims)
        # The z the plugin plays with (no audio to encode at play time): the training audio's
        # mean z over its audible frames, set by train.py.
        self.register_buffer("z_mean", torch.zeros(z_dims))
        if encoder_config is not None and "z_mean" in encoder_config:
            if len(encoder_config["z_mean"]) != z_dims:
                raise GraphError(f"encoder: `z_mean` needs {z_dims} values")
            self.z_mean.copy_(torch.tensor(encoder_config["z_mean"], dtype=torch.float32))

    @property
    def input_names(self) -> tuple:
        return INPUTS + ((Z_INPUT,) if self.encoder else ())

    @property
    def output_names(self) -> tuple:
        return tuple(self.graph.control_sizes())

    def controls(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor, z=None) -> dict:
        """Frame controls {name: [B, T, size]}; z defaults to the play-time z (z_mean)."""
        if self.encoder is not None and z is None:
            z = self.play_z(f0_hz.shape[0], f0_hz.shape[1])
        return self.graph.get_controls(self.decoder(f0_hz, loudness_db, z))

    def forward(self, f0_hz: torch.Tensor, loudness_db: torch.Tensor, z=None) -> tuple:
        controls = self.controls(f0_hz, loudness_db, z)
        return tuple(controls[name] for name in self.output_names)

    def play_z(self, batch: int, frames: int) -> torch.Tensor:
        """z_mean for every frame: [batch, frames, z_dims]."""
        return self.z_mean.expand(batch, frames, -1)

    def render(
        self,
        controls: dict,
        f0_hz: torch.Tensor,
        sample_rate: int,
        hop: int,
        samples: int,
        generator: torch.Generator | None = None,
        white: dict | None = None,
    ) -> torch.Tensor:
        """The graph's output audio [B, samples] for frame controls."""
        context = RenderContext(f0_hz, sample_rate, hop, samples, generator, white or {})
        return self.graph.render(controls, context)[0]

    def describe(self) -> dict:
        """The sidecar's "graph": the graph with its settings and learned values, and the
        encoder's settings and play-time z when there is one."""
        described = self.graph.describe()
        if self.encoder is not None:
            described["encoder"] = {
                **self.encoder.settings,
                "z_mean": [float(f"{v:.9g}") for v in self.z_mean.tolist()],
            }
        return described


def state_size_bytes(model: nn.Module) -> int:
    """Bytes of the model's float32 parameters: what the ONNX file mostly holds."""
    return sum(p.numel() for p in model.parameters()) * 4
