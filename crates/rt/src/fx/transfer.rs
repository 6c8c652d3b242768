//! A stream through Mephisto FX ([`Transfer`]): the input's pitch and loudness, measured
//! every [`HOP_SECONDS`], drive one voice of a patch instance, and the output mixes that
//! voice with the input delayed by the same latency.
//!
//! Timing, with `H` the frame period in samples, `A` the tracker's lookahead rounded up to
//! whole frames and `B` the host's largest block. Frame `j` describes the input around
//! sample `j·H`; it can be measured once sample `j·H + A − 1` is in, and it is played at
//! output sample `j·H + L`, so the whole output is the input's timeline delayed by `L`:
//!
//! * a Faust voice is driven on the audio thread as frames fall due (note-on at an onset,
//!   its pitch every frame, note-off when the gate closes): it needs `L ≥ A`;
//! * a neural voice's decoder runs on its own thread: frame `j` is sent as a contour point
//!   as soon as it is measured and must be decoded before the block in which the voice
//!   starts gliding to it, one frame before it plays. The block that measures it and the
//!   block that needs it may each be `B` long, so `L ≥ A + H + 2B`.
//!
//! `L` is the second, rounded up to whole frames, for every patch: the latency the plugin
//! reports, constant whatever plays. Everything is allocated in [`Transfer::new`].

use mephisto_dsp::macros::MacroValues;

use super::follow::{FollowFrame, FollowSettings, Follower, FLOOR_DB};
use super::tracker::{Tracker, HOP_SECONDS};
use crate::instance::{Playable, CHUNK};
use crate::limiter::SafetyLimiter;

/// Length of the equal-power crossfade when the patch changes.
const SWAP_FADE_SECONDS: f32 = 0.03;

/// The controls of a transfer, as they stand for one block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FxControls {
    pub follow: FollowSettings,
    /// 0: only the (delayed) input; 1: only the voice.
    pub mix: f32,
    pub macros: MacroValues,
}

/// The voice fading out after a patch change.
struct Fade {
    from: Playable,
    position: usize,
    length: usize,
}

/// Frames measured and not yet played, oldest first, in a fixed ring.
struct Pending {
    frames: Vec<(u64, FollowFrame)>,
    start: usize,
    len: usize,
}

impl Pending {
    fn new(capacity: usize) -> Pending {
        Pending {
            frames: vec![(0, FollowFrame::default()); capacity],
            start: 0,
            len: 0,
        }
    }

    fn push(&mut self, index: u64, frame: FollowFrame) {
        let capacity = self.frames.len();
        if self.len == capacity {
            // Never happens with the capacity `Transfer::new` gives; drop the oldest.
            self.start = (self.start + 1) % capacity;
            self.len -= 1;
        }
        self.frames[(self.start + self.len) % capacity] = (index, frame);
        self.len += 1;
    }

    /// The oldest frame if its index is at most `index`.
    fn pop_until(&mut self, index: u64) -> Option<(u64, FollowFrame)> {
        if self.len == 0 || self.frames[self.start].0 > index {
            return None;
        }
        let frame = self.frames[self.start];
        self.start = (self.start + 1) % self.frames.len();
        self.len -= 1;
        Some(frame)
    }

    fn iter(&self) -> impl Iterator<Item = &(u64, FollowFrame)> {
        (0..self.len).map(|i| &self.frames[(self.start + i) % self.frames.len()])
    }

    fn clear(&mut self) {
        self.len = 0;
    }
}

/// The input delayed by the transfer's latency, one channel.
struct Delay {
    buffer: Vec<f32>,
    position: usize,
}

impl Delay {
    fn new(samples: usize) -> Delay {
        Delay {
            buffer: vec![0.0; samples.max(1)],
            position: 0,
        }
    }

    /// The sample from `buffer.len()` samples ago; takes `x`.
    #[inline]
    fn tick(&mut self, x: f32) -> f32 {
        let y = self.buffer[self.position];
        self.buffer[self.position] = x;
        self.position = (self.position + 1) % self.buffer.len();
        y
    }

    fn clear(&mut self) {
        self.buffer.fill(0.0);
    }
}

/// See the module notes.
pub struct Transfer {
    hop: u64,
    lookahead: u64,
    latency: u64,
    tracker: Tracker,
    follower: Follower,
    pending: Pending,
    /// The frame playing now (what a new voice starts from).
    playing: FollowFrame,
    delay: [Delay; 2],
    voice: Option<Playable>,
    /// The voice is a neural model's: it follows a contour rather than notes.
    neural: bool,
    /// The output sample from which a neural voice follows its contour; `None` until it
    /// starts (at a frame boundary).
    follow_start: Option<u64>,
    incoming: Option<Playable>,
    fade: Option<Fade>,
    retired: Option<Playable>,
    fade_length: usize,
    /// Output samples so far.
    clock: u64,
    limiter: SafetyLimiter,
    wet: [Vec<f32>; 2],
}

impl Transfer {
    /// A transfer at `sample_rate` for host blocks of at most `max_block` samples, playing
    /// nothing until [`Transfer::begin_swap`] gives it a voice. Allocates.
    pub fn new(sample_rate: f32, max_block: usize) -> Transfer {
        let tracker = Tracker::new(sample_rate);
        let (hop, lookahead, latency) = timing(sample_rate, max_block, tracker.lookahead());
        Transfer {
            hop,
            lookahead,
            latency,
            tracker,
            follower: Follower::default(),
            pending: Pending::new((latency / hop) as usize + 4),
            playing: FollowFrame::default(),
            delay: [Delay::new(latency as usize), Delay::new(latency as usize)],
            voice: None,
            neural: false,
            follow_start: None,
            incoming: None,
            fade: None,
            retired: None,
            fade_length: ((SWAP_FADE_SECONDS * sample_rate) as usize).max(1),
            clock: 0,
            limiter: SafetyLimiter::new(sample_rate),
            wet: [vec![0.0; CHUNK], vec![0.0; CHUNK]],
        }
    }

    /// Samples between an input and the output it becomes (what the host is told).
    pub fn latency(&self) -> usize {
        self.latency as usize
    }

    /// The latency of a transfer at `sample_rate` for blocks of at most `max_block`, without
    /// making one.
    pub fn latency_for(sample_rate: f32, max_block: usize) -> usize {
        let frame_len = mephisto_analysis::Yin::with_range(
            sample_rate,
            super::tracker::MIN_HZ,
            super::tracker::MAX_HZ,
        )
        .frame_len();
        timing(sample_rate, max_block, frame_len - frame_len / 2).2 as usize
    }

    /// Samples between two frames.
    pub fn hop(&self) -> usize {
        self.hop as usize
    }

    /// The voice playing, if any.
    pub fn voice(&self) -> Option<&Playable> {
        self.voice.as_ref()
    }

    /// The frame the voice plays now.
    pub fn playing(&self) -> &FollowFrame {
        &self.playing
    }

    /// Whether a patch change is under way (a voice waiting for its frame boundary, or
    /// fading out, or waiting to be taken).
    pub fn is_swapping(&self) -> bool {
        self.incoming.is_some() || self.fade.is_some() || self.retired.is_some()
    }

    /// Makes `next` the voice from the next frame boundary on, crossfading from the one
    /// playing; hands it back while a change is under way.
    pub fn begin_swap(&mut self, next: Playable) -> Result<(), Playable> {
        if self.is_swapping() {
            return Err(next);
        }
        self.incoming = Some(next);
        Ok(())
    }

    /// The voice that finished fading out, for whoever may free it (never dropped here).
    pub fn take_retired(&mut self) -> Option<Playable> {
        self.retired.take()
    }

    /// Forgets the input and silences the voice (a host reset or a transport jump).
    pub fn reset(&mut self) {
        self.tracker.reset();
        self.follower = Follower::default();
        self.pending.clear();
        self.playing = FollowFrame::default();
        self.delay.iter_mut().for_each(Delay::clear);
        self.limiter.reset();
        if let Some(voice) = &mut self.voice {
            voice.reset();
        }
        // A neural voice starts following again at the next frame boundary.
        self.follow_start = None;
        if let Some(fade) = self.fade.take() {
            self.retired = Some(fade.from);
        }
        self.clock = 0;
    }

    /// Processes one block: `source` is what is tracked (the input mixed to mono, or the
    /// sidechain), `left` and `right` come in as the input and leave as the output. All
    /// three the same length. Allocation-free.
    pub fn process(
        &mut self,
        source: &[f32],
        left: &mut [f32],
        right: &mut [f32],
        controls: &FxControls,
    ) {
        let n = left.len().min(right.len()).min(source.len());
        let mut position = 0;
        while position < n {
            if self.clock.is_multiple_of(self.hop) {
                self.frame_boundary(&controls.follow);
            }
            let to_boundary = (self.hop - self.clock % self.hop) as usize;
            let len = CHUNK.min(to_boundary).min(n - position);
            let end = position + len;
            self.tracker.push(&source[position..end]);
            self.render_voices(len, &controls.macros);
            let [wet_l, wet_r] = &mut self.wet;
            let mix = controls.mix.clamp(0.0, 1.0);
            for i in 0..len {
                let (dry_l, dry_r) = (
                    self.delay[0].tick(left[position + i]),
                    self.delay[1].tick(right[position + i]),
                );
                left[position + i] = dry_l * (1.0 - mix) + wet_l[i] * mix;
                right[position + i] = dry_r * (1.0 - mix) + wet_r[i] * mix;
            }
            self.clock += len as u64;
            position = end;
        }
    }

    /// At output (and input) sample `clock`, a multiple of the hop: measures the frame whose
    /// input is complete, plays the frame that falls due, and starts a waiting voice.
    fn frame_boundary(&mut self, follow: &FollowSettings) {
        let now = self.clock;
        if now >= self.lookahead {
            let index = (now - self.lookahead) / self.hop;
            let analysis = self.tracker.analyse(index * self.hop);
            let frame = self.follower.next(&analysis, follow);
            self.pending.push(index, frame);
            if let (Some(voice), Some(start)) = (&mut self.voice, self.follow_start) {
                send_contour(voice, start, self.latency, self.hop, index, &frame);
            }
        }
        if now >= self.latency {
            let due = (now - self.latency) / self.hop;
            while let Some((_, frame)) = self.pending.pop_until(due) {
                if !self.neural {
                    if let Some(voice) = &mut self.voice {
                        play_frame(voice, &self.playing, &frame);
                    }
                }
                self.playing = frame;
            }
        }
        if self.fade.is_none() && self.retired.is_none() {
            if let Some(mut next) = self.incoming.take() {
                next.reset();
                self.neural = next.neural_voices().is_some();
                self.follow_start = None;
                if !self.neural && self.playing.gate {
                    next.note_on(0, self.playing.hz, self.playing.velocity);
                }
                if let Some(from) = self.voice.replace(next) {
                    self.fade = Some(Fade {
                        from,
                        position: 0,
                        length: self.fade_length,
                    });
                }
            }
        }
        if self.neural && self.follow_start.is_none() {
            if let Some(voice) = &mut self.voice {
                voice.follow(0);
                self.follow_start = Some(now);
                // The voice's first frames come before any measured one (the stream just
                // began, or was reset): silence, so nothing waits for them.
                let next_measured = if now >= self.lookahead {
                    (now - self.lookahead) / self.hop + 1
                } else {
                    0
                };
                let first = self.pending.iter().next().map_or(next_measured, |f| f.0);
                let first_k = (first * self.hop + self.latency).saturating_sub(now) / self.hop;
                for k in 1..first_k.min(u64::from(u32::MAX)) {
                    voice.contour(0, k as u32, self.playing.hz, FLOOR_DB);
                }
                for (index, frame) in self.pending.iter() {
                    send_contour(voice, now, self.latency, self.hop, *index, frame);
                }
            }
        }
    }

    /// Renders the voice (and the one fading out) into `self.wet`, limited.
    fn render_voices(&mut self, n: usize, macros: &MacroValues) {
        let [wet_l, wet_r] = &mut self.wet;
        let (wet_l, wet_r) = (&mut wet_l[..n], &mut wet_r[..n]);
        match self.voice.as_mut().and_then(|v| {
            v.apply_macros(macros);
            v.render(n)
        }) {
            Some((l, r)) => {
                wet_l.copy_from_slice(l);
                wet_r.copy_from_slice(r);
            }
            None => {
                wet_l.fill(0.0);
                wet_r.fill(0.0);
            }
        }
        if let Some(fade) = &mut self.fade {
            fade.from.apply_macros(macros);
            let old = fade.from.render(n);
            for i in 0..n {
                let t = ((fade.position + i) as f32 / fade.length as f32).min(1.0);
                let (fade_in, fade_out) = (t * std::f32::consts::FRAC_PI_2).sin_cos();
                let (old_l, old_r) = old.map_or((0.0, 0.0), |(l, r)| (l[i], r[i]));
                wet_l[i] = wet_l[i] * fade_in + old_l * fade_out;
                wet_r[i] = wet_r[i] * fade_in + old_r * fade_out;
            }
            fade.position += n;
            if fade.position >= fade.length {
                self.retired = self.fade.take().map(|f| f.from);
            }
        }
        crate::limiter::silence_non_finite(wet_l, wet_r);
        self.limiter.process(wet_l, wet_r);
    }
}

/// The hop, the lookahead and the latency in samples (see the module notes).
fn timing(sample_rate: f32, max_block: usize, tracker_lookahead: usize) -> (u64, u64, u64) {
    let hop = (f64::from(sample_rate) * HOP_SECONDS).round().max(1.0) as u64;
    let lookahead = (tracker_lookahead as u64).div_ceil(hop) * hop;
    let latency = (lookahead + hop + 2 * max_block.max(1) as u64).div_ceil(hop) * hop;
    (hop, lookahead, latency)
}

/// Sends frame `index` to a neural voice that follows from output sample `start`: its
/// frame `k` plays at `start + k·hop`, the frame's at `index·hop + latency`.
fn send_contour(
    voice: &mut Playable,
    start: u64,
    latency: u64,
    hop: u64,
    index: u64,
    frame: &FollowFrame,
) {
    let at = index * hop + latency;
    if at > start {
        let k = (at - start) / hop;
        voice.contour(
            0,
            k.min(u64::from(u32::MAX)) as u32,
            frame.hz,
            frame.loudness_db,
        );
    }
}

/// Plays `next` on a Faust voice that played `previous`.
fn play_frame(voice: &mut Playable, previous: &FollowFrame, next: &FollowFrame) {
    match (previous.gate, next.gate) {
        (_, true) if next.onset || !previous.gate => voice.note_on(0, next.hz, next.velocity),
        (true, true) if next.hz != previous.hz => voice.set_voice_pitch(0, next.hz),
        (true, false) => voice.note_off(0),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::PatchInstance;
    use mephisto_analysis::Yin;
    use mephisto_dsp::find_builtin;
    use mephisto_dsp::macros::NEUTRAL_MACROS;

    const SR: f32 = 48_000.0;

    fn controls(semitones: f32, mix: f32) -> FxControls {
        FxControls {
            follow: FollowSettings {
                semitones,
                ..FollowSettings::default()
            },
            mix,
            macros: NEUTRAL_MACROS,
        }
    }

    fn builtin(name: &str) -> Playable {
        let (index, _) = find_builtin(name).unwrap();
        Playable::new(PatchInstance::builtin(index, 1, SR).unwrap())
    }

    /// A sine at `hz` from 0.2 s to 1.2 s of a 1.6 s input, at -20 dBFS peak.
    fn input(hz: f32) -> Vec<f32> {
        (0..(1.6 * SR) as usize)
            .map(|n| {
                let t = n as f32 / SR;
                let on = (0.2..1.2).contains(&t);
                if on {
                    0.1 * (std::f32::consts::TAU * hz * t).sin()
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// Runs `x` through a transfer in odd blocks; returns the left output.
    fn run(transfer: &mut Transfer, x: &[f32], controls: &FxControls) -> Vec<f32> {
        let (mut left, mut right) = (x.to_vec(), x.to_vec());
        let mut start = 0;
        for size in [512usize, 1, 333, 64, 200].iter().cycle() {
            if start == x.len() {
                break;
            }
            let end = (start + size).min(x.len());
            transfer.process(
                &x[start..end],
                &mut left[start..end],
                &mut right[start..end],
                controls,
            );
            start = end;
        }
        left
    }

    fn pitch_at(x: &[f32], at: usize) -> Option<f32> {
        let mut yin = Yin::with_range(SR, 50.0, 2000.0);
        let len = yin.frame_len();
        yin.estimate(&x[at..at + len])
    }

    #[test]
    fn a_faust_voice_follows_the_input_an_octave_up_after_the_stated_latency() {
        let mut transfer = Transfer::new(SR, 512);
        assert_eq!(transfer.hop(), 240);
        // A = 961 samples of lookahead rounded to 5 frames; 1200 + 240 + 1024 → 2640.
        assert_eq!(transfer.latency(), 2640);
        assert_eq!(Transfer::latency_for(SR, 512), 2640);
        assert!(transfer.begin_swap(builtin("tine_keys")).is_ok());
        let x = input(220.0);
        let out = run(&mut transfer, &x, &controls(12.0, 1.0));
        let latency = transfer.latency();
        // Silent before the input starts (plus the latency), sounding an octave up after.
        let level = |from: f32, to: f32| {
            let range = &out[(from * SR) as usize..(to * SR) as usize];
            (range.iter().map(|s| s * s).sum::<f32>() / range.len() as f32).sqrt()
        };
        assert!(level(0.0, 0.2) < 1e-6, "{}", level(0.0, 0.2));
        assert!(level(0.5, 1.0) > 1e-2, "{}", level(0.5, 1.0));
        for t in [0.4f32, 0.7, 1.0] {
            let hz = pitch_at(&out, (t * SR) as usize + latency).unwrap();
            let cents = 1200.0 * (hz / 440.0).log2();
            assert!(cents.abs() < 10.0, "at {t} s: {hz} Hz");
        }
        // The gate opened within a few frames of the input's onset, after the latency.
        let onset = out.iter().position(|s| s.abs() > 1e-4).unwrap();
        let expected = (0.2 * SR) as usize + latency;
        assert!(
            onset >= expected - transfer.hop() && onset < expected + 4 * transfer.hop(),
            "onset at {onset}, input onset + latency {expected}"
        );
    }

    #[test]
    fn dry_is_the_input_delayed_by_the_latency() {
        let mut transfer = Transfer::new(SR, 256);
        let x = input(330.0);
        let out = run(&mut transfer, &x, &controls(0.0, 0.0));
        let latency = transfer.latency();
        assert!(out[..latency].iter().all(|s| *s == 0.0));
        assert_eq!(&out[latency..], &x[..x.len() - latency]);
    }

    /// With `assert_process_allocs`, any allocation inside `assert_no_alloc` aborts.
    #[cfg(all(feature = "assert_process_allocs", debug_assertions))]
    #[test]
    fn a_transfer_allocates_nothing_while_it_plays_swaps_and_resets() {
        let mut transfer = Transfer::new(SR, 512);
        let x = input(196.0);
        let (mut left, mut right) = (x.clone(), x.clone());
        let first = builtin("nylon_pluck");
        let mut second = Some(builtin("warm_pad"));
        let mut retired = None;
        nice_assert_no_alloc::assert_no_alloc(|| {
            assert!(transfer.begin_swap(first).is_ok());
            for (i, start) in (0..x.len()).step_by(500).enumerate() {
                let end = (start + 500).min(x.len());
                let c = controls(-12.0, 0.5);
                transfer.process(
                    &x[start..end],
                    &mut left[start..end],
                    &mut right[start..end],
                    &c,
                );
                if i == 40 {
                    if let Some(next) = second.take() {
                        second = transfer.begin_swap(next).err();
                    }
                }
                if let Some(old) = transfer.take_retired() {
                    retired = Some(old);
                }
                if i == 120 {
                    transfer.reset();
                }
            }
        });
        assert!(second.is_none() && retired.is_some(), "the swap happened");
        assert!(left.iter().all(|s| s.is_finite()));
    }
}
