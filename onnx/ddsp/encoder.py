"""The timbre encoder (DDSP's autoencoder): per-frame MFCCs -> normalisation -> GRU (or a
per-frame MLP) -> z, a small vector per frame that the decoder reads beside pitch and
loudness. It lets a model learn a recording whose timbre varies at one pitch and loudness
without averaging the timbres into mud.

The encoder runs only in training: at play time there is no audio to encode, so the plugin
feeds the decoder a fixed z, the mean z of the training audio's audible frames, stored in the
sidecar (`graph.encoder.z_mean`); the decoder's ONNX model then has a third input `z`.

Config (the graph config's "encoder" object; every key optional):
    {"kind": "mfcc_gru" | "mfcc_mlp", "z_dims": 16, "mfccs": 30, "hidden": 64}
"""

import torch
from torch import nn

ENCODER_DEFAULTS = {"kind": "mfcc_gru", "z_dims": 16, "mfccs": 30, "hidden": 64}
ENCODER_KINDS = ("mfcc_gru", "mfcc_mlp")


def encoder_settings(config: dict) -> dict:
    """The encoder config with defaults filled in; ValueError names what is wrong."""
    if not isinstance(config, dict):
        raise ValueError(f"`encoder` must be an object, got {config!r}")
    unknown = sorted(set(config) - set(ENCODER_DEFAULTS) - {"z_mean"})
    if unknown:
        raise ValueError(
            f"encoder: unknown setting {unknown[0]!r} (known: {', '.join(ENCODER_DEFAULTS)})"
        )
    settings = {**ENCODER_DEFAULTS, **{k: v for k, v in config.items() if k != "z_mean"}}
    if settings["kind"] not in ENCODER_KINDS:
        raise ValueError(
            f"encoder: unknown kind {settings['kind']!r} (known: {', '.join(ENCODER_KINDS)})"
        )
    for key in ("z_dims", "mfccs", "hidden"):
        value = settings[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"encoder: `{key}` must be a positive integer, got {value!r}")
    return settings


class Encoder(nn.Module):
    """MFCCs [B, T, mfccs] -> z [B, T, z_dims]."""

    def __init__(self, config: dict):
        super().__init__()
        self.settings = encoder_settings(config)
        s = self.settings
        # Per-coefficient statistics of the training audio (fit_normalisation): MFCCs span
        # very different ranges, and fixed statistics keep each frame's z independent of the
        # rest of the batch.
        self.register_buffer("mean", torch.zeros(s["mfccs"]))
        self.register_buffer("std", torch.ones(s["mfccs"]))
        if s["kind"] == "mfcc_gru":
            self.rnn = nn.GRU(s["mfccs"], s["hidden"], batch_first=True)
        else:
            self.mlp = nn.Sequential(
                nn.Linear(s["mfccs"], s["hidden"]),
                nn.LayerNorm(s["hidden"]),
                nn.LeakyReLU(0.1),
            )
        self.out = nn.Linear(s["hidden"], s["z_dims"])

    @property
    def z_dims(self) -> int:
        return self.settings["z_dims"]

    def fit_normalisation(self, mfccs: torch.Tensor) -> None:
        """Sets the statistics from training frames [..., mfccs]."""
        flat = mfccs.reshape(-1, mfccs.shape[-1])
        self.mean.copy_(flat.mean(dim=0))
        self.std.copy_(flat.std(dim=0).clamp(min=1e-3))

    def forward(self, mfccs: torch.Tensor) -> torch.Tensor:
        x = (mfccs - self.mean) / self.std
        if self.settings["kind"] == "mfcc_gru":
            hidden, _ = self.rnn(x)
        else:
            hidden = self.mlp(x)
        return self.out(hidden)
