//! The LLM settings: where the model lives, how patiently to talk to it, how large its
//! context is and what it is asked to answer with. Saved with the per-machine settings, so
//! they hold the *name* of the variable with the API key, never the key.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where the designer's model lives and how to talk to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// The endpoint's base, e.g. `http://127.0.0.1:11434/v1` (Ollama) or
    /// `https://api.openai.com/v1`; `/chat/completions` is appended.
    pub base_url: String,
    /// The model name as the server knows it, e.g. `qwen2.5-coder:7b` or `gpt-4o`.
    pub model: String,
    /// The environment variable that holds the API key; `None` for local servers.
    pub api_key_env: Option<ApiKeyVar>,
    /// Sampling temperature sent with each request.
    pub temperature: f32,
    /// The longest silence in the middle of an answer: no token for this long and the
    /// answer is given up (in the settings file, seconds). The answer as a whole may take
    /// as long as it keeps coming.
    #[serde(with = "seconds")]
    pub timeout: Duration,
    /// How long the model may take to read the request before its first token: a model on
    /// a CPU reads a few hundred tokens a second, so a long request can take minutes.
    #[serde(with = "seconds")]
    pub first_token_timeout: Duration,
    /// How often a request is tried again after a rate limit, a server error or a failed
    /// connection.
    pub max_retries: u32,
    /// Answers larger than this are stopped: a PatchSpec is a few KiB, so anything near the
    /// limit is a runaway generation.
    pub max_reply_bytes: u64,
    /// The model's context size in tokens, used when the server does not report one; for
    /// Ollama it is also what Mephisto asks the server to load (`num_ctx`).
    pub context_tokens: u32,
    /// The most tokens one answer may have (`max_tokens`).
    pub max_answer_tokens: u32,
    /// What the model is asked to answer with.
    pub form: ReplyForm,
    /// Ask for an answer that follows a JSON schema where the server supports it (servers
    /// that refuse are asked again without, and remembered).
    pub structured_output: bool,
    /// Which protocol the server speaks.
    pub api: Api,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            base_url: "http://127.0.0.1:11434/v1".to_string(),
            model: "qwen2.5-coder:7b".to_string(),
            api_key_env: None,
            temperature: 0.7,
            timeout: Duration::from_secs(60),
            first_token_timeout: Duration::from_secs(300),
            max_retries: 3,
            max_reply_bytes: 256 * 1024,
            context_tokens: 8192,
            max_answer_tokens: 2048,
            form: ReplyForm::Auto,
            structured_output: true,
            api: Api::Auto,
        }
    }
}

/// What the model answers with (docs/DESIGNER.md, "Reply forms").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyForm {
    /// A synth graph for small models and small contexts, else the model's choice.
    #[default]
    Auto,
    /// A synth graph (docs/PATCHSPEC.md), which Mephisto turns into Faust itself.
    Graph,
    /// A PatchSpec with a Faust program the model writes.
    Faust,
    /// Either; the model chooses.
    Either,
}

/// The protocol a server speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// Ollama's own API when the base URL is on Ollama's port (11434), else OpenAI's.
    #[default]
    Auto,
    /// OpenAI-compatible chat completions (OpenAI, llama.cpp, vLLM, LM Studio, …).
    Openai,
    /// Ollama's `/api/chat`, which takes the context size (`num_ctx`) with each request.
    Ollama,
}

/// Ollama's default port: a base URL on it speaks Ollama's API when `api` is `auto`.
pub const OLLAMA_PORT: u16 = 11434;

/// The name of an environment variable holding an API key, e.g. `OPENAI_API_KEY`.
///
/// Only names that look like variable names are accepted, so a key pasted into the setting
/// by mistake is refused instead of being saved in a project or a settings file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ApiKeyVar(String);

impl ApiKeyVar {
    /// Longer than any sensible variable name, shorter than the keys providers hand out.
    const MAX_LEN: usize = 48;
    /// Prefixes of keys that would otherwise pass for variable names.
    const KEY_PREFIXES: [&'static str; 6] = ["sk-", "sk_", "gsk_", "hf_", "xai-", "pk_"];

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key, read now; `None` when the variable is unset or blank.
    pub(crate) fn read_key(&self) -> Option<String> {
        let value = std::env::var(&self.0).ok()?;
        let key = value.trim();
        (!key.is_empty()).then(|| key.to_string())
    }
}

impl TryFrom<String> for ApiKeyVar {
    type Error = String;

    // The message never repeats the value: it may be the key itself.
    fn try_from(name: String) -> Result<Self, String> {
        let well_formed = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let looks_like_key = name.len() > Self::MAX_LEN
            || Self::KEY_PREFIXES
                .iter()
                .any(|prefix| name.starts_with(prefix));
        if well_formed && !looks_like_key {
            Ok(ApiKeyVar(name))
        } else {
            Err(
                "api_key_env must be the name of an environment variable (e.g. OPENAI_API_KEY), \
                 not the key itself; the value given was not saved"
                    .to_string(),
            )
        }
    }
}

impl From<ApiKeyVar> for String {
    fn from(var: ApiKeyVar) -> String {
        var.0
    }
}

/// `Duration` as a number of seconds in the settings file.
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(value.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(secs).map_err(|_| {
            serde::de::Error::custom(format!(
                "timeout must be a positive number of seconds, got {secs}"
            ))
        })
    }
}

/// The parameter count a model's name states (`smollm2-135m` → 0.135, `qwen2.5-coder:7b` →
/// 7, `mixtral-8x7b` → 56), in billions; `None` when it states none (hosted models).
pub fn stated_size_billions(model: &str) -> Option<f64> {
    let name = model.to_ascii_lowercase();
    let bytes = name.as_bytes();
    let mut best: Option<f64> = None;
    let mut i = 0;
    while i < bytes.len() {
        let starts_number = bytes[i].is_ascii_digit()
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'.'));
        if !starts_number {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        let mut experts = 1.0;
        let mut number_start = start;
        if i < bytes.len() && bytes[i] == b'x' {
            // `8x7b`: experts times size.
            experts = name[start..i].parse().unwrap_or(1.0);
            number_start = i + 1;
            i += 1;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
        }
        let unit = bytes.get(i).copied();
        let next_is_word = bytes.get(i + 1).is_some_and(|b| b.is_ascii_alphanumeric());
        if let (Ok(value), Some(unit)) = (name[number_start..i].parse::<f64>(), unit) {
            let scale = match unit {
                b'b' if !next_is_word => Some(1.0),
                b'm' if !next_is_word => Some(0.001),
                _ => None,
            };
            if let Some(scale) = scale {
                let size = experts * value * scale;
                best = Some(best.map_or(size, |b: f64| b.max(size)));
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_var_refuses_keys() {
        assert!(ApiKeyVar::try_from("OPENAI_API_KEY".to_string()).is_ok());
        assert!(ApiKeyVar::try_from("_my_key2".to_string()).is_ok());
        for bad in [
            "",
            "sk-proj-abc123",
            "gsk_0123456789",
            "2FAST",
            "has space",
            &"A".repeat(49),
        ] {
            let err = ApiKeyVar::try_from(bad.to_string()).unwrap_err();
            assert!(bad.is_empty() || !err.contains(bad), "{err}");
        }
    }

    #[test]
    fn model_sizes_are_read_from_names() {
        assert_eq!(stated_size_billions("smollm2-135m-instruct"), Some(0.135));
        assert_eq!(stated_size_billions("qwen2.5-coder:7b"), Some(7.0));
        assert_eq!(
            stated_size_billions("llama3.2:3b-instruct-q4_K_M"),
            Some(3.0)
        );
        assert_eq!(stated_size_billions("Qwen2.5-0.5B-Instruct"), Some(0.5));
        assert_eq!(stated_size_billions("mixtral-8x7b"), Some(56.0));
        assert_eq!(stated_size_billions("llama-3.1-70b-versatile"), Some(70.0));
        assert_eq!(stated_size_billions("gpt-4o"), None);
        assert_eq!(stated_size_billions("gpt-4o-mini-2024-07-18"), None);
        assert_eq!(stated_size_billions("claude-3-5-sonnet"), None);
    }

    #[test]
    fn old_settings_files_still_load() {
        let old = r#"{"base_url": "http://h/v1", "model": "m", "timeout": 90}"#;
        let config: LlmConfig = serde_json::from_str(old).unwrap();
        assert_eq!(config.timeout, Duration::from_secs(90));
        assert_eq!(config.context_tokens, 8192);
        assert_eq!(config.form, ReplyForm::Auto);
    }
}
