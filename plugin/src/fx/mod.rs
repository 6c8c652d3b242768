//! Mephisto FX: the second plugin of the bundle. Put on a monophonic track (a voice, a
//! flute, a bass line), it tracks the input's pitch and loudness and plays them through any
//! patch: a neural model (timbre transfer: sing in, a trained instrument comes out) or a
//! Faust patch, built-in or designed, as a voice that follows. What the audio thread runs
//! is `mephisto_rt::fx`; docs/NEURAL.md §11 has the design and the figures.

pub mod editor;
pub mod params;
pub mod worker;

use std::sync::Arc;

use nice_plug::prelude::*;
use parking_lot::Mutex;

use mephisto_rt::fx::transfer::{FxControls, Transfer};
use mephisto_rt::instance::Playable;
use mephisto_rt::neural::bank::OfflineFlag;
use mephisto_rt::swap::AudioPorts;

use params::{FxParams, Source};
use worker::FxWorker;

pub struct MephistoFx {
    params: Arc<FxParams>,
    /// Built at activation, when the sample rate and the largest block are known.
    transfer: Option<Transfer>,
    worker: Option<FxWorker>,
    ports: Option<AudioPorts>,
    /// A voice from the worker waiting for the running patch change to finish.
    waiting: Option<Playable>,
    /// A retired voice the worker's ring had no room for yet (never dropped here).
    unreturned: Option<Playable>,
    /// What is tracked, mixed to mono (the input or the sidechain).
    source: Vec<f32>,
    sample_rate: f32,
    max_block: usize,
    /// Whether the host renders offline: neural voices then wait for their frames.
    offline: OfflineFlag,
    /// What the worker says plays (or why the wanted voice cannot), for the window.
    status: Arc<Mutex<String>>,
}

impl Default for MephistoFx {
    fn default() -> Self {
        MephistoFx {
            params: Arc::new(FxParams::default()),
            transfer: None,
            worker: None,
            ports: None,
            waiting: None,
            unreturned: None,
            source: Vec::new(),
            sample_rate: 0.0,
            max_block: 0,
            offline: OfflineFlag::default(),
            status: Arc::new(Mutex::new(String::from(
                "not started (the host has not activated it)",
            ))),
        }
    }
}

impl MephistoFx {
    /// Hands voices between the worker and the transfer, at a block boundary. Wait-free.
    fn exchange_voices(&mut self) {
        let (Some(transfer), Some(ports)) = (self.transfer.as_mut(), self.ports.as_mut()) else {
            return;
        };
        if let Some(old) = self.unreturned.take().or_else(|| transfer.take_retired()) {
            self.unreturned = ports.give_back(old).err();
        }
        if self.waiting.is_none() {
            self.waiting = ports.receive();
        }
        if let Some(next) = self.waiting.take() {
            self.waiting = transfer.begin_swap(next).err();
        }
    }
}

/// Mixes `channels` to mono into `out`.
fn mix_to_mono(channels: &[&[f32]], out: &mut [f32]) {
    out.fill(0.0);
    let scale = 1.0 / channels.len().max(1) as f32;
    for channel in channels {
        for (o, x) in out.iter_mut().zip(channel.iter()) {
            *o += x * scale;
        }
    }
}

impl Plugin for MephistoFx {
    const NAME: &'static str = "Mephisto FX";
    const VENDOR: &'static str = "Mephisto Audio";
    const URL: &'static str = "https://mephisto-audio.com";
    const EMAIL: &'static str = "support@mephisto-audio.com";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            aux_input_ports: &[new_nonzero_u32(2)],
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
    ];
    const MIDI_INPUT: MidiConfig = MidiConfig::None;

    type Editor = editor::FxEditor;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.params.clone(), self.status.clone())
    }

    fn activate(
        &mut self,
        _audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        self.offline
            .set(buffer_config.process_mode == ProcessMode::Offline);
        let max_block = buffer_config.max_buffer_size.max(1) as usize;
        if self.transfer.is_none()
            || self.sample_rate != buffer_config.sample_rate
            || self.max_block != max_block
        {
            // Voices are built for one rate: a new worker builds the wanted one again.
            self.waiting = None;
            self.unreturned = None;
            self.ports = None;
            self.worker = None;
            let (worker, ports) = FxWorker::spawn(
                self.params.clone(),
                buffer_config.sample_rate,
                self.offline.clone(),
            );
            self.transfer = Some(Transfer::new(buffer_config.sample_rate, max_block));
            self.worker = Some(worker);
            self.ports = Some(ports);
            self.source = vec![0.0; max_block];
            self.sample_rate = buffer_config.sample_rate;
            self.max_block = max_block;
        }
        if let Some(transfer) = &self.transfer {
            context.set_latency_samples(transfer.latency() as u32);
        }
        true
    }

    fn reset(&mut self) {
        if let Some(transfer) = self.transfer.as_mut() {
            transfer.reset();
        }
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        aux: &mut AuxiliaryBuffers,
        _context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        self.exchange_voices();
        let frames = buffer.samples().min(self.source.len());
        let params = &self.params;
        let sidechain = params.source.value() == Source::Sidechain;
        let [left, right] = buffer.as_slice() else {
            return ProcessStatus::Error("Mephisto FX needs a stereo input and output");
        };
        let source = &mut self.source[..frames];
        match aux.inputs.first_mut().filter(|_| sidechain) {
            Some(side) => {
                let channels = side.as_slice_immutable();
                let parts: [&[f32]; 2] = match channels {
                    [l, r, ..] => [&l[..frames], &r[..frames]],
                    [mono] => [&mono[..frames], &mono[..frames]],
                    [] => [&left[..frames], &right[..frames]],
                };
                mix_to_mono(&parts, source);
            }
            None => mix_to_mono(&[&left[..frames], &right[..frames]], source),
        }
        let Some(transfer) = self.transfer.as_mut() else {
            return ProcessStatus::Error("Mephisto FX was not activated");
        };
        let controls = FxControls {
            follow: params.follow(),
            mix: params.mix.smoothed.next_step(frames as u32),
            macros: params.next_macros(frames as u32),
        };
        transfer.process(source, &mut left[..frames], &mut right[..frames], &controls);
        // The input is delayed and a voice or its room rings on after the input stops.
        ProcessStatus::KeepAlive
    }
}

impl ClapPlugin for MephistoFx {
    const CLAP_ID: &'static str = "com.mephisto-audio.mephisto-fx";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Timbre transfer: sing or play into it and a neural model or a Faust patch follows");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::PitchShifter,
        ClapFeature::Stereo,
    ];
}

impl Vst3Plugin for MephistoFx {
    const VST3_CLASS_ID: [u8; 16] = *b"MephistoFXtransf";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::PitchShift];
}
