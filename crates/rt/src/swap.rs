//! Patch changes across the thread boundary: the rings that carry instances between the
//! worker and the audio thread, and the audio thread's side of a change, which follows the
//! host's patch selector through the bank of ready built-in instances, takes runtime
//! variants the worker sends, and hands finished instances back (built-ins to the bank,
//! variants to the worker, which drops them). Wait-free: it only moves boxes through
//! fixed-size rings. A second pair of rings carries corrected macro maps for a variant
//! that is already playing (sound first, calibrate after): the audio thread exchanges the
//! playing map for the new one and hands the old one back for the worker to drop.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::engine::Engine;
use crate::instance::{PatchInstance, Playable};
use crate::modulation::Modulation;

/// A corrected macro and controller map for the runtime variant `variant_id`; on the way
/// back, the map it replaced (or itself, when that variant no longer plays).
pub struct Remap {
    pub variant_id: u64,
    pub modulation: Box<Modulation>,
}

/// The audio thread's ends of the rings.
pub struct AudioPorts {
    from_worker: rtrb::Consumer<Playable>,
    to_worker: rtrb::Producer<Playable>,
    remaps_in: rtrb::Consumer<Remap>,
    remaps_out: rtrb::Producer<Remap>,
}

/// The worker's ends of the rings.
pub struct WorkerPorts {
    to_audio: rtrb::Producer<Playable>,
    from_audio: rtrb::Consumer<Playable>,
    remaps_out: rtrb::Producer<Remap>,
    remaps_in: rtrb::Consumer<Remap>,
}

/// Two rings of `capacity` instances each way, and two of `capacity` remaps.
pub fn patch_rings(capacity: usize) -> (WorkerPorts, AudioPorts) {
    let (to_audio, from_worker) = rtrb::RingBuffer::new(capacity);
    let (to_worker, from_audio) = rtrb::RingBuffer::new(capacity);
    let (remaps_to_audio, remaps_from_worker) = rtrb::RingBuffer::new(capacity);
    let (remaps_to_worker, remaps_from_audio) = rtrb::RingBuffer::new(capacity);
    (
        WorkerPorts {
            to_audio,
            from_audio,
            remaps_out: remaps_to_audio,
            remaps_in: remaps_from_audio,
        },
        AudioPorts {
            from_worker,
            to_worker,
            remaps_in: remaps_from_worker,
            remaps_out: remaps_to_worker,
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

    /// Sends a corrected map for a variant already sent; hands it back when the ring is
    /// full.
    pub fn send_remap(&mut self, remap: Remap) -> Result<(), Remap> {
        self.remaps_out
            .push(remap)
            .map_err(|rtrb::PushError::Full(r)| r)
    }

    /// The maps the audio thread replaced (or could not place), for the worker to drop.
    pub fn returned_remaps(&mut self) -> impl Iterator<Item = Remap> + '_ {
        std::iter::from_fn(|| self.remaps_in.pop().ok())
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
    /// A replaced map the worker's ring had no room for yet (never dropped here).
    unreturned_remap: Option<Remap>,
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
            unreturned_remap: None,
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
        self.remap(engine);
        let live = engine.current().variant_id.unwrap_or(0);
        self.live_variant.store(live, Ordering::Release);
    }

    /// Puts a corrected map the worker sent into its variant (playing, or waiting for the
    /// crossfade) and hands the replaced one back; a map for a variant that no longer
    /// plays goes back as it came. One per block.
    fn remap(&mut self, engine: &mut Engine) {
        if let Some(remap) = self.unreturned_remap.take() {
            self.return_remap(remap);
        }
        if self.unreturned_remap.is_some() {
            return;
        }
        let Ok(mut remap) = self.ports.remaps_in.pop() else {
            return;
        };
        let id = Some(remap.variant_id);
        if engine.current().variant_id == id {
            engine.swap_modulation(&mut remap.modulation);
        } else if let Some(waiting) = self.waiting.as_mut().filter(|w| w.variant_id == id) {
            waiting.swap_modulation(&mut remap.modulation);
        }
        self.return_remap(remap);
    }

    fn return_remap(&mut self, remap: Remap) {
        if let Err(rtrb::PushError::Full(remap)) = self.ports.remaps_out.push(remap) {
            self.unreturned_remap = Some(remap);
        }
    }

    fn return_instance(&mut self, instance: Playable) {
        match instance.builtin_index {
            Some(i) => self.bank[i] = Some(instance),
            None => self.unreturned = self.ports.give_back(instance).err(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::DEFAULT_VOICES;
    use mephisto_dsp::builtin_patches;
    use mephisto_dsp::macros::MacroMap;

    const SR: f32 = 48_000.0;

    /// Runs `f`, aborting on any allocation inside it when the allocation tests are on.
    fn audio_thread<T>(f: impl FnOnce() -> T) -> T {
        #[cfg(all(feature = "assert_process_allocs", debug_assertions))]
        return nice_assert_no_alloc::assert_no_alloc(f);
        #[cfg(not(all(feature = "assert_process_allocs", debug_assertions)))]
        f()
    }

    fn variant(id: u64) -> Box<PatchInstance> {
        let mut instance = PatchInstance::builtin(0, DEFAULT_VOICES, SR).unwrap();
        instance.variant_id = Some(id);
        instance
    }

    #[test]
    fn a_corrected_map_replaces_the_playing_one_and_the_old_one_goes_back() {
        let (mut worker, audio) = patch_rings(4);
        let live = Arc::new(AtomicU64::new(0));
        let bank = (0..builtin_patches().len()).map(|_| None).collect();
        let first = Playable::new(PatchInstance::builtin(1, DEFAULT_VOICES, SR).unwrap());
        let mut engine = Engine::new(first, SR);
        let play_builtin = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut switcher = PatchSwitcher::new(bank, 1, audio, live.clone(), play_builtin);
        let designed = variant(7);
        let drives = designed.modulation().drives().len();
        assert!(drives > 0);
        worker.send(designed).map_err(|_| ()).unwrap();
        let (mut l, mut r) = (vec![0.0f32; 512], vec![0.0f32; 512]);
        for _ in 0..200 {
            audio_thread(|| {
                switcher.service(&mut engine, 1);
                engine.render(&mut l, &mut r);
            });
        }
        assert_eq!(live.load(Ordering::Acquire), 7);

        // The corrected map (here: no macro moves anything) for variant 7, and one for a
        // variant that no longer plays.
        let mut corrected = variant(7);
        corrected.set_macro_map(&MacroMap::new()).unwrap();
        let remap = |id, mut instance: Box<PatchInstance>| Remap {
            variant_id: id,
            modulation: instance.take_modulation(),
        };
        worker
            .send_remap(remap(7, corrected))
            .map_err(|_| ())
            .unwrap();
        worker
            .send_remap(remap(3, variant(3)))
            .map_err(|_| ())
            .unwrap();
        for _ in 0..2 {
            audio_thread(|| {
                switcher.service(&mut engine, 1);
                engine.render(&mut l, &mut r);
            });
        }
        let back: Vec<Remap> = worker.returned_remaps().collect();
        assert_eq!(back.len(), 2);
        // Variant 7's old map came back (its drives), the stale one as it went.
        assert_eq!(back[0].variant_id, 7);
        assert_eq!(back[0].modulation.drives().len(), drives);
        assert_eq!(back[1].variant_id, 3);
        assert_eq!(back[1].modulation.drives().len(), drives);
        assert_eq!(engine.current().modulation().drives().len(), 0);
        assert!(l.iter().chain(&r).all(|x| x.is_finite()));
    }
}
