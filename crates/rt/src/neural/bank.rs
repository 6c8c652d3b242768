//! The neural voice in real time. The audio thread owns a [`NeuralVoiceBank`]: one
//! [`NeuralSynth`] per voice, fed by frames it pops from a wait-free ring; it pushes note
//! events into another ring and publishes its sample clock in an atomic. A worker thread
//! owns the [`NeuralInference`]: it turns each sounding note into a loudness contour (the
//! sidecar's envelope), runs one batched decoder call for all voices that need their next
//! frame, a little ahead of the audio clock, and pushes the frames.
//!
//! Timing: a note that starts at sample `s` has frame `j` at `s + j * hop`; between frame
//! `j` and `j + 1` the synth glides to frame `j + 1`, so that frame must be there by
//! `s + j * hop`. The worker computes it once the audio clock is within the host's largest
//! block plus the lead (a few ms) of that instant: the envelope is known in advance, so only note-offs and
//! pitch changes wait for the next frames. A frame that is not there in time is simply not
//! used: the voice holds the one it has (and a frame that arrives mid-glide is glided to over
//! what is left of it).
//!
//! The audio side never allocates, locks or waits; the allocation test below proves it. The
//! one exception is a host rendering offline (a bounce, at whatever speed, where no deadline
//! is missed): there the audio side waits, bounded by [`OFFLINE_WAIT`], for each frame it is
//! about to need, since a held frame would be heard in the file.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtrb::{Consumer, Producer, RingBuffer};

use super::shaping::Shaping;
use super::synth::NeuralSynth;
use super::{Controls, NOISE_BANDS};

/// Frames kept per voice on the audio side, by frame index: the worker is at most a host
/// block plus the lead ahead (a few frames), and never more than this.
pub const FRAME_SLOTS: usize = 8;

/// Samples rendered per internal chunk of the audio side (its scratch buffer's size).
const CHUNK: usize = 256;

/// Note events that fit in the ring before the audio side drops one.
const EVENT_CAPACITY: usize = 1024;

/// The longest an offline render waits for the frames of one chunk; a decoder that stalls
/// longer is treated as live (its voices hold their frames).
const OFFLINE_WAIT: Duration = Duration::from_millis(50);

/// How long an offline render sleeps between looks at the frame ring.
const OFFLINE_POLL: Duration = Duration::from_micros(100);

/// After the release, the voice glides to silence over one hop and then stops.
const TAIL_HOPS: f64 = 1.0;

/// What the audio side needs to know of a model: how often frames come, how high its noise
/// bands reach, how long a released note lasts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelTiming {
    /// Seconds between two decoder frames.
    pub frame_seconds: f64,
    /// The model's Nyquist frequency: the top noise band's centre, in Hz.
    pub nyquist_hz: f32,
    /// The loudness contour's release after note-off, in seconds.
    pub release_s: f32,
}

/// How the two sides are set up.
#[derive(Clone, Debug)]
pub struct StreamSettings {
    pub voices: usize,
    /// The audio rate, in Hz.
    pub sample_rate: f32,
    /// The largest block the audio side may render between two looks at the rings: the
    /// host's maximum buffer size (nice-plug's `max_buffer_size`), since the engine renders
    /// a host block in quick chunks. The worker stays this far ahead of the audio clock
    /// (or the largest block it has seen, if larger).
    pub max_block: usize,
    /// How far ahead of the audio clock, beyond `max_block`, the worker keeps frames.
    pub lead: Duration,
    /// How long the worker sleeps when there is nothing to compute.
    pub poll: Duration,
    /// Whether the host renders offline; then the audio side waits for its frames (see the
    /// module notes).
    pub offline: OfflineFlag,
    /// Seconds between frames, when not the model's own (a transfer follows its input
    /// every few ms; the decoder is per frame, so any rate plays the same model).
    pub frame_seconds: Option<f64>,
}

/// Whether the host renders offline (a bounce or an export). The plugin sets it when the
/// host activates it (the host's render mode); live neural voices read it every block.
#[derive(Clone, Debug, Default)]
pub struct OfflineFlag(Arc<AtomicBool>);

impl OfflineFlag {
    pub fn set(&self, offline: bool) {
        self.0.store(offline, Ordering::Relaxed);
    }

    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl StreamSettings {
    pub fn new(voices: usize, sample_rate: f32) -> Self {
        StreamSettings {
            voices,
            sample_rate,
            max_block: 1024,
            lead: Duration::from_millis(5),
            poll: Duration::from_micros(500),
            offline: OfflineFlag::default(),
            frame_seconds: None,
        }
    }
}

/// Audio side → worker.
#[derive(Clone, Copy, Debug)]
pub enum NoteEvent {
    On {
        voice: usize,
        note: u32,
        hz: f32,
        velocity: f32,
        at: u64,
    },
    Off {
        voice: usize,
        note: u32,
        at: u64,
    },
    Pitch {
        voice: usize,
        note: u32,
        hz: f32,
    },
    /// A note that follows a contour (timbre transfer): its frames come from the
    /// [`NoteEvent::Contour`] points the audio side sends, not from the sidecar's envelope.
    Follow {
        voice: usize,
        note: u32,
        at: u64,
    },
    /// Frame `index` of a following note plays `hz` at `loudness_db`.
    Contour {
        voice: usize,
        note: u32,
        index: u32,
        hz: f32,
        loudness_db: f32,
    },
    Reset,
}

/// Worker → audio side: frame `index` of note `note` on `voice`.
#[derive(Clone, Copy, Debug)]
pub struct FrameMessage {
    pub voice: usize,
    pub note: u32,
    pub index: u32,
    pub controls: Controls,
}

/// State both sides read: the audio clock and the size of the block being rendered.
struct Shared {
    /// Samples the audio side has rendered (the start of its next block).
    clock: AtomicU64,
    /// The longest block the audio side has rendered, in samples.
    block: AtomicU32,
    /// [`Shaping::attack`] as f32 bits: the worker scales the envelope's attack by it.
    attack_scale: AtomicU32,
    /// [`Shaping::release`] as f32 bits: the worker scales the envelope's release by it.
    release_scale: AtomicU32,
}

/// The worker's ends of the rings, made by [`NeuralVoiceBank::new`].
pub struct InferencePorts {
    events: Consumer<NoteEvent>,
    frames: Producer<FrameMessage>,
    shared: Arc<Shared>,
}

impl InferencePorts {
    /// The audio side's next note event, if any.
    pub fn next_event(&mut self) -> Option<NoteEvent> {
        self.events.pop().ok()
    }

    /// Samples the audio side has rendered (the start of its next block).
    pub fn clock(&self) -> u64 {
        self.shared.clock.load(Ordering::Acquire)
    }

    /// The longest block the audio side has rendered, in samples.
    pub fn longest_block(&self) -> usize {
        self.shared.block.load(Ordering::Relaxed) as usize
    }

    /// The factor [`Shaping::attack`] asks the loudness contour's attack to be scaled by.
    pub fn attack_scale(&self) -> f32 {
        f32::from_bits(self.shared.attack_scale.load(Ordering::Relaxed))
    }

    /// The factor [`Shaping::release`] asks the loudness contour's release to be scaled by.
    pub fn release_scale(&self) -> f32 {
        f32::from_bits(self.shared.release_scale.load(Ordering::Relaxed))
    }

    /// How many frames fit in the ring now.
    pub fn free_frame_slots(&self) -> usize {
        self.frames.slots()
    }

    /// Sends a frame; false when the ring is full (the frame is dropped).
    pub fn send_frame(&mut self, frame: FrameMessage) -> bool {
        self.frames.push(frame).is_ok()
    }
}

/// A received frame waiting for its turn.
#[derive(Clone, Copy)]
struct Slot {
    note: u32,
    index: u32,
    controls: Controls,
}

/// One voice on the audio side.
struct Voice {
    synth: NeuralSynth,
    /// The current note's number (0: none yet); frames of other notes are dropped.
    note: u32,
    active: bool,
    /// The note-on's sample.
    start: u64,
    released_at: Option<u64>,
    /// Gliding to silence after the release: frames are no longer used.
    closing: bool,
    /// The frame the synth glides to (or waits for).
    next_index: u32,
    /// That frame was not there when needed: holding the previous one.
    waiting: bool,
    /// The current pitch; frames play it rather than the pitch they were computed for, so
    /// bends are heard at once (a following note's frames play their own).
    hz: f32,
    /// The note follows a contour ([`NeuralVoiceBank::follow`]).
    following: bool,
    /// The current note received a frame.
    has_frame: bool,
    slots: [Option<Slot>; FRAME_SLOTS],
    /// Peak of the last block, for stealing the quietest voice.
    level: f32,
}

/// The audio side: voices, the rings' audio ends, the clock.
pub struct NeuralVoiceBank {
    voices: Vec<Voice>,
    events: Producer<NoteEvent>,
    frames: Consumer<FrameMessage>,
    shared: Arc<Shared>,
    /// Samples rendered so far.
    clock: u64,
    /// Samples per frame at the audio rate.
    hop: f64,
    /// The sidecar's release, in samples: the voice ends this long after note-off.
    release: f64,
    /// Numbers notes so that late frames of a voice's previous note are dropped.
    next_note: u32,
    scratch: Vec<f32>,
    /// One voice's noise part, apart from its harmonic part in `scratch`.
    scratch_noise: Vec<f32>,
    /// Segment boundaries reached without the next frame, after a note's first frame.
    late_frames: u64,
    /// Events dropped because the ring was full.
    dropped_events: u64,
    /// How frames are reshaped before they play (a patch's macros).
    shaping: Shaping,
    /// Seconds per frame, for the vibrato's phase.
    frame_seconds: f64,
    /// Hz between the centres of two noise bands, for the body bell.
    noise_band_hz: f32,
    /// Whether to wait for frames before each chunk: the host renders offline.
    offline: OfflineFlag,
}

impl NeuralVoiceBank {
    /// Builds the audio side for a model and the worker's ends of the rings. Allocates:
    /// call it off the audio thread.
    pub fn new(model: &ModelTiming, settings: &StreamSettings) -> (Self, InferencePorts) {
        let voices = settings.voices.max(1);
        let (event_tx, event_rx) = RingBuffer::new(EVENT_CAPACITY);
        let (frame_tx, frame_rx) = RingBuffer::new(voices * FRAME_SLOTS);
        let shared = Arc::new(Shared {
            clock: AtomicU64::new(0),
            block: AtomicU32::new(0),
            attack_scale: AtomicU32::new(1f32.to_bits()),
            release_scale: AtomicU32::new(1f32.to_bits()),
        });
        let sr = f64::from(settings.sample_rate);
        let frame_seconds = settings.frame_seconds.unwrap_or(model.frame_seconds);
        let bank = NeuralVoiceBank {
            voices: (0..voices)
                .map(|i| Voice {
                    synth: NeuralSynth::new(settings.sample_rate, model.nyquist_hz, i as u64 + 1),
                    note: 0,
                    active: false,
                    start: 0,
                    released_at: None,
                    closing: false,
                    next_index: 1,
                    waiting: true,
                    hz: 0.0,
                    following: false,
                    has_frame: false,
                    slots: [None; FRAME_SLOTS],
                    level: 0.0,
                })
                .collect(),
            events: event_tx,
            frames: frame_rx,
            shared: shared.clone(),
            clock: 0,
            hop: frame_seconds * sr,
            release: f64::from(model.release_s) * sr,
            next_note: 1,
            scratch: vec![0.0; CHUNK],
            scratch_noise: vec![0.0; CHUNK],
            late_frames: 0,
            dropped_events: 0,
            shaping: Shaping::NEUTRAL,
            frame_seconds,
            noise_band_hz: model.nyquist_hz / (NOISE_BANDS - 1) as f32,
            offline: settings.offline.clone(),
        };
        let ports = InferencePorts {
            events: event_rx,
            frames: frame_tx,
            shared,
        };
        (bank, ports)
    }

    pub fn voice_count(&self) -> usize {
        self.voices.len()
    }

    pub fn is_voice_active(&self, voice: usize) -> bool {
        self.voices[voice].active
    }

    pub fn voice_level(&self, voice: usize) -> f32 {
        self.voices[voice].level
    }

    /// Whether the voice's current note has received a frame from the decoder.
    pub fn has_frame(&self, voice: usize) -> bool {
        self.voices[voice].has_frame
    }

    /// Segment boundaries where a sounding note's next frame was not there (it held).
    pub fn late_frames(&self) -> u64 {
        self.late_frames
    }

    /// Note events lost because the worker had not taken the previous ones.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// Samples rendered so far.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    pub fn shaping(&self) -> &Shaping {
        &self.shaping
    }

    /// Reshapes the frames from now on (frames already gliding keep their shape). Wait-free.
    pub fn set_shaping(&mut self, shaping: Shaping) {
        self.shaping = shaping;
        self.shared
            .attack_scale
            .store(shaping.attack.max(0.0).to_bits(), Ordering::Relaxed);
        self.shared
            .release_scale
            .store(shaping.release.max(0.0).to_bits(), Ordering::Relaxed);
    }

    fn send(&mut self, event: NoteEvent) {
        if self.events.push(event).is_err() {
            self.dropped_events += 1;
        }
    }

    /// Starts (or restarts) a note on `voice` at the current sample.
    pub fn note_on(&mut self, voice: usize, hz: f32, velocity: f32) {
        let note = self.start_note(voice, hz, false);
        let at = self.clock;
        self.send(NoteEvent::On {
            voice,
            note,
            hz,
            velocity,
            at,
        });
    }

    /// Starts a note on `voice` at the current sample that follows a contour: frame `k` of
    /// it (at this sample plus `k` frame periods) plays the pitch and loudness that
    /// [`NeuralVoiceBank::contour`] gives for `k`, for as long as it is not released.
    pub fn follow(&mut self, voice: usize) {
        let note = self.start_note(voice, 0.0, true);
        let at = self.clock;
        self.send(NoteEvent::Follow { voice, note, at });
    }

    /// Frame `index` of the note `voice` follows plays `hz` at `loudness_db`: send it a few
    /// frames before it is due (the decoder computes it on its thread).
    pub fn contour(&mut self, voice: usize, index: u32, hz: f32, loudness_db: f32) {
        let v = &self.voices[voice];
        if !(v.active && v.following) {
            return;
        }
        let note = v.note;
        self.send(NoteEvent::Contour {
            voice,
            note,
            index,
            hz,
            loudness_db,
        });
    }

    /// Makes `voice` play a new note (numbered, returned) from the current sample.
    fn start_note(&mut self, voice: usize, hz: f32, following: bool) -> u32 {
        let note = self.next_note;
        self.next_note = self.next_note.wrapping_add(1).max(1);
        let clock = self.clock;
        let v = &mut self.voices[voice];
        if !v.active {
            v.synth.reset();
            v.synth.jump_to(&Controls::silent(hz));
        }
        v.note = note;
        v.active = true;
        v.start = clock;
        v.released_at = None;
        v.closing = false;
        v.next_index = 1;
        v.waiting = true;
        v.hz = hz;
        v.following = following;
        v.has_frame = false;
        v.slots = [None; FRAME_SLOTS];
        note
    }

    /// Releases `voice`: the contour falls to the floor over the sidecar's release time.
    pub fn note_off(&mut self, voice: usize) {
        let clock = self.clock;
        let v = &mut self.voices[voice];
        if !v.active || v.released_at.is_some() {
            return;
        }
        v.released_at = Some(clock);
        let note = v.note;
        self.send(NoteEvent::Off {
            voice,
            note,
            at: clock,
        });
    }

    /// Changes a sounding voice's pitch (a bend): heard at once, and the decoder's next
    /// frames follow it.
    pub fn set_voice_pitch(&mut self, voice: usize, hz: f32) {
        let hop = self.hop;
        let clock = self.clock;
        let v = &mut self.voices[voice];
        if !v.active {
            return;
        }
        v.hz = hz;
        let mut target = *v.synth.target();
        target.f0_hz = hz;
        let segment_end = v.start as f64 + f64::from(v.next_index) * hop;
        v.synth
            .set_frame(&target, (segment_end - clock as f64).max(1.0));
        let note = v.note;
        self.send(NoteEvent::Pitch { voice, note, hz });
    }

    /// Silences every voice at once.
    pub fn reset(&mut self) {
        for v in &mut self.voices {
            v.active = false;
            v.synth.reset();
            v.level = 0.0;
        }
        self.send(NoteEvent::Reset);
    }

    /// Takes the frames the worker has sent and files them with their voices; frames of
    /// finished notes, or for instants already past, are dropped.
    pub fn receive_frames(&mut self) {
        while let Ok(message) = self.frames.pop() {
            let Some(v) = self.voices.get_mut(message.voice) else {
                continue;
            };
            if !v.active || v.closing || message.note != v.note || message.index < v.next_index {
                continue;
            }
            v.slots[message.index as usize % FRAME_SLOTS] = Some(Slot {
                note: message.note,
                index: message.index,
                controls: message.controls,
            });
            v.has_frame = true;
        }
    }

    /// Renders all voices, summed, into `out` (overwriting it), and advances the clock.
    pub fn render(&mut self, out: &mut [f32]) {
        self.render_parts(out, None);
    }

    /// Like [`NeuralVoiceBank::render`], with the voices' harmonic parts summed into
    /// `harmonic` and their noise into `noise` (same length), for a synthesis graph.
    pub fn render_split(&mut self, harmonic: &mut [f32], noise: &mut [f32]) {
        self.render_parts(harmonic, Some(noise));
    }

    /// Renders into `out`, with the noise apart in `noise` when given, else added to `out`.
    fn render_parts(&mut self, out: &mut [f32], mut noise: Option<&mut [f32]>) {
        self.receive_frames();
        self.shared
            .block
            .fetch_max(out.len().min(u32::MAX as usize) as u32, Ordering::Relaxed);
        out.fill(0.0);
        if let Some(noise) = noise.as_deref_mut() {
            noise.fill(0.0);
        }
        for v in &mut self.voices {
            v.level = 0.0;
        }
        let mut start = 0;
        while start < out.len() {
            let end = (start + CHUNK).min(out.len());
            let len = end - start;
            if self.offline.get() {
                self.wait_for_frames(self.clock + len as u64);
            }
            for v in self.voices.iter_mut().filter(|v| v.active) {
                let harmonic = &mut self.scratch[..len];
                let voice_noise = &mut self.scratch_noise[..len];
                render_voice(
                    v,
                    Timing {
                        clock: self.clock,
                        hop: self.hop,
                        release: self.release * f64::from(self.shaping.release),
                        frame_seconds: self.frame_seconds,
                        noise_band_hz: self.noise_band_hz,
                    },
                    &self.shaping,
                    harmonic,
                    voice_noise,
                    &mut self.late_frames,
                );
                let block = &mut out[start..end];
                for ((o, h), z) in block
                    .iter_mut()
                    .zip(harmonic.iter())
                    .zip(voice_noise.iter())
                {
                    v.level = v.level.max((h + z).abs());
                    *o += h;
                    if noise.is_none() {
                        *o += z;
                    }
                }
                if let Some(noise) = noise.as_deref_mut() {
                    for (o, z) in noise[start..end].iter_mut().zip(voice_noise.iter()) {
                        *o += z;
                    }
                }
            }
            self.clock += len as u64;
            start = end;
        }
        self.shared.clock.store(self.clock, Ordering::Release);
    }

    /// Offline only: waits until every sounding voice has the frame it will glide to before
    /// `chunk_end` (at most one segment boundary falls in a chunk), or [`OFFLINE_WAIT`] has
    /// passed.
    fn wait_for_frames(&mut self, chunk_end: u64) {
        let started = Instant::now();
        loop {
            self.receive_frames();
            let (hop, release) = (self.hop, self.release * f64::from(self.shaping.release));
            let missing = self.voices.iter().any(|v| {
                let boundary = v.start as f64 + f64::from(v.next_index) * hop;
                let index = if boundary < chunk_end as f64 {
                    v.next_index + 1
                } else if v.waiting {
                    v.next_index
                } else {
                    return false;
                };
                let finished = v
                    .released_at
                    .is_some_and(|off| boundary >= off as f64 + release);
                let filed = v.slots[index as usize % FRAME_SLOTS]
                    .is_some_and(|s| s.index == index && s.note == v.note);
                v.active && !v.closing && !finished && !filed
            });
            if !missing || started.elapsed() > OFFLINE_WAIT {
                return;
            }
            std::thread::sleep(OFFLINE_POLL);
        }
    }
}

/// Where a block sits and how long frames and releases are, for [`render_voice`].
#[derive(Clone, Copy)]
struct Timing {
    /// The block's first sample.
    clock: u64,
    /// Samples per frame.
    hop: f64,
    /// The release, in samples.
    release: f64,
    frame_seconds: f64,
    noise_band_hz: f32,
}

/// Renders one voice for the block starting at `timing.clock`, switching frames at its
/// segment boundaries.
fn render_voice(
    v: &mut Voice,
    timing: Timing,
    shaping: &Shaping,
    out: &mut [f32],
    noise: &mut [f32],
    late_frames: &mut u64,
) {
    let Timing {
        clock,
        hop,
        release,
        ..
    } = timing;
    let end = clock + out.len() as u64;
    let mut position = clock;
    while position < end {
        let mut segment_end = v.start as f64 + f64::from(v.next_index) * hop;
        let from = (position - clock) as usize;
        if position as f64 >= segment_end {
            // Into the next segment, decided only when its first sample is due, so a frame
            // that arrives between two blocks is still on time.
            v.next_index += 1;
            segment_end += hop;
            let remaining = segment_end - position as f64;
            let finished = v
                .released_at
                .is_some_and(|off| position as f64 >= off as f64 + release);
            if v.closing {
                if v.synth.is_holding() {
                    v.active = false;
                    out[from..].fill(0.0);
                    noise[from..].fill(0.0);
                    return;
                }
            } else if finished {
                v.closing = true;
                v.synth.set_frame(&Controls::silent(v.hz), TAIL_HOPS * hop);
            } else if let Some(frame) = take_slot(v, v.next_index, shaping, &timing) {
                v.synth.set_frame(&frame, remaining);
                v.waiting = false;
            } else {
                v.waiting = true;
                if v.has_frame {
                    *late_frames += 1;
                }
            }
        } else if v.waiting && !v.closing {
            // A late frame: glide to it over what is left of its segment.
            if let Some(frame) = take_slot(v, v.next_index, shaping, &timing) {
                v.synth.set_frame(&frame, segment_end - position as f64);
                v.waiting = false;
            }
        }
        let stop = (segment_end.ceil() as u64).clamp(position + 1, end);
        let to = (stop - clock) as usize;
        v.synth
            .render_split(&mut out[from..to], &mut noise[from..to]);
        position = stop;
    }
}

/// The voice's frame `index`, if it came, playing the voice's current pitch, reshaped.
fn take_slot(v: &mut Voice, index: u32, shaping: &Shaping, timing: &Timing) -> Option<Controls> {
    let slot = &mut v.slots[index as usize % FRAME_SLOTS];
    match slot.take() {
        Some(s) if s.index == index && s.note == v.note => {
            let mut controls = s.controls;
            if !v.following {
                controls.f0_hz = v.hz;
            }
            let t = f64::from(index) * timing.frame_seconds;
            shaping.apply(&mut controls, t, timing.noise_band_hz);
            Some(controls)
        }
        other => {
            // A frame for a later index stays filed.
            *slot = other.filter(|s| s.index > index && s.note == v.note);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: f32 = 48_000.0;
    /// 20 ms at 48 kHz.
    const HOP: usize = 960;

    /// 20 ms frames (a 16 kHz model with a 320-sample hop), 0.1 s release.
    fn info() -> ModelTiming {
        ModelTiming {
            frame_seconds: 0.02,
            nyquist_hz: 8000.0,
            release_s: 0.1,
        }
    }

    fn send(
        ports: &mut InferencePorts,
        bank: &NeuralVoiceBank,
        voice: usize,
        index: u32,
        amp: f32,
    ) {
        let mut controls = Controls::silent(220.0);
        controls.amplitude = amp;
        controls.harmonics[0] = 1.0;
        let note = bank.voices[voice].note;
        assert!(ports
            .frames
            .push(FrameMessage {
                voice,
                note,
                index,
                controls,
            })
            .is_ok());
    }

    fn peak(s: &[f32]) -> f32 {
        s.iter().fold(0.0, |m, x| m.max(x.abs()))
    }

    #[test]
    fn frames_play_on_time_and_a_late_frame_holds_the_previous_one() {
        let (mut bank, mut ports) = NeuralVoiceBank::new(&info(), &StreamSettings::new(2, SR));
        let mut out = vec![0.0; HOP];
        bank.note_on(0, 220.0, 1.0);
        assert!(matches!(
            ports.events.pop(),
            Ok(NoteEvent::On {
                voice: 0,
                at: 0,
                ..
            })
        ));
        // No frame yet: silence, and not counted as late.
        bank.render(&mut out[..HOP / 4]);
        assert_eq!(peak(&out[..HOP / 4]), 0.0);
        // Frame 1 arrives a quarter into the first segment: glide to it over the rest.
        send(&mut ports, &bank, 0, 1, 1.0);
        bank.render(&mut out[..3 * HOP / 4]);
        assert!(bank.has_frame(0));
        let end = 3 * HOP / 4;
        assert!(
            peak(&out[end - 40..end]) > 0.9,
            "{}",
            peak(&out[end - 40..end])
        );
        // Frame 2 does not come: the voice holds frame 1 at full level.
        bank.render(&mut out);
        assert_eq!(bank.late_frames(), 1);
        assert!(peak(&out[HOP / 2..]) > 0.99);
        // A stale frame (index 2, now past) is dropped; frame 3 on time glides down.
        send(&mut ports, &bank, 0, 2, 0.0);
        send(&mut ports, &bank, 0, 3, 0.0);
        bank.render(&mut out);
        assert!(peak(&out[HOP - 40..]) < 0.05, "{}", peak(&out[HOP - 40..]));
        assert_eq!(bank.late_frames(), 1);
        // Frames of a previous note on the voice are dropped.
        let old_note = bank.voices[0].note;
        bank.note_on(0, 330.0, 1.0);
        let mut controls = Controls::silent(220.0);
        controls.amplitude = 1.0;
        controls.harmonics[0] = 1.0;
        let _ = ports.frames.push(FrameMessage {
            voice: 0,
            note: old_note,
            index: 1,
            controls,
        });
        bank.render(&mut out);
        assert!(!bank.has_frame(0));
    }

    #[test]
    fn offline_the_audio_side_waits_for_a_late_frame() {
        let settings = StreamSettings::new(1, SR);
        settings.offline.set(true);
        let (mut bank, mut ports) = NeuralVoiceBank::new(&info(), &settings);
        let mut out = vec![0.0; HOP];
        bank.note_on(0, 220.0, 1.0);
        let note = bank.voices[0].note;
        // Frame 1 comes 5 ms after the block is asked for: live, the block would be silent.
        let worker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            let mut controls = Controls::silent(220.0);
            controls.amplitude = 1.0;
            controls.harmonics[0] = 1.0;
            let frame = FrameMessage {
                voice: 0,
                note,
                index: 1,
                controls,
            };
            assert!(ports.frames.push(frame).is_ok());
            ports
        });
        bank.render(&mut out);
        assert!(bank.has_frame(0), "the block waited for its frame");
        assert!(peak(&out[HOP - 40..]) > 0.9, "{}", peak(&out[HOP - 40..]));
        // A decoder that never answers stalls the render only for a bounded time: the voice
        // then holds its frame, as live.
        let _ports = worker.join().unwrap();
        bank.render(&mut out);
        assert_eq!(bank.late_frames(), 1);
        assert!(peak(&out) > 0.9);
    }

    #[test]
    fn a_released_voice_ends_after_its_release() {
        let (mut bank, mut ports) = NeuralVoiceBank::new(&info(), &StreamSettings::new(1, SR));
        let mut out = vec![0.0; HOP];
        bank.note_on(0, 220.0, 1.0);
        send(&mut ports, &bank, 0, 1, 0.5);
        bank.render(&mut out);
        bank.note_off(0);
        assert!(bank.is_voice_active(0));
        // Release 0.1 s = 5 hops, then one hop to silence.
        for _ in 0..8 {
            bank.render(&mut out);
        }
        assert!(!bank.is_voice_active(0));
        bank.render(&mut out);
        assert_eq!(peak(&out), 0.0);
    }

    #[test]
    fn a_pitch_bend_is_heard_at_once() {
        let (mut bank, mut ports) = NeuralVoiceBank::new(&info(), &StreamSettings::new(1, SR));
        let mut out = vec![0.0; HOP];
        bank.note_on(0, 220.0, 1.0);
        send(&mut ports, &bank, 0, 1, 0.5);
        bank.render(&mut out);
        bank.set_voice_pitch(0, 440.0);
        assert_eq!(bank.voices[0].synth.target().f0_hz, 440.0);
        while ports.events.pop().is_ok() {}
    }

    /// Proof that the audio side allocates nothing: with the `assert_process_allocs` feature,
    /// nice-plug's allocator aborts on any allocation inside `assert_no_alloc` (debug builds).
    #[cfg(all(feature = "assert_process_allocs", debug_assertions))]
    #[test]
    fn the_audio_side_allocates_nothing() {
        let (mut bank, mut ports) = NeuralVoiceBank::new(&info(), &StreamSettings::new(4, SR));
        let mut out = vec![0.0; 1000];
        nice_assert_no_alloc::assert_no_alloc(|| {
            for v in 0..4 {
                bank.note_on(v, 110.0 * (v + 1) as f32, 0.8);
            }
            bank.render(&mut out[..333]);
        });
        for v in 0..4 {
            send(&mut ports, &bank, v, 1, 0.5);
            send(&mut ports, &bank, v, 2, 0.4);
        }
        nice_assert_no_alloc::assert_no_alloc(|| {
            bank.render(&mut out);
            bank.set_shaping(Shaping {
                tilt: 0.3,
                vibrato: 0.2,
                ..Shaping::NEUTRAL
            });
            bank.set_voice_pitch(1, 300.0);
            bank.render(&mut out);
            bank.note_off(2);
            bank.render(&mut out);
            bank.note_on(3, 500.0, 0.2);
            bank.render(&mut out[..1]);
            bank.receive_frames();
            bank.reset();
            bank.render(&mut out);
        });
        assert!(out.iter().all(|s| s.is_finite()));
    }
}
