#!/usr/bin/env python3
"""Audition and check the Mephisto Faust patches through the C++ oracle harness.

Usage (from the repository root; needs faust, g++ and numpy):

  tests/oracle/audition.py check [PATCH ...]     full check: notes, macros, extremes
  tests/oracle/audition.py note PATCH [--freq F] [--hold S] [--len S] [--wav OUT.wav]
                                      [--set label=value ...] [--macro name=m ...]
  tests/oracle/audition.py params PATCH          list parameters and macro depths

Builds go to $MEPHISTO_AUDITION_DIR (default /tmp/mephisto-audition). Renders are at
48 kHz. The macro formula is the engine's: a parameter with `[macro:depth]` metadata is
moved to normalised position default_norm + depth * (m - 0.5) * 2 (log-normalised for
`[scale:log]`), clamped to [0, 1].
"""

import argparse
import json
import math
import os
import subprocess
import sys
import wave

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FAUST_DIR = os.path.join(ROOT, "faust")
PATCH_DIR = os.path.join(FAUST_DIR, "patches")
HARNESS = os.path.join(ROOT, "tests", "oracle", "harness.cpp")
BUILD = os.environ.get("MEPHISTO_AUDITION_DIR", "/tmp/mephisto-audition")
SR = 48000
MACROS = ["warm", "bright", "grit", "space", "motion", "punch"]
STANDARD = {"freq", "gain", "gate"}


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{r.stdout}{r.stderr}")
    return r


def patch_has_effect(name):
    src = open(os.path.join(PATCH_DIR, name + ".dsp")).read()
    return any(line.strip().startswith("effect") and "=" in line for line in src.splitlines())


def ui_items(tree):
    for item in tree:
        if "items" in item:
            yield from ui_items(item["items"])
        else:
            yield item


class Param:
    def __init__(self, item, target):
        self.label = item["label"]
        self.target = target
        self.kind = item["type"]
        self.init = float(item.get("init", 0.0))
        self.min = float(item.get("min", 0.0))
        self.max = float(item.get("max", 1.0))
        meta = {}
        for m in item.get("meta", []):
            meta.update(m)
        self.meta = meta
        self.log = meta.get("scale") == "log" and self.min > 0 and self.max > self.min
        self.macros = {k: float(v) for k, v in meta.items() if k in MACROS}

    def norm(self, v):
        if self.max <= self.min:
            return 0.0
        if self.log:
            n = math.log(max(v, self.min) / self.min) / math.log(self.max / self.min)
        else:
            n = (v - self.min) / (self.max - self.min)
        return min(1.0, max(0.0, n))

    def denorm(self, p):
        p = min(1.0, max(0.0, p))
        if self.log:
            return self.min * (self.max / self.min) ** p
        return self.min + p * (self.max - self.min)

    def macro_value(self, macro, m):
        depth = self.macros[macro]
        return self.denorm(self.norm(self.init) + depth * (m - 0.5) * 2.0)


class Patch:
    def __init__(self, name):
        self.name = name
        self.dir = os.path.join(BUILD, name)
        os.makedirs(self.dir, exist_ok=True)
        self.has_effect = patch_has_effect(name)
        self.build()

    def build(self):
        dsp = os.path.join(PATCH_DIR, self.name + ".dsp")
        inc = ["-I", FAUST_DIR]
        run(["faust", "-lang", "cpp", *inc, "-cn", "MephistoVoice", "-o",
             os.path.join(self.dir, "voice.h"), dsp])
        jdir = os.path.join(self.dir, "json_voice")
        os.makedirs(jdir, exist_ok=True)
        run(["faust", "-json", *inc, "-O", jdir, "-o", "voice_json.cpp", dsp])
        vj = json.load(open(os.path.join(jdir, self.name + ".dsp.json")))
        self.voice_outputs = vj["outputs"]
        self.params = [Param(i, "v") for i in ui_items(vj["ui"])]
        gxx = ["g++", "-O2", "-std=c++17", "-I" + self.dir]
        if self.has_effect:
            run(["faust", "-lang", "cpp", *inc, "-pn", "effect", "-cn", "MephistoEffect", "-o",
                 os.path.join(self.dir, "effect.h"), dsp])
            jdir = os.path.join(self.dir, "json_effect")
            os.makedirs(jdir, exist_ok=True)
            run(["faust", "-json", "-pn", "effect", *inc, "-O", jdir, "-o", "effect_json.cpp", dsp])
            ej = json.load(open(os.path.join(jdir, self.name + ".dsp.json")))
            self.effect_io = (ej["inputs"], ej["outputs"])
            self.params += [Param(i, "fx") for i in ui_items(ej["ui"])]
            gxx.append("-DHAS_EFFECT")
        self.exe = os.path.join(self.dir, "harness")
        run(gxx + [HARNESS, "-o", self.exe])
        # Voice-only build (no effect) for the voice-release checks.
        self.exe_dry = os.path.join(self.dir, "harness_dry")
        if self.has_effect:
            run(["g++", "-O2", "-std=c++17", "-I" + self.dir, HARNESS, "-o", self.exe_dry])
        else:
            self.exe_dry = self.exe
        self.meta = {}
        for m in vj["meta"]:
            self.meta.update(m)

    def param(self, label):
        for p in self.params:
            if p.label == label:
                return p
        raise KeyError(label)

    def macro_settings(self, macro, m):
        return {p.label: p.macro_value(macro, m) for p in self.params if macro in p.macros}

    def render_events(self, events, length, tag="ev", dry=False):
        """Renders raw events [(time_s, target, label, value)]; returns (n, 2)."""
        ev = os.path.join(self.dir, tag + ".txt")
        out = os.path.join(self.dir, tag + ".f32")
        with open(ev, "w") as fh:
            for t, target, label, value in sorted(events, key=lambda e: e[0]):
                fh.write(f"{int(round(t * SR))} {target} {label} {value:.9g}\n")
        run([self.exe_dry if dry else self.exe, str(SR), str(int(length * SR)), ev, out])
        return np.fromfile(out, dtype="<f4").reshape(-1, 2).astype(np.float64)

    def render(self, freq=130.81, gain=0.8, hold=1.0, length=4.0, settings=None, tag="r",
               notes=None, dry=False):
        """Renders one note (or `notes`: list of (start_s, hold_s, freq)); returns (n, 2)."""
        settings = settings or {}
        lines = []
        init = []
        for label, value in settings.items():
            p = self.param(label)
            init.append((p.target, label, value))
        notes = notes or [(0.0, hold, freq)]
        events = []
        for j, (start, h, f) in enumerate(notes):
            v = f"v{j}"
            f0 = int(round(start * SR))
            for target, label, value in init:
                if target == "v":
                    events.append((f0, v, label, value))
            events.append((f0, v, "freq", f))
            events.append((f0, v, "gain", gain))
            events.append((f0, v, "gate", 1.0))
            events.append((int(round((start + h) * SR)), v, "gate", 0.0))
        for target, label, value in init:
            if target == "fx" and not dry:
                events.append((0, "fx", label, value))
        events.sort(key=lambda e: e[0])
        for fr, t, label, value in events:
            lines.append(f"{fr} {t} {label} {value:.9g}")
        ev = os.path.join(self.dir, tag + ".txt")
        out = os.path.join(self.dir, tag + ".f32")
        with open(ev, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        run([self.exe_dry if dry else self.exe, str(SR), str(int(length * SR)), ev, out])
        return np.fromfile(out, dtype="<f4").reshape(-1, 2).astype(np.float64)


def write_wav(path, x):
    y = np.clip(x, -1, 1)
    with wave.open(path, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((y * 32767).astype("<i2").tobytes())


# ---------------------------------------------------------------- descriptors

def db(x):
    return 20 * np.log10(np.maximum(x, 1e-12))


def window_levels(x, win=0.01):
    """Peak absolute level per window of `win` s, both channels."""
    n = int(win * SR)
    m = len(x) // n
    return np.abs(x[: m * n]).reshape(m, n * 2).max(axis=1)


def window_rms(x, win=0.01):
    n = int(win * SR)
    m = len(x) // n
    return np.sqrt((x[: m * n] ** 2).reshape(m, n * 2).mean(axis=1))


def stft_mag(sig, nfft=2048, hop=512):
    w = np.hanning(nfft)
    if len(sig) < nfft:
        sig = np.pad(sig, (0, nfft - len(sig)))
    frames = 1 + (len(sig) - nfft) // hop
    idx = np.arange(nfft)[None, :] + hop * np.arange(frames)[:, None]
    return np.abs(np.fft.rfft(sig[idx] * w, axis=1))


FREQS = np.fft.rfftfreq(2048, 1.0 / SR)


def centroid(x, a, b):
    mono = x[int(a * SR): int(b * SR)].mean(axis=1)
    p = (stft_mag(mono) ** 2).sum(axis=0)
    return float((FREQS * p).sum() / max(p.sum(), 1e-30))


def warm_share(x, a, b):
    mono = x[int(a * SR): int(b * SR)].mean(axis=1)
    p = (stft_mag(mono) ** 2).sum(axis=0)
    band = (FREQS >= 100) & (FREQS <= 600)
    tot = (FREQS >= 20) & (FREQS <= 20000)
    return float(p[band].sum() / max(p[tot].sum(), 1e-30))


def flatness(x, a, b):
    mono = x[int(a * SR): int(b * SR)].mean(axis=1)
    p = stft_mag(mono) ** 2 + 1e-20
    band = (FREQS >= 50) & (FREQS <= 16000)
    p = p[:, band]
    e = p.mean(axis=1)
    keep = e > e.max() * 1e-4
    f = np.exp(np.log(p[keep]).mean(axis=1)) / p[keep].mean(axis=1)
    return float(f.mean())


def flux(x, a, b):
    vals = []
    for ch in range(2):
        m = stft_mag(x[int(a * SR): int(b * SR), ch])
        scale = max(m.sum(axis=1).mean(), 1e-30)
        vals.append(np.abs(np.diff(m, axis=0)).sum(axis=1).mean() / scale)
    return float(np.mean(vals))


def tail_time(x, off):
    """Seconds after note-off until the 10 ms RMS level has fallen by 60 dB from its
    level just before note-off, or below -60 dBFS, whichever comes first (last crossing)."""
    lv = db(window_rms(x))
    i_off = int(off / 0.01)
    ref = lv[max(0, i_off - 5): i_off].max()
    thr = max(ref - 60.0, -60.0)
    above = np.nonzero(lv[i_off:] > thr)[0]
    return 0.0 if len(above) == 0 else float((above[-1] + 1) * 0.01)


def silent_after(x, off, thr_db=-100.0):
    """Seconds after note-off at which the peak level falls below thr_db for good
    (None if it never does within the render)."""
    lv = db(window_levels(x))
    i_off = int(off / 0.01)
    above = np.nonzero(lv[i_off:] > thr_db)[0]
    if len(above) == 0:
        return 0.0
    last = above[-1] + i_off
    if last >= len(lv) - 1:
        return None
    return float((above[-1] + 1) * 0.01)


def envelope(x, win=0.02, hop=0.001):
    """Sliding RMS (both channels) over `win` s, one value per `hop` s."""
    p = (x ** 2).sum(axis=1)
    c = np.concatenate([[0.0], np.cumsum(p)])
    n, h = int(win * SR), int(hop * SR)
    starts = np.arange(0, len(p) - n, h)
    return np.sqrt((c[starts + n] - c[starts]) / (2 * n))


def attack_time(x, b):
    """10%->90% rise time (s) of the 20 ms sliding-RMS envelope within [0, b], relative
    to the 90th percentile of that envelope (robust to beating, tremolo and rotary)."""
    env = envelope(x[: int(b * SR)])
    ref = np.percentile(env, 90)
    t10 = np.argmax(env >= 0.1 * ref)
    t90 = np.argmax(env >= 0.9 * ref)
    return float(max(0, t90 - t10) * 0.001)


def crest(x, b):
    seg = x[: int(b * SR)]
    rms = math.sqrt((seg ** 2).mean())
    return float(np.abs(seg).max() / max(rms, 1e-30))


# ---------------------------------------------------------------- checks

# Per-patch timing for the macro checks: (hold s, render length s).
TIMING = {
    "dark_drone": (3.0, 16.0),
    "noise_riser": (3.0, 16.0),
    "string_ensemble": (2.0, 15.0),
    "warm_pad": (2.0, 15.0),
    "deep_kick": (0.25, 8.0),
    "nylon_pluck": (0.4, 10.0),
}
DEFAULT_TIMING = (1.0, 14.0)


def describe(macro, x, hold):
    a = min(0.5 * hold, 0.3)
    if macro == "bright":
        return centroid(x, 0.0, hold), "centroid Hz"
    if macro == "warm":
        return warm_share(x, 0.0, hold), "100-600Hz share"
    if macro == "grit":
        return flatness(x, 0.0, hold), "flatness"
    if macro == "space":
        return tail_time(x, hold), "tail s"
    if macro == "motion":
        return flux(x, a, hold), "flux"
    if macro == "punch":
        return (attack_time(x, hold), crest(x, hold)), "attack s / crest"
    raise ValueError(macro)


def macro_pass(macro, vals):
    if macro == "punch":
        at = [v[0] for v in vals]
        cr = [v[1] for v in vals]
        at_down = at[0] >= at[1] >= at[2] and at[0] > at[2] + 0.002
        at_flat = max(at) - min(at) <= 0.002
        cr_up = cr[0] < cr[1] < cr[2]
        return at_down or (at_flat and cr_up)
    return vals[0] < vals[1] < vals[2]


def fmt(v):
    if isinstance(v, tuple):
        return "/".join(fmt(u) for u in v)
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def check_patch(name, verbose=True):
    p = Patch(name)
    report = {"name": name, "archetype": p.meta.get("archetype"), "problems": []}
    prob = report["problems"]
    if p.voice_outputs not in (1, 2):
        prob.append(f"voice has {p.voice_outputs} outputs")
    if p.has_effect and p.effect_io != (2, 2):
        prob.append(f"effect io {p.effect_io}")
    labels = [q.label for q in p.params]
    if len(set(labels)) != len(labels):
        prob.append("duplicate labels")
    for s in STANDARD:
        if s not in labels:
            prob.append(f"missing {s}")
    for mac in MACROS:
        if not any(mac in q.macros for q in p.params):
            prob.append(f"macro {mac} unmapped")

    # Notes at C3 and C5 (gate off at 1 s).
    report["notes"] = {}
    for f, nm in ((130.81, "C3"), (523.25, "C5")):
        x = p.render(freq=f, hold=1.0, length=14.0, tag="note_" + nm)
        pk = float(np.abs(x).max())
        fin = bool(np.isfinite(x).all())
        sil_fx = silent_after(x, 1.0)
        xd = p.render(freq=f, hold=1.0, length=12.0, tag="dry_" + nm, dry=True)
        sil = silent_after(xd, 1.0)
        dc = float(np.abs(xd[SR // 2: SR].mean(axis=0)).max())
        report["notes"][nm] = (pk, sil, fin, dc, sil_fx)
        if not fin:
            prob.append(f"{nm}: non-finite output")
        if not (0.1 <= pk <= 0.9):
            prob.append(f"{nm}: peak {pk:.3f}")
        if sil is None or sil > 10.0:
            prob.append(f"{nm}: not below -100 dBFS within 10 s of note-off ({sil})")

    # Retrigger: the same voice gets a second note-on during its release (0.8 s) and a
    # third after silence (6 s); both must sound again at about the first note's level.
    x = p.render_events([(0.0, "v0", "freq", 130.81), (0.0, "v0", "gain", 0.8),
                         (0.0, "v0", "gate", 1.0), (0.5, "v0", "gate", 0.0),
                         (0.8, "v0", "gate", 1.0), (1.3, "v0", "gate", 0.0),
                         (6.0, "v0", "gate", 1.0), (6.5, "v0", "gate", 0.0)],
                        length=8.0, tag="retrig", dry=True)
    if not np.isfinite(x).all():
        prob.append("retrigger render non-finite")
    else:
        p1 = np.abs(x[: int(0.5 * SR)]).max()
        p2 = np.abs(x[int(0.8 * SR): int(1.3 * SR)]).max()
        p3 = np.abs(x[int(6.0 * SR): int(6.5 * SR)]).max()
        report["retrigger"] = (p2 / p1, p3 / p1)
        if not (0.5 < p2 / p1 < 2.0 and 0.7 < p3 / p1 < 1.4):
            prob.append(f"retrigger levels {p2 / p1:.2f}, {p3 / p1:.2f} of the first note")

    # Macros.
    hold, length = TIMING.get(name, DEFAULT_TIMING)
    report["macros"] = {}
    for mac in MACROS:
        vals = []
        for m in (0.0, 0.5, 1.0):
            x = p.render(freq=130.81, hold=hold, length=length,
                         settings=p.macro_settings(mac, m), tag=f"macro_{mac}_{m}")
            if not np.isfinite(x).all():
                prob.append(f"macro {mac}={m} non-finite")
                x = np.nan_to_num(x)
            v, unit = describe(mac, x, hold)
            vals.append(v)
        ok = macro_pass(mac, vals)
        report["macros"][mac] = (ok, vals, unit)
        if not ok:
            prob.append(f"macro {mac} not monotonic: {[fmt(v) for v in vals]}")

    # Extremes: each parameter at its min and max, others default; then all at min / max.
    worst = 0.0
    cases = []
    for q in p.params:
        if q.label in STANDARD:
            continue
        cases.append(({q.label: q.min}, f"{q.label}=min"))
        cases.append(({q.label: q.max}, f"{q.label}=max"))
    cases.append(({q.label: q.min for q in p.params if q.label not in STANDARD}, "all=min"))
    cases.append(({q.label: q.max for q in p.params if q.label not in STANDARD}, "all=max"))
    for settings, what in cases:
        for f in (32.7, 2093.0):
            x = p.render(freq=f, gain=1.0, hold=1.0, length=6.0, settings=settings, tag="ext")
            if not np.isfinite(x).all():
                prob.append(f"{what} @ {f} Hz: non-finite")
                continue
            pk = float(np.abs(x).max())
            worst = max(worst, pk)
            if pk > 3.0:  # stability, not loudness: all-max settings may be hot
                prob.append(f"{what} @ {f} Hz: peak {pk:.2f}")
            xd = p.render(freq=f, gain=1.0, hold=1.0, length=12.0, settings=settings,
                          tag="ext_dry", dry=True)
            if not np.isfinite(xd).all():
                prob.append(f"{what} @ {f} Hz: voice non-finite")
                continue
            sil = silent_after(xd, 1.0)
            if sil is None or sil > 10.0:
                prob.append(f"{what} @ {f} Hz: voice not silent 10 s after note-off ({sil})")
    report["extreme_peak"] = worst

    if verbose:
        print_report(report)
    return report


def print_report(r):
    n = r["notes"]
    print(f"== {r['name']} ({r['archetype']})")
    for nm, (pk, sil, fin, dc, sil_fx) in n.items():
        s = "never" if sil is None else f"{sil:.2f}s"
        s2 = ">13s" if sil_fx is None else f"{sil_fx:.2f}s"
        print(f"   {nm}: peak {pk:.3f} ({db(pk):.1f} dBFS)  <-100dBFS after off: voice {s}, "
              f"with effect {s2}  dc {dc:.1e}")
    for mac, (ok, vals, unit) in r["macros"].items():
        print(f"   {mac:6s} {'PASS' if ok else 'FAIL'}  {unit}: " + "  ".join(fmt(v) for v in vals))
    if "retrigger" in r:
        print("   retrigger level vs first note: during release %.2f, after silence %.2f"
              % r["retrigger"])
    print(f"   worst peak at extremes: {r['extreme_peak']:.2f}")
    for pr in r["problems"]:
        print(f"   PROBLEM: {pr}")
    sys.stdout.flush()


def all_patches():
    return sorted(f[:-4] for f in os.listdir(PATCH_DIR) if f.endswith(".dsp"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("patches", nargs="*")
    n = sub.add_parser("note")
    n.add_argument("patch")
    n.add_argument("--freq", type=float, default=130.81)
    n.add_argument("--gain", type=float, default=0.8)
    n.add_argument("--hold", type=float, default=1.0)
    n.add_argument("--len", type=float, default=4.0)
    n.add_argument("--wav")
    n.add_argument("--set", action="append", default=[])
    n.add_argument("--macro", action="append", default=[])
    pr = sub.add_parser("params")
    pr.add_argument("patch")
    a = ap.parse_args()

    if a.cmd == "check":
        bad = 0
        for name in a.patches or all_patches():
            r = check_patch(name)
            bad += bool(r["problems"])
        sys.exit(1 if bad else 0)
    if a.cmd == "params":
        p = Patch(a.patch)
        for q in p.params:
            mac = " ".join(f"{k}:{v:+g}" for k, v in q.macros.items())
            print(f"{q.target:2s} {q.label:16s} {q.init:>9g} [{q.min:g}, {q.max:g}]"
                  f"{' log' if q.log else ''}  {mac}")
        return
    if a.cmd == "note":
        p = Patch(a.patch)
        settings = {}
        for mm in a.macro:
            k, v = mm.split("=")
            settings.update(p.macro_settings(k, float(v)))
        for s in a.set:
            k, v = s.split("=")
            settings[k] = float(v)
        x = p.render(freq=a.freq, gain=a.gain, hold=a.hold, length=a.len, settings=settings)
        pk = float(np.abs(x).max())
        sil = silent_after(x, a.hold)
        print(f"peak {pk:.3f} ({db(pk):.1f} dBFS), finite {np.isfinite(x).all()}, "
              f"silent after off: {sil}, centroid {centroid(x, 0.02, a.hold):.0f} Hz, "
              f"warm {warm_share(x, 0.02, a.hold):.3f}, flat {flatness(x, 0.02, a.hold):.4f}, "
              f"tail {tail_time(x, a.hold):.2f}s, flux {flux(x, min(0.3, a.hold / 2), a.hold):.4f}, "
              f"attack {attack_time(x, a.hold):.3f}s crest {crest(x, a.hold):.2f}")
        if a.wav:
            write_wav(a.wav, x)


if __name__ == "__main__":
    main()
