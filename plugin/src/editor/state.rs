//! What the window's controls do, kept apart from drawing so it can be tested without a
//! window: the commands the buttons send to the worker, how a job's stage reads, which
//! lines of the Faust code a compile error points at, patch files and the settings page.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::worker::JobStatus;
use mephisto_compiler::SourceLine;
use mephisto_designer::llm::LlmConfig;
use mephisto_designer::{DesignRequest, Failure, Stage};
use mephisto_patch::{BuildSpec, PatchSpec};

use super::settings::{Settings, SettingsForm};

/// The window's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Prompt, patches, macros, spectrum and scope.
    Sound,
    /// The current patch's Faust program.
    Code,
    Settings,
}

impl View {
    /// Reads `MEPHISTO_EDITOR_VIEW`'s value (`sound`, `code`, `settings`).
    pub fn from_name(name: &str) -> Option<View> {
        match name.trim().to_ascii_lowercase().as_str() {
            "sound" | "main" => Some(View::Sound),
            "code" | "faust" => Some(View::Code),
            "settings" => Some(View::Settings),
            _ => None,
        }
    }
}

/// What a button asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Design a patch; `llm` is the model to ask (the offline designer when `None`).
    Design {
        request: DesignRequest,
        llm: Option<LlmConfig>,
    },
    /// Compile and play a spec as a new patch (a file, edited code).
    Play(PatchSpec),
    Undo,
    Redo,
    /// Switch between the current patch and the one before it.
    Compare,
    PlayHistory(usize),
    /// Move the host's patch selector (a gesture, so the DAW records it).
    SelectBuiltin(usize),
}

/// How a status line should look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Quiet,
    Busy,
    Good,
    Bad,
}

/// The designer's stage in words.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusLine {
    /// A few words for the title bar: `compiling · 0.3 s`, `live`, `failed`.
    pub short: String,
    pub headline: String,
    /// What happened and what to do, one paragraph each.
    pub details: Vec<String>,
    pub tone: Tone,
}

/// A duration the way a producer reads it: `0.4 s`, `12 s`, `2 min 5 s`.
pub fn format_elapsed(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 10.0 {
        format!("{secs:.1} s")
    } else if secs < 60.0 {
        format!("{secs:.0} s")
    } else {
        format!("{} min {} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// The status line for the worker's newest job; `None` before the plugin is activated.
pub fn status_line(status: Option<&JobStatus>) -> StatusLine {
    let Some(status) = status else {
        return StatusLine {
            short: "not running yet".into(),
            headline: "not running yet".into(),
            details: vec![
                "The host has not started the plugin yet. Prompts, history and code work as \
                 soon as it does (enable the track or start the audio engine)."
                    .into(),
            ],
            tone: Tone::Quiet,
        };
    };
    let elapsed = format_elapsed(status.elapsed());
    let title = if status.title.is_empty() {
        String::new()
    } else {
        format!(" — {}", status.title)
    };
    let busy = |what: &str| (format!("{what} · {elapsed}{title}"), Tone::Busy);
    let short = match &status.stage {
        Stage::Idle => "ready".to_string(),
        Stage::Live { .. } => "live".to_string(),
        Stage::Failed(_) => "failed".to_string(),
        Stage::Superseded => "replaced".to_string(),
        _ => String::new(),
    };
    let (headline, tone) = match &status.stage {
        Stage::Idle => ("ready".to_string(), Tone::Quiet),
        Stage::Queued => busy("queued"),
        Stage::Designing => busy("designing (offline)"),
        // The stage says the round and how the answer comes along (tokens, seconds).
        Stage::AskingModel { .. } => busy(&status.stage.to_string()),
        Stage::Compiling => busy("compiling"),
        Stage::Checking => busy("checking"),
        // Sound first: the draft plays while the analysis check corrects it.
        Stage::AnalysisCheck => busy("playing, checking the sound"),
        // Sound first: the designed patch already plays while its macros are calibrated.
        Stage::Calibrating => busy("playing, calibrating the macros"),
        Stage::Live { from_cache } => {
            let name = status.patch.as_deref().unwrap_or(&status.title);
            let cache = if *from_cache {
                ", no compile needed"
            } else {
                ""
            };
            let short_of = if status.misses.is_empty() {
                String::new()
            } else {
                format!(" · short of: {}", status.misses.join("; "))
            };
            (
                format!("live · {name} ({elapsed}{cache}){short_of}"),
                Tone::Good,
            )
        }
        Stage::Failed(_) => (format!("failed after {elapsed}{title}"), Tone::Bad),
        Stage::Superseded => (format!("replaced by a newer request{title}"), Tone::Quiet),
    };
    let mut details = Vec::new();
    if let Stage::Failed(failure) = &status.stage {
        details.push(failure.message.clone());
        details.push(failure_advice(failure).into());
    }
    details.extend(status.notes.iter().cloned());
    let short = if short.is_empty() {
        headline.split(" — ").next().unwrap_or_default().to_string()
    } else {
        short
    };
    StatusLine {
        short,
        headline,
        details,
        tone,
    }
}

/// What to do about a failure, beyond what its message says: decided by what the failure
/// points at (program lines, a setting), never by its words.
fn failure_advice(failure: &Failure) -> &'static str {
    if !failure.lines.is_empty() {
        "The patch that was playing keeps playing. The Code page marks the line; fix it \
         and press Compile, or ask the designer again."
    } else if failure.setting.is_some() {
        "The patch that was playing keeps playing. Open Settings to fix the path or the model."
    } else {
        "The patch that was playing keeps playing. Try again, rephrase the prompt, or pick \
         another patch."
    }
}

/// The Code page: the current patch's program, the producer's edits, and the errors of the
/// last compile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CodeView {
    pub text: String,
    /// The program the text started from (the patch playing), to tell edits apart.
    loaded: String,
    pub errors: Vec<SourceLine>,
    /// The last compile's failure, in full.
    pub failure: Option<String>,
    /// The compile job in flight and the text it compiles.
    pending: Option<(u64, String)>,
}

impl CodeView {
    pub fn is_edited(&self) -> bool {
        self.text != self.loaded
    }

    pub fn is_compiling(&self) -> bool {
        self.pending.is_some()
    }

    /// Shows the playing patch's program, unless the producer is editing.
    pub fn follow(&mut self, source: &str) {
        if self.loaded != source && !self.is_edited() && self.pending.is_none() {
            source.clone_into(&mut self.text);
            source.clone_into(&mut self.loaded);
            self.errors.clear();
            self.failure = None;
        }
    }

    /// Throws the edits away.
    pub fn revert(&mut self) {
        self.text.clone_from(&self.loaded);
        self.errors.clear();
        self.failure = None;
    }

    /// The spec that plays the edited program: `current` with the new code. Designed values
    /// and macro targets whose control still appears in the code are kept, so a small edit
    /// keeps the patch's sound; the rest come from the code.
    pub fn compile(&self, current: &PatchSpec) -> Command {
        let mut spec = current.clone();
        spec.faust.clone_from(&self.text);
        let in_code = |label: &str| {
            self.text.contains(&format!("\"{label}")) || self.text.contains(&format!("/{label}"))
        };
        spec.params.retain(|label, _| in_code(label));
        spec.macros.retain(|link| in_code(&link.param));
        if spec.builtin_index().is_none() && !spec.name.ends_with("_edited") {
            spec.name.push_str("_edited");
        }
        Command::Play(spec)
    }

    /// The worker took the compile as job `job`.
    pub fn started(&mut self, job: u64) {
        self.pending = Some((job, self.text.clone()));
        self.errors.clear();
        self.failure = None;
    }

    /// Follows the compile job: errors against their lines when it fails; the compiled text
    /// becomes the patch's program when it goes live.
    pub fn observe(&mut self, status: &JobStatus) {
        let Some((job, source)) = &self.pending else {
            return;
        };
        if status.job != *job {
            if status.job > *job {
                self.pending = None;
            }
            return;
        }
        match &status.stage {
            Stage::Failed(failure) => {
                self.errors = failure.lines.clone();
                self.failure = Some(failure.message.clone());
                self.pending = None;
            }
            Stage::Live { .. } => {
                self.loaded = source.clone();
                self.pending = None;
            }
            Stage::Superseded => self.pending = None,
            _ => {}
        }
    }
}

/// A short message under a control: what happened, or what went wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

impl Notice {
    fn ok(text: String) -> Self {
        Notice { text, error: false }
    }

    fn error(text: String) -> Self {
        Notice { text, error: true }
    }
}

/// Everything the window remembers between frames (besides the host's parameters and what
/// the worker and the project hold).
pub struct EditorState {
    pub view: View,
    pub prompt: String,
    pub code: CodeView,
    /// The patch file the Save and Load buttons use.
    pub patch_file: String,
    pub file_notice: Option<Notice>,
    /// The settings in force (saved, or the defaults).
    pub settings: Settings,
    /// The Settings page's fields.
    pub form: SettingsForm,
    /// Where Save writes the settings; `None` when no configuration folder is known.
    pub settings_path: Option<PathBuf>,
    pub settings_notice: Option<Notice>,
    /// Why the last button press did nothing (e.g. an empty prompt).
    pub prompt_notice: Option<Notice>,
}

impl EditorState {
    /// A fresh window state with `settings` (and the reason they are the defaults, if the
    /// file could not be read).
    pub fn new(settings: Settings, load_error: Option<String>, path: Option<PathBuf>) -> Self {
        EditorState {
            view: View::Sound,
            prompt: String::new(),
            code: CodeView::default(),
            patch_file: "~/mephisto-patches/".into(),
            file_notice: None,
            form: SettingsForm::from_settings(&settings),
            settings,
            settings_path: path,
            settings_notice: load_error.map(Notice::error),
            prompt_notice: None,
        }
    }

    fn prompt_text(&self) -> Result<&str, String> {
        let prompt = self.prompt.trim();
        if prompt.is_empty() {
            Err("Type what you want to hear first, e.g. \"glassy bell with a long tail\".".into())
        } else {
            Ok(prompt)
        }
    }

    /// Generate: a new patch from the prompt.
    pub fn generate(&self) -> Result<Command, String> {
        Ok(Command::Design {
            request: DesignRequest::new(self.prompt_text()?),
            llm: self.settings.llm().cloned(),
        })
    }

    /// Refine: the prompt changes `current` ("warmer", "longer tail").
    pub fn refine(&self, current: PatchSpec) -> Result<Command, String> {
        Ok(Command::Design {
            request: DesignRequest::refine(self.prompt_text()?, current),
            llm: self.settings.llm().cloned(),
        })
    }

    /// A click on built-in patch `index`: moves the host's selector, or, when the selector
    /// is already there while a designed patch plays (moving it would change nothing),
    /// plays the built-in's spec.
    pub fn select_builtin(index: usize, selected: usize, designed_playing: bool) -> Command {
        if index == selected && designed_playing {
            match PatchSpec::from_builtin(index) {
                Ok(spec) => Command::Play(spec),
                Err(_) => Command::SelectBuiltin(index),
            }
        } else {
            Command::SelectBuiltin(index)
        }
    }

    /// Save: writes `spec` to the patch file (a folder gets `<name>.json`).
    pub fn save_patch(&mut self, spec: &PatchSpec) {
        self.file_notice = Some(match patch_file_path(&self.patch_file, &spec.name) {
            Ok(path) => {
                let written = path
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| std::fs::write(&path, spec.to_json_pretty()));
                match written {
                    Ok(()) => {
                        self.patch_file = path.display().to_string();
                        Notice::ok(format!("saved {}", path.display()))
                    }
                    Err(e) => Notice::error(format!("cannot write {}: {e}", path.display())),
                }
            }
            Err(e) => Notice::error(e),
        });
    }

    /// Load: the spec in the patch file, to play.
    pub fn load_patch(&mut self) -> Option<Command> {
        let loaded =
            patch_file_path(&self.patch_file, "").and_then(|path| PatchSpec::from_file(&path));
        match loaded {
            Ok(spec) => {
                self.file_notice = Some(Notice::ok(format!("loading `{}`", spec.name)));
                Some(Command::Play(spec))
            }
            Err(e) => {
                self.file_notice = Some(Notice::error(e));
                None
            }
        }
    }

    /// Save on the Settings page: checks the fields and writes the file. The new designer
    /// settings apply to the next prompt.
    pub fn save_settings(&mut self) {
        let notice = match self.form.to_settings(&self.settings) {
            Ok(settings) => {
                self.settings = settings;
                match &self.settings_path {
                    Some(path) => match self.settings.save_to(path) {
                        Ok(()) => Notice::ok(format!("saved {}", path.display())),
                        Err(e) => Notice::error(e),
                    },
                    None => Notice::error(
                        "no configuration folder is known (set HOME or XDG_CONFIG_HOME); the \
                         settings apply until the plugin is closed"
                            .into(),
                    ),
                }
            }
            Err(e) => Notice::error(e),
        };
        self.settings_notice = Some(notice);
    }
}

/// The file a Save or Load button means: `~` is the home folder, and a folder (ending in
/// `/` or existing) gets `<name>.json` inside it.
pub fn patch_file_path(text: &str, name: &str) -> Result<PathBuf, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("type the path of a patch file (…/name.json) first".into());
    }
    let path = match text.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME")
            .map(|home| Path::new(&home).join(rest))
            .ok_or_else(|| "`~` cannot be used: HOME is not set".to_string())?,
        None => PathBuf::from(text),
    };
    if text.ends_with('/') || path.is_dir() {
        if name.is_empty() {
            return Err(format!(
                "{} is a folder: add the file name (…/name.json)",
                path.display()
            ));
        }
        Ok(path.join(format!("{name}.json")))
    } else {
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::editor::settings::DesignerKind;
    use mephisto_dsp::builtin_patches;

    fn status(job: u64, stage: Stage) -> JobStatus {
        JobStatus {
            misses: Vec::new(),
            job,
            title: "glassy bell".into(),
            stage,
            started: Instant::now(),
            took: Some(Duration::from_millis(1234)),
            notes: Vec::new(),
            patch: None,
        }
    }

    fn state() -> EditorState {
        EditorState::new(Settings::default(), None, None)
    }

    #[test]
    fn generate_and_refine_make_design_requests() {
        let mut s = state();
        assert!(s.generate().unwrap_err().contains("Type what you want"));
        s.prompt = "  glassy bell with a long tail ".into();
        assert_eq!(
            s.generate().unwrap(),
            Command::Design {
                request: DesignRequest::new("glassy bell with a long tail"),
                llm: None,
            }
        );
        let current = PatchSpec::from_builtin(0).unwrap();
        s.prompt = "warmer".into();
        let Command::Design { request, llm } = s.refine(current.clone()).unwrap() else {
            panic!("not a design command")
        };
        assert_eq!(request, DesignRequest::refine("warmer", current));
        assert_eq!(llm, None);

        s.settings.designer = DesignerKind::Llm;
        let Command::Design { llm, .. } = s.generate().unwrap() else {
            panic!("not a design command")
        };
        assert_eq!(llm, Some(s.settings.llm.clone()));
    }

    #[test]
    fn a_click_on_the_selected_builtin_replays_it_over_a_designed_patch() {
        assert_eq!(
            EditorState::select_builtin(2, 0, true),
            Command::SelectBuiltin(2)
        );
        assert_eq!(
            EditorState::select_builtin(2, 2, false),
            Command::SelectBuiltin(2)
        );
        let Command::Play(spec) = EditorState::select_builtin(2, 2, true) else {
            panic!("expected the built-in's spec")
        };
        assert_eq!(spec.builtin_index(), Some(2));
    }

    #[test]
    fn stages_read_as_words_with_the_time() {
        assert_eq!(status_line(None).headline, "not running yet");
        let asking = Stage::AskingModel {
            round: 2,
            tokens: 143,
            seconds: 12.34,
        };
        let line = status_line(Some(&status(3, asking)));
        assert_eq!(
            line.headline,
            "asking the model (round 3 of 4): 143 tokens in 12.3 s · 1.2 s — glassy bell"
        );
        assert_eq!(
            line.short,
            "asking the model (round 3 of 4): 143 tokens in 12.3 s · 1.2 s"
        );
        let reading = Stage::AskingModel {
            round: 0,
            tokens: 0,
            seconds: 7.6,
        };
        let line = status_line(Some(&status(3, reading)));
        assert!(
            line.headline
                .starts_with("asking the model: reading the request, 8 s · 1.2 s"),
            "{}",
            line.headline
        );
        assert_eq!(line.tone, Tone::Busy);
        let mut live = status(3, Stage::Live { from_cache: true });
        live.patch = Some("glass_bell".into());
        live.notes = vec!["words the offline designer does not know (ignored): zorp".into()];
        let line = status_line(Some(&live));
        assert_eq!(
            line.headline,
            "live · glass_bell (1.2 s, no compile needed)"
        );
        assert_eq!(line.short, "live");
        assert_eq!(line.tone, Tone::Good);
        assert_eq!(line.details, live.notes);
        // What the analysis check could not reach is in the status itself.
        live.misses = vec!["darker: reached -0.31 oct of -0.90 oct".into()];
        assert_eq!(
            status_line(Some(&live)).headline,
            "live · glass_bell (1.2 s, no compile needed) · short of: darker: reached -0.31 oct \
             of -0.90 oct"
        );

        let failed = status(
            4,
            Stage::Failed(Failure::fixed_by(
                "`faust`: cannot find the Faust compiler at `faust`: install it with \
                 `apt-get install faust` or set its path in Settings",
                mephisto_patch::Setting::FaustPath,
            )),
        );
        let line = status_line(Some(&failed));
        assert_eq!(line.headline, "failed after 1.2 s — glassy bell");
        assert_eq!(line.tone, Tone::Bad);
        assert!(line.details[0].contains("apt-get install faust"));
        assert!(line.details[1].contains("keeps playing"));
        assert!(line.details[1].contains("Settings"));
    }

    #[test]
    fn elapsed_times_read_naturally() {
        assert_eq!(format_elapsed(Duration::from_millis(420)), "0.4 s");
        assert_eq!(format_elapsed(Duration::from_secs(42)), "42 s");
        assert_eq!(format_elapsed(Duration::from_secs(125)), "2 min 5 s");
    }

    #[test]
    fn the_code_view_follows_the_patch_until_edited_and_marks_compile_errors() {
        let mut code = CodeView::default();
        code.follow("process = 0;");
        assert_eq!(code.text, "process = 0;");
        code.text = "process = os.osc(440)\n;;".into();
        code.follow("process = 1;");
        assert_eq!(code.text, "process = os.osc(440)\n;;", "edits are kept");
        assert!(code.is_edited());

        let current = PatchSpec::from_builtin(0).unwrap();
        let Command::Play(spec) = code.compile(&current) else {
            panic!("compile plays a spec")
        };
        assert_eq!(spec.faust, code.text);
        assert_eq!(spec.name, format!("{}_edited", current.name));
        assert!(
            spec.params.is_empty(),
            "the new code has none of the controls"
        );

        code.started(7);
        assert!(code.is_compiling());
        code.observe(&status(
            7,
            Stage::Failed(Failure {
                message: "`faust`: Faust error at line 2: syntax error, unexpected ';'".into(),
                lines: vec![SourceLine {
                    line: 2,
                    message: "syntax error, unexpected ';'".into(),
                }],
                setting: None,
            }),
        ));
        assert!(!code.is_compiling());
        assert_eq!(code.errors[0].line, 2);
        assert!(code.failure.as_ref().unwrap().contains("syntax error"));

        code.started(8);
        assert!(code.errors.is_empty());
        code.observe(&status(8, Stage::Live { from_cache: false }));
        assert!(!code.is_edited(), "the compiled code is the patch's now");
        code.revert();
        assert_eq!(code.text, "process = os.osc(440)\n;;");
    }

    #[test]
    fn compiling_a_builtins_code_keeps_its_designed_values() {
        let mut code = CodeView::default();
        let current = PatchSpec::from_builtin(0).unwrap();
        code.follow(&current.faust);
        let Command::Play(spec) = code.compile(&current) else {
            panic!("compile plays a spec")
        };
        assert_eq!(spec, current, "unchanged code plays the built-in as it is");
        assert_eq!(spec.builtin_index(), Some(0));
    }

    #[test]
    fn patch_files_are_saved_and_loaded() {
        let dir = std::env::temp_dir().join(format!("mephisto-editor-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut s = state();
        let spec = PatchSpec::from_builtin(1).unwrap();
        s.patch_file = format!("{}/", dir.display());
        s.save_patch(&spec);
        let expected = dir.join(format!("{}.json", builtin_patches()[1].name));
        assert_eq!(s.patch_file, expected.display().to_string());
        assert!(!s.file_notice.as_ref().unwrap().error);
        assert_eq!(s.load_patch(), Some(Command::Play(spec)));

        s.patch_file = dir.join("missing.json").display().to_string();
        assert_eq!(s.load_patch(), None);
        assert!(s.file_notice.as_ref().unwrap().error);
        s.patch_file = "  ".into();
        assert_eq!(s.load_patch(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn saving_settings_checks_the_fields_first() {
        let dir =
            std::env::temp_dir().join(format!("mephisto-editor-settings-{}", std::process::id()));
        let path = dir.join("settings.json");
        let mut s = EditorState::new(Settings::default(), None, Some(path.clone()));
        s.form.api_key_env = "sk-live-0123456789abcdef".into();
        s.save_settings();
        assert!(s.settings_notice.as_ref().unwrap().error);
        assert!(!path.exists());

        s.form.api_key_env = "OPENAI_API_KEY".into();
        s.form.designer = DesignerKind::Llm;
        s.save_settings();
        assert!(!s.settings_notice.as_ref().unwrap().error);
        assert_eq!(Settings::load_from(&path).unwrap(), s.settings);
        assert!(s.settings.llm().is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
