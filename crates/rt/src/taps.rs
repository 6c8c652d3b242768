//! The audio thread's contact with the plugin window: it pushes its output into a wait-free
//! ring for the window's scope (dropping samples when the ring is full, as it is while the
//! window is closed) and takes the notes the window's keyboard plays from another.

use crate::engine::EngineEvent;

/// Samples the scope ring holds: about a third of a second at 48 kHz, many frames of the
/// window.
const SCOPE_RING: usize = 16_384;
/// Notes in flight from the keyboard to the audio thread.
const KEY_RING: usize = 64;

/// The audio thread's ends: everything here is wait-free and allocation-free.
pub struct AudioTaps {
    scope: rtrb::Producer<f32>,
    keys: rtrb::Consumer<EngineEvent>,
}

/// The window's ends: the output samples, and where its keyboard's notes go.
pub struct WindowTaps {
    pub scope: rtrb::Consumer<f32>,
    pub keys: rtrb::Producer<EngineEvent>,
}

/// Creates both ends of the scope ring and the keyboard ring.
pub fn taps() -> (AudioTaps, WindowTaps) {
    let (scope_in, scope_out) = rtrb::RingBuffer::new(SCOPE_RING);
    let (keys_in, keys_out) = rtrb::RingBuffer::new(KEY_RING);
    (
        AudioTaps {
            scope: scope_in,
            keys: keys_out,
        },
        WindowTaps {
            scope: scope_out,
            keys: keys_in,
        },
    )
}

impl AudioTaps {
    /// The next note the window's keyboard played, if any.
    pub fn next_key(&mut self) -> Option<EngineEvent> {
        self.keys.pop().ok()
    }

    /// Offers a block of output to the scope: the mono sum, sample by sample, until the ring
    /// is full (the rest is dropped; the window only ever needs the latest samples).
    pub fn feed(&mut self, left: &[f32], right: &[f32]) {
        for (l, r) in left.iter().zip(right) {
            if self.scope.push(0.5 * (l + r)).is_err() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_ring_drops_samples_and_never_blocks() {
        let (mut audio, mut window) = taps();
        let block = vec![0.25; 1000];
        for _ in 0..(SCOPE_RING / 1000 + 5) {
            audio.feed(&block, &block);
        }
        let drain = |w: &mut WindowTaps| std::iter::from_fn(|| w.scope.pop().ok()).count();
        assert_eq!(drain(&mut window), SCOPE_RING);
        audio.feed(&block, &block);
        assert_eq!(drain(&mut window), 1000);
    }

    #[test]
    fn keys_reach_the_audio_side_in_order() {
        let (mut audio, mut window) = taps();
        let on = EngineEvent::NoteOn {
            note: 60,
            velocity: 0.8,
        };
        window.keys.push(on).unwrap();
        window.keys.push(EngineEvent::NoteOff { note: 60 }).unwrap();
        assert_eq!(audio.next_key(), Some(on));
        assert_eq!(audio.next_key(), Some(EngineEvent::NoteOff { note: 60 }));
        assert_eq!(audio.next_key(), None);
    }
}
