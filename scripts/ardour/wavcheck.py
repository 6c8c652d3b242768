#!/usr/bin/env python3
"""Audio checks for the Ardour round trip (scripts/ardour_roundtrip.sh); standard library only.

    wavcheck.py notes WAV SCORE [--min-ratio 30] [--max-cents 30] [--max-tail-db DB]
        SCORE is MIDI:START:DURATION[,...] in seconds, e.g. 60:1.0:0.5,64:3.0:0.5.
        For every note: the power while the note is held against the power of the
        quiet half second before it (the gap), and the pitch of the held part against the
        note's equal-tempered frequency. The tail (power 0.25-0.5 s after the note's end,
        relative to the note) is printed, and checked when --max-tail-db is given: a note
        that does not stop when its key is released fails it. Prints a table; exits 1 if
        any note fails.

    wavcheck.py compare A.wav B.wav [--max-centroid-diff-pct 5] [--min-correlation 0.9]
                                    [--max-level-diff-db DB]
        Spectral centroid of both files' loud part, the correlation of their envelopes
        (20 ms RMS frames) and their level difference. Exits 1 if they differ more than
        the limits.

    wavcheck.py centroid WAV
        Prints the spectral centroid (Hz) of the file's loud part.

No numpy: the machine this runs on may not have it, and the analysis is small (a few
FFTs of 32768 points), so a plain-Python FFT is fast enough.
"""

import argparse
import cmath
import math
import struct
import sys


# ---------------------------------------------------------------------------------------
# WAV reading (PCM 16/24/32-bit and 32/64-bit float, plain or WAVE_FORMAT_EXTENSIBLE):
# Ardour's stock "WAV" export preset writes 16-bit PCM, `mephisto render` 32-bit float.

def read_wav(path):
    """Returns (sample_rate, mono samples as a list of floats in -1..1)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SystemExit(f"error: {path} is not a RIFF/WAVE file")
    pos, fmt, frames = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            tag, channels, rate = struct.unpack_from("<HHI", body, 0)
            bits = struct.unpack_from("<H", body, 14)[0]
            if tag == 0xFFFE:  # WAVE_FORMAT_EXTENSIBLE: the real tag is the sub-format's first word
                tag = struct.unpack_from("<H", body, 24)[0]
            fmt = (tag, channels, rate, bits)
        elif cid == b"data":
            frames = body
        pos += 8 + size + (size & 1)
    if fmt is None or frames is None:
        raise SystemExit(f"error: {path} has no fmt or data chunk")
    tag, channels, rate, bits = fmt
    width = bits // 8
    count = len(frames) // width
    if tag == 3 and bits == 32:
        values = struct.unpack(f"<{count}f", frames[:count * 4])
    elif tag == 3 and bits == 64:
        values = struct.unpack(f"<{count}d", frames[:count * 8])
    elif tag == 1 and bits == 16:
        values = [v / 32768.0 for v in struct.unpack(f"<{count}h", frames[:count * 2])]
    elif tag == 1 and bits == 32:
        values = [v / 2147483648.0 for v in struct.unpack(f"<{count}i", frames[:count * 4])]
    elif tag == 1 and bits == 24:
        values = []
        for i in range(0, count * 3, 3):
            v = frames[i] | (frames[i + 1] << 8) | (frames[i + 2] << 16)
            values.append((v - (1 << 24) if v & 0x800000 else v) / 8388608.0)
    else:
        raise SystemExit(f"error: {path}: unsupported WAV format tag {tag}, {bits} bits")
    n = len(values) // channels
    if channels == 1:
        return rate, list(values[:n])
    mono = [0.0] * n
    for c in range(channels):
        chan = values[c::channels]
        for i in range(n):
            mono[i] += chan[i]
    return rate, [v / channels for v in mono]


# ---------------------------------------------------------------------------------------
# DSP helpers

def fft(x):
    """Iterative radix-2 FFT of a complex list whose length is a power of two."""
    n = len(x)
    a = list(x)
    j = 0
    for i in range(1, n):  # bit-reversal permutation
        bit = n >> 1
        while j & bit:
            j ^= bit
            bit >>= 1
        j |= bit
        if i < j:
            a[i], a[j] = a[j], a[i]
    size = 2
    while size <= n:
        w_step = cmath.exp(-2j * math.pi / size)
        half = size // 2
        twiddles = [w_step ** k for k in range(half)]
        for start in range(0, n, size):
            for k in range(half):
                u = a[start + k]
                v = a[start + k + half] * twiddles[k]
                a[start + k] = u + v
                a[start + k + half] = u - v
        size *= 2
    return a


def next_pow2(n):
    p = 1
    while p < n:
        p *= 2
    return p


def power(x):
    return sum(v * v for v in x) / max(len(x), 1)


def hann(n):
    return [0.5 - 0.5 * math.cos(2 * math.pi * i / (n - 1)) for i in range(n)]


def pitch_hz(x, rate, fmin=50.0, fmax=2000.0):
    """Fundamental by autocorrelation (computed as the inverse FFT of the power spectrum),
    normalised by the window's own autocorrelation so that long lags are not penalised.
    The first lag whose peak reaches 90 % of the highest one is taken, which avoids the
    octave-down error of picking a multiple of the period; parabolic interpolation gives
    sub-sample precision (about 1 cent at 500 Hz)."""
    n = len(x)
    w = hann(n)
    mean = sum(x) / n
    xw = [(v - mean) * w[i] for i, v in enumerate(x)]
    size = next_pow2(2 * n)
    spec = fft([complex(v) for v in xw] + [0j] * (size - n))
    ac = fft([complex(abs(s) ** 2) for s in spec])  # real and even: forward = inverse up to scale
    wspec = fft([complex(v) for v in w] + [0j] * (size - n))
    wac = fft([complex(abs(s) ** 2) for s in wspec])
    r = [ac[k].real / wac[k].real if wac[k].real > 1e-9 * wac[0].real else 0.0 for k in range(n)]
    if r[0] <= 0:
        return None
    lo, hi = max(2, int(rate / fmax)), min(n - 2, int(rate / fmin))
    peaks = [k for k in range(lo, hi) if r[k] > r[k - 1] and r[k] >= r[k + 1] and r[k] > 0]
    if not peaks:
        return None
    best = max(r[k] for k in peaks)
    k = next(k for k in peaks if r[k] >= 0.9 * best)
    a, b, c = r[k - 1], r[k], r[k + 1]
    denom = a - 2 * b + c
    shift = 0.5 * (a - c) / denom if denom != 0 else 0.0
    return rate / (k + shift)


def centroid_hz(x, rate):
    """Power-weighted mean frequency over Hann-windowed 8192-sample frames, frames
    weighted by their power, so quiet frames count little."""
    n = 8192
    w = hann(n)
    num = den = 0.0
    for start in range(0, len(x) - n + 1, n // 2):
        spec = fft([complex(x[start + i] * w[i]) for i in range(n)])
        mags = [abs(s) ** 2 for s in spec[:n // 2]]
        total = sum(mags)
        if total <= 0:
            continue
        num += sum(k * rate / n * m for k, m in enumerate(mags))
        den += total
    return num / den if den > 0 else 0.0


def envelope(x, rate, frame_s=0.02):
    n = int(rate * frame_s)
    return [math.sqrt(power(x[i:i + n])) for i in range(0, len(x) - n + 1, n)]


def loud_part(x, rate):
    """The samples from the first to the last 20 ms frame within 40 dB of the loudest."""
    env = envelope(x, rate)
    if not env or max(env) == 0:
        return x
    floor = max(env) * 0.01
    loud = [i for i, e in enumerate(env) if e >= floor]
    n = int(rate * 0.02)
    return x[loud[0] * n:(loud[-1] + 1) * n]


def db(ratio):
    return 10 * math.log10(ratio) if ratio > 0 else float("-inf")


NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


def note_name(midi):
    return f"{NAMES[midi % 12]}{midi // 12 - 1}"


# ---------------------------------------------------------------------------------------
# Commands

def cmd_notes(args):
    rate, x = read_wav(args.wav)
    notes = []
    for item in args.score.split(","):
        midi, start, dur = item.split(":")
        notes.append((int(midi), float(start), float(dur)))
    print(f"{args.wav}: {len(x) / rate:.2f} s at {rate} Hz")
    print(f"{'note':<5} {'start s':>7} {'note dBFS':>9} {'gap dBFS':>9} {'power ratio':>12} "
          f"{'expected Hz':>11} {'measured Hz':>11} {'cents':>7} {'tail dB':>7}  result")
    failed = 0
    for midi, start, dur in notes:
        s0, s1 = int(start * rate), int((start + dur) * rate)
        note_p = power(x[s0:s1])
        gap = x[max(0, s0 - int(0.5 * rate)):s0]
        gap_p = power(gap)
        # An exactly silent gap (digital zero) would divide by zero; one LSB of 24-bit is
        # far below anything audible and keeps the ratio finite.
        ratio = note_p / max(gap_p, 1e-14)
        # The pitch window skips the attack (50 ms) and stays clear of the release.
        p0 = s0 + int(0.05 * rate)
        p1 = min(s1, p0 + int(0.3 * rate))
        f = pitch_hz(x[p0:p1], rate)
        want = 440.0 * 2 ** ((midi - 69) / 12)
        cents = 1200 * math.log2(f / want) if f else float("nan")
        tail = db(power(x[s1 + int(0.25 * rate):s1 + int(0.5 * rate)]) / max(note_p, 1e-30))
        ok = ratio >= args.min_ratio and f is not None and abs(cents) <= args.max_cents
        if args.max_tail_db is not None:
            ok = ok and tail <= args.max_tail_db
        failed += not ok
        print(f"{note_name(midi):<5} {start:>7.2f} {db(note_p):>9.1f} {db(gap_p):>9.1f} "
              f"{ratio:>12.3g} {want:>11.2f} {f or 0:>11.2f} {cents:>+7.1f} {tail:>7.1f}  "
              f"{'PASS' if ok else 'FAIL'}")
    tail_limit = "" if args.max_tail_db is None else f", tail <= {args.max_tail_db:g} dB"
    print(f"limits: power ratio >= {args.min_ratio:g}x, |cents| <= {args.max_cents:g}{tail_limit}")
    print(f"notes: {'PASS' if not failed else 'FAIL'} ({len(notes) - failed}/{len(notes)})")
    return 1 if failed else 0


def cmd_compare(args):
    ra, a = read_wav(args.a)
    rb, b = read_wav(args.b)
    if ra != rb:
        print(f"sample rates differ: {ra} vs {rb}")
        return 1
    ca, cb = centroid_hz(loud_part(a, ra), ra), centroid_hz(loud_part(b, rb), rb)
    diff_pct = abs(ca - cb) / max(ca, cb, 1e-9) * 100
    ea, eb = envelope(a, ra), envelope(b, rb)
    n = min(len(ea), len(eb))
    ea, eb = ea[:n], eb[:n]
    ma, mb = sum(ea) / n, sum(eb) / n
    cov = sum((p - ma) * (q - mb) for p, q in zip(ea, eb))
    var = math.sqrt(sum((p - ma) ** 2 for p in ea) * sum((q - mb) ** 2 for q in eb))
    corr = cov / var if var > 0 else 0.0
    level = db(power(a) / max(power(b), 1e-14))
    ok = (diff_pct <= args.max_centroid_diff_pct and corr >= args.min_correlation
          and abs(level) <= args.max_level_diff_db)
    print(f"  A: centroid {ca:7.1f} Hz  {args.a}")
    print(f"  B: centroid {cb:7.1f} Hz  {args.b}")
    print(f"  centroid difference {diff_pct:.2f} % (limit {args.max_centroid_diff_pct:g} %), "
          f"envelope correlation {corr:.4f} (limit {args.min_correlation:g}), "
          f"level A-B {level:+.2f} dB (limit {args.max_level_diff_db:g})")
    print(f"  compare: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def cmd_centroid(args):
    rate, x = read_wav(args.wav)
    print(f"{centroid_hz(loud_part(x, rate), rate):.1f}")
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    n = sub.add_parser("notes")
    n.add_argument("wav")
    n.add_argument("score")
    n.add_argument("--min-ratio", type=float, default=30.0)
    n.add_argument("--max-cents", type=float, default=30.0)
    n.add_argument("--max-tail-db", type=float, default=None)
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--max-centroid-diff-pct", type=float, default=5.0)
    c.add_argument("--min-correlation", type=float, default=0.9)
    c.add_argument("--max-level-diff-db", type=float, default=float("inf"))
    s = sub.add_parser("centroid")
    s.add_argument("wav")
    args = p.parse_args()
    return {"notes": cmd_notes, "compare": cmd_compare, "centroid": cmd_centroid}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
