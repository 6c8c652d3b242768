//! The plugin window (egui through nice-plug-egui): a prompt for the designer, the patches
//! and their history, the six macros, a spectrum and a scope, the Faust code of the patch
//! playing, and the per-machine settings. `docs/GUI.md` describes the layout and decisions.
//!
//! The window reaches the worker through an [`EditorLink`] that the plugin fills when the host
//! activates it (the worker needs the sample rate), so the window works, saying "not running
//! yet", before that. The link is GUI ↔ worker only; the audio thread's only contact with the
//! window is the pair of wait-free rings in [`scope`].

mod knob;
pub mod scope;
pub mod settings;
pub mod state;
mod ui;

use std::sync::{Arc, Weak};

use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::*;
use nice_plug_egui::baseview::WindowSize;
use nice_plug_egui::resizable_window::ResizableWindow;
use nice_plug_egui::{
    create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp,
    RepaintNotifier,
};
use parking_lot::Mutex;

use crate::params::MephistoParams;
use crate::stored::Stored;
use crate::worker::Worker;
use mephisto_dsp::builtin_patches;
use mephisto_patch::{BuildSpec, PatchSpec};
use mephisto_rt::engine::EngineEvent;
use scope::GuiTaps;
use settings::Settings;
use state::{Command, EditorState, View};

/// Below this the pages stop fitting.
const MIN_SIZE: (f32, f32) = (900.0, 620.0);
/// How often the window redraws while open (the scope and the elapsed time move).
const FRAME_INTERVAL: std::time::Duration = std::time::Duration::from_millis(33);
/// Velocity of notes played on the window's keyboard.
const KEYBOARD_VELOCITY: f32 = 0.8;

pub type MephistoEditor = EguiEditor<MephistoApp>;

/// What the window shares with the plugin: the worker once the host has activated the plugin,
/// and the window's ends of the scope and keyboard rings. Never touched in `process()`.
pub struct EditorLink {
    running: Mutex<Option<Running>>,
    gui: Mutex<GuiTaps>,
}

/// The worker of the current activation. The plugin owns the worker; the window holds it
/// only while it sends a request, so stopping the plugin stops the worker.
struct Running {
    worker: Weak<Worker>,
    sample_rate: f32,
}

impl EditorLink {
    pub fn new(gui: GuiTaps) -> Self {
        EditorLink {
            running: Mutex::new(None),
            gui: Mutex::new(gui),
        }
    }

    /// Called by the plugin when it activates with a new worker.
    pub fn connect(&self, worker: &Arc<Worker>, sample_rate: f32) {
        *self.running.lock() = Some(Running {
            worker: Arc::downgrade(worker),
            sample_rate,
        });
    }

    /// The running worker and its sample rate; `None` before activation.
    pub fn worker(&self) -> Option<(Arc<Worker>, f32)> {
        let running = self.running.lock();
        let running = running.as_ref()?;
        Some((running.worker.upgrade()?, running.sample_rate))
    }
}

/// Builds the window for the host. It opens at the project's saved size and this machine's
/// scale.
pub fn create(params: Arc<MephistoParams>, link: Arc<EditorLink>) -> Option<MephistoEditor> {
    let (settings, load_error) = Settings::load();
    let (width, height) = *params.editor_size.read();
    let egui_state = EguiEditorState::from_size(
        LogicalSize::new(f64::from(width), f64::from(height)),
        settings.ui_scale,
    );
    let window = EguiNiceSettings::new()
        .with_tile("Mephisto")
        .with_resize_hint(
            ResizeHint::resizable().with_min_logical_size(LogicalSize::new(MIN_SIZE.0, MIN_SIZE.1)),
        );
    let app = MephistoApp::new(params, link, settings, load_error);
    create_egui_editor(egui_state, RepaintNotifier::new(), window, app)
}

/// What the environment asks the window to do once, for demonstrations and the screenshots
/// (`scripts/screenshots.sh`): open a page, submit a prompt, hold notes, compile a file.
#[derive(Default)]
struct Startup {
    /// `MEPHISTO_EDITOR_PROMPT`: generated as soon as the worker runs.
    prompt: Option<String>,
    /// `MEPHISTO_EDITOR_NOTES`: MIDI notes held on the keyboard, e.g. `48,55,60`.
    notes: Vec<u8>,
    /// `MEPHISTO_EDITOR_CODE`: a Faust file put in the code page and compiled.
    code: Option<String>,
}

impl Startup {
    fn from_env() -> (Startup, Option<View>) {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let view = var("MEPHISTO_EDITOR_VIEW").and_then(|v| View::from_name(&v));
        let startup = Startup {
            prompt: var("MEPHISTO_EDITOR_PROMPT"),
            notes: var("MEPHISTO_EDITOR_NOTES")
                .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
                .unwrap_or_default(),
            code: var("MEPHISTO_EDITOR_CODE").and_then(|path| std::fs::read_to_string(path).ok()),
        };
        (startup, view)
    }
}

/// The window's app: its state between frames and its links to the plugin.
pub struct MephistoApp {
    params: Arc<MephistoParams>,
    link: Arc<EditorLink>,
    state: EditorState,
    /// The host's side of the window (parameter gestures), once it is open.
    gui: Option<GuiContext>,
    startup: Startup,
    /// The window's zoom (the Settings scale), to store its size at 100 %.
    zoom: f32,
    /// The window was just opened: set its size from the project.
    restore_size: bool,
    /// The key the mouse holds down on the window's keyboard.
    mouse_note: Option<u8>,
    /// Notes the keyboard holds (the mouse's and the startup ones), released on close.
    held: Vec<u8>,
    /// Reused for the oscilloscope trace.
    trace: Vec<f32>,
    /// The shipped neural models, listed once when the window opens.
    neural_models: Vec<String>,
}

impl MephistoApp {
    fn new(
        params: Arc<MephistoParams>,
        link: Arc<EditorLink>,
        settings: Settings,
        load_error: Option<String>,
    ) -> Self {
        let (startup, view) = Startup::from_env();
        let mut state = EditorState::new(settings, load_error, Settings::default_path());
        if let Some(view) = view {
            state.view = view;
        }
        if let Some(prompt) = &startup.prompt {
            state.prompt.clone_from(prompt);
        }
        MephistoApp {
            zoom: state.settings.ui_scale,
            params,
            link,
            state,
            gui: None,
            startup,
            restore_size: true,
            mouse_note: None,
            held: Vec::new(),
            trace: Vec::new(),
            neural_models: mephisto_neural::voices::shipped_models(),
        }
    }

    /// The built-in patch the host's selector names.
    fn selected(&self) -> usize {
        (self.params.patch.value().max(0) as usize).min(builtin_patches().len() - 1)
    }

    /// The designed (or loaded, or edited) patch playing, if one is; `None` while a
    /// built-in plays.
    fn designed(&self) -> Option<PatchSpec> {
        match &*self.params.patch_spec.read() {
            Stored::Value(spec) => spec.clone(),
            Stored::Unreadable { .. } => None,
        }
    }

    /// The spec of the patch playing (what Refine changes, Save writes and Compile edits).
    fn current_spec(&self) -> Result<PatchSpec, String> {
        match self.designed() {
            Some(spec) => Ok(spec),
            None => PatchSpec::from_builtin(self.selected()),
        }
    }

    /// Sends a note from the window's keyboard to the audio thread.
    fn play_key(&mut self, note: u8, on: bool) {
        let event = if on {
            self.held.push(note);
            EngineEvent::NoteOn {
                note,
                velocity: KEYBOARD_VELOCITY,
            }
        } else {
            self.held.retain(|&n| n != note);
            EngineEvent::NoteOff { note }
        };
        // A full ring means the audio thread is not running; the note is dropped.
        let _ = self.link.gui.lock().keys.push(event);
    }

    /// Carries out a button's command; the job's number when the worker took one.
    fn execute(&mut self, command: Command, setter: &ParamSetter) -> Option<u64> {
        if let Command::SelectBuiltin(index) = command {
            setter.begin_set_parameter(&self.params.patch);
            setter.set_parameter(&self.params.patch, index as i32);
            setter.end_set_parameter(&self.params.patch);
            return None;
        }
        let Some((worker, _)) = self.link.worker() else {
            self.state.prompt_notice = Some(state::Notice {
                text: "The plugin is not running yet: start the host's audio engine first.".into(),
                error: true,
            });
            return None;
        };
        self.state.prompt_notice = None;
        match command {
            Command::Design { request, llm } => {
                let designer = match llm {
                    Some(config) => mephisto_designer::Designer::Llm(
                        mephisto_designer::llm::LlmClient::new(config),
                    ),
                    None => mephisto_designer::Designer::Offline,
                };
                Some(worker.design(request, designer))
            }
            Command::Play(spec) => Some(worker.play(spec)),
            Command::Undo => worker.undo(),
            Command::Redo => worker.redo(),
            Command::Compare => worker.compare(),
            Command::PlayHistory(index) => Some(worker.play_history(index)),
            Command::SelectBuiltin(_) => unreachable!("handled above"),
        }
    }

    /// Runs what the environment asked for once the worker is there.
    fn run_startup(&mut self, setter: &ParamSetter) {
        if self.link.worker().is_none() {
            return;
        }
        if self.startup.prompt.take().is_some() {
            if let Ok(command) = self.state.generate() {
                self.execute(command, setter);
            }
        }
        if let Some(code) = self.startup.code.take() {
            self.state.code.text = code;
            if let Ok(current) = self.current_spec() {
                let command = self.state.code.compile(&current);
                if let Some(job) = self.execute(command, setter) {
                    self.state.code.started(job);
                }
            }
        }
    }
}

impl NiceEguiApp for MephistoApp {
    fn build(
        &mut self,
        egui_ctx: egui::Context,
        nice_gui_ctx: GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        ui::style(&egui_ctx);
        egui_ctx.set_zoom_factor(self.state.settings.ui_scale);
        self.zoom = self.state.settings.ui_scale;
        self.gui = Some(nice_gui_ctx);
        self.restore_size = true;
        for note in std::mem::take(&mut self.startup.notes) {
            self.play_key(note, true);
        }
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut Frame) {
        let Some(gui) = self.gui.clone() else {
            return;
        };
        let setter = gui.param_setter();
        if std::mem::take(&mut self.restore_size) {
            let (width, height) = *self.params.editor_size.read();
            ui.send_viewport_cmd(egui::ViewportCommand::InnerSize(egui::vec2(
                width as f32,
                height as f32,
            )));
        }
        self.run_startup(&setter);
        let mut commands = Vec::new();
        ResizableWindow::new("mephisto")
            .min_size(egui::vec2(MIN_SIZE.0, MIN_SIZE.1))
            .show(ui, |ui| self.draw(ui, &setter, &mut commands));
        for command in commands {
            let from_code = matches!(&command, Command::Play(_)) && self.state.view == View::Code;
            if let Some(job) = self.execute(command, &setter) {
                if from_code {
                    self.state.code.started(job);
                }
            }
        }
        if (self.zoom - self.state.settings.ui_scale).abs() > f32::EPSILON {
            ui.ctx().set_zoom_factor(self.state.settings.ui_scale);
        }
        ui.ctx().request_repaint_after(FRAME_INTERVAL);
    }

    fn resized(&mut self, new_size: WindowSize) {
        let width = (new_size.logical.width / f64::from(self.zoom)).round() as u32;
        let height = (new_size.logical.height / f64::from(self.zoom)).round() as u32;
        if width > 0 && height > 0 {
            *self.params.editor_size.write() = (width, height);
        }
    }

    fn zoom_factor_changed(&mut self, zoom_factor: f32) {
        self.zoom = zoom_factor;
    }

    fn editor_closed(&mut self) {
        for note in std::mem::take(&mut self.held) {
            let _ = self
                .link
                .gui
                .lock()
                .keys
                .push(EngineEvent::NoteOff { note });
        }
        self.mouse_note = None;
        self.gui = None;
    }
}
