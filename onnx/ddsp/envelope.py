"""Fits the sidecar's loudness envelope to training audio.

At play time the plugin has no audio to measure, so it drives the decoder with a loudness
contour made from note-on/off and velocity: linear-in-dB attack from the floor to the peak,
decay to peak + sustain_db, hold, release to the floor after note-off (docs/NEURAL.md). This
module finds the attack, decay, sustain and release that best reproduce the training audio:
the median contour of the rendered notes, or the notes found in a user's file.
"""

import numpy as np

from . import FLOOR_DB, HOP, LOUDNESS_WINDOW, SAMPLE_RATE

FRAME_S = HOP / SAMPLE_RATE
VELOCITY_0_RANGE_DB = 20.0
"""For a user's file, velocity_0_db sits this far below velocity_1_db: the level of a
velocity-0.1 note on a patch whose gain follows velocity linearly."""
RELEASE_SPAN_DB = 40.0
"""The release slope is measured over this first drop, before reverb tails and noise floors."""


def attack_s(contour_db: np.ndarray) -> float:
    """Time to come within 1 dB of the peak (contour relative to its peak, onset at frame 0).
    The 1024-sample window sees a sudden onset half a window early; that is taken off."""
    near = int(np.nonzero(contour_db >= -1.0)[0][0])
    return max(0.002, near * FRAME_S - 0.5 * LOUDNESS_WINDOW / SAMPLE_RATE)


def decay(contour_db: np.ndarray) -> tuple:
    """Least-squares (decay_s, sustain_db <= 0) of the held part from the peak on, modelled as
    sustain_db * min(1, t / decay_s) relative to the peak."""
    if len(contour_db) < 2:
        return FRAME_S, 0.0
    t = np.arange(len(contour_db)) * FRAME_S
    best = (np.inf, FRAME_S, 0.0)
    for decay_s in np.geomspace(FRAME_S, 30.0, 120):
        ramp = np.minimum(1.0, t / decay_s)
        # For a fixed decay time the best sustain level is a 1-D least-squares solution.
        sustain = (ramp * contour_db).sum() / max((ramp * ramp).sum(), 1e-12)
        sustain = float(np.clip(sustain, -90.0, 0.0))
        error = float(((contour_db - sustain * ramp) ** 2).sum())
        if error < best[0] - 1e-9:
            best = (error, float(decay_s), sustain)
    return best[1], best[2]


def release_s(after_db: np.ndarray) -> float:
    """Seconds a linear-in-dB release from after_db[0] would take to reach the floor, with the
    slope fitted to the first RELEASE_SPAN_DB of the drop (after_db: from note-off on, absolute
    dB). The whole stretch's length when it does not fall."""
    t = np.arange(len(after_db)) * FRAME_S
    ends = np.nonzero(after_db < after_db[0] - RELEASE_SPAN_DB)[0]
    stop = ends[0] if len(ends) else len(after_db)
    drop = after_db[:stop] - after_db[0]
    slope = float((t[:stop] * drop).sum() / max((t[:stop] ** 2).sum(), 1e-12))
    if slope >= 0:
        return float(len(after_db) * FRAME_S)
    return float((after_db[0] - FLOOR_DB) / -slope)


def sidecar(velocity_1_db: float, velocity_0_db: float, shape: dict) -> dict:
    """The sidecar's "loudness" object."""
    velocity_1_db = min(0.0, velocity_1_db)
    return {
        "velocity_1_db": round(velocity_1_db, 2),
        "velocity_0_db": round(min(velocity_0_db, velocity_1_db - 1.0), 2),
        **{k: round(v, 4 if k.endswith("_s") else 2) for k, v in shape.items()},
        "floor_db": FLOOR_DB,
    }


def velocity_levels(peaks_db: list, velocities: list) -> tuple:
    """(velocity_1_db, velocity_0_db): the straight line through the notes' peak levels
    against their velocities (at least two different ones), at velocity 1 and 0, as the
    plugin's contour interpolates."""
    slope, at_0 = np.polyfit(np.asarray(velocities, float), np.asarray(peaks_db, float), 1)
    return float(at_0 + slope), float(at_0)


def from_rendered(contours_db: list, note_off: int, velocities: list) -> dict:
    """The envelope of rendered notes that share one length and note-off frame, played at
    `velocities`: the shape fitted to their median contour relative to each note's peak, the
    levels to their peaks against velocity."""
    peaks = [float(c[:note_off].max()) for c in contours_db]
    relative = np.median(np.stack([c - p for c, p in zip(contours_db, peaks)]), axis=0)
    # Notes peaking at different times leave the median's own peak below 0 dB.
    relative -= relative[:note_off].max()
    peak = int(np.argmax(relative[:note_off]))
    decay_s, sustain_db = decay(relative[peak:note_off])
    shape = {
        "attack_s": attack_s(relative[:note_off]),
        "decay_s": decay_s,
        "sustain_db": sustain_db,
        "release_s": release_s(np.median(peaks) + relative[note_off:]),
    }
    return sidecar(*velocity_levels(peaks, velocities), shape)


def onsets(contour_db: np.ndarray, f0_hz: np.ndarray) -> list:
    """Note starts in a monophonic file: loudness jumps of 6 dB within two frames, or a pitch
    step of more than half a semitone that lasts, at least 100 ms apart, and not in silence."""
    semitones = 12.0 * np.log2(np.maximum(f0_hz, 1.0) / 440.0)
    audible = contour_db > contour_db.max() - 40.0
    starts = [int(np.nonzero(audible)[0][0])]
    for t in range(2, len(contour_db) - 3):
        if t - starts[-1] < 5 or not audible[t]:
            continue
        louder = contour_db[t] - contour_db[t - 2] > 6.0
        stepped = np.all(np.abs(semitones[t : t + 3] - semitones[t - 1]) > 0.5)
        if louder or stepped:
            starts.append(t)
    return starts


def from_file(contour_db: np.ndarray, f0_hz: np.ndarray) -> dict:
    """The envelope of a user's file: attack, decay and sustain from the notes found by
    `onsets` (each note ending where the next begins, their median contour over the shortest
    one's length), release from where the last note falls 20 dB below its peak."""
    starts = onsets(contour_db, f0_hz) + [len(contour_db)]
    notes = [contour_db[a:b] for a, b in zip(starts[:-1], starts[1:])]
    held = notes[:-1] or notes
    length = max(2, min(len(n) for n in held))
    relative = np.median(np.stack([n[:length] - n.max() for n in held if len(n) >= length]), axis=0)
    relative -= relative.max()
    peak = int(np.argmax(relative))
    decay_s, sustain_db = decay(relative[peak:])
    last = notes[-1]
    note_off = int(np.nonzero(last >= last.max() - 20.0)[0][-1])
    shape = {
        "attack_s": attack_s(relative),
        "decay_s": decay_s,
        "sustain_db": sustain_db,
        "release_s": release_s(last[note_off:]),
    }
    loudest = float(np.median([n.max() for n in notes]))
    # A file's median note stands for velocity 1.
    return sidecar(loudest, loudest - VELOCITY_0_RANGE_DB, shape)
