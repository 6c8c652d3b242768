//! The decoder's driver: it owns the worker's ends of a voice bank's rings
//! ([`InferencePorts`]), turns each sounding note into a loudness contour (the sidecar's
//! envelope), runs one batched decoder call for all voices that need their next frame, a
//! little ahead of the audio clock, and pushes the frames (see `mephisto_rt::neural::bank`
//! for the timing). It runs on a thread of its own when playing live ([`InferenceThread`]),
//! or in lockstep with an offline render ([`Lockstep`]), where the same input must give the
//! same samples.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use mephisto_rt::neural::bank::{
    FrameMessage, InferencePorts, NoteEvent, StreamSettings, FRAME_SLOTS as SLOTS,
};
use mephisto_rt::neural::FrameFeed;
use parking_lot::Mutex;

use crate::decoder::Decoder;
use crate::model::LoudnessEnvelope;

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
    /// The note follows the contour the audio side sends (timbre transfer), not the
    /// sidecar's envelope.
    following: bool,
}

/// One point of a following note's contour: frame `index` plays `hz` at `loudness_db`.
#[derive(Clone, Copy, Debug)]
struct ContourPoint {
    index: u32,
    hz: f32,
    loudness_db: f32,
}

/// The worker side: the decoder, the notes as the worker knows them, and batch buffers.
pub struct NeuralInference {
    decoder: Decoder,
    ports: InferencePorts,
    notes: Vec<NoteState>,
    /// Each voice's contour points not yet computed, for a following note.
    contours: Vec<VecDeque<ContourPoint>>,
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
            contours: vec![VecDeque::new(); voices],
            envelope: info.loudness,
            f0_range: info.f0_range_hz,
            sample_rate: sr,
            hop: settings.frame_seconds.unwrap_or(info.frame_seconds()) * sr,
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
        while let Some(event) = self.ports.next_event() {
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
                            following: false,
                        };
                        self.contours[voice].clear();
                    }
                }
                NoteEvent::Follow { voice, note, at } => {
                    if let Some(n) = self.notes.get_mut(voice) {
                        *n = NoteState {
                            active: true,
                            note,
                            start: at,
                            next_index: 1,
                            following: true,
                            ..NoteState::default()
                        };
                        self.contours[voice].clear();
                    }
                }
                NoteEvent::Contour {
                    voice,
                    note,
                    index,
                    hz,
                    loudness_db,
                } => {
                    if self.notes.get(voice).is_some_and(|n| n.note == note) {
                        self.contours[voice].push_back(ContourPoint {
                            index,
                            hz,
                            loudness_db,
                        });
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
                NoteEvent::Reset => {
                    self.notes.iter_mut().for_each(|n| n.active = false);
                    self.contours.iter_mut().for_each(VecDeque::clear);
                }
            }
        }
    }

    /// Takes the audio side's events and computes every frame that is due, in batched
    /// decoder calls (one per frame period). Returns how many frames it sent.
    pub fn step(&mut self) -> Result<usize, String> {
        self.take_events();
        let now = self.ports.clock();
        let block = self.ports.longest_block();
        let horizon = now as f64 + block.max(self.max_block) as f64 + self.lead;
        let attack_scale = self.ports.attack_scale();
        let mut envelope = self.envelope;
        envelope.attack_s = (envelope.attack_s * attack_scale).max(1e-4);
        envelope.release_s = (envelope.release_s * self.ports.release_scale()).max(1e-4);
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
                if n.following {
                    // The contour says what to compute, as far as it has come.
                    let contour = &mut self.contours[voice];
                    while contour.front().is_some_and(|p| p.index < n.next_index) {
                        contour.pop_front();
                    }
                    let Some(point) = contour.front() else {
                        continue;
                    };
                    n.next_index = point.index;
                    if f64::from(n.next_index) >= room || n.released_at.is_some() {
                        continue;
                    }
                    n.hz = point.hz;
                    self.batch.push(voice);
                    self.f0
                        .push(point.hz.clamp(self.f0_range[0], self.f0_range[1]));
                    self.loudness.push(point.loudness_db);
                    continue;
                }
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
            if self.batch.is_empty() || self.ports.free_frame_slots() < self.batch.len() {
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
                self.ports.send_frame(message);
                sent += 1;
                let t = f64::from(n.next_index) * self.hop / self.sample_rate;
                let released = n
                    .released_at
                    .map(|off| off.saturating_sub(n.start) as f64 / self.sample_rate);
                if envelope.finished(t, released) && !n.following {
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

impl FrameFeed for InferenceThread {
    /// The last inference error, if any (the thread keeps trying).
    fn error(&self) -> Option<String> {
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

/// The decoder stepped on the rendering thread before every chunk, on the CPU: offline
/// renders, probes and calibration. Never on the audio thread (a decoder call allocates);
/// an instance never holds one, the offline renderer does (`mephisto_patch::render`).
pub struct Lockstep {
    inference: Box<NeuralInference>,
    /// The last decoder error, if any (the voices hold their frames meanwhile).
    error: Option<String>,
}

impl Lockstep {
    pub fn new(inference: NeuralInference) -> Lockstep {
        Lockstep {
            inference: Box::new(inference),
            error: None,
        }
    }

    /// Computes every frame due before the bank renders its next chunk.
    pub fn step(&mut self) {
        if let Err(e) = self.inference.step() {
            self.error = Some(e);
        }
    }

    /// The last decoder error, if any.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}
