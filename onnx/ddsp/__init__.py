"""The DDSP decoder of Mephisto's neural voice: model, synthesis graph (processors), timbre
encoder, synthesiser, loss and training data.

See docs/NEURAL.md for the contract these modules share with the plugin (plugin/src/neural/).
"""

SAMPLE_RATE = 16_000
"""The model's sample rate: training audio is rendered or resampled to it."""
HOP = 320
"""Samples per frame (20 ms at 16 kHz); frame i sits at sample i * HOP."""
HARMONICS = 60
NOISE_BANDS = 65
LOUDNESS_WINDOW = 1024
"""Samples of the (rectangular) window centred on a frame whose RMS is its loudness."""
FLOOR_DB = -100.0
"""Loudness of silence: inputs are clamped to [FLOOR_DB, 0] dBFS."""
