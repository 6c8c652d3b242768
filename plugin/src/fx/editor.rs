//! Mephisto FX's window: what plays, and a field to play a designed patch (a PatchSpec
//! file, e.g. from `mephisto design --out` or the instrument's history) or a user-trained
//! model (`MODEL.onnx`) instead of the selector's patch. The host's generic controls show
//! the parameters. Never touched by the audio thread: it writes the project's saved
//! PatchSpec, which the worker watches.

use std::sync::Arc;

use nice_plug::editor::dpi::LogicalSize;
use nice_plug_egui::{
    create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp,
    RepaintNotifier,
};
use parking_lot::Mutex;

use mephisto_patch::transfer::spec_for;

use super::params::FxParams;
use crate::stored::Stored;

pub type FxEditor = EguiEditor<FxApp>;

/// The window's state.
pub struct FxApp {
    params: Arc<FxParams>,
    /// The worker's last word: what plays, or why the wanted voice cannot.
    status: Arc<Mutex<String>>,
    path: String,
    problem: Option<String>,
}

pub fn create(params: Arc<FxParams>, status: Arc<Mutex<String>>) -> Option<FxEditor> {
    let state = EguiEditorState::from_size(LogicalSize::new(560.0, 200.0), 1.0);
    let window = EguiNiceSettings::new().with_tile("Mephisto FX");
    let app = FxApp {
        params,
        status,
        path: String::new(),
        problem: None,
    };
    create_egui_editor(state, RepaintNotifier::new(), window, app)
}

impl FxApp {
    /// Plays the PatchSpec or model at `self.path` from now on (saved with the project).
    fn load(&mut self) {
        match spec_for(self.path.trim()) {
            Ok(spec) => {
                *self.params.patch_spec.write() = Stored::Value(Some(spec));
                self.problem = None;
            }
            Err(e) => self.problem = Some(e),
        }
    }
}

impl NiceEguiApp for FxApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut Frame) {
        ui.heading("Mephisto FX");
        ui.label(format!("Voice: {}", self.status.lock()));
        let saved = match &*self.params.patch_spec.read() {
            Stored::Value(Some(spec)) => Some(spec.name.clone()),
            _ => None,
        };
        match &saved {
            Some(name) => ui.label(format!(
                "Playing the loaded patch `{name}`, not the selector's"
            )),
            None => ui.label("Playing the Patch parameter's choice"),
        };
        ui.horizontal(|ui| {
            ui.label("PatchSpec (.json) or model (.onnx):");
            let field = ui.text_edit_singleline(&mut self.path);
            let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Load").clicked() || entered {
                self.load();
            }
        });
        if saved.is_some() && ui.button("Back to the Patch parameter").clicked() {
            *self.params.patch_spec.write() = Stored::Value(None);
        }
        if let Some(problem) = &self.problem {
            ui.colored_label(egui::Color32::from_rgb(220, 80, 80), problem);
        }
    }
}
