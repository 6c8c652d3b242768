//! Patch changes across the thread boundary: the rings that carry instances between the
//! worker and the audio thread, and the audio thread's side of a change, which follows the
//! host's patch selector through the bank of ready built-in instances, takes runtime
//! variants the worker sends, and hands finished instances back (built-ins to the bank,
//! variants to the worker, which drops them). Wait-free: it only moves boxes through
//! fixed-size rings.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::engine::Engine;
use crate::instance::{PatchInstance, Playable};

/// The audio thread's ends of the rings.
pub struct AudioPorts {
    from_worker: rtrb::Consumer<Playable>,
    to_worker: rtrb::Producer<Playable>,
}

/// The worker's ends of the rings.
pub struct WorkerPorts {
    to_audio: rtrb::Producer<Playable>,
    from_audio: rtrb::Consumer<Playable>,
}

/// Two rings of `capacity` instances each way.
pub fn patch_rings(capacity: usize) -> (WorkerPorts, AudioPorts) {
    let (to_audio, from_worker) = rtrb::RingBuffer::new(capacity);
    let (to_worker, from_audio) = rtrb::RingBuffer::new(capacity);
    (
        WorkerPorts {
            to_audio,
            from_audio,
        },
        AudioPorts {
            from_worker,
            to_worker,
        },
    )
}

impl AudioPorts {
    /// The next instance the worker sent, if any. Wait-free.
    pub fn receive(&mut self) -> Option<Playable> {
        self.from_worker.pop().ok()
    }

    /// Hands an instance back to the worker to be dropped; returns it when the ring is
    /// full (keep it and try again: never drop it on the audio thread). Wait-free.
    pub fn give_back(&mut self, instance: Playable) -> Result<(), Playable> {
        self.to_worker
            .push(instance)
            .map_err(|rtrb::PushError::Full(p)| p)
    }
}

impl WorkerPorts {
    /// Sends a built instance to the audio thread; hands it back when the ring is full (the
    /// audio thread is not taking them: the plugin is not processing).
    pub fn send(&mut self, instance: Box<PatchInstance>) -> Result<(), Box<PatchInstance>> {
        self.to_audio
            .push(Playable::new(instance))
            .map_err(|rtrb::PushError::Full(p)| p.into_instance())
    }

    /// The instances the audio thread is done with, for the worker to drop (or reuse).
    pub fn returned(&mut self) -> impl Iterator<Item = Box<PatchInstance>> + '_ {
        std::iter::from_fn(|| self.from_audio.pop().ok().map(Playable::into_instance))
    }
}

pub struct PatchSwitcher {
    /// One ready instance per built-in patch; the playing one is inside the engine.
    bank: Vec<Option<Playable>>,
    /// The selector value last acted on: a runtime variant plays until the selector moves.
    selector_seen: usize,
    ports: AudioPorts,
    /// A variant from the worker waiting for the running crossfade to finish.
    waiting: Option<Playable>,
    /// A retired variant the worker's ring had no room for yet (never dropped here).
    unreturned: Option<Playable>,
    /// The variant playing now (0: a built-in), for the worker.
    live_variant: Arc<AtomicU64>,
    /// Set by the worker to bring the selected built-in back without a selector move (the
    /// host loaded a project or preset that names no designed patch).
    play_builtin: Arc<AtomicBool>,
}

impl PatchSwitcher {
    /// `bank` holds every built-in instance except `playing`, the one the engine starts with.
    pub fn new(
        bank: Vec<Option<Playable>>,
        playing: usize,
        ports: AudioPorts,
        live_variant: Arc<AtomicU64>,
        play_builtin: Arc<AtomicBool>,
    ) -> Self {
        PatchSwitcher {
            bank,
            selector_seen: playing,
            ports,
            waiting: None,
            unreturned: None,
            live_variant,
            play_builtin,
        }
    }

    /// Runs at every block boundary: returns finished instances and starts the next swap.
    pub fn service(&mut self, engine: &mut Engine, selected: usize) {
        if let Some(old) = self.unreturned.take() {
            self.return_instance(old);
        }
        if self.unreturned.is_none() {
            if let Some(old) = engine.take_retired() {
                self.return_instance(old);
            }
        }
        if !engine.is_swapping() {
            let asked = self.play_builtin.swap(false, Ordering::AcqRel);
            if selected != self.selector_seen || asked {
                if let Some(next) = self.bank.get_mut(selected).and_then(Option::take) {
                    match engine.begin_swap(next) {
                        Ok(()) => self.selector_seen = selected,
                        Err(next) => self.bank[selected] = Some(next),
                    }
                }
            } else {
                if self.waiting.is_none() {
                    self.waiting = self.ports.receive();
                }
                if let Some(next) = self.waiting.take() {
                    if next.voice_count() == engine.voice_slots() {
                        self.waiting = engine.begin_swap(next).err();
                    } else {
                        // It can never play here; waiting on it would block every later one.
                        self.return_instance(next);
                    }
                }
            }
        }
        let live = engine.current().variant_id.unwrap_or(0);
        self.live_variant.store(live, Ordering::Release);
    }

    fn return_instance(&mut self, instance: Playable) {
        match instance.builtin_index {
            Some(i) => self.bank[i] = Some(instance),
            None => self.unreturned = self.ports.give_back(instance).err(),
        }
    }
}
