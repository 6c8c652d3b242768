//! A blocking client for chat endpoints: OpenAI-compatible chat completions (OpenAI,
//! llama.cpp and llama-cpp-python servers, vLLM, LM Studio) and Ollama's own API. Runs on
//! the designer's worker thread, never on the audio thread.
//!
//! Every answer is streamed: the job sees tokens arrive (progress for the window and the
//! command line), gives up on *silence* rather than on the length of the whole answer, and
//! closes the connection when a newer request replaces it, which is what stops a server
//! generating. Each request carries an answer budget (`max_tokens`) and, where the server
//! supports it, the JSON schema of the answer; a server that refuses the schema is asked
//! again without it and remembered. The context size comes from the server when it reports
//! one, else from the settings.
//!
//! The API key is never held: the settings name an environment variable, and the client reads
//! it for each request, straight into the `Authorization` header.

mod config;
mod endpoint;
mod extract;
mod stream;

use std::fmt;
use std::io;
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use config::{stated_size_billions, Api, ApiKeyVar, LlmConfig, ReplyForm, OLLAMA_PORT};
pub use endpoint::Structured;
pub use extract::extract_json;
pub(crate) use extract::shorten;
use stream::{read_answer, Event, Framing, Hangup};

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

/// The JSON schema an answer must follow.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplySchema {
    /// A short name for the schema (OpenAI asks for one).
    pub name: &'static str,
    /// The schema as JSON text, its keys in the order the model should write them.
    pub text: String,
    /// Whether the schema meets OpenAI's strict mode (every object closed, every key
    /// required).
    pub strict: bool,
}

/// One request: the conversation, the answer's schema and its budget.
#[derive(Debug, Clone, Copy)]
pub struct ChatRequest<'a> {
    pub messages: &'a [ChatMessage],
    pub schema: Option<&'a ReplySchema>,
    /// The most tokens the answer may have.
    pub max_tokens: u32,
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// It was done.
    Stop,
    /// It reached the answer budget: the answer is cut off.
    Length,
    /// Another reason, as the server named it.
    Other(String),
}

impl Finish {
    fn from_reason(reason: Option<&str>) -> Finish {
        match reason {
            None | Some("stop") | Some("eos") | Some("end_turn") => Finish::Stop,
            Some("length") | Some("max_tokens") => Finish::Length,
            Some(other) => Finish::Other(other.to_string()),
        }
    }
}

/// A model's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatReply {
    pub text: String,
    pub finish: Finish,
    /// Pieces of text received (about one token each).
    pub tokens: u32,
    /// From sending the request to the end of the answer.
    pub elapsed: Duration,
    /// From sending the request to the first piece of text.
    pub first_token: Option<Duration>,
    /// How the answer's shape was asked for.
    pub structured: Structured,
}

/// How an answer is coming along.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub tokens: u32,
    pub elapsed: Duration,
}

/// Who waits for an answer: told how it comes along, and asked whether it is still wanted.
pub trait Watch {
    fn progress(&mut self, _progress: Progress) {}
    /// True when a newer request replaced this one: the answer is abandoned and the
    /// connection closed.
    fn cancelled(&self) -> bool {
        false
    }
}

/// Nobody watching.
pub struct Unwatched;

impl Watch for Unwatched {}

/// Where a context size comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextSource {
    /// The `context_tokens` setting (the server does not say).
    Setting,
    /// The server reported it.
    Server,
    /// Ollama: the setting, requested with each request (`num_ctx`), within what the model
    /// was trained for.
    Requested,
    /// A request the server refused as too long said it.
    Refusal,
}

/// A model's context size and where it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextSize {
    pub tokens: u32,
    pub source: ContextSource,
}

impl fmt::Display for ContextSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = match self.source {
            ContextSource::Setting => "from the settings",
            ContextSource::Server => "as the server reports",
            ContextSource::Requested => "requested from Ollama",
            ContextSource::Refusal => "as a refused request revealed",
        };
        write!(f, "{} tokens ({from})", self.tokens)
    }
}

/// What an answer was waiting for when it timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// The model was still reading the request (no token yet).
    FirstToken,
    /// The model stopped in the middle of its answer.
    NextToken { tokens: u32 },
}

/// Why a chat request produced no answer. Every message says what happened and which way
/// to change things.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LlmError {
    /// No connection could be made (or it broke): server down, wrong address, TLS failure.
    Unreachable { url: String, reason: String },
    /// The server went silent for longer than the time-out allows.
    Timeout {
        url: String,
        after: Duration,
        waiting: Waiting,
    },
    /// The server answered with an error status; `body` is its error text, trimmed.
    Http { status: u16, body: String },
    /// The request did not fit the model's context: the server refused it.
    ContextExceeded {
        limit: Option<u32>,
        requested: Option<u32>,
    },
    /// The answer grew past the configured limit and was stopped.
    TooLarge { limit: u64 },
    /// The model answered with nothing.
    Empty,
    /// The server closed the answer without its end marker.
    CutShort { tokens: u32 },
    /// The server's answer is not a chat completion.
    Malformed(String),
    /// A newer request replaced this one; the connection was closed.
    Cancelled,
}

impl fmt::Display for LlmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LlmError::Unreachable { url, reason } => write!(
                f,
                "cannot reach the model at {url}: {reason} — is the server running and the base \
                 URL right?"
            ),
            LlmError::Timeout {
                url,
                after,
                waiting: Waiting::FirstToken,
            } => write!(
                f,
                "the model at {url} sent nothing for {} while reading the request — a model on \
                 a CPU can need minutes for a long request: raise the first-token time-out, or \
                 keep the context at 8192 tokens or less so the compact instructions are sent",
                describe_duration(*after)
            ),
            LlmError::Timeout {
                url,
                after,
                waiting: Waiting::NextToken { tokens },
            } => write!(
                f,
                "the model at {url} went silent for {} after {tokens} tokens of its answer — \
                 the server may be busy with another request: try again, or raise the silence \
                 time-out",
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
            LlmError::ContextExceeded { limit, requested } => {
                let limit_text = limit.map(|n| format!(" of {n} tokens")).unwrap_or_default();
                let requested_text = requested
                    .map(|n| format!(" (it asked for {n})"))
                    .unwrap_or_default();
                write!(
                    f,
                    "the request did not fit the model's context{limit_text}{requested_text} — \
                     set the context setting to the size the server was started with{}, or \
                     start the server with a larger context",
                    limit.map(|n| format!(" ({n})")).unwrap_or_default()
                )
            }
            LlmError::TooLarge { limit } => write!(
                f,
                "the model's answer grew past {} and was stopped — a patch needs a few KiB, so \
                 the model ran away: ask again (or raise the reply limit in the settings)",
                describe_bytes(*limit)
            ),
            LlmError::Empty => f.write_str(
                "the model answered with nothing — try again, or another model; models that \
                 think before answering need a larger answer budget",
            ),
            LlmError::CutShort { tokens } => write!(
                f,
                "the server ended the answer after {tokens} tokens without its end marker — \
                 llama.cpp servers do this when a request does not fit their context: set the \
                 context setting to the size the server was started with"
            ),
            LlmError::Malformed(detail) => write!(
                f,
                "the model server's answer is not a chat completion: {detail} — is the base \
                 URL an OpenAI-compatible endpoint (or Ollama's, with the api setting)?"
            ),
            LlmError::Cancelled => f.write_str("replaced by a newer request"),
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
/// A streamed answer carries a few hundred bytes of framing per token; the stream itself
/// is cut at this multiple of the answer's limit.
const STREAM_OVERHEAD: u64 = 64;
/// How often the waiting job looks at the clock and for a newer request.
const POLL: Duration = Duration::from_millis(50);
/// How often progress is reported.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// How long asking a server about its model may take (it answers at once or not at all).
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Talks to one chat endpoint. Cheap to clone; connections are pooled.
#[derive(Clone)]
pub struct LlmClient {
    /// Shared: the client is cloned into each exchange thread.
    config: Arc<LlmConfig>,
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

/// One failed attempt, and what may be done about it.
struct Failure {
    error: LlmError,
    retry: bool,
    retry_after: Option<Duration>,
    /// The server refused the structured-output mode the request asked for.
    refused_schema: bool,
}

impl Failure {
    fn fatal(error: LlmError) -> Self {
        Failure {
            error,
            retry: false,
            retry_after: None,
            refused_schema: false,
        }
    }

    fn transient(error: LlmError) -> Self {
        Failure {
            retry: true,
            ..Failure::fatal(error)
        }
    }
}

/// What the exchange thread reports first: a response whose answer follows as events, or
/// why there is none.
enum Opening {
    Answer,
    Failed(Failure),
}

impl LlmClient {
    pub fn new(config: LlmConfig) -> Self {
        // Each read may wait as long as the longest silence allowed: the job watches the
        // real time-outs, this only lets a forgotten exchange thread end.
        let longest = config.first_token_timeout.max(config.timeout) + Duration::from_secs(5);
        let mut builder = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_per_read(Some(longest))
            // A connection that cannot be made quickly will not be made: report it as
            // unreachable rather than waiting out a generation-sized time-out.
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
            config: Arc::new(config),
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

    /// Whether requests go to Ollama's own API.
    pub fn speaks_ollama(&self) -> bool {
        match self.config.api {
            Api::Ollama => true,
            Api::Openai => false,
            Api::Auto => {
                self.config
                    .base_url
                    .trim()
                    .parse::<ureq::http::Uri>()
                    .ok()
                    .and_then(|uri| uri.port_u16())
                    == Some(OLLAMA_PORT)
            }
        }
    }

    /// The scheme, host and port of the base URL (Ollama's API lives at its root).
    fn origin(&self) -> String {
        let base = self.config.base_url.trim().trim_end_matches('/');
        match base.split_once("://") {
            Some((scheme, rest)) => {
                let host = rest.split('/').next().unwrap_or(rest);
                format!("{scheme}://{host}")
            }
            None => base.to_string(),
        }
    }

    /// The URL chat requests go to: the base URL with `/chat/completions` appended (unless
    /// the settings already name the full endpoint), or Ollama's `/api/chat`.
    pub fn endpoint(&self) -> String {
        if self.speaks_ollama() {
            return format!("{}/api/chat", self.origin());
        }
        let base = self.config.base_url.trim().trim_end_matches('/');
        if base.ends_with("/chat/completions") {
            base.to_string()
        } else {
            format!("{base}/chat/completions")
        }
    }

    /// The key what is learned about this endpoint is kept under.
    fn memory_key(&self) -> String {
        format!("{}|{}", self.endpoint(), self.config.model)
    }

    /// The model's context size: what a refused request revealed, else what the server
    /// reports (asked once per endpoint and model, in this process), else the setting;
    /// for Ollama, the setting within what the model was trained for, requested with each
    /// request.
    pub fn context(&self) -> ContextSize {
        let key = self.memory_key();
        let known = endpoint::known(&key);
        if let Some(tokens) = known.learned_context {
            return ContextSize {
                tokens,
                source: ContextSource::Refusal,
            };
        }
        let reported = match known.reported_context {
            Some(reported) => reported,
            None => {
                let reported = self.ask_context();
                endpoint::learn(&key, |k| k.reported_context = Some(reported));
                reported
            }
        };
        let setting = self.config.context_tokens;
        match (reported, self.speaks_ollama()) {
            (Some(trained), true) => ContextSize {
                tokens: setting.min(trained),
                source: ContextSource::Requested,
            },
            (None, true) => ContextSize {
                tokens: setting,
                source: ContextSource::Requested,
            },
            (Some(tokens), false) => ContextSize {
                tokens,
                source: ContextSource::Server,
            },
            (None, false) => ContextSize {
                tokens: setting,
                source: ContextSource::Setting,
            },
        }
    }

    /// Remembers the context size a refusal revealed, for the rest of the session.
    pub fn learn_context(&self, tokens: u32) {
        endpoint::learn(&self.memory_key(), |k| k.learned_context = Some(tokens));
    }

    /// Asks the server how large the model's context is: `GET /models` (OpenAI-compatible)
    /// or `POST /api/show` (Ollama). `None` when it does not say or does not answer.
    fn ask_context(&self) -> Option<u32> {
        let url = self.endpoint();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return None;
        }
        let answer = if self.speaks_ollama() {
            self.authorized(self.agent.post(format!("{}/api/show", self.origin())))
                .config()
                .timeout_global(Some(DISCOVERY_TIMEOUT))
                .build()
                .content_type("application/json")
                .send(json!({ "model": self.config.model }).to_string())
        } else {
            let models = url
                .strip_suffix("/chat/completions")
                .map(|base| format!("{base}/models"))?;
            self.authorized(self.agent.get(models))
                .config()
                .timeout_global(Some(DISCOVERY_TIMEOUT))
                .build()
                .call()
        };
        let mut response = answer.ok()?;
        if !response.status().is_success() {
            return None;
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(1024 * 1024)
            .read_to_vec()
            .ok()?;
        let value: Value = serde_json::from_slice(&bytes).ok()?;
        if self.speaks_ollama() {
            endpoint::context_from_ollama_show(&value)
        } else {
            endpoint::context_from_models(&value, &self.config.model)
        }
    }

    fn authorized<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match self
            .config
            .api_key_env
            .as_ref()
            .and_then(ApiKeyVar::read_key)
        {
            Some(key) => request.header("Authorization", format!("Bearer {key}")),
            None => request,
        }
    }

    /// Sends the conversation with the configured answer budget and no schema, and returns
    /// the answer's text (a cut-off answer included).
    pub fn chat(&self, messages: &[ChatMessage]) -> Result<String, LlmError> {
        let request = ChatRequest {
            messages,
            schema: None,
            max_tokens: self.config.max_answer_tokens,
        };
        self.complete(&request, &mut Unwatched)
            .map(|reply| reply.text)
    }

    /// Sends one request and returns the model's answer. Rate limits, server errors and
    /// failed connections are retried with back-off; a server that refuses the schema is
    /// asked again without it; other failures return at once.
    pub fn complete(
        &self,
        request: &ChatRequest,
        watch: &mut dyn Watch,
    ) -> Result<ChatReply, LlmError> {
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
        let key = self.memory_key();
        let mut modes = self.structured_modes(request.schema.is_some());
        let refused = endpoint::known(&key).refused;
        modes.retain(|m| *m == Structured::Off || !refused.contains(m));
        let mut retry = 0;
        loop {
            let mode = modes[0];
            let body = self.body(request, mode)?;
            let schema_sent = mode != Structured::Off;
            match self.attempt(&url, &shown_url, body, schema_sent, watch) {
                Ok(mut reply) => {
                    reply.structured = mode;
                    return Ok(reply);
                }
                Err(failure) if failure.refused_schema && mode != Structured::Off => {
                    endpoint::learn(&key, |k| k.refused.push(mode));
                    modes.remove(0);
                }
                Err(failure) if failure.retry && retry < self.config.max_retries => {
                    let wait = self.backoff.delay(retry, failure.retry_after);
                    if !sleep_unless_cancelled(wait, watch) {
                        return Err(LlmError::Cancelled);
                    }
                    retry += 1;
                }
                Err(failure) => return Err(failure.error),
            }
        }
    }

    /// The structured-output modes to try, best first; the last is always `Off`.
    fn structured_modes(&self, has_schema: bool) -> Vec<Structured> {
        if !has_schema || !self.config.structured_output {
            vec![Structured::Off]
        } else if self.speaks_ollama() {
            vec![Structured::OllamaFormat, Structured::Off]
        } else {
            vec![
                Structured::JsonSchema,
                Structured::JsonObjectSchema,
                Structured::Off,
            ]
        }
    }

    /// The request body for `mode`. The schema's text is spliced in as it is, so its keys
    /// keep their order (a grammar made from it makes the model write them in that order).
    fn body(&self, request: &ChatRequest, mode: Structured) -> Result<String, LlmError> {
        let mut body = if self.speaks_ollama() {
            json!({
                "model": self.config.model,
                "messages": request.messages,
                "stream": true,
                "options": {
                    "num_ctx": self.context().tokens,
                    "num_predict": request.max_tokens,
                    "temperature": self.config.temperature,
                },
            })
        } else {
            json!({
                "model": self.config.model,
                "messages": request.messages,
                "temperature": self.config.temperature,
                "max_tokens": request.max_tokens,
                "stream": true,
            })
        };
        let schema = request.schema.filter(|_| mode != Structured::Off);
        if let (Some(schema), Value::Object(map)) = (schema, &mut body) {
            // A placeholder where the schema's text goes.
            let (key, wrapper) = match mode {
                Structured::JsonSchema => (
                    "response_format",
                    json!({"type": "json_schema", "json_schema": {
                        "name": schema.name, "strict": schema.strict, "schema": "\u{0}SCHEMA"}}),
                ),
                Structured::JsonObjectSchema => (
                    "response_format",
                    json!({"type": "json_object", "schema": "\u{0}SCHEMA"}),
                ),
                Structured::OllamaFormat => ("format", json!("\u{0}SCHEMA")),
                Structured::Off => unreachable!("filtered above"),
            };
            map.insert(key.to_string(), wrapper);
            let text = serde_json::to_string(&body).map_err(|e| {
                LlmError::Malformed(format!("the request could not be written: {e}"))
            })?;
            return Ok(text.replacen("\"\\u0000SCHEMA\"", &schema.text, 1));
        }
        serde_json::to_string(&body)
            .map_err(|e| LlmError::Malformed(format!("the request could not be written: {e}")))
    }

    /// One exchange: sends the request on a thread and follows the answer, giving up on
    /// silence and when `watch` cancels.
    fn attempt(
        &self,
        url: &str,
        shown_url: &str,
        body: String,
        schema_sent: bool,
        watch: &mut dyn Watch,
    ) -> Result<ChatReply, Failure> {
        let (open_tx, open_rx) = channel::<Opening>();
        let (tx, rx) = channel::<Event>();
        let hangup = Hangup::default();
        let started = Instant::now();
        {
            let client = self.clone();
            let url = url.to_string();
            let shown_url = shown_url.to_string();
            let hangup = hangup.clone();
            std::thread::Builder::new()
                .name("mephisto-llm".into())
                .spawn(move || {
                    client.exchange(&url, &shown_url, body, schema_sent, &open_tx, &tx, &hangup)
                })
                .map_err(|e| {
                    Failure::fatal(LlmError::Malformed(format!(
                        "no thread for the request: {e}"
                    )))
                })?;
        }
        let timeout = |waiting: Waiting| {
            let after = match waiting {
                Waiting::FirstToken => self.config.first_token_timeout,
                Waiting::NextToken { .. } => self.config.timeout,
            };
            Failure::fatal(LlmError::Timeout {
                url: shown_url.to_string(),
                after,
                waiting,
            })
        };
        // The response's head.
        loop {
            if watch.cancelled() {
                hangup.now();
                return Err(Failure::fatal(LlmError::Cancelled));
            }
            if started.elapsed() > self.config.first_token_timeout {
                hangup.now();
                return Err(timeout(Waiting::FirstToken));
            }
            match open_rx.recv_timeout(POLL) {
                Ok(Opening::Answer) => break,
                Ok(Opening::Failed(failure)) => return Err(failure),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Failure::transient(LlmError::Unreachable {
                        url: shown_url.to_string(),
                        reason: "the request ended without an answer".into(),
                    }))
                }
            }
        }
        // The answer.
        let mut text = String::new();
        let mut tokens = 0u32;
        let mut finish: Option<String> = None;
        let mut first_token: Option<Duration> = None;
        let mut last_event: Option<Instant> = None;
        let mut reported = Instant::now();
        let limit = self.config.max_reply_bytes;
        loop {
            if watch.cancelled() {
                hangup.now();
                return Err(Failure::fatal(LlmError::Cancelled));
            }
            let waiting = match last_event {
                None => Waiting::FirstToken,
                Some(_) => Waiting::NextToken { tokens },
            };
            let silent_since = last_event.unwrap_or(started);
            let allowed = match waiting {
                Waiting::FirstToken => self.config.first_token_timeout,
                Waiting::NextToken { .. } => self.config.timeout,
            };
            if silent_since.elapsed() > allowed {
                hangup.now();
                return Err(timeout(waiting));
            }
            if reported.elapsed() >= PROGRESS_EVERY {
                reported = Instant::now();
                watch.progress(Progress {
                    tokens,
                    elapsed: started.elapsed(),
                });
            }
            let event = match rx.recv_timeout(POLL) {
                Ok(event) => event,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => Event::End,
            };
            match event {
                Event::Activity => last_event = Some(Instant::now()),
                Event::Content(piece) => {
                    last_event = Some(Instant::now());
                    first_token.get_or_insert_with(|| started.elapsed());
                    tokens += 1;
                    text.push_str(&piece);
                    if text.len() as u64 > limit {
                        hangup.now();
                        return Err(Failure::fatal(LlmError::TooLarge { limit }));
                    }
                }
                Event::Finish(reason) => finish = Some(reason),
                Event::Done if finish.is_none() => {
                    // llama-cpp-python ends a stream another request interrupted this way.
                    return Err(Failure::transient(LlmError::CutShort { tokens }));
                }
                Event::Done => break,
                Event::End if finish.is_some() => break,
                Event::End => return Err(Failure::fatal(LlmError::CutShort { tokens })),
                Event::Whole {
                    text: whole,
                    finish: reason,
                } => {
                    if whole.len() as u64 > limit {
                        return Err(Failure::fatal(LlmError::TooLarge { limit }));
                    }
                    first_token = Some(started.elapsed());
                    tokens = whole.split_whitespace().count() as u32;
                    text = whole;
                    finish = reason;
                    break;
                }
                Event::Broken(detail) => return Err(Failure::fatal(LlmError::Malformed(detail))),
                Event::Overflow => return Err(Failure::fatal(LlmError::TooLarge { limit })),
            }
        }
        hangup.now();
        watch.progress(Progress {
            tokens,
            elapsed: started.elapsed(),
        });
        let finish = Finish::from_reason(finish.as_deref());
        if text.trim().is_empty() && finish != Finish::Length {
            return Err(Failure::fatal(LlmError::Empty));
        }
        Ok(ChatReply {
            text,
            finish,
            tokens,
            elapsed: started.elapsed(),
            first_token,
            structured: Structured::Off,
        })
    }

    /// The exchange thread: sends the request, reports the response's head on `open`, then
    /// the answer's events on `events`.
    #[allow(clippy::too_many_arguments)]
    fn exchange(
        &self,
        url: &str,
        shown_url: &str,
        body: String,
        schema_sent: bool,
        open: &Sender<Opening>,
        events: &Sender<Event>,
        hangup: &Hangup,
    ) {
        let request = self
            .authorized(self.agent.post(url))
            .header(
                "Accept",
                "text/event-stream, application/x-ndjson, application/json",
            )
            .content_type("application/json");
        let mut response = match request.send(body) {
            Ok(response) => response,
            Err(e) => {
                let _ = open.send(Opening::Failed(self.transport_failure(e, shown_url)));
                return;
            }
        };
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
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default();
            let failure = http_failure(status, &text, retry_after, schema_sent);
            let _ = open.send(Opening::Failed(failure));
            return;
        }
        let limit = self.config.max_reply_bytes;
        if Framing::of(response.body().mime_type()) == Framing::Whole
            && response.body().content_length().is_some_and(|n| n > limit)
        {
            let _ = open.send(Opening::Failed(Failure::fatal(LlmError::TooLarge {
                limit,
            })));
            return;
        }
        let framing = Framing::of(response.body().mime_type());
        let raw_limit = match framing {
            Framing::Whole => limit,
            _ => limit.saturating_mul(STREAM_OVERHEAD),
        };
        if open.send(Opening::Answer).is_err() {
            return;
        }
        let reader = response
            .into_body()
            .into_with_config()
            .limit(raw_limit)
            .reader();
        read_answer(reader, framing, events, hangup.flag());
    }

    fn transport_failure(&self, error: ureq::Error, url: &str) -> Failure {
        let unreachable = |reason: String| LlmError::Unreachable {
            url: url.to_string(),
            reason,
        };
        let timeout = LlmError::Timeout {
            url: url.to_string(),
            after: self.config.first_token_timeout,
            waiting: Waiting::FirstToken,
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

/// What an error status means: a request too long for the context, a refused schema
/// (llama-cpp-python answers `json_schema` with HTTP 500) when one was sent, a transient
/// failure, or a refusal.
fn http_failure(
    status: u16,
    body: &str,
    retry_after: Option<Duration>,
    schema_sent: bool,
) -> Failure {
    let text = error_text(body);
    let lower = body.to_ascii_lowercase();
    if lower.contains("context_length_exceeded") || lower.contains("maximum context length") {
        let (limit, requested) = endpoint::context_numbers(body);
        return Failure::fatal(LlmError::ContextExceeded { limit, requested });
    }
    let names_the_schema = ["response_format", "json_schema", "schema", "grammar"]
        .iter()
        .any(|word| lower.contains(word))
        || lower
            .split(|c: char| !c.is_ascii_alphabetic())
            .any(|word| word == "format");
    let refused_schema =
        schema_sent && matches!(status, 400 | 415 | 422 | 500 | 501) && names_the_schema;
    Failure {
        error: LlmError::Http { status, body: text },
        retry: !refused_schema && (status == 429 || (500..600).contains(&status)),
        retry_after,
        refused_schema,
    }
}

/// Waits `wait` unless the watch cancels first; false when it did.
fn sleep_unless_cancelled(wait: Duration, watch: &dyn Watch) -> bool {
    let end = Instant::now() + wait;
    while Instant::now() < end {
        if watch.cancelled() {
            return false;
        }
        std::thread::sleep(POLL.min(end - Instant::now()));
    }
    true
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

/// The useful part of an error reply: OpenAI-style `{"error": {"message": …}}` and its
/// common variants, else the text itself; trimmed and shortened.
fn error_text(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|v| {
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
    fn error_statuses_are_told_apart() {
        let schema = r#"{"error":{"message":"1 validation error: ('body', 'response_format', 'type') Input should be 'text' or 'json_object'","type":"internal_server_error"}}"#;
        let f = http_failure(500, schema, None, true);
        assert!(f.refused_schema && !f.retry);
        let f = http_failure(500, schema, None, false);
        assert!(!f.refused_schema && f.retry, "no schema was sent");
        let f = http_failure(
            500,
            r#"{"error":{"message":"the model crashed"}}"#,
            None,
            true,
        );
        assert!(!f.refused_schema && f.retry);
        let f = http_failure(500, "not enough information", None, true);
        assert!(!f.refused_schema, "`information` is not `format`");
        let too_long = r#"{"error":{"message":"This model's maximum context length is 2048 tokens. However, you requested 5085 tokens (5085 in the messages, None in the completion).","code":"context_length_exceeded"}}"#;
        let f = http_failure(400, too_long, None, true);
        assert_eq!(
            f.error,
            LlmError::ContextExceeded {
                limit: Some(2048),
                requested: Some(5085)
            }
        );
        assert!(!f.retry);
        let f = http_failure(429, "slow down", Some(Duration::from_secs(1)), false);
        assert!(f.retry && !f.refused_schema);
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

    fn client(base: &str, api: Api) -> LlmClient {
        LlmClient::new(LlmConfig {
            base_url: base.to_string(),
            api,
            ..LlmConfig::default()
        })
    }

    #[test]
    fn endpoint_appends_the_path_once_and_finds_ollamas_api() {
        let url = |base: &str| client(base, Api::Auto).endpoint();
        assert_eq!(url("http://h/v1"), "http://h/v1/chat/completions");
        assert_eq!(url("http://h/v1/"), "http://h/v1/chat/completions");
        assert_eq!(
            url("http://h/v1/chat/completions"),
            "http://h/v1/chat/completions"
        );
        assert_eq!(
            url("http://127.0.0.1:11434/v1"),
            "http://127.0.0.1:11434/api/chat"
        );
        assert_eq!(
            client("http://127.0.0.1:11434/v1", Api::Openai).endpoint(),
            "http://127.0.0.1:11434/v1/chat/completions"
        );
        assert_eq!(
            client("http://gpu-box:8080", Api::Ollama).endpoint(),
            "http://gpu-box:8080/api/chat"
        );
    }

    #[test]
    fn the_schema_is_spliced_in_with_its_key_order() {
        let schema = ReplySchema {
            name: "graph",
            text: r#"{"type":"object","properties":{"z":{"type":"string"},"a":{"type":"number"}}}"#
                .into(),
            strict: true,
        };
        let messages = [ChatMessage::user("hi")];
        let request = ChatRequest {
            messages: &messages,
            schema: Some(&schema),
            max_tokens: 300,
        };
        let openai = client("http://h/v1", Api::Openai);
        let body = openai.body(&request, Structured::JsonSchema).unwrap();
        assert!(body.contains(&schema.text), "{body}");
        let value: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["response_format"]["type"], "json_schema");
        assert_eq!(value["response_format"]["json_schema"]["strict"], true);
        assert_eq!(value["max_tokens"], 300);
        assert_eq!(value["stream"], true);
        let body = openai.body(&request, Structured::JsonObjectSchema).unwrap();
        let value: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["response_format"]["type"], "json_object");
        assert_eq!(
            value["response_format"]["schema"]["properties"]["a"]["type"],
            "number"
        );
        let body = openai.body(&request, Structured::Off).unwrap();
        assert!(!body.contains("response_format"), "{body}");
    }
}
