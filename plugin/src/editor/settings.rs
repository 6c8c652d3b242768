//! The per-machine settings: which designer answers prompts and where its model lives, where
//! the compilers and the ONNX Runtime library are, and the window's scale. They belong to the
//! machine, not the song, so they live in `$XDG_CONFIG_HOME/mephisto/settings.json` (or
//! `~/.config/mephisto/settings.json`), never in the DAW project. The API key is never here:
//! the LLM settings name the environment variable that holds it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use mephisto_compiler::CompilerOptions;
use mephisto_designer::llm::{ApiKeyVar, LlmClient, LlmConfig, ReplyForm};
use mephisto_designer::Designer;

/// The settings file's name inside `mephisto/` in the user's configuration folder.
const FILE_NAME: &str = "settings.json";

/// Window scales offered in Settings, on top of what the host or the desktop asks for.
pub const UI_SCALES: [f32; 5] = [1.0, 1.25, 1.5, 1.75, 2.0];

/// Which designer answers prompts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DesignerKind {
    /// The built-in designer: no network, always answers.
    #[default]
    Offline,
    /// An OpenAI-compatible model (falls back to the offline designer when unreachable).
    Llm,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub designer: DesignerKind,
    /// The model's endpoint, name and key variable (the same settings `mephisto design --llm`
    /// takes).
    pub llm: LlmConfig,
    /// The `faust` executable; empty: `$MEPHISTO_FAUST`, else `PATH`.
    pub faust_path: Option<PathBuf>,
    /// The `rustc` executable; empty: `$MEPHISTO_RUSTC`, else `PATH`.
    pub rustc_path: Option<PathBuf>,
    /// `libonnxruntime.so` for the neural voice.
    pub onnxruntime_path: Option<PathBuf>,
    /// The window's zoom on top of the host's scale: 1.0 is 100 %.
    pub ui_scale: f32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            designer: DesignerKind::Offline,
            llm: LlmConfig::default(),
            faust_path: None,
            rustc_path: None,
            onnxruntime_path: None,
            ui_scale: 1.0,
        }
    }
}

impl Settings {
    /// Where this machine's settings file is: `$XDG_CONFIG_HOME/mephisto/settings.json`, else
    /// `~/.config/mephisto/settings.json`; `None` when neither folder is known.
    pub fn default_path() -> Option<PathBuf> {
        let non_empty = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty());
        non_empty("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| non_empty("HOME").map(|home| PathBuf::from(home).join(".config")))
            .or_else(|| non_empty("APPDATA").map(PathBuf::from))
            .map(|dir| dir.join("mephisto").join(FILE_NAME))
    }

    /// This machine's settings: the defaults when there is no file yet, and the reason
    /// beside the defaults when the file cannot be read (it is left as it is until the
    /// producer saves).
    pub fn load() -> (Settings, Option<String>) {
        match Settings::default_path() {
            Some(path) => match Settings::load_from(&path) {
                Ok(settings) => (settings, None),
                Err(e) => (Settings::default(), Some(e)),
            },
            None => (Settings::default(), None),
        }
    }

    /// Reads a settings file; a missing file gives the defaults.
    pub fn load_from(path: &Path) -> Result<Settings, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let mut settings: Settings = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{} is not a valid settings file ({e}); the defaults are used until you save",
                path.display()
            )
        })?;
        if !UI_SCALES.contains(&settings.ui_scale) {
            settings.ui_scale = 1.0;
        }
        Ok(settings)
    }

    /// Writes the settings (creating the folder), replacing the file in one step so a crash
    /// never leaves half a file.
    pub fn save_to(&self, path: &Path) -> Result<(), String> {
        let dir = path
            .parent()
            .ok_or_else(|| format!("{} has no folder", path.display()))?;
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut text = serde_json::to_string_pretty(self).expect("settings are always JSON");
        text.push('\n');
        let staging = path.with_extension("json.new");
        std::fs::write(&staging, text)
            .and_then(|()| std::fs::rename(&staging, path))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// The compiler options these settings ask for: the configured paths, else the defaults
    /// (environment variables, then `PATH`).
    pub fn compiler_options(&self) -> CompilerOptions {
        let mut options = CompilerOptions::default();
        if let Some(path) = &self.faust_path {
            options.faust_path = Some(path.clone());
        }
        if let Some(path) = &self.rustc_path {
            options.rustc_path = Some(path.clone());
        }
        options
    }

    /// The designer these settings choose.
    pub fn designer(&self) -> Designer {
        match self.designer {
            DesignerKind::Offline => Designer::Offline,
            DesignerKind::Llm => Designer::Llm(LlmClient::new(self.llm.clone())),
        }
    }

    /// The LLM settings, when the model designs.
    pub fn llm(&self) -> Option<&LlmConfig> {
        (self.designer == DesignerKind::Llm).then_some(&self.llm)
    }
}

/// The settings as the Settings page edits them: text fields, checked when saved.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsForm {
    pub designer: DesignerKind,
    pub base_url: String,
    pub model: String,
    pub api_key_env: String,
    /// Seconds the model may stay silent in the middle of an answer.
    pub timeout: String,
    /// Seconds the model may take to read a request before its first token.
    pub first_token_timeout: String,
    /// The model's context size in tokens.
    pub context: String,
    /// What the model answers with.
    pub reply_form: ReplyForm,
    pub faust_path: String,
    pub rustc_path: String,
    pub onnxruntime_path: String,
    pub ui_scale: f32,
}

impl SettingsForm {
    pub fn from_settings(settings: &Settings) -> Self {
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        SettingsForm {
            designer: settings.designer,
            base_url: settings.llm.base_url.clone(),
            model: settings.llm.model.clone(),
            api_key_env: settings
                .llm
                .api_key_env
                .as_ref()
                .map(|v| v.as_str().to_string())
                .unwrap_or_default(),
            timeout: format!("{}", settings.llm.timeout.as_secs_f64()),
            first_token_timeout: format!("{}", settings.llm.first_token_timeout.as_secs_f64()),
            context: settings.llm.context_tokens.to_string(),
            reply_form: settings.llm.form,
            faust_path: path(&settings.faust_path),
            rustc_path: path(&settings.rustc_path),
            onnxruntime_path: path(&settings.onnxruntime_path),
            ui_scale: settings.ui_scale,
        }
    }

    /// The settings the form describes, on top of `base` (which keeps what the page does not
    /// show: temperature, retries, reply limit), or what to fix.
    pub fn to_settings(&self, base: &Settings) -> Result<Settings, String> {
        let mut settings = base.clone();
        settings.designer = self.designer;
        settings.llm.base_url = self.base_url.trim().to_string();
        settings.llm.model = self.model.trim().to_string();
        let key_var = self.api_key_env.trim();
        settings.llm.api_key_env = if key_var.is_empty() {
            None
        } else {
            Some(ApiKeyVar::try_from(key_var.to_string())?)
        };
        let seconds = |text: &str, what: &str| -> Result<Duration, String> {
            let value: f64 = text.trim().parse().map_err(|_| {
                format!(
                    "the {what} must be a number of seconds, not `{}`",
                    text.trim()
                )
            })?;
            Duration::try_from_secs_f64(value)
                .ok()
                .filter(|t| !t.is_zero())
                .ok_or_else(|| format!("the {what} must be more than 0 seconds"))
        };
        settings.llm.timeout = seconds(&self.timeout, "model's silence time-out")?;
        settings.llm.first_token_timeout =
            seconds(&self.first_token_timeout, "model's first-token time-out")?;
        settings.llm.context_tokens = self
            .context
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|&n| n >= 512)
            .ok_or_else(|| {
                format!(
                    "the model's context must be a number of tokens, at least 512, not `{}`",
                    self.context.trim()
                )
            })?;
        settings.llm.form = self.reply_form;
        if self.designer == DesignerKind::Llm {
            if settings.llm.base_url.is_empty() {
                return Err(
                    "the model's base URL is empty (e.g. http://127.0.0.1:11434/v1)".into(),
                );
            }
            if settings.llm.model.is_empty() {
                return Err("the model name is empty (e.g. qwen2.5-coder:7b)".into());
            }
        }
        let path = |text: &str| {
            let text = text.trim();
            (!text.is_empty()).then(|| PathBuf::from(text))
        };
        settings.faust_path = path(&self.faust_path);
        settings.rustc_path = path(&self.rustc_path);
        settings.onnxruntime_path = path(&self.onnxruntime_path);
        settings.ui_scale = self.ui_scale;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("mephisto-settings-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn settings_survive_a_save_and_a_load() {
        let dir = scratch_dir("roundtrip");
        let path = dir.join("mephisto").join(FILE_NAME);
        assert_eq!(Settings::load_from(&path).unwrap(), Settings::default());

        let mut form = SettingsForm::from_settings(&Settings::default());
        form.designer = DesignerKind::Llm;
        form.base_url = "https://api.openai.com/v1".into();
        form.model = "gpt-4o".into();
        form.api_key_env = "OPENAI_API_KEY".into();
        form.timeout = "90".into();
        form.context = "4096".into();
        form.reply_form = ReplyForm::Graph;
        form.faust_path = "/opt/faust/bin/faust".into();
        form.ui_scale = 2.0;
        let settings = form.to_settings(&Settings::default()).unwrap();
        settings.save_to(&path).unwrap();

        let back = Settings::load_from(&path).unwrap();
        assert_eq!(back, settings);
        assert_eq!(back.llm.timeout, Duration::from_secs(90));
        assert_eq!(back.llm.context_tokens, 4096);
        assert_eq!(back.llm.form, ReplyForm::Graph);
        assert_eq!(
            back.compiler_options().faust_path,
            Some(PathBuf::from("/opt/faust/bin/faust"))
        );
        assert_eq!(SettingsForm::from_settings(&back), form);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("\"api_key_env\": \"OPENAI_API_KEY\""),
            "{text}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_pasted_key_is_refused_and_never_saved() {
        let mut form = SettingsForm::from_settings(&Settings::default());
        form.api_key_env = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789".into();
        let error = form.to_settings(&Settings::default()).unwrap_err();
        assert!(error.contains("not the key itself"), "{error}");
        assert!(!error.contains("abcdef"), "{error}");
    }

    #[test]
    fn bad_fields_say_what_to_fix() {
        let mut form = SettingsForm::from_settings(&Settings::default());
        form.timeout = "soon".into();
        assert!(form
            .to_settings(&Settings::default())
            .unwrap_err()
            .contains("number of seconds"));
        let mut form = SettingsForm::from_settings(&Settings::default());
        form.context = "lots".into();
        assert!(form
            .to_settings(&Settings::default())
            .unwrap_err()
            .contains("number of tokens"));
        let mut form = SettingsForm::from_settings(&Settings::default());
        form.designer = DesignerKind::Llm;
        form.model = " ".into();
        assert!(form
            .to_settings(&Settings::default())
            .unwrap_err()
            .contains("model name is empty"));
    }

    #[test]
    fn an_unreadable_file_gives_the_reason_and_is_left_alone() {
        let dir = scratch_dir("broken");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(FILE_NAME);
        std::fs::write(&path, "{ not json").unwrap();
        let error = Settings::load_from(&path).unwrap_err();
        assert!(error.contains("not a valid settings file"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{ not json");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
