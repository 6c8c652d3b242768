//! The neural voice's audio side. A DDSP decoder (run elsewhere, see the `mephisto-neural`
//! crate) maps per-frame (f0, loudness) to an amplitude, a harmonic distribution and
//! noise-band magnitudes; here a harmonic-plus-noise synthesiser turns those frames into
//! audio (the numbers follow the contract in docs/NEURAL.md, shared with `onnx/`).
//!
//! * [`synth`] is the per-voice harmonic-plus-noise synthesiser; its noise is
//!   [`fir_noise`], the training synth's filtered noise.
//! * [`bank`] is the voice bank: it sends notes and receives frames through wait-free rings
//!   whose other ends ([`bank::InferencePorts`]) the decoder's driver holds.
//! * [`shaping`] is how a patch's macros reshape the frames.
//! * [`graph`] runs the model's synthesis graph on the voices' summed parts (a learned
//!   reverb, [`reverb`], among its processors).

pub mod bank;
pub mod fir_noise;
pub mod graph;
pub mod reverb;
pub mod shaping;
pub mod synth;

use bank::NeuralVoiceBank;
use graph::SynthGraph;
use mephisto_dsp::controls::ControlSet;
use shaping::{shaping_controls, Shaping, ROOM};

/// Samples of the voices' parts rendered per step before the graph runs on them.
const PART_BLOCK: usize = 256;

/// Harmonics per frame, fixed by the contract.
pub const HARMONICS: usize = 60;

/// Noise bands per frame, fixed by the contract: linearly spaced from 0 Hz to the model's
/// Nyquist frequency, band `k` centred on `k * nyquist / 64`.
pub const NOISE_BANDS: usize = 65;

/// One frame of synthesiser controls: what the decoder says about one voice at one instant,
/// plus the pitch the voice plays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Controls {
    /// The voice's fundamental, in Hz.
    pub f0_hz: f32,
    /// Overall linear amplitude of the harmonic part.
    pub amplitude: f32,
    /// Weights of harmonics 1..=60 (a distribution: they sum to 1).
    pub harmonics: [f32; HARMONICS],
    /// Linear magnitudes of the noise bands.
    pub noise: [f32; NOISE_BANDS],
}

impl Controls {
    /// A silent frame at `f0_hz`.
    pub const fn silent(f0_hz: f32) -> Self {
        Controls {
            f0_hz,
            amplitude: 0.0,
            harmonics: [0.0; HARMONICS],
            noise: [0.0; NOISE_BANDS],
        }
    }
}

/// What feeds a bank its frames, as the instance that plays the bank keeps it: a decoder
/// thread, which stops when this is dropped. Instances are dropped on the worker, never on
/// the audio thread, so the instance may own it.
pub trait FrameFeed: Send {
    /// The last decoder error, if any (the voices hold their frames meanwhile). Not for the
    /// audio thread.
    fn error(&self) -> Option<String>;
}

/// The voices of a neural patch as an instance plays them: the bank, the synthesis graph
/// after it, the synthesis controls its macros move, and what feeds the bank.
pub struct NeuralVoices {
    bank: NeuralVoiceBank,
    graph: SynthGraph,
    /// The voices' summed harmonic and noise parts, before the graph.
    parts: [Vec<f32>; 2],
    shaping: Shaping,
    /// `None` when the feed is driven from outside the instance (an offline render steps
    /// the decoder itself, in lockstep with the audio).
    feed: Option<Box<dyn FrameFeed>>,
    /// The model's name, from its sidecar.
    model: String,
    /// Where the decoder runs, for the producer: the execution provider, why CUDA is not
    /// used when it was allowed, and the ONNX Runtime library.
    execution: String,
}

impl NeuralVoices {
    /// Voices playing `bank` through `graph`, fed by `feed`, with every synthesis control
    /// at its designed value.
    pub fn new(
        bank: NeuralVoiceBank,
        graph: SynthGraph,
        feed: Option<Box<dyn FrameFeed>>,
        model: String,
        execution: String,
    ) -> NeuralVoices {
        let mut voices = NeuralVoices {
            bank,
            graph,
            parts: [vec![0.0; PART_BLOCK], vec![0.0; PART_BLOCK]],
            shaping: Shaping::designed(),
            feed,
            model,
            execution,
        };
        voices.bank.set_shaping(voices.shaping);
        voices
    }

    /// The model's name.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The execution provider the decoder runs on and the ONNX Runtime behind it.
    pub fn execution(&self) -> &str {
        &self.execution
    }

    pub fn bank(&self) -> &NeuralVoiceBank {
        &self.bank
    }

    pub fn bank_mut(&mut self) -> &mut NeuralVoiceBank {
        &mut self.bank
    }

    /// The last decoder error, if any. Not for the audio thread.
    pub fn error(&self) -> Option<String> {
        self.feed.as_ref().and_then(|f| f.error())
    }

    /// The synthesis controls these voices have (`room` only with a learned reverb).
    pub fn controls(&self) -> ControlSet {
        shaping_controls(self.graph.has_reverb())
    }

    /// Sets synthesis control `index` of [`NeuralVoices::controls`]. Wait-free.
    pub fn set_control(&mut self, index: i32, value: f32) {
        if index == ROOM {
            self.graph.set_room(value);
            return;
        }
        self.shaping.set(index, value);
        self.bank.set_shaping(self.shaping);
    }

    /// Silences the voices and the graph's rooms at once. Wait-free.
    pub fn reset(&mut self) {
        self.bank.reset();
        self.graph.reset();
    }

    /// Renders the summed voices through the synthesis graph into `out` (mono). Wait-free.
    pub fn render(&mut self, out: &mut [f32]) {
        let [harmonic, noise] = &mut self.parts;
        let mut start = 0;
        while start < out.len() {
            let end = (start + PART_BLOCK).min(out.len());
            let n = end - start;
            self.bank.render_split(&mut harmonic[..n], &mut noise[..n]);
            self.graph
                .process(&harmonic[..n], &noise[..n], &mut out[start..end]);
            start = end;
        }
    }
}
