"""Mephisto FX on recordings nobody here made, and the figures of docs/NEURAL.md §10-11.

Inputs: speech from espeak-ng (Debian), a real oboe from Debian's timgm6mb-soundfont (its
"Oboe" samples, looped as a sampler plays them), and two known-pitch inputs: sines and a
Faust voice (`mephisto render`) at known notes. Each goes through `mephisto transfer` (the
plugin's own audio-thread code, offline); the script measures how well the output's pitch
follows (YIN, onnx/ddsp/data.py), collects the latency and CPU figures the command prints,
and draws the spectrograms before and after, and the synthesis graph of nylon_pluck.

    bash scripts/fx_demo.sh            # installs what it needs, then runs this

Writes docs/img/fx-*.png and docs/img/graph-nylon_pluck.png, prints Markdown tables, and
keeps the audio in the work folder (default /tmp/mephisto-fx-demo).
"""

import argparse
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "onnx"))

from ddsp.data import resample, yin_f0  # noqa: E402
from ddsp import SAMPLE_RATE as MODEL_RATE, HOP as MODEL_HOP  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
RATE = 44_100
IMG = ROOT / "docs" / "img"


def sf2_sample(name: str) -> dict:
    """A sample of the SoundFont: its audio, rate, recorded pitch and sustain loop."""
    data = SOUNDFONT.read_bytes()

    def chunks(start, end):
        while start + 8 <= end:
            size = struct.unpack_from("<I", data, start + 4)[0]
            yield data[start : start + 4], start + 8, size
            start += 8 + size + (size & 1)

    lists = {data[s : s + 4]: (s + 4, s + n) for c, s, n in chunks(12, len(data)) if c == b"LIST"}
    smpl = next(s for c, s, _ in chunks(*lists[b"sdta"]) if c == b"smpl")
    shdr, size = next((s, n) for c, s, n in chunks(*lists[b"pdta"]) if c == b"shdr")
    for at in range(shdr, shdr + size, 46):
        if data[at : at + 20].split(b"\0")[0].decode("latin1") != name:
            continue
        start, end, loop_start, loop_end, rate = struct.unpack_from("<5I", data, at + 20)
        key = data[at + 40] + struct.unpack_from("<b", data, at + 41)[0] / 100
        audio = np.frombuffer(data, "<i2", end - start, smpl + 2 * start) / 32768.0
        return {"audio": audio, "rate": rate, "hz": 440 * 2 ** ((key - 69) / 12),
                "loop": (loop_start - start, loop_end - start)}
    raise SystemExit(f"no sample {name!r} in {SOUNDFONT}")


def held(sample: dict, seconds: float) -> np.ndarray:
    """The sample held for `seconds` at RATE: through the loop's end, then the loop again."""
    a, b = sample["loop"]
    positions = np.arange(int(seconds * RATE)) * sample["rate"] / RATE
    late = positions >= b
    positions[late] = a + (positions[late] - a) % max(b - a, 1)
    return np.interp(positions, np.arange(len(sample["audio"])), sample["audio"])


def mephisto() -> Path:
    binary = ROOT / "target" / "release" / "mephisto"
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "mephisto-cli", "--bin", "mephisto"],
                   cwd=ROOT, check=True)
    return binary


def transfer(binary: Path, source: Path, patch: str, out: Path, *extra: str) -> dict:
    """Runs `mephisto transfer`; returns the figures it prints."""
    text = subprocess.run([str(binary), "transfer", "--input", str(source), "--patch", patch,
                           "--out", str(out), *extra], check=True, capture_output=True,
                          text=True).stdout
    figures = {"text": text.strip()}
    for line in text.splitlines():
        if line.startswith("per 512-sample block"):
            numbers = [float(w) for w in line.replace("(", " ").split() if _is_number(w)]
            figures["audio_us"], figures["audio_pct"] = numbers[0], numbers[1]
            figures["decoder_us"], figures["decoder_pct"] = numbers[2], numbers[3]
        if line.startswith("latency"):
            figures["latency"] = line
    return figures


def _is_number(word: str) -> bool:
    try:
        float(word)
        return True
    except ValueError:
        return False


def mono(path: Path) -> np.ndarray:
    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    assert rate == RATE, f"{path}: {rate} Hz"
    return audio.mean(axis=1)


def f0(audio: np.ndarray) -> np.ndarray:
    """Voiced f0 every model hop (20 ms), NaN where YIN finds none or it is near-silent."""
    at_model = resample(audio, RATE, MODEL_RATE)
    frames = len(at_model) // MODEL_HOP
    rms = np.array([np.sqrt(np.mean(at_model[i * MODEL_HOP:(i + 1) * MODEL_HOP] ** 2) + 1e-12)
                    for i in range(frames)])
    audible = 20 * np.log10(rms) > 20 * np.log10(rms.max()) - 35
    return yin_f0(at_model, audible, lo_hz=50, hi_hz=2000, fill=False)


def cents(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    both = ~np.isnan(a) & ~np.isnan(b)
    return np.abs(1200 * np.log2(a[both] / b[both]))


def folded(errors: np.ndarray) -> np.ndarray:
    """|cents| to the nearest octave of the target: a patch with a sub-octave oscillator
    (saw_lead, warm_pad) has its period an octave below the note it plays."""
    rest = np.mod(errors, 1200)
    return np.minimum(rest, 1200 - rest)


def spectrograms(rows: list, path: Path, title: str) -> None:
    """One spectrogram per (label, audio) row, 0-8 kHz, dB, with the input's tracked f0."""
    fig, axes = plt.subplots(len(rows), 1, figsize=(9, 2.1 * len(rows)), sharex=True)
    for ax, (label, audio) in zip(np.atleast_1d(axes), rows):
        size, hop = 2048, 256
        frames = 1 + (len(audio) - size) // hop
        window = np.hanning(size)
        spectrum = np.abs(np.fft.rfft(np.stack([audio[i * hop:i * hop + size] * window
                                                for i in range(frames)]), axis=1))
        db = 20 * np.log10(spectrum.T + 1e-7)
        top = int(8000 / (RATE / size))
        ax.imshow(db[:top], origin="lower", aspect="auto", cmap="magma",
                  vmin=db.max() - 80, vmax=db.max(),
                  extent=[0, frames * hop / RATE, 0, top * RATE / size / 1000])
        ax.set_ylabel("kHz")
        ax.set_title(label, fontsize=9, loc="left")
    np.atleast_1d(axes)[-1].set_xlabel("seconds")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def graph_figure(sidecar: Path, path: Path) -> None:
    """nylon_pluck's synthesis graph (boxes and audio edges) beside its learned room."""
    graph = json.loads(sidecar.read_text())["graph"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1.25, 1]})
    place = {"harmonic": (0.14, 0.72), "noise": (0.14, 0.28), "voice": (0.52, 0.5), "room": (0.86, 0.5)}
    detail = {"harmonic": "amplitude + 60 harmonics\nper voice", "noise": "65 noise bands\nper voice",
              "voice": "gains 1, 1\non the voices' sums", "room": "learned IR, 1.5 s\ndry 1, wet 1 × room"}
    for node in graph["nodes"]:
        x, y = place[node["name"]]
        source = node["kind"] in ("harmonic", "filtered_noise")
        left.add_patch(FancyBboxPatch((x - 0.14, y - 0.12), 0.28, 0.24, boxstyle="round,pad=0.01",
                                      fc="#f2e6d9" if source else "#d9e6f2", ec="black"))
        left.text(x, y, f"{node['name']} ({node['kind']})\n{detail[node['name']]}", ha="center",
                  va="center", fontsize=7.5)
        for input_name in node.get("inputs", []):
            sx, sy = place[input_name]
            left.annotate("", xy=(x - 0.14, y), xytext=(sx + 0.14, sy),
                          arrowprops={"arrowstyle": "->"})
    left.annotate("out", xy=(1.08, 0.5), xytext=(1.0, 0.5), arrowprops={"arrowstyle": "->"},
                  va="center")
    left.text(0.14, 0.02, "controls from the decoder (ONNX): f0, loudness → …", ha="center",
              fontsize=7.5)
    left.set_xlim(-0.02, 1.1)
    left.set_ylim(0, 1)
    left.axis("off")
    left.set_title("nylon_pluck's graph (sidecar \"graph\")", fontsize=9)
    room = next(n for n in graph["nodes"] if n["kind"] == "reverb")
    ir = np.array(room["ir"])
    t = np.arange(len(ir)) / room["ir_sample_rate"]
    right.plot(t, 20 * np.log10(np.abs(ir) + 1e-9), lw=0.3, color="#345")
    right.set_ylim(-160, -20)
    right.set_xlabel("seconds")
    right.set_ylabel("|ir| dB")
    right.set_title("the learned room (16 kHz, 24,000 taps)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/mephisto-fx-demo"))
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    binary = mephisto()
    IMG.mkdir(parents=True, exist_ok=True)

    # Inputs nobody here made.
    speech = work / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "130", "-p", "40", "-w", str(work / "speech22.wav"),
                    "Mephisto turns any voice into an instrument."], check=True)
    audio, rate = soundfile.read(str(work / "speech22.wav"), dtype="float32")
    soundfile.write(str(speech), resample(audio, rate, RATE), RATE, subtype="FLOAT")
    notes = ["Oboe C#", "Oboe F#", "Oboe A#", "Oboe E5"]
    oboe_audio = []
    for name in notes:
        sample = sf2_sample(name)
        oboe_audio += [held(sample, 0.8), np.zeros(int(0.15 * RATE))]
    oboe = work / "oboe.wav"
    soundfile.write(str(oboe), np.concatenate(oboe_audio) * 0.8, RATE, subtype="FLOAT")
    # Known pitch: sines, and a Faust voice at known notes.
    known = [110.0, 220.0, 440.0, 880.0]
    t = np.arange(RATE) / RATE
    sine = work / "sine.wav"
    soundfile.write(str(sine), np.concatenate([np.concatenate([0.25 * np.sin(2 * np.pi * hz * t),
                                                               np.zeros(RATE // 4)]) for hz in known]),
                    RATE, subtype="FLOAT")
    strings = work / "strings.wav"
    subprocess.run([str(binary), "render", "--patch", "string_ensemble", "--notes",
                    "A2:1,A3:1@1.25,A4:1@2.5,A5:1@3.75", "--sr", str(RATE), "--seconds", "5.5",
                    "--out", str(strings)], check=True, capture_output=True)

    def expected(seconds_per_note: float, frames: int) -> np.ndarray:
        """The known pitch per 20 ms frame, held part only (NaN elsewhere)."""
        out = np.full(frames, np.nan)
        for i, hz in enumerate(known):
            start = int(i * seconds_per_note * 50)
            out[start + 10:start + 40] = hz
        return out

    print("## Pitch following against known pitch (median / 90th percentile |cents|, voiced frames)\n")
    print("| input | voice | median | 90 % | median, octaves folded | frames |\n"
          "| --- | --- | --- | --- | --- | --- |")
    cpu = {}
    for source, label in [(sine, "sines 110-880 Hz"), (strings, "string_ensemble A2-A5")]:
        for patch in ["tine_keys_neural", "nylon_pluck_neural", "tine_keys", "nylon_pluck", "saw_lead"]:
            out = work / f"{source.stem}-{patch}.wav"
            figures = transfer(binary, source, patch, out)
            cpu[patch] = figures
            got = f0(mono(out))
            want = expected(1.25, len(got))
            errors = cents(got, want)
            print(f"| {label} | {patch} | {np.median(errors):.1f} | {np.percentile(errors, 90):.1f} | "
                  f"{np.median(folded(errors)):.1f} | {len(errors)} |")

    print("\n## Real recordings: the output's pitch against the input's (|cents|)\n")
    print("| input | voice | median | 90 % | median, octaves folded | frames |\n"
          "| --- | --- | --- | --- | --- | --- |")
    rows = {}
    for source, label, patches in [
        (speech, "espeak-ng speech", ["tine_keys_neural", "nylon_pluck_neural", "saw_lead"]),
        (oboe, "timgm6mb oboe", ["tine_keys_neural", "nylon_pluck_neural", "warm_pad"]),
    ]:
        heard = mono(source)
        rows[source.stem] = [(f"{label} (input)", heard)]
        reference = f0(heard)
        for patch in patches:
            out = work / f"{source.stem}-{patch}.wav"
            transfer(binary, source, patch, out)
            voice = mono(out)
            errors = cents(f0(voice)[:len(reference)], reference[:len(f0(voice))])
            print(f"| {label} | {patch} | {np.median(errors):.1f} | {np.percentile(errors, 90):.1f} | "
                  f"{np.median(folded(errors)):.1f} | {len(errors)} |")
            rows[source.stem].append((f"→ {patch}", voice))
    spectrograms(rows["speech"], IMG / "fx-speech.png", "espeak-ng speech through Mephisto FX")
    spectrograms(rows["oboe"], IMG / "fx-oboe.png", "a recorded oboe (timgm6mb-soundfont) through Mephisto FX")

    print("\n## Latency and CPU (per 512-sample block at 44.1 kHz, this machine)\n")
    print(cpu["tine_keys_neural"]["latency"])
    print("\n| voice | audio thread µs | % of real time | decoder µs | % |\n| --- | --- | --- | --- | --- |")
    for patch, figures in cpu.items():
        print(f"| {patch} | {figures['audio_us']:.1f} | {figures['audio_pct']:.2f} | "
              f"{figures['decoder_us']:.1f} | {figures['decoder_pct']:.2f} |")
    graph_figure(ROOT / "onnx" / "models" / "nylon_pluck.json", IMG / "graph-nylon_pluck.png")
    print(f"\nwrote {IMG}/fx-speech.png, fx-oboe.png, graph-nylon_pluck.png; audio in {work}")


if __name__ == "__main__":
    main()
