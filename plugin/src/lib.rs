//! Mephisto: a polyphonic instrument whose every sound is Faust code compiled to Rust.
//! This crate is the plugin shell: the nice-plug plugin (host parameters in, notes in,
//! stereo audio out), its window, and the worker that builds patches beside the audio
//! thread. What the audio thread runs is `mephisto-rt`; docs/ARCHITECTURE.md has the map.

mod clap_export;
pub mod editor;
pub mod fx;
pub mod history;
pub mod midi;
pub mod params;
pub mod presets;
pub mod stored;
pub mod worker;

use std::sync::Arc;

use mephisto_dsp::builtin_patches;
use mephisto_dsp::macros::Macro;
use mephisto_rt::engine::{Automation, Engine, DEFAULT_VOICES};
use mephisto_rt::instance::{PatchInstance, Playable};
use mephisto_rt::neural::bank::OfflineFlag;
use mephisto_rt::swap::PatchSwitcher;
use mephisto_rt::taps::{taps, AudioTaps};
use nice_plug::prelude::*;

use editor::scope::GuiTaps;
use editor::settings::Settings;
use editor::EditorLink;
use params::MephistoParams;
use worker::{Worker, WorkerSettings};

pub struct Mephisto {
    /// Host-visible parameters: the patch selector, the six macros and the master gain,
    /// plus the saved runtime variant.
    params: Arc<MephistoParams>,
    /// The sound engine; built at activation, when the sample rate is known.
    engine: Option<Engine>,
    /// Moves patch instances in and out of the engine on the audio thread without
    /// allocating: built-ins from a ready bank, runtime variants from the worker.
    switcher: Option<PatchSwitcher>,
    /// Compiles runtime variants and frees retired instances, off the audio thread. Shared
    /// with the window, which holds it only while it sends a request.
    worker: Option<Arc<Worker>>,
    /// How the window reaches the worker (filled at activation) and its ends of the rings.
    editor_link: Arc<EditorLink>,
    /// The audio thread's ends of the window's rings: output for the scope, keyboard notes.
    taps: AudioTaps,
    /// The sample rate the engine, the bank and the worker were built for.
    sample_rate: f32,
    /// Whether the host renders offline (a bounce), set at each activation: neural voices
    /// then wait for their frames instead of holding the last one, since nothing is late in
    /// an offline render but everything held is in the file.
    offline: OfflineFlag,
}

impl Default for Mephisto {
    fn default() -> Self {
        let (taps, window_taps) = taps();
        Mephisto {
            params: Arc::new(MephistoParams::default()),
            engine: None,
            switcher: None,
            worker: None,
            editor_link: Arc::new(EditorLink::new(GuiTaps::new(window_taps))),
            taps,
            sample_rate: 0.0,
            offline: Default::default(),
        }
    }
}

impl Mephisto {
    /// Builds every built-in patch instance for `sample_rate`, starts the engine on the
    /// patch the selector names and the worker beside it. The worker restores the project's
    /// designed patch if it has one (the built-in plays until it is ready), now and
    /// whenever the host loads state later.
    fn build_engine(&mut self, sample_rate: f32) -> Result<(), String> {
        let mut bank = (0..builtin_patches().len())
            .map(|i| {
                PatchInstance::builtin(i, DEFAULT_VOICES, sample_rate)
                    .map(|p| Some(Playable::new(p)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let selected = self.selected_patch();
        let current = bank[selected]
            .take()
            .expect("every bank slot starts filled");
        let mut settings = WorkerSettings::new(sample_rate);
        let machine = Settings::load().0;
        settings.compiler = machine.compiler_options();
        settings.onnxruntime = machine.onnxruntime_path;
        settings.offline = self.offline.clone();
        settings.project_loads = self.params.patch_spec.load_counter();
        let (worker, ports) = Worker::spawn(
            settings,
            self.params.patch_spec.shared(),
            self.params.history.shared(),
        );
        let shared = worker.shared();
        let switcher = PatchSwitcher::new(
            bank,
            selected,
            ports,
            shared.live_variant.clone(),
            shared.play_builtin.clone(),
        );
        self.engine = Some(Engine::new(current, sample_rate));
        self.switcher = Some(switcher);
        let worker = Arc::new(worker);
        self.editor_link.connect(&worker, sample_rate);
        self.worker = Some(worker);
        self.sample_rate = sample_rate;
        Ok(())
    }

    fn selected_patch(&self) -> usize {
        (self.params.patch.value().max(0) as usize).min(builtin_patches().len() - 1)
    }
}

impl Plugin for Mephisto {
    const NAME: &'static str = "Mephisto";
    const VENDOR: &'static str = "Mephisto Audio";
    const URL: &'static str = "https://mephisto-audio.com";
    const EMAIL: &'static str = "support@mephisto-audio.com";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[AudioIOLayout {
        main_input_channels: None,
        main_output_channels: NonZeroU32::new(2),
        ..AudioIOLayout::const_default()
    }];
    const MIDI_INPUT: MidiConfig = MidiConfig::MidiCCs;
    const SAMPLE_ACCURATE_AUTOMATION: bool = true;

    type Editor = editor::MephistoEditor;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.params.clone(), self.editor_link.clone())
    }

    fn activate(
        &mut self,
        _audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        _context: &mut impl ActivateContext<Self>,
    ) -> bool {
        // nice-plug re-activates the plugin when the host switches between real-time and
        // offline rendering.
        self.offline
            .set(buffer_config.process_mode == ProcessMode::Offline);
        if self.engine.is_some() && self.sample_rate == buffer_config.sample_rate {
            return true;
        }
        match self.build_engine(buffer_config.sample_rate) {
            Ok(()) => true,
            Err(message) => {
                nice_error!("Mephisto cannot start: {message}");
                false
            }
        }
    }

    fn reset(&mut self) {
        if let Some(engine) = self.engine.as_mut() {
            engine.reset();
        }
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let frames = buffer.samples();
        let selected = self.selected_patch();
        let (Some(engine), Some(switcher)) = (self.engine.as_mut(), self.switcher.as_mut()) else {
            return ProcessStatus::Error("the engine was not activated");
        };
        switcher.service(engine, selected);
        engine.set_bypass(self.params.bypass.value());

        let [left, right] = buffer.as_slice() else {
            return ProcessStatus::Error("Mephisto needs a stereo output");
        };
        while let Some(key) = self.taps.next_key() {
            engine.handle(key);
        }
        // Automation reaches the engine before every chunk of at most 64 frames: the
        // smoothers advance by each chunk's length (nice-plug splits the block at every
        // automation point, SAMPLE_ACCURATE_AUTOMATION).
        let params = &self.params;
        let mut automation = |frames: usize| Automation {
            macros: params.next_macros(frames as u32),
            master_gain: util::db_to_gain(params.master_gain.smoothed.next_step(frames as u32)),
        };
        let mut position = 0;
        while let Some(event) = context.next_event() {
            let at = (event.timing() as usize).min(frames);
            if at > position {
                engine.render_automated(
                    &mut left[position..at],
                    &mut right[position..at],
                    &mut automation,
                );
                position = at;
            }
            if let Some(e) = midi::engine_event(&event) {
                engine.handle(e);
            }
        }
        engine.render_automated(
            &mut left[position..],
            &mut right[position..],
            &mut automation,
        );
        self.taps.feed(left, right);
        ProcessStatus::KeepAlive
    }
}

impl ClapPlugin for Mephisto {
    const CLAP_ID: &'static str = "com.mephisto-audio.mephisto";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("An instrument with an AI sound designer; every sound is Faust code");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::Instrument,
        ClapFeature::Synthesizer,
        ClapFeature::Stereo,
    ];

    /// One page for controller surfaces: the six macros, a gap, the master gain.
    fn remote_controls(&self, context: &mut impl RemoteControlsContext) {
        let params = &self.params;
        context.add_section("Mephisto", |section| {
            section.add_page("Macros", |page| {
                for m in Macro::ALL {
                    page.add_param(params.macro_param(m));
                }
                page.add_spacer();
                page.add_param(&params.master_gain);
            });
        });
    }
}

impl Vst3Plugin for Mephisto {
    const VST3_CLASS_ID: [u8; 16] = *b"MephistoAIsynth1";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Instrument, Vst3SubCategory::Synth];
}

// One library, two plugins: the instrument and Mephisto FX (src/fx). The CLAP entry point is
// `clap_export::clap_entry`: nice-plug's two plugins plus preset discovery and loading for the
// instrument, which `nice_export_clap!` does not offer.
nice_export_vst3!(Mephisto, fx::MephistoFx);
