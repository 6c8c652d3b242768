//! What Mephisto has learned about each endpoint while the process runs: which structured
//! output modes it refused, the context size it reported or revealed. The plugin makes a
//! new client for every design job, so this lives in one process-wide table keyed by the
//! endpoint and the model.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

/// How a reply's shape is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Structured {
    /// OpenAI's `response_format: {"type": "json_schema", …}`.
    JsonSchema,
    /// llama-cpp-python's `response_format: {"type": "json_object", "schema": …}`, which it
    /// turns into a grammar.
    JsonObjectSchema,
    /// Ollama's `format: <schema>`.
    OllamaFormat,
    /// Not at all: the instructions describe the shape.
    Off,
}

impl Structured {
    /// How the setting and the reply's notes name the mode.
    pub fn describe(self) -> &'static str {
        match self {
            Structured::JsonSchema => "response_format json_schema",
            Structured::JsonObjectSchema => "response_format json_object with a schema",
            Structured::OllamaFormat => "Ollama's format schema",
            Structured::Off => "no schema",
        }
    }
}

/// What is known about one endpoint and model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Known {
    /// Modes the server refused.
    pub refused: Vec<Structured>,
    /// The context size the server reported (`None` inside: asked, it said nothing).
    pub reported_context: Option<Option<u32>>,
    /// The context size a refused request revealed (`maximum context length is N`).
    pub learned_context: Option<u32>,
}

fn table() -> &'static Mutex<HashMap<String, Known>> {
    static TABLE: OnceLock<Mutex<HashMap<String, Known>>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

/// What is known about `key` (`endpoint|model`).
pub fn known(key: &str) -> Known {
    table()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(key)
        .cloned()
        .unwrap_or_default()
}

/// Records something learned about `key`.
pub fn learn(key: &str, change: impl FnOnce(&mut Known)) {
    let mut table = table().lock().unwrap_or_else(|e| e.into_inner());
    change(table.entry(key.to_string()).or_default());
}

/// The context size an OpenAI-compatible `GET /models` answer gives for `model`: vLLM's
/// `max_model_len`, `context_length` (OpenRouter, LM Studio), `max_context_length`,
/// `context_window`, llama.cpp's `meta.n_ctx` (or the training size `meta.n_ctx_train`).
/// The model's own entry, or the only one.
pub fn context_from_models(models: &Value, model: &str) -> Option<u32> {
    let entries = models.get("data").and_then(Value::as_array)?;
    let entry = entries
        .iter()
        .find(|e| e.get("id").and_then(Value::as_str) == Some(model))
        .or_else(|| (entries.len() == 1).then(|| &entries[0]))?;
    let number = |v: Option<&Value>| v.and_then(Value::as_u64).filter(|&n| n > 0);
    [
        "max_model_len",
        "context_length",
        "max_context_length",
        "context_window",
    ]
    .iter()
    .find_map(|key| number(entry.get(*key)))
    .or_else(|| {
        let meta = entry.get("meta");
        number(meta.and_then(|m| m.get("n_ctx")))
            .or_else(|| number(meta.and_then(|m| m.get("n_ctx_train"))))
    })
    .map(|n| n.min(u64::from(u32::MAX)) as u32)
}

/// The context the model was trained for, from Ollama's `POST /api/show` answer
/// (`model_info` has `<architecture>.context_length`).
pub fn context_from_ollama_show(show: &Value) -> Option<u32> {
    show.get("model_info")?
        .as_object()?
        .iter()
        .find(|(key, _)| key.ends_with(".context_length"))
        .and_then(|(_, v)| v.as_u64())
        .filter(|&n| n > 0)
        .map(|n| n.min(u64::from(u32::MAX)) as u32)
}

/// The numbers in a server's "request too long" message: `maximum context length is 8192
/// tokens. However, you requested 9041 tokens` (OpenAI, llama-cpp-python, vLLM).
pub fn context_numbers(message: &str) -> (Option<u32>, Option<u32>) {
    let after = |needle: &str| {
        let lower = message.to_ascii_lowercase();
        let at = lower.find(needle)? + needle.len();
        lower[at..]
            .trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse::<u32>().ok())
    };
    (after("maximum context length is"), after("you requested"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn context_sizes_are_found_where_servers_put_them() {
        let vllm = json!({"data": [{"id": "m", "max_model_len": 32768}]});
        assert_eq!(context_from_models(&vllm, "m"), Some(32768));
        let llama = json!({"data": [{"id": "x", "meta": {"n_ctx_train": 8192}}]});
        assert_eq!(
            context_from_models(&llama, "other"),
            Some(8192),
            "the only entry"
        );
        let two = json!({"data": [{"id": "a", "context_length": 4096}, {"id": "b"}]});
        assert_eq!(context_from_models(&two, "b"), None);
        assert_eq!(context_from_models(&two, "a"), Some(4096));
        let llama_cpp_python = json!({"object": "list", "data": [{"id": "smollm2-135m-instruct",
            "object": "model", "owned_by": "me", "permissions": []}]});
        assert_eq!(
            context_from_models(&llama_cpp_python, "smollm2-135m-instruct"),
            None
        );
        let show = json!({"model_info": {"general.architecture": "qwen2",
                                         "qwen2.context_length": 32768}});
        assert_eq!(context_from_ollama_show(&show), Some(32768));
        assert_eq!(context_from_ollama_show(&json!({})), None);
    }

    #[test]
    fn a_too_long_request_says_the_limit() {
        let message = "This model's maximum context length is 8192 tokens. However, you \
                       requested 9041 tokens (9031 in the messages, 10 in the completion).";
        assert_eq!(context_numbers(message), (Some(8192), Some(9041)));
        assert_eq!(context_numbers("too long"), (None, None));
    }

    #[test]
    fn what_is_learned_is_kept_per_endpoint() {
        let key = "http://test-endpoint/v1|m";
        assert_eq!(known(key), Known::default());
        learn(key, |k| k.refused.push(Structured::JsonSchema));
        learn(key, |k| k.learned_context = Some(2048));
        let k = known(key);
        assert_eq!(k.refused, [Structured::JsonSchema]);
        assert_eq!(k.learned_context, Some(2048));
        assert_eq!(known("http://other/v1|m"), Known::default());
    }
}
