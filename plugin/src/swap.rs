//! The audio thread's side of patch changes: follows the host's patch selector through the
//! bank of ready built-in instances, takes runtime variants the worker sends, and hands
//! finished instances back (built-ins to the bank, variants to the worker, which drops
//! them). Wait-free: it only moves `Box`es through fixed-size rings.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::engine::instance::PatchInstance;
use crate::engine::Engine;
use crate::worker::AudioPorts;

pub struct PatchSwitcher {
    /// One ready instance per built-in patch; the playing one is inside the engine.
    bank: Vec<Option<Box<PatchInstance>>>,
    /// The selector value last acted on: a runtime variant plays until the selector moves.
    selector_seen: usize,
    ports: AudioPorts,
    /// A variant from the worker waiting for the running crossfade to finish.
    waiting: Option<Box<PatchInstance>>,
    /// A retired variant the worker's ring had no room for yet (never dropped here).
    unreturned: Option<Box<PatchInstance>>,
    /// The variant playing now (0: a built-in), for the worker.
    live_variant: Arc<AtomicU64>,
}

impl PatchSwitcher {
    /// `bank` holds every built-in instance except `playing`, the one the engine starts with.
    pub fn new(
        bank: Vec<Option<Box<PatchInstance>>>,
        playing: usize,
        ports: AudioPorts,
        live_variant: Arc<AtomicU64>,
    ) -> Self {
        PatchSwitcher {
            bank,
            selector_seen: playing,
            ports,
            waiting: None,
            unreturned: None,
            live_variant,
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
            if selected != self.selector_seen {
                if let Some(next) = self.bank.get_mut(selected).and_then(Option::take) {
                    match engine.begin_swap(next) {
                        Ok(()) => self.selector_seen = selected,
                        Err(next) => self.bank[selected] = Some(next),
                    }
                }
            } else {
                if self.waiting.is_none() {
                    self.waiting = self.ports.from_worker.pop().ok();
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

    fn return_instance(&mut self, instance: Box<PatchInstance>) {
        match instance.builtin_index {
            Some(i) => self.bank[i] = Some(instance),
            None => {
                if let Err(rtrb::PushError::Full(instance)) = self.ports.to_worker.push(instance) {
                    self.unreturned = Some(instance);
                }
            }
        }
    }
}
