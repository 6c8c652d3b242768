//! A blocking client for OpenAI-compatible chat-completions endpoints (OpenAI, Ollama,
//! llama.cpp server, vLLM, LM Studio), and tolerant extraction of the JSON object a model's
//! reply carries. Runs on the designer's worker thread, never on the audio thread.
//!
//! The API key is never held: the settings name an environment variable, and the client reads
//! it for each request, straight into the `Authorization` header.

use std::fmt;
use std::io;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where the designer's model lives and how patiently to talk to it. Saved with the settings,
/// so it holds the *name* of the variable with the API key, never the key.
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
    /// The limit for one whole request, from connecting to the last byte of the reply; in the
    /// settings file, seconds. Local models on a CPU can need minutes for a patch.
    #[serde(with = "seconds")]
    pub timeout: Duration,
    /// How often a request is tried again after a rate limit, a server error or a failed
    /// connection.
    pub max_retries: u32,
    /// Replies larger than this are refused unread: a PatchSpec is a few KiB, so anything
    /// near the limit is a runaway generation.
    pub max_reply_bytes: u64,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            base_url: "http://127.0.0.1:11434/v1".to_string(),
            model: "qwen2.5-coder:7b".to_string(),
            api_key_env: None,
            temperature: 0.7,
            timeout: Duration::from_secs(60),
            max_retries: 3,
            max_reply_bytes: 256 * 1024,
        }
    }
}

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
    fn read_key(&self) -> Option<String> {
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

/// Who speaks in a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One message of a chat-completions conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::System,
            content: content.into(),
        }
    }

    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::User,
            content: content.into(),
        }
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// Why a chat request produced no reply. Every message says what to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LlmError {
    /// No connection could be made (or it broke): server down, wrong address, TLS failure.
    Unreachable { url: String, reason: String },
    /// The server took longer than the configured timeout.
    Timeout { url: String, after: Duration },
    /// The server answered with an error status; `body` is its error text, trimmed.
    Http { status: u16, body: String },
    /// The reply was larger than the configured limit and was not read.
    TooLarge { limit: u64 },
    /// The server's answer is not a chat completion.
    Malformed(String),
}

impl fmt::Display for LlmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LlmError::Unreachable { url, reason } => write!(
                f,
                "cannot reach the model at {url}: {reason} — is the server running and the base \
                 URL right? Mephisto will use the offline designer"
            ),
            LlmError::Timeout { url, after } => write!(
                f,
                "the model at {url} did not answer within {} — a local model may need a longer \
                 timeout in the settings, or a smaller model",
                describe_duration(*after)
            ),
            LlmError::Http { status, body } => {
                let text = if body.is_empty() {
                    "(no error text)"
                } else {
                    body
                };
                match status {
                    401 | 403 => write!(
                        f,
                        "the model server refused the request (HTTP {status}): {text} — check \
                         the API key in the environment variable the settings name"
                    ),
                    404 => write!(
                        f,
                        "the model server has no such endpoint or model (HTTP 404): {text} — \
                         check the base URL (it usually ends in /v1) and the model name"
                    ),
                    429 => write!(
                        f,
                        "the model server is limiting requests (HTTP 429): {text} — wait a \
                         moment and try again"
                    ),
                    500..=599 => write!(
                        f,
                        "the model server failed (HTTP {status}): {text} — try again, or check \
                         the server's log"
                    ),
                    _ => write!(
                        f,
                        "the model server rejected the request (HTTP {status}): {text}"
                    ),
                }
            }
            LlmError::TooLarge { limit } => write!(
                f,
                "the model's reply is over {}; it was not read — a patch needs a few KiB, so \
                 ask again (or raise the reply limit in the settings)",
                describe_bytes(*limit)
            ),
            LlmError::Malformed(detail) => write!(
                f,
                "the model server's answer is not a chat completion: {detail} — is the base \
                 URL an OpenAI-compatible endpoint?"
            ),
        }
    }
}

impl std::error::Error for LlmError {}

fn describe_duration(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", (d.as_secs_f64() * 10.0).round() / 10.0)
    }
}

fn describe_bytes(bytes: u64) -> String {
    if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// How long to wait before trying a failed request again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait before the first retry; it doubles for each later one.
    pub first: Duration,
    /// The longest doubled wait.
    pub max: Duration,
    /// The longest wait a server's `Retry-After` can ask for; a busy hosted API may ask for
    /// minutes, which the producer should hear about rather than wait through.
    pub max_retry_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_millis(500),
            max: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The wait before retry number `retry` (0 for the first), honouring the server's
    /// `Retry-After` seconds when it sent them.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(asked) => asked.min(self.max_retry_after),
            None => self
                .first
                .saturating_mul(1u32.checked_shl(retry).unwrap_or(u32::MAX))
                .min(self.max),
        }
    }
}

/// The most of an error reply that is read, and the most of its text kept in a message.
const MAX_ERROR_BODY_BYTES: u64 = 16 * 1024;
const MAX_ERROR_TEXT_CHARS: usize = 400;

/// Talks to one chat-completions endpoint. Cheap to clone; connections are pooled.
#[derive(Clone)]
pub struct LlmClient {
    config: LlmConfig,
    backoff: Backoff,
    agent: ureq::Agent,
}

impl fmt::Debug for LlmClient {
    // The agent is left out: its proxy settings come from the environment and may carry
    // credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmClient")
            .field("config", &self.config)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

/// One failed attempt, and whether trying again could help.
struct Failure {
    error: LlmError,
    retry: bool,
    retry_after: Option<Duration>,
}

impl Failure {
    fn fatal(error: LlmError) -> Self {
        Failure {
            error,
            retry: false,
            retry_after: None,
        }
    }

    fn transient(error: LlmError) -> Self {
        Failure {
            error,
            retry: true,
            retry_after: None,
        }
    }
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    temperature: f32,
    stream: bool,
}

#[derive(Deserialize)]
struct ChatCompletion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: ReplyMessage,
}

#[derive(Deserialize)]
struct ReplyMessage {
    content: Option<String>,
}

impl LlmClient {
    pub fn new(config: LlmConfig) -> Self {
        let mut builder = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(config.timeout))
            // A connection that cannot be made quickly will not be made: report it as
            // unreachable rather than waiting out the whole (generation-sized) timeout.
            .timeout_connect(Some(config.timeout.min(Duration::from_secs(10))))
            .max_redirects(0)
            .user_agent(concat!("mephisto/", env!("CARGO_PKG_VERSION")));
        // A model on this machine is never behind the proxy the environment names for the
        // internet.
        if is_loopback(&config.base_url) {
            builder = builder.proxy(None);
        }
        LlmClient {
            agent: builder.build().into(),
            config,
            backoff: Backoff::default(),
        }
    }

    /// Replaces the retry waits (tests use short ones).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    /// The URL requests go to: the base URL with `/chat/completions` appended (unless the
    /// settings already name the full endpoint).
    pub fn endpoint(&self) -> String {
        let base = self.config.base_url.trim().trim_end_matches('/');
        if base.ends_with("/chat/completions") {
            base.to_string()
        } else {
            format!("{base}/chat/completions")
        }
    }

    /// Sends the conversation and returns the assistant's reply text. Rate limits, server
    /// errors and failed connections are retried with back-off; other failures return at once.
    pub fn chat(&self, messages: &[ChatMessage]) -> Result<String, LlmError> {
        let url = self.endpoint();
        let shown_url = without_credentials(&url);
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.parse::<ureq::http::Uri>().is_err()
        {
            return Err(LlmError::Unreachable {
                url: shown_url,
                reason: "the base URL is not a valid http:// or https:// address".to_string(),
            });
        }
        let body = serde_json::to_string(&ChatRequest {
            model: &self.config.model,
            messages,
            temperature: self.config.temperature,
            stream: false,
        })
        .map_err(|e| LlmError::Malformed(format!("the request could not be written: {e}")))?;

        let mut retry = 0;
        loop {
            match self.attempt(&url, &shown_url, &body) {
                Ok(reply) => return Ok(reply),
                Err(failure) if failure.retry && retry < self.config.max_retries => {
                    std::thread::sleep(self.backoff.delay(retry, failure.retry_after));
                    retry += 1;
                }
                Err(failure) => return Err(failure.error),
            }
        }
    }

    fn attempt(&self, url: &str, shown_url: &str, body: &str) -> Result<String, Failure> {
        let mut request = self
            .agent
            .post(url)
            .header("Accept", "application/json")
            .content_type("application/json");
        if let Some(key) = self
            .config
            .api_key_env
            .as_ref()
            .and_then(ApiKeyVar::read_key)
        {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let mut response = request
            .send(body)
            .map_err(|e| self.transport_failure(e, shown_url))?;

        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let text = response
                .body_mut()
                .with_config()
                .limit(MAX_ERROR_BODY_BYTES)
                .read_to_vec()
                .map(|bytes| error_text(&String::from_utf8_lossy(&bytes)))
                .unwrap_or_default();
            return Err(Failure {
                error: LlmError::Http { status, body: text },
                retry: status == 429 || (500..600).contains(&status),
                retry_after,
            });
        }

        let limit = self.config.max_reply_bytes;
        if response.body().content_length().is_some_and(|n| n > limit) {
            return Err(Failure::fatal(LlmError::TooLarge { limit }));
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| self.transport_failure(e, shown_url))?;
        parse_completion(&bytes).map_err(Failure::fatal)
    }

    fn transport_failure(&self, error: ureq::Error, url: &str) -> Failure {
        let unreachable = |reason: String| LlmError::Unreachable {
            url: url.to_string(),
            reason,
        };
        let timeout = LlmError::Timeout {
            url: url.to_string(),
            after: self.config.timeout,
        };
        match error {
            ureq::Error::Timeout(ureq::Timeout::Resolve | ureq::Timeout::Connect) => {
                Failure::transient(unreachable("no connection could be made in time".into()))
            }
            ureq::Error::Timeout(_) => Failure::fatal(timeout),
            ureq::Error::Io(e) if e.kind() == io::ErrorKind::TimedOut => Failure::fatal(timeout),
            ureq::Error::Io(e) => Failure::transient(unreachable(describe_io(&e))),
            ureq::Error::HostNotFound => {
                Failure::transient(unreachable("the host name was not found".into()))
            }
            ureq::Error::ConnectionFailed => {
                Failure::transient(unreachable("the connection failed".into()))
            }
            ureq::Error::BodyExceedsLimit(_) => Failure::fatal(LlmError::TooLarge {
                limit: self.config.max_reply_bytes,
            }),
            ureq::Error::Protocol(e) => Failure::fatal(LlmError::Malformed(format!(
                "the server did not speak HTTP: {e}"
            ))),
            ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => Failure::fatal(
                unreachable(format!("the secure connection failed: {error}")),
            ),
            ureq::Error::RedirectFailed | ureq::Error::TooManyRedirects => {
                Failure::fatal(unreachable(
                    "the server redirects elsewhere; put the final address in the base URL".into(),
                ))
            }
            other => Failure::fatal(unreachable(other.to_string())),
        }
    }
}

fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
            "the server closed the connection".to_string()
        }
        io::ErrorKind::UnexpectedEof => "the server hung up before answering".to_string(),
        _ => e.to_string(),
    }
}

/// Takes the assistant's text out of a chat-completions response.
fn parse_completion(bytes: &[u8]) -> Result<String, LlmError> {
    let completion: ChatCompletion = serde_json::from_slice(bytes).map_err(|e| {
        LlmError::Malformed(format!(
            "expected a JSON object with `choices`, got {} ({e})",
            preview(&String::from_utf8_lossy(bytes))
        ))
    })?;
    let content = completion
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| LlmError::Malformed("it has no choices".to_string()))?
        .message
        .content
        .unwrap_or_default();
    if content.trim().is_empty() {
        return Err(LlmError::Malformed(
            "the model's message is empty".to_string(),
        ));
    }
    Ok(content)
}

/// The useful part of an error reply: OpenAI-style `{"error": {"message": …}}` and its
/// common variants, else the text itself; trimmed and shortened.
fn error_text(body: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let error = v.get("error");
            error
                .and_then(|e| e.get("message"))
                .or(error)
                .or_else(|| v.get("message"))
                .or_else(|| v.get("detail"))
                .and_then(|m| m.as_str())
                .map(str::to_string)
        });
    shorten(
        from_json.as_deref().unwrap_or(body).trim(),
        MAX_ERROR_TEXT_CHARS,
    )
}

fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

fn preview(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        "nothing".to_string()
    } else {
        format!("\"{}\"", shorten(text, 80))
    }
}

/// The URL without any `user:password@`, for messages.
fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

fn is_loopback(url: &str) -> bool {
    let Ok(uri) = url.trim().parse::<ureq::http::Uri>() else {
        return false;
    };
    match uri.host() {
        Some(host) => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        None => false,
    }
}

/// Finds the JSON object in a model's reply: alone, inside ``` or ```json fences, or with
/// prose before or after it. Returns the first balanced top-level `{…}` that parses as JSON.
/// Raw line breaks and tabs inside strings (models often write Faust source that way) are
/// escaped so the object still parses.
pub fn extract_json(reply: &str) -> Result<String, String> {
    /// A bound on the work for replies full of stray braces.
    const MAX_CANDIDATES: usize = 256;

    let bytes = reply.as_bytes();
    let mut first_problem: Option<String> = None;
    let mut start = 0;
    for _ in 0..MAX_CANDIDATES {
        let Some(offset) = reply[start..].find('{') else {
            break;
        };
        let open = start + offset;
        match balanced_end(&bytes[open..]) {
            Some(len) => {
                let candidate = &reply[open..open + len];
                match parse_object(candidate) {
                    Ok(json) => return Ok(json),
                    Err(e) => {
                        first_problem.get_or_insert_with(|| {
                            format!(
                                "the model's reply has a {{…}} block that is not valid JSON ({e})"
                            )
                        });
                        start = open + len;
                    }
                }
            }
            None => {
                first_problem.get_or_insert_with(|| {
                    "the model's reply has a JSON object that never closes — it may have been \
                     cut off (a token limit on the server?)"
                        .to_string()
                });
                start = open + 1;
            }
        }
    }
    Err(first_problem.unwrap_or_else(|| {
        format!(
            "the model's reply contains no JSON object (it began {}); a PatchSpec must be one \
             JSON object",
            preview(reply)
        )
    }))
}

/// The length of the balanced `{…}` that `text` starts with, minding braces inside strings.
fn balanced_end(text: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in text.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// Parses `candidate` as a JSON object, trying again with raw control characters inside
/// strings escaped; returns the text that parsed.
fn parse_object(candidate: &str) -> Result<String, serde_json::Error> {
    let parse =
        |text: &str| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text);
    let error = match parse(candidate) {
        Ok(_) => return Ok(candidate.to_string()),
        Err(e) => e,
    };
    let repaired = escape_controls_in_strings(candidate);
    match parse(&repaired) {
        Ok(_) if repaired != candidate => Ok(repaired),
        _ => Err(error),
    }
}

fn escape_controls_in_strings(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            match c {
                _ if escaped => {
                    escaped = false;
                    out.push(c);
                }
                '\\' => {
                    escaped = true;
                    out.push(c);
                }
                '"' => {
                    in_string = false;
                    out.push(c);
                }
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        } else {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_honours_retry_after_within_limits() {
        let b = Backoff::default();
        assert_eq!(b.delay(0, None), Duration::from_millis(500));
        assert_eq!(b.delay(1, None), Duration::from_secs(1));
        assert_eq!(b.delay(2, None), Duration::from_secs(2));
        assert_eq!(b.delay(10, None), Duration::from_secs(8));
        assert_eq!(b.delay(40, None), Duration::from_secs(8));
        assert_eq!(
            b.delay(0, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            b.delay(0, Some(Duration::from_secs(3600))),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn error_text_prefers_the_servers_message() {
        assert_eq!(
            error_text(r#"{"error":{"message":"model 'x' not found","type":"invalid"}}"#),
            "model 'x' not found"
        );
        assert_eq!(error_text(r#"{"error":"bad model"}"#), "bad model");
        assert_eq!(error_text(r#"{"detail":"Not Found"}"#), "Not Found");
        assert_eq!(error_text("  plain text\n"), "plain text");
        let long = "x".repeat(1000);
        assert_eq!(error_text(&long).chars().count(), MAX_ERROR_TEXT_CHARS + 1);
    }

    #[test]
    fn credentials_are_kept_out_of_messages() {
        assert_eq!(
            without_credentials("https://me:secret@host:8080/v1/chat/completions"),
            "https://host:8080/v1/chat/completions"
        );
        assert_eq!(
            without_credentials("http://127.0.0.1:11434/v1/chat/completions"),
            "http://127.0.0.1:11434/v1/chat/completions"
        );
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        assert!(is_loopback("http://127.0.0.1:11434/v1"));
        assert!(is_loopback("http://localhost:1234/v1"));
        assert!(is_loopback("http://[::1]:8000/v1"));
        assert!(!is_loopback("https://api.openai.com/v1"));
        assert!(!is_loopback("not a url"));
    }

    #[test]
    fn endpoint_appends_the_path_once() {
        let client = |base: &str| {
            LlmClient::new(LlmConfig {
                base_url: base.to_string(),
                ..LlmConfig::default()
            })
            .endpoint()
        };
        assert_eq!(client("http://h/v1"), "http://h/v1/chat/completions");
        assert_eq!(client("http://h/v1/"), "http://h/v1/chat/completions");
        assert_eq!(
            client("http://h/v1/chat/completions"),
            "http://h/v1/chat/completions"
        );
    }

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
    fn extract_json_escapes_raw_line_breaks_inside_strings() {
        let reply = "{\"faust\": \"import(\\\"stdfaust.lib\\\");\nprocess = os.osc(440);\"}";
        let json = extract_json(reply).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            value["faust"],
            "import(\"stdfaust.lib\");\nprocess = os.osc(440);"
        );
    }

    #[test]
    fn extract_json_skips_prose_braces_and_handles_braces_in_strings() {
        let reply = "Use {curly} notes. Here:\n{\"a\": \"}{\", \"b\": {\"c\": 1}} done {x}";
        assert_eq!(
            extract_json(reply).unwrap(),
            "{\"a\": \"}{\", \"b\": {\"c\": 1}}"
        );
    }

    #[test]
    fn extract_json_does_not_fall_back_to_an_inner_object() {
        let err = extract_json("{\"params\": {\"cutoff\": 1}, oops}").unwrap_err();
        assert!(err.contains("not valid JSON"), "{err}");
    }

    #[test]
    fn extract_json_reports_a_cut_off_object() {
        let err = extract_json("```json\n{\"name\": \"pad\", \"faust\": \"proc").unwrap_err();
        assert!(err.contains("never closes"), "{err}");
    }

    #[test]
    fn extract_json_bounds_its_work_on_stray_braces() {
        let reply = "{".repeat(200_000);
        assert!(extract_json(&reply).is_err());
    }
}
