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
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rtrb::{Consumer, Producer, RingBuffer};

use super::decoder::Decoder;
use super::model::{LoudnessEnvelope, ModelInfo};
use super::synth::NeuralSynth;
use super::{Controls, NOISE_BANDS};

/// Frames kept per voice on the audio side, by frame index: the worker is at most a host
/// block plus the lead ahead (a few frames), and never more than this.
const SLOTS: usize = 8;

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

/// Rate of the vibrato [`Shaping::vibrato`] adds, in Hz.
const VIBRATO_HZ: f64 = 5.5;

/// How fast [`Shaping::transient`]'s boost dies away after the note-on, in seconds.
const TRANSIENT_S: f64 = 0.05;

/// Centre of the low-mid bell [`Shaping::body`] raises, in Hz: the middle of Warm's
/// 100–600 Hz band, where the Faust patches' `mp.body` bell sits too.
const BODY_HZ: f32 = 250.0;

/// How far from [`BODY_HZ`], in octaves, the bell's gain (in dB) is half of
/// [`Shaping::body`]: 100 and 600 Hz are about that far.
const BODY_HALF_OCTAVES: f32 = 1.3;

/// Synthesis controls applied to the decoder's frames on the audio side, so a patch's macros
/// can reshape a model's timbre without a decoder call (DESIGN.md §7 on a neural patch).
/// The neutral value of each leaves the frames as decoded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shaping {
    /// Harmonic `k`'s weight is multiplied by `k^tilt` (then renormalised): up is brighter.
    pub tilt: f32,
    /// Gain in dB of a bell on the low mids, centred on 250 Hz, for the harmonics and noise
    /// bands under it (the harmonics then renormalised): up is warmer.
    pub body: f32,
    /// Multiplies the noise bands: up is grittier.
    pub noise_gain: f32,
    /// Depth of a 5.5 Hz vibrato, in semitones.
    pub vibrato: f32,
    /// Multiplies the sidecar's attack time (applied by the worker side's loudness contour).
    pub attack: f32,
    /// Gain at the note-on, in dB, dying away over 50 ms: up is a harder transient.
    pub transient: f32,
}

impl Shaping {
    pub const NEUTRAL: Shaping = Shaping {
        tilt: 0.0,
        body: 0.0,
        noise_gain: 1.0,
        vibrato: 0.0,
        attack: 1.0,
        transient: 0.0,
    };

    /// Reshapes one decoded frame, `t` seconds into its note; the noise bands are
    /// `noise_band_hz` apart, band 0 at 0 Hz.
    fn apply(&self, controls: &mut Controls, t: f64, noise_band_hz: f32) {
        if self.tilt != 0.0 || self.body != 0.0 {
            let (mut before, mut after) = (0.0f32, 0.0f32);
            let f0 = controls.f0_hz;
            for (k, w) in controls.harmonics.iter_mut().enumerate() {
                before += *w;
                let harmonic = (k + 1) as f32;
                *w *= harmonic.powf(self.tilt) * self.body_gain(harmonic * f0);
                after += *w;
            }
            if after > 0.0 {
                let scale = before / after;
                controls.harmonics.iter_mut().for_each(|w| *w *= scale);
            }
        }
        if self.noise_gain != 1.0 || self.body != 0.0 {
            for (k, n) in controls.noise.iter_mut().enumerate() {
                *n *= self.noise_gain * self.body_gain(k as f32 * noise_band_hz);
            }
        }
        if self.vibrato != 0.0 {
            let bend = f64::from(self.vibrato) * (std::f64::consts::TAU * VIBRATO_HZ * t).sin();
            controls.f0_hz *= 2f64.powf(bend / 12.0) as f32;
        }
        if self.transient != 0.0 {
            let db = f64::from(self.transient) * (-t / TRANSIENT_S).exp();
            controls.amplitude *= 10f64.powf(db / 20.0) as f32;
        }
    }

    /// The linear gain of the [`Shaping::body`] bell at `hz`: a Gaussian in octaves, in dB.
    fn body_gain(&self, hz: f32) -> f32 {
        if self.body == 0.0 || hz <= 0.0 {
            return 1.0;
        }
        let octaves = (hz / BODY_HZ).log2() / BODY_HALF_OCTAVES;
        let db = self.body * (-octaves * octaves * std::f32::consts::LN_2).exp();
        10f32.powf(db / 20.0)
    }
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
        }
    }
}

/// Audio side → worker.
#[derive(Clone, Copy, Debug)]
enum NoteEvent {
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
    Reset,
}

/// Worker → audio side: frame `index` of note `note` on `voice`.
#[derive(Clone, Copy, Debug)]
struct FrameMessage {
    voice: usize,
    note: u32,
    index: u32,
    controls: Controls,
}

/// State both sides read: the audio clock and the size of the block being rendered.
struct Shared {
    /// Samples the audio side has rendered (the start of its next block).
    clock: AtomicU64,
    /// The longest block the audio side has rendered, in samples.
    block: AtomicU32,
    /// [`Shaping::attack`] as f32 bits: the worker scales the envelope's attack by it.
    attack_scale: AtomicU32,
}

/// The worker's ends of the rings, made by [`NeuralVoiceBank::new`].
pub struct InferencePorts {
    events: Consumer<NoteEvent>,
    frames: Producer<FrameMessage>,
    shared: Arc<Shared>,
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
    /// bends are heard at once.
    hz: f32,
    /// The current note received a frame.
    has_frame: bool,
    slots: [Option<Slot>; SLOTS],
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
    pub fn new(info: &ModelInfo, settings: &StreamSettings) -> (Self, InferencePorts) {
        let voices = settings.voices.max(1);
        let (event_tx, event_rx) = RingBuffer::new(EVENT_CAPACITY);
        let (frame_tx, frame_rx) = RingBuffer::new(voices * SLOTS);
        let shared = Arc::new(Shared {
            clock: AtomicU64::new(0),
            block: AtomicU32::new(0),
            attack_scale: AtomicU32::new(1f32.to_bits()),
        });
        let sr = f64::from(settings.sample_rate);
        let bank = NeuralVoiceBank {
            voices: (0..voices)
                .map(|i| Voice {
                    synth: NeuralSynth::new(settings.sample_rate, info.nyquist_hz(), i as u64 + 1),
                    note: 0,
                    active: false,
                    start: 0,
                    released_at: None,
                    closing: false,
                    next_index: 1,
                    waiting: true,
                    hz: 0.0,
                    has_frame: false,
                    slots: [None; SLOTS],
                    level: 0.0,
                })
                .collect(),
            events: event_tx,
            frames: frame_rx,
            shared: shared.clone(),
            clock: 0,
            hop: info.frame_seconds() * sr,
            release: f64::from(info.loudness.release_s) * sr,
            next_note: 1,
            scratch: vec![0.0; CHUNK],
            late_frames: 0,
            dropped_events: 0,
            shaping: Shaping::NEUTRAL,
            frame_seconds: info.frame_seconds(),
            noise_band_hz: info.nyquist_hz() / (NOISE_BANDS - 1) as f32,
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
    }

    fn send(&mut self, event: NoteEvent) {
        if self.events.push(event).is_err() {
            self.dropped_events += 1;
        }
    }

    /// Starts (or restarts) a note on `voice` at the current sample.
    pub fn note_on(&mut self, voice: usize, hz: f32, velocity: f32) {
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
        v.has_frame = false;
        v.slots = [None; SLOTS];
        self.send(NoteEvent::On {
            voice,
            note,
            hz,
            velocity,
            at: clock,
        });
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
            v.slots[message.index as usize % SLOTS] = Some(Slot {
                note: message.note,
                index: message.index,
                controls: message.controls,
            });
            v.has_frame = true;
        }
    }

    /// Renders all voices, summed, into `out` (overwriting it), and advances the clock.
    pub fn render(&mut self, out: &mut [f32]) {
        self.receive_frames();
        self.shared
            .block
            .fetch_max(out.len().min(u32::MAX as usize) as u32, Ordering::Relaxed);
        out.fill(0.0);
        for v in &mut self.voices {
            v.level = 0.0;
        }
        for block in out.chunks_mut(CHUNK) {
            if self.offline.get() {
                self.wait_for_frames(self.clock + block.len() as u64);
            }
            for v in self.voices.iter_mut().filter(|v| v.active) {
                let scratch = &mut self.scratch[..block.len()];
                render_voice(
                    v,
                    Timing {
                        clock: self.clock,
                        hop: self.hop,
                        release: self.release,
                        frame_seconds: self.frame_seconds,
                        noise_band_hz: self.noise_band_hz,
                    },
                    &self.shaping,
                    scratch,
                    &mut self.late_frames,
                );
                for (o, s) in block.iter_mut().zip(scratch.iter()) {
                    *o += s;
                    v.level = v.level.max(s.abs());
                }
            }
            self.clock += block.len() as u64;
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
            let (hop, release) = (self.hop, self.release);
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
                let filed = v.slots[index as usize % SLOTS]
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
        v.synth.render(&mut out[from..(stop - clock) as usize]);
        position = stop;
    }
}

/// The voice's frame `index`, if it came, playing the voice's current pitch, reshaped.
fn take_slot(v: &mut Voice, index: u32, shaping: &Shaping, timing: &Timing) -> Option<Controls> {
    let slot = &mut v.slots[index as usize % SLOTS];
    match slot.take() {
        Some(s) if s.index == index && s.note == v.note => {
            let mut controls = s.controls;
            controls.f0_hz = v.hz;
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

/// One voice on the worker side.
#[derive(Clone, Copy, Debug, Default)]
struct NoteState {
    active: bool,
    note: u32,
    start: u64,
    hz: f32,
    velocity: f32,
    released_at: Option<u64>,
    /// The next frame to compute.
    next_index: u32,
}

/// The worker side: the decoder, the notes as the worker knows them, and batch buffers.
pub struct NeuralInference {
    decoder: Decoder,
    ports: InferencePorts,
    notes: Vec<NoteState>,
    envelope: LoudnessEnvelope,
    f0_range: [f32; 2],
    sample_rate: f64,
    hop: f64,
    max_block: usize,
    lead: f64,
    poll: Duration,
    batch: Vec<usize>,
    f0: Vec<f32>,
    loudness: Vec<f32>,
}

impl NeuralInference {
    pub fn new(decoder: Decoder, ports: InferencePorts, settings: &StreamSettings) -> Self {
        let info = decoder.info().clone();
        let voices = settings.voices.max(1);
        let sr = f64::from(settings.sample_rate);
        NeuralInference {
            ports,
            notes: vec![NoteState::default(); voices],
            envelope: info.loudness,
            f0_range: info.f0_range_hz,
            sample_rate: sr,
            hop: info.frame_seconds() * sr,
            max_block: settings.max_block,
            lead: settings.lead.as_secs_f64() * sr,
            poll: settings.poll,
            batch: Vec::with_capacity(voices),
            f0: Vec::with_capacity(voices),
            loudness: Vec::with_capacity(voices),
            decoder,
        }
    }

    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    fn take_events(&mut self) {
        while let Ok(event) = self.ports.events.pop() {
            match event {
                NoteEvent::On {
                    voice,
                    note,
                    hz,
                    velocity,
                    at,
                } => {
                    if let Some(n) = self.notes.get_mut(voice) {
                        *n = NoteState {
                            active: true,
                            note,
                            start: at,
                            hz,
                            velocity,
                            released_at: None,
                            next_index: 1,
                        };
                    }
                }
                NoteEvent::Off { voice, note, at } => {
                    if let Some(n) = self.notes.get_mut(voice).filter(|n| n.note == note) {
                        n.released_at = Some(at);
                    }
                }
                NoteEvent::Pitch { voice, note, hz } => {
                    if let Some(n) = self.notes.get_mut(voice).filter(|n| n.note == note) {
                        n.hz = hz;
                    }
                }
                NoteEvent::Reset => self.notes.iter_mut().for_each(|n| n.active = false),
            }
        }
    }

    /// Takes the audio side's events and computes every frame that is due, in batched
    /// decoder calls (one per frame period). Returns how many frames it sent.
    pub fn step(&mut self) -> Result<usize, String> {
        self.take_events();
        let now = self.ports.shared.clock.load(Ordering::Acquire);
        let block = self.ports.shared.block.load(Ordering::Relaxed) as usize;
        let horizon = now as f64 + block.max(self.max_block) as f64 + self.lead;
        let attack_scale = f32::from_bits(self.ports.shared.attack_scale.load(Ordering::Relaxed));
        let mut envelope = self.envelope;
        envelope.attack_s = (envelope.attack_s * attack_scale).max(1e-4);
        let mut sent = 0;
        loop {
            self.batch.clear();
            self.f0.clear();
            self.loudness.clear();
            for (voice, n) in self.notes.iter_mut().enumerate() {
                if !n.active {
                    continue;
                }
                // Frames for instants already past are of no use: skip to the one the audio
                // glides to now.
                let current = ((now as f64 - n.start as f64) / self.hop).floor() + 1.0;
                n.next_index = n.next_index.max(current.max(1.0) as u32);
                let due = n.start as f64 + f64::from(n.next_index - 1) * self.hop;
                // Never further ahead than the audio side has slots to file frames in.
                let room = current + (SLOTS - 1) as f64;
                if due > horizon || f64::from(n.next_index) >= room {
                    continue;
                }
                let t = f64::from(n.next_index) * self.hop / self.sample_rate;
                let released = n
                    .released_at
                    .map(|off| off.saturating_sub(n.start) as f64 / self.sample_rate);
                self.batch.push(voice);
                self.f0.push(n.hz.clamp(self.f0_range[0], self.f0_range[1]));
                self.loudness
                    .push(envelope.level_db(n.velocity, t, released));
            }
            if self.batch.is_empty() || self.ports.frames.slots() < self.batch.len() {
                return Ok(sent);
            }
            let voices = self.batch.len();
            let frames = self.decoder.infer(&self.f0, &self.loudness, voices, 1)?;
            for (b, &voice) in self.batch.iter().enumerate() {
                let n = &mut self.notes[voice];
                let message = FrameMessage {
                    voice,
                    note: n.note,
                    index: n.next_index,
                    controls: frames.controls(b, 0, n.hz),
                };
                // Room was checked above, and only this thread pushes.
                let _ = self.ports.frames.push(message);
                sent += 1;
                let t = f64::from(n.next_index) * self.hop / self.sample_rate;
                let released = n
                    .released_at
                    .map(|off| off.saturating_sub(n.start) as f64 / self.sample_rate);
                if envelope.finished(t, released) {
                    n.active = false;
                }
                n.next_index += 1;
            }
        }
    }

    /// Runs [`NeuralInference::step`] on a thread of its own until the handle is dropped.
    pub fn spawn(mut self) -> Result<InferenceThread, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let error = Arc::new(Mutex::new(None));
        let (thread_stop, thread_error) = (stop.clone(), error.clone());
        let poll = self.poll;
        let handle = std::thread::Builder::new()
            .name("mephisto-neural".to_string())
            .spawn(move || {
                while !thread_stop.load(Ordering::Relaxed) {
                    match self.step() {
                        Ok(0) => std::thread::sleep(poll),
                        Ok(_) => {}
                        Err(e) => {
                            *thread_error.lock() = Some(e);
                            std::thread::sleep(poll);
                        }
                    }
                }
            })
            .map_err(|e| format!("cannot start the neural inference thread: {e}"))?;
        Ok(InferenceThread {
            stop,
            error,
            handle: Some(handle),
        })
    }
}

/// The running inference thread; dropping it stops the thread.
pub struct InferenceThread {
    stop: Arc<AtomicBool>,
    error: Arc<Mutex<Option<String>>>,
    handle: Option<JoinHandle<()>>,
}

impl InferenceThread {
    /// The last inference error, if any (the thread keeps trying).
    pub fn error(&self) -> Option<String> {
        self.error.lock().clone()
    }
}

impl Drop for InferenceThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: f32 = 48_000.0;
    /// 20 ms at 48 kHz.
    const HOP: usize = 960;

    fn info() -> ModelInfo {
        ModelInfo::parse(
            r#"{"version":1, "name":"test", "trained_on":"patch test", "sample_rate":16000,
                "hop":320, "harmonics":60, "noise_bands":65, "f0_range_hz":[40, 2000],
                "loudness": {"velocity_1_db": -6, "velocity_0_db": -40, "attack_s": 0.01,
                             "decay_s": 0.2, "sustain_db": -12, "release_s": 0.1,
                             "floor_db": -100}}"#,
        )
        .unwrap()
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

    #[test]
    fn shaping_reshapes_a_frame_and_neutral_leaves_it_alone() {
        const BAND_HZ: f32 = 125.0;
        let mut frame = Controls::silent(100.0);
        frame.amplitude = 1.0;
        frame.harmonics[0] = 0.5;
        frame.harmonics[9] = 0.5;
        frame.noise[3] = 0.2;
        let mut neutral = frame;
        Shaping::NEUTRAL.apply(&mut neutral, 0.0, BAND_HZ);
        assert_eq!(neutral, frame);
        let shaping = Shaping {
            tilt: 1.0,
            noise_gain: 2.0,
            transient: 6.0,
            ..Shaping::NEUTRAL
        };
        shaping.apply(&mut frame, 0.0, BAND_HZ);
        let (h1, h10) = (frame.harmonics[0], frame.harmonics[9]);
        assert!((h1 + h10 - 1.0).abs() < 1e-6, "still a distribution");
        assert!((h10 / h1 - 10.0).abs() < 1e-4, "k^1 tilt");
        assert!((frame.noise[3] - 0.4).abs() < 1e-6);
        assert!((frame.amplitude - 10f32.powf(6.0 / 20.0)).abs() < 1e-5);
        // Body: 100 Hz is 1.32 octaves below the bell's centre, 1000 Hz 2 above; band 2
        // (250 Hz) is its centre.
        let mut warm = neutral;
        Shaping {
            body: 12.0,
            ..Shaping::NEUTRAL
        }
        .apply(&mut warm, 0.0, BAND_HZ);
        let gain = |db: f32| 10f32.powf(db / 20.0);
        let (g100, g1000) = (
            gain(12.0 * 0.5f32.powf((1.32f32 / 1.3).powi(2))),
            gain(12.0 * 0.5f32.powf((2.0f32 / 1.3).powi(2))),
        );
        let expected_h1 = 0.5 * g100 / (0.5 * g100 + 0.5 * g1000);
        assert!(
            (warm.harmonics[0] - expected_h1).abs() < 1e-3,
            "{} vs {expected_h1}",
            warm.harmonics[0]
        );
        assert!((warm.harmonics[0] + warm.harmonics[9] - 1.0).abs() < 1e-6);
        let mut band = neutral;
        band.noise[2] = 0.2;
        Shaping {
            body: 12.0,
            ..Shaping::NEUTRAL
        }
        .apply(&mut band, 0.0, BAND_HZ);
        assert!(
            (band.noise[2] - 0.2 * gain(12.0)).abs() < 1e-5,
            "{}",
            band.noise[2]
        );
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
