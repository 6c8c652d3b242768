"""Parity data for the synthesis graph's processors (ddsp/processors.py): fixed inputs and the
PyTorch outputs, so the Rust side can test each processor (and a whole graph) within 1e-4.

    python onnx/parity.py --write-processors                      # writes the files below
    python onnx/parity.py --check onnx/testdata/processor_reverb.json

Files in onnx/testdata/ (arrays are nested lists; inputs are float32 values written with 7
significant digits, and every reference output is computed in float64 from those rounded
values; `--check` recomputes the outputs in float32 through the processors and compares):

* processor_harmonic.json: `controls` (raw -> scaled, both `normalize` settings) and `signal`
  (the harmonic synth at 48 kHz while harmonics cross Nyquist).
* processor_filtered_noise.json: `controls` (raw -> scaled), `filters` (each frame's 128-tap
  FIR) and `signal` (given white noise through those filters, at 16 kHz).
* processor_reverb.json: the IR, and the reverb of an input at 16 kHz and at 48 kHz (with the
  IR resampled for 48 kHz).
* processor_add.json: three inputs, their gains, the sum.
* processor_group.json: a whole graph (harmonic + noise -> add -> reverb) at 16 kHz from
  frame controls and the noise node's white noise: every node's output and the graph's.

Every file has `processor` (the kind, or "group"), `tolerance` and `node` (the node's config as
a sidecar stores it: settings with defaults, and a reverb's learned IR).
"""

import json
import math
from pathlib import Path

import numpy as np
import torch

from ddsp import HARMONICS, HOP, NOISE_BANDS, SAMPLE_RATE, synth
from ddsp.graph import ProcessorGroup
from ddsp.processors import KINDS, RenderContext

TESTDATA = Path(__file__).resolve().parent / "testdata"
TOLERANCE = 1e-4


def rounded(x) -> np.ndarray:
    """float32 values rounded to 7 significant digits, as they are written to the file."""
    flat = np.asarray(x, np.float32).ravel()
    return np.array([float(f"{v:.7g}") for v in flat]).reshape(np.shape(x))


def stored(x) -> list:
    """A reference output (float64) as it is written: 7 significant digits, nested lists."""
    flat = np.asarray(x, np.float64).ravel()
    return np.array([float(f"{v:.7g}") for v in flat]).reshape(np.shape(x)).tolist()


def t64(x) -> torch.Tensor:
    return torch.tensor(np.asarray(x, np.float64), dtype=torch.float64)


def t32(x) -> torch.Tensor:
    return torch.tensor(np.asarray(x, np.float64), dtype=torch.float32)


def processor(node: dict, sample_rate: int = SAMPLE_RATE):
    """The processor a stored node describes, with what it learned (a reverb's IR)."""
    kind = KINDS[node["kind"]]
    built = kind(node["name"], {k: v for k, v in node.items() if k in kind.defaults}, sample_rate)
    built.load_learned({k: v for k, v in node.items() if k in kind.learned_keys})
    return built


def harmonic_file(rng: np.random.Generator) -> dict:
    frames = 6
    raw_amplitude = rounded(np.linspace(-9.0, 4.0, frames)[:, None])
    raw_harmonics = rounded(3.0 * rng.standard_normal((frames, HARMONICS)))
    cases = []
    for normalize in ("softmax", "sum"):
        node = {"name": "harmonic", "kind": "harmonic", "inputs": [], "normalize": normalize}
        scaled = processor(node).get_controls(
            {"amplitude": t64(raw_amplitude), "harmonics": t64(raw_harmonics)}
        )
        cases.append(
            {
                "normalize": normalize,
                "raw": {"amplitude": raw_amplitude.tolist(), "harmonics": raw_harmonics.tolist()},
                "expected": {k: stored(v) for k, v in scaled.items()},
            }
        )
    rate, hop, samples = 48_000, 960, 4800
    f0 = rounded(np.linspace(300.0, 900.0, frames))
    amplitude = rounded(np.linspace(0.05, 0.4, frames))
    harmonics = rounded(torch.softmax(torch.tensor(raw_harmonics), dim=-1).numpy())
    output = synth.harmonic(
        t64(f0)[None, :, None],
        t64(amplitude)[None, :, None],
        t64(harmonics)[None],
        rate,
        hop,
        samples,
    )[0]
    return {
        "processor": "harmonic",
        "tolerance": TOLERANCE,
        "node": {"name": "harmonic", "kind": "harmonic", "inputs": [], "normalize": "softmax"},
        "controls": cases,
        "signal": {
            "sample_rate": rate,
            "hop": hop,
            "samples": samples,
            "f0_hz": f0.tolist(),
            "amplitude": amplitude.tolist(),
            "harmonics": harmonics.tolist(),
            "output": stored(output),
        },
    }


def noise_file(rng: np.random.Generator) -> dict:
    frames = 5
    node = {"name": "noise", "kind": "filtered_noise", "inputs": [], "initial_bias": -5.0}
    raw = rounded(2.0 * rng.standard_normal((frames, NOISE_BANDS)) + 3.0)
    noise = processor(node).get_controls({"noise": t64(raw)})["noise"]
    noise = rounded(noise.numpy())
    white = rounded(rng.uniform(-1.0, 1.0, frames * HOP))
    filters = synth.noise_filters(t64(noise)[None])[0]
    output = synth.filtered_noise(t64(noise)[None], HOP, frames * HOP, white=t64(white)[None])[0]
    return {
        "processor": "filtered_noise",
        "tolerance": TOLERANCE,
        "node": node,
        "controls": {"raw": raw.tolist(), "expected": noise.tolist()},
        "filters": stored(filters),
        "signal": {
            "sample_rate": SAMPLE_RATE,
            "hop": HOP,
            "samples": frames * HOP,
            "noise": noise.tolist(),
            "white": white.tolist(),
            "output": stored(output),
        },
    }


def reverb_node(seed: int) -> dict:
    """A short reverb (25 ms: 400 samples at 16 kHz) with dry and wet gains not 1."""
    node = {
        "name": "room",
        "kind": "reverb",
        "inputs": ["voice"],
        "ir_seconds": 0.025,
        "initial_decay_s": 0.02,
        "initial_level_db": -3.0,
        "dry": 0.7,
        "wet": 1.3,
        "seed": seed,
    }
    learned = processor(node).learned()
    learned["ir"] = rounded(learned["ir"]).tolist()
    return {**node, **learned}


def reverb_output(node: dict, audio: np.ndarray, rate: int) -> tuple:
    """(IR at rate, dry * x + wet * (ir * x)) in float64."""
    ir = synth.resample_impulse_response(t64(node["ir"]), node["ir_sample_rate"], rate)
    x = t64(audio)[None]
    return ir, (node["dry"] * x + node["wet"] * synth.convolve(x, ir))[0]


def reverb_file(rng: np.random.Generator) -> dict:
    node = reverb_node(seed=3)
    cases = {}
    for rate, samples in ((SAMPLE_RATE, 800), (48_000, 2400)):
        t = np.arange(samples) / rate
        # A decaying 440 Hz tone with a click: something for the room to smear.
        tone = np.exp(-t / 0.01) * np.sin(2 * math.pi * 440.0 * t)
        audio = rounded(tone + (np.arange(samples) == 17))
        ir, output = reverb_output(node, audio, rate)
        cases[str(rate)] = {
            "sample_rate": rate,
            "ir": stored(ir),
            "input": audio.tolist(),
            "output": stored(output),
        }
    return {"processor": "reverb", "tolerance": TOLERANCE, "node": node, "signals": cases}


def add_file(rng: np.random.Generator) -> dict:
    node = {"name": "mix", "kind": "add", "inputs": ["a", "b", "c"], "gains": [0.5, -1.25, 2.0]}
    inputs = [rounded(rng.standard_normal(64)) for _ in range(3)]
    output = sum(g * t64(x) for g, x in zip(node["gains"], inputs))
    return {
        "processor": "add",
        "tolerance": TOLERANCE,
        "node": node,
        "inputs": [x.tolist() for x in inputs],
        "output": stored(output),
    }


def group_file(rng: np.random.Generator) -> dict:
    frames, samples = 6, 1600
    config = {
        "nodes": [
            {"name": "harmonic", "kind": "harmonic", "inputs": []},
            {"name": "noise", "kind": "filtered_noise", "inputs": []},
            {"name": "voice", "kind": "add", "inputs": ["harmonic", "noise"]},
            reverb_node(seed=5),
        ],
        "output": "room",
    }
    f0 = rounded(np.linspace(220.0, 330.0, frames))
    amplitude = rounded(np.linspace(0.3, 0.1, frames))
    logits = torch.tensor(2.0 * rng.standard_normal((frames, HARMONICS)))
    harmonics = rounded(torch.softmax(logits, dim=-1).numpy())
    noise = rounded(rng.uniform(0.02, 0.2, (frames, NOISE_BANDS)))
    white = rounded(rng.uniform(-1.0, 1.0, frames * HOP))
    signals = render_group(config, f0, amplitude, harmonics, noise, white, samples, torch.float64)
    return {
        "processor": "group",
        "tolerance": TOLERANCE,
        "node": config,
        "sample_rate": SAMPLE_RATE,
        "hop": HOP,
        "samples": samples,
        "f0_hz": f0.tolist(),
        "controls": {
            "amplitude": amplitude.tolist(),
            "harmonics": harmonics.tolist(),
            "noise": noise.tolist(),
        },
        "white": {"noise": white.tolist()},
        "signals": {k: stored(v) for k, v in signals.items()},
        "output": stored(signals[config["output"]]),
    }


def render_group(config, f0, amplitude, harmonics, noise, white, samples, dtype) -> dict:
    """Every node's output of the graph `config` (a reverb with its stored IR) in dtype."""
    group = ProcessorGroup(config)
    tensor = t64 if dtype == torch.float64 else t32
    controls = {
        "amplitude": tensor(amplitude)[None, :, None],
        "harmonics": tensor(harmonics)[None],
        "noise": tensor(noise)[None],
    }
    context = RenderContext(
        tensor(f0)[None, :, None], SAMPLE_RATE, HOP, samples, white={"noise": tensor(white)[None]}
    )
    with torch.no_grad():
        _, signals = group.render(controls, context)
    return {k: v[0].numpy() for k, v in signals.items()}


WRITERS = {
    "harmonic": harmonic_file,
    "filtered_noise": noise_file,
    "reverb": reverb_file,
    "add": add_file,
    "group": group_file,
}


def write_all(directory: Path = TESTDATA) -> list:
    """Writes processor_KIND.json for every kind and the group; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, (kind, writer) in enumerate(WRITERS.items()):
        data = writer(np.random.default_rng(index))
        path = directory / f"processor_{kind}.json"
        path.write_text(json.dumps(data, separators=(",", ":")) + "\n")
        paths.append(path)
    return paths


def difference(a, b) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


def check(data: dict, path: Path) -> dict:
    """Recomputes a processor file's outputs in float32 through the processors; returns the
    largest differences and raises past the tolerance."""
    kind = data["processor"]
    diffs = {}
    with torch.no_grad():
        if kind == "harmonic":
            for case in data["controls"]:
                node = {**data["node"], "normalize": case["normalize"]}
                raw = {k: t32(v) for k, v in case["raw"].items()}
                got = processor(node).get_controls(raw)
                diffs[f"controls_{case['normalize']}"] = max(
                    difference(got[k], case["expected"][k]) for k in got
                )
            s = data["signal"]
            out = synth.harmonic(
                t32(s["f0_hz"])[None, :, None],
                t32(s["amplitude"])[None, :, None],
                t32(s["harmonics"])[None],
                s["sample_rate"],
                s["hop"],
                s["samples"],
            )[0]
            diffs["signal"] = difference(out, s["output"])
        elif kind == "filtered_noise":
            node = processor(data["node"])
            got = node.get_controls({"noise": t32(data["controls"]["raw"])})["noise"]
            diffs["controls"] = difference(got, data["controls"]["expected"])
            s = data["signal"]
            filters = synth.noise_filters(t32(s["noise"])[None])[0]
            diffs["filters"] = difference(filters, data["filters"])
            white = {"noise": t32(s["white"])[None]}
            context = RenderContext(None, s["sample_rate"], s["hop"], s["samples"], white=white)
            out = node.get_signal(context, {"noise": t32(s["noise"])[None]}, [])[0]
            diffs["signal"] = difference(out, s["output"])
        elif kind == "reverb":
            node = processor(data["node"])
            for rate, case in data["signals"].items():
                context = RenderContext(None, case["sample_rate"], 1, len(case["input"]))
                out = node.get_signal(context, {}, [t32(case["input"])[None]])[0]
                ir = node.impulse_response_at(case["sample_rate"])
                diffs[f"ir_{rate}"] = difference(ir, case["ir"])
                diffs[f"signal_{rate}"] = difference(out, case["output"])
        elif kind == "add":
            node = processor(data["node"])
            out = node.get_signal(None, {}, [t32(x) for x in data["inputs"]])
            diffs["signal"] = difference(out, data["output"])
        elif kind == "group":
            c = data["controls"]
            signals = render_group(
                data["node"],
                data["f0_hz"],
                c["amplitude"],
                c["harmonics"],
                c["noise"],
                data["white"]["noise"],
                data["samples"],
                torch.float32,
            )
            for name, want in data["signals"].items():
                diffs[name] = difference(signals[name], want)
            diffs["output"] = difference(signals[data["node"]["output"]], data["output"])
        else:
            raise ValueError(f"{path}: unknown processor {kind!r}")
    if max(diffs.values()) > data["tolerance"]:
        raise ValueError(f"{path}: parity fails: {diffs}")
    return diffs
