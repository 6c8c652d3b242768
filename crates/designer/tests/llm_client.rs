//! The LLM client against a replaying OpenAI-compatible server on 127.0.0.1: good, fenced,
//! chatty and malformed replies, retries on server errors and rate limits, refusals, a slow
//! server, an oversized reply, no server at all, and the API key's path from the environment
//! into the header (and nowhere else).

mod support;

use std::net::TcpListener;
use std::time::Duration;

use mephisto_designer::llm::{
    extract_json, Api, ApiKeyVar, Backoff, ChatMessage, ChatRequest, ContextSource, Finish,
    LlmClient, LlmConfig, LlmError, Progress, ReplySchema, Role, Structured, Waiting, Watch,
};
use mephisto_designer::prompt::{design_message, example_spec, system_prompt, Form};
use support::replay_server::{
    sse_content, sse_finish, sse_role, ReplayServer, Reply, SSE_DONE, SSE_PING,
};

/// Retry waits short enough that the retry tests take milliseconds.
const QUICK: Backoff = Backoff {
    first: Duration::from_millis(5),
    max: Duration::from_millis(20),
    max_retry_after: Duration::from_secs(2),
};

fn client(server: &ReplayServer) -> LlmClient {
    client_with(server, |_| {})
}

fn client_with(server: &ReplayServer, adjust: impl FnOnce(&mut LlmConfig)) -> LlmClient {
    let mut config = LlmConfig {
        base_url: server.base_url(),
        model: "replay-model".to_string(),
        timeout: Duration::from_secs(10),
        ..LlmConfig::default()
    };
    adjust(&mut config);
    LlmClient::new(config).with_backoff(QUICK)
}

fn conversation() -> Vec<ChatMessage> {
    vec![
        ChatMessage::system(system_prompt(Form::Faust, true)),
        design_message("glassy bell with a long shimmering tail", Form::Faust),
    ]
}

/// The error is a time-out before the first token.
fn assert_waited_for_the_first_token(error: &LlmError) {
    assert!(
        matches!(
            error,
            LlmError::Timeout {
                waiting: Waiting::FirstToken,
                ..
            }
        ),
        "{error:?}"
    );
}

fn name_of(json: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    value["name"].as_str().unwrap().to_string()
}

#[test]
fn a_good_reply_is_returned_and_the_request_is_a_chat_completion() {
    let spec = example_spec();
    let server = ReplayServer::start(vec![Reply::chat(&spec)]);
    let messages = conversation();

    let reply = client(&server).chat(&messages).unwrap();
    assert_eq!(reply, spec);
    assert_eq!(name_of(&extract_json(&reply).unwrap()), "rubber_bass");

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/chat/completions");
    assert!(request
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(request.header("authorization"), None);
    let body = request.json();
    assert_eq!(body["model"], "replay-model");
    assert!(body["temperature"].is_number());
    let sent: Vec<ChatMessage> = serde_json::from_value(body["messages"].clone()).unwrap();
    assert_eq!(sent, messages);
    assert_eq!(sent[0].role, Role::System);
    assert_eq!(sent[1].role, Role::User);
}

#[test]
fn a_spec_inside_code_fences_is_found() {
    let spec = example_spec();
    let server = ReplayServer::start(vec![Reply::chat(&format!("```json\n{spec}\n```\n"))]);
    let reply = client(&server).chat(&conversation()).unwrap();
    assert_eq!(extract_json(&reply).unwrap(), spec);

    let bare = format!("```\n{spec}\n```");
    assert_eq!(extract_json(&bare).unwrap(), spec);
}

#[test]
fn a_spec_between_prose_is_found() {
    let spec = example_spec();
    let chatty = format!(
        "Sure! Here is a bouncy bass (I kept {{cutoff}} low):\n\n{spec}\n\nTurn Bright up for \
         more bite."
    );
    let server = ReplayServer::start(vec![Reply::chat(&chatty)]);
    let reply = client(&server).chat(&conversation()).unwrap();
    assert_eq!(extract_json(&reply).unwrap(), spec);
}

#[test]
fn invalid_json_is_reported_as_such() {
    let broken = "```json\n{\"name\": \"pad\", \"faust\": process = os.osc(freq);}\n```";
    let server = ReplayServer::start(vec![Reply::chat(broken)]);
    let reply = client(&server).chat(&conversation()).unwrap();
    let error = extract_json(&reply).unwrap_err();
    assert!(error.contains("not valid JSON"), "{error}");

    let error = extract_json("Sorry, I cannot design sounds.").unwrap_err();
    assert!(error.contains("no JSON object"), "{error}");
    assert!(error.contains("Sorry, I cannot"), "{error}");
}

#[test]
fn an_answer_that_is_not_a_chat_completion_is_malformed() {
    let server = ReplayServer::start(vec![
        Reply::new(200, "<html>hello</html>"),
        Reply::new(200, r#"{"choices": []}"#),
    ]);
    let client = client(&server);
    let error = client.chat(&conversation()).unwrap_err();
    assert!(matches!(error, LlmError::Malformed(_)), "{error:?}");
    assert!(error.to_string().contains("<html>hello</html>"), "{error}");
    let error = client.chat(&conversation()).unwrap_err();
    assert!(error.to_string().contains("no choices"), "{error}");
    assert_eq!(
        server.requests().len(),
        2,
        "malformed answers are not retried"
    );
}

#[test]
fn server_errors_are_retried() {
    let server = ReplayServer::start(vec![
        Reply::error(500, "boom"),
        Reply::error(503, "loading model"),
        Reply::chat("{}"),
    ]);
    assert_eq!(client(&server).chat(&conversation()).unwrap(), "{}");
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn retries_stop_after_max_retries() {
    let server = ReplayServer::start(vec![
        Reply::error(500, "boom 1"),
        Reply::error(500, "boom 2"),
        Reply::error(500, "boom 3"),
        Reply::chat("{}"),
    ]);
    let error = client_with(&server, |c| c.max_retries = 2)
        .chat(&conversation())
        .unwrap_err();
    assert_eq!(
        error,
        LlmError::Http {
            status: 500,
            body: "boom 3".into()
        }
    );
    assert!(error.to_string().contains("HTTP 500"), "{error}");
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn a_rate_limit_is_retried_after_the_servers_wait() {
    let server = ReplayServer::start(vec![
        Reply::error(429, "slow down").header("Retry-After", "1"),
        Reply::chat("{}"),
    ]);
    assert_eq!(client(&server).chat(&conversation()).unwrap(), "{}");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_bad_request_is_not_retried_and_says_why() {
    let server = ReplayServer::start(vec![
        Reply::error(400, "  model 'nope' does not exist \n"),
        Reply::chat("{}"),
    ]);
    let error = client(&server).chat(&conversation()).unwrap_err();
    assert_eq!(
        error,
        LlmError::Http {
            status: 400,
            body: "model 'nope' does not exist".into()
        }
    );
    assert!(
        error
            .to_string()
            .contains("(HTTP 400): model 'nope' does not exist"),
        "{error}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_slow_server_times_out() {
    let server = ReplayServer::start(vec![
        Reply::chat("{}").delayed(Duration::from_secs(30)),
        Reply::chat("{}"),
    ]);
    let error = client_with(&server, |c| {
        c.first_token_timeout = Duration::from_millis(300)
    })
    .chat(&conversation())
    .unwrap_err();
    assert_waited_for_the_first_token(&error);
    let message = error.to_string();
    assert!(message.contains("sent nothing for 300 ms"), "{message}");
    assert!(
        message.contains("raise the first-token time-out"),
        "{message}"
    );
    assert!(!message.contains("smaller model"), "{message}");
    assert_eq!(server.requests().len(), 1, "a timeout is not retried");
}

#[test]
fn an_oversized_reply_is_refused() {
    let huge = "x".repeat(300 * 1024);
    let server = ReplayServer::start(vec![
        Reply::chat(&huge),
        Reply::chat(&huge).close_delimited(),
        Reply::chat("{}").close_delimited(),
    ]);
    let client = client(&server);
    for _ in 0..2 {
        let error = client.chat(&conversation()).unwrap_err();
        assert_eq!(error, LlmError::TooLarge { limit: 256 * 1024 });
        assert!(
            error
                .to_string()
                .starts_with("the model's answer grew past 256 KiB"),
            "{error}"
        );
    }
    // A reply of unknown length under the limit is read whole.
    assert_eq!(client.chat(&conversation()).unwrap(), "{}");
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn a_closed_port_is_unreachable() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let base_url = format!("http://127.0.0.1:{port}/v1");
    let client = LlmClient::new(LlmConfig {
        base_url: base_url.clone(),
        max_retries: 1,
        ..LlmConfig::default()
    })
    .with_backoff(QUICK);
    let error = client.chat(&conversation()).unwrap_err();
    assert!(matches!(error, LlmError::Unreachable { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "cannot reach the model at {base_url}/chat/completions"
        )),
        "{message}"
    );
    assert!(message.contains("connection refused"), "{message}");
    assert!(message.contains("is the server running"), "{message}");
}

#[test]
fn a_base_url_that_is_not_http_is_refused_at_once() {
    let client = LlmClient::new(LlmConfig {
        base_url: "127.0.0.1:11434/v1".into(),
        ..LlmConfig::default()
    });
    let error = client.chat(&conversation()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("not a valid http:// or https://"),
        "{error}"
    );
}

#[test]
fn the_api_key_goes_from_the_named_variable_into_the_header_only() {
    const VAR: &str = "MEPHISTO_TEST_LLM_KEY_PRESENT";
    const KEY: &str = "sk-test-0123456789abcdef";
    std::env::set_var(VAR, KEY);
    let server = ReplayServer::start(vec![Reply::chat("{}")]);
    let client = client_with(&server, |c| {
        c.api_key_env = Some(ApiKeyVar::try_from(VAR.to_string()).unwrap());
    });
    client.chat(&conversation()).unwrap();
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );

    let debug = format!("{:?} {:?}", client.config(), client);
    let json = serde_json::to_string(client.config()).unwrap();
    for shown in [&debug, &json] {
        assert!(!shown.contains(KEY), "the key leaked: {shown}");
        assert!(shown.contains(VAR), "{shown}");
    }
    std::env::remove_var(VAR);
}

#[test]
fn no_authorization_header_when_the_variable_is_unset() {
    const VAR: &str = "MEPHISTO_TEST_LLM_KEY_UNSET";
    std::env::remove_var(VAR);
    let server = ReplayServer::start(vec![Reply::chat("{}")]);
    client_with(&server, |c| {
        c.api_key_env = Some(ApiKeyVar::try_from(VAR.to_string()).unwrap());
    })
    .chat(&conversation())
    .unwrap();
    assert_eq!(server.requests()[0].header("authorization"), None);
}

#[test]
fn settings_round_trip_and_refuse_a_key_in_place_of_a_name() {
    let config = LlmConfig {
        api_key_env: Some(ApiKeyVar::try_from("OPENAI_API_KEY".to_string()).unwrap()),
        timeout: Duration::from_millis(1500),
        ..LlmConfig::default()
    };
    let json = serde_json::to_string(&config).unwrap();
    assert!(json.contains("\"timeout\":1.5"), "{json}");
    assert_eq!(serde_json::from_str::<LlmConfig>(&json).unwrap(), config);

    let key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789";
    for settings in [
        format!(r#"{{"api_key_env": "{key}"}}"#),
        format!(r#"{{"api_key": "{key}"}}"#),
    ] {
        let error = serde_json::from_str::<LlmConfig>(&settings)
            .unwrap_err()
            .to_string();
        assert!(!error.contains(key), "the key leaked: {error}");
    }
}

/// A watch that records progress and cancels after `cancel_after` tokens.
#[derive(Default)]
struct Recorder {
    seen: Vec<Progress>,
    cancel_after: Option<u32>,
}

impl Watch for Recorder {
    fn progress(&mut self, progress: Progress) {
        self.seen.push(progress);
    }
    fn cancelled(&self) -> bool {
        match (self.cancel_after, self.seen.last()) {
            (Some(limit), Some(p)) => p.tokens >= limit,
            _ => false,
        }
    }
}

fn request<'a>(messages: &'a [ChatMessage], schema: Option<&'a ReplySchema>) -> ChatRequest<'a> {
    ChatRequest {
        messages,
        schema,
        max_tokens: 700,
    }
}

fn small_schema() -> ReplySchema {
    ReplySchema {
        name: "answer",
        text: r#"{"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false}"#.into(),
        strict: true,
    }
}

#[test]
fn a_streamed_answer_is_put_together_and_its_progress_reported() {
    let answer = example_spec();
    let server = ReplayServer::start(vec![Reply::streamed_chat(&answer, "stop")]);
    let messages = conversation();
    let mut watch = Recorder::default();
    let reply = client(&server)
        .complete(&request(&messages, None), &mut watch)
        .unwrap();
    assert_eq!(reply.text, answer);
    assert_eq!(reply.finish, Finish::Stop);
    assert_eq!(reply.tokens as usize, answer.chars().count().div_ceil(4));
    assert!(reply.first_token.is_some());
    let last = watch.seen.last().expect("progress was reported");
    assert_eq!(last.tokens, reply.tokens, "the last report has every token");
    let body = server.requests()[0].json();
    assert_eq!(body["stream"], true);
    assert_eq!(body["max_tokens"], 700);
    assert!(
        body.get("response_format").is_none(),
        "no schema, no format"
    );
}

#[test]
fn keep_alive_pings_are_not_tokens_and_the_answer_ends_at_done() {
    // Pings while the prompt is read, then the answer; the server keeps the connection
    // open after [DONE] for longer than the silence time-out, so a client that waited for
    // the connection to close would time out.
    let mut pieces = vec![(Duration::from_millis(50), SSE_PING.to_string()); 4];
    pieces.push((Duration::ZERO, sse_role()));
    pieces.push((Duration::ZERO, sse_content("{\"a\": 1}")));
    pieces.push((Duration::ZERO, sse_finish("stop")));
    pieces.push((Duration::ZERO, SSE_DONE.to_string()));
    let server = ReplayServer::start(vec![Reply::stream(pieces).held_open(Duration::from_secs(3))]);
    let messages = conversation();
    let reply = client_with(&server, |c| c.timeout = Duration::from_millis(500))
        .complete(&request(&messages, None), &mut Recorder::default())
        .unwrap();
    assert_eq!(reply.text, "{\"a\": 1}");
    assert_eq!(reply.tokens, 1, "pings are not tokens");
}

#[test]
fn pings_alone_do_not_keep_a_request_alive() {
    let pieces = vec![(Duration::from_millis(100), SSE_PING.to_string()); 30];
    let server = ReplayServer::start(vec![Reply::stream(pieces)]);
    let messages = conversation();
    let error = client_with(&server, |c| {
        c.first_token_timeout = Duration::from_millis(600);
    })
    .complete(&request(&messages, None), &mut Recorder::default())
    .unwrap_err();
    assert_waited_for_the_first_token(&error);
}

#[test]
fn silence_in_the_middle_of_an_answer_times_out_and_closes_the_stream() {
    let mut pieces = vec![(Duration::ZERO, sse_role())];
    pieces.extend((0..3).map(|_| (Duration::ZERO, sse_content("tok"))));
    // Then nothing for a long time, then more that nobody should read.
    pieces.push((Duration::from_secs(2), sse_content("late")));
    pieces.extend((0..20).map(|_| (Duration::from_millis(20), sse_content("late"))));
    let server = ReplayServer::start(vec![Reply::stream(pieces)]);
    let messages = conversation();
    let error = client_with(&server, |c| c.timeout = Duration::from_millis(400))
        .complete(&request(&messages, None), &mut Recorder::default())
        .unwrap_err();
    assert_eq!(
        error,
        LlmError::Timeout {
            url: format!("{}/chat/completions", server.base_url()),
            after: Duration::from_millis(400),
            waiting: Waiting::NextToken { tokens: 3 },
        }
    );
    assert!(
        error
            .to_string()
            .contains("went silent for 400 ms after 3 tokens"),
        "{error}"
    );
    let outcome = wait_for_stream(&server);
    assert!(outcome.hung_up, "the client closed the stream: {outcome:?}");
    assert!(outcome.written < outcome.total, "{outcome:?}");
}

#[test]
fn a_newer_request_closes_the_stream() {
    let mut pieces = vec![(Duration::ZERO, sse_role())];
    pieces.extend((0..200).map(|_| (Duration::from_millis(10), sse_content("tok"))));
    pieces.push((Duration::ZERO, sse_finish("stop")));
    pieces.push((Duration::ZERO, SSE_DONE.to_string()));
    let server = ReplayServer::start(vec![Reply::stream(pieces)]);
    let messages = conversation();
    let mut watch = Recorder {
        cancel_after: Some(5),
        ..Recorder::default()
    };
    let error = client(&server)
        .complete(&request(&messages, None), &mut watch)
        .unwrap_err();
    assert_eq!(error, LlmError::Cancelled);
    let outcome = wait_for_stream(&server);
    assert!(outcome.hung_up, "{outcome:?}");
    assert!(outcome.written < outcome.total, "{outcome:?}");
}

/// The outcome of the server's first stream, once it has one (the server notices a hang-up
/// at its next write).
fn wait_for_stream(server: &ReplayServer) -> support::replay_server::StreamOutcome {
    for _ in 0..500 {
        if let Some(outcome) = server.streams().first() {
            return *outcome;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the stream never ended");
}

#[test]
fn a_cut_off_answer_says_so_and_an_empty_one_is_its_own_error() {
    let server = ReplayServer::start(vec![
        Reply::streamed_chat("{\"name\": \"runaway-runaway-run", "length"),
        Reply::streamed_chat("", "stop"),
    ]);
    let messages = conversation();
    let client = client(&server);
    let reply = client
        .complete(&request(&messages, None), &mut Recorder::default())
        .unwrap();
    assert_eq!(reply.finish, Finish::Length);
    let error = client
        .complete(&request(&messages, None), &mut Recorder::default())
        .unwrap_err();
    assert_eq!(error, LlmError::Empty);
    assert!(!error.to_string().contains("OpenAI-compatible"), "{error}");
}

#[test]
fn a_stream_without_its_end_is_not_an_answer() {
    // An empty 200 stream is how llama-cpp-python answers a request too long for its
    // context when streaming; [DONE] without a finish reason is how it ends a stream that
    // another request interrupted (tried again).
    let server = ReplayServer::start(vec![
        Reply::stream(vec![(Duration::ZERO, String::new())]),
        Reply::stream(vec![
            (Duration::ZERO, sse_content("par")),
            (Duration::ZERO, SSE_DONE.to_string()),
        ]),
        Reply::streamed_chat("whole", "stop"),
    ]);
    let messages = conversation();
    let client = client(&server);
    let error = client
        .complete(&request(&messages, None), &mut Recorder::default())
        .unwrap_err();
    assert_eq!(error, LlmError::CutShort { tokens: 0 });
    assert!(error.to_string().contains("context"), "{error}");
    let reply = client
        .complete(&request(&messages, None), &mut Recorder::default())
        .unwrap();
    assert_eq!(
        reply.text, "whole",
        "the interrupted answer was asked for again"
    );
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn a_request_too_long_for_the_context_says_the_limit() {
    let server = ReplayServer::start(vec![Reply::error(
        400,
        "This model's maximum context length is 2048 tokens. However, you requested 5085 \
         tokens (5085 in the messages, None in the completion). Please reduce the length of \
         the messages or completion.",
    )]);
    let messages = conversation();
    let error = client(&server)
        .complete(&request(&messages, None), &mut Recorder::default())
        .unwrap_err();
    assert_eq!(
        error,
        LlmError::ContextExceeded {
            limit: Some(2048),
            requested: Some(5085)
        }
    );
    assert!(
        error.to_string().contains("set the context setting"),
        "{error}"
    );
    assert_eq!(server.requests().len(), 1, "not retried as it is");
}

#[test]
fn a_server_that_refuses_json_schema_is_asked_with_its_own_form_and_remembered() {
    // llama-cpp-python refuses `json_schema` with an HTTP 500 and takes its own
    // `json_object` + `schema` form.
    let refusal = Reply::error(
        500,
        "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', \
         'type'), 'msg': \"Input should be 'text' or 'json_object'\"}",
    );
    let server = ReplayServer::start(vec![
        refusal,
        Reply::streamed_chat("{\"name\": \"a\"}", "stop"),
        Reply::streamed_chat("{\"name\": \"b\"}", "stop"),
    ]);
    let messages = conversation();
    let schema = small_schema();
    let reply = client(&server)
        .complete(&request(&messages, Some(&schema)), &mut Recorder::default())
        .unwrap();
    assert_eq!(reply.structured, Structured::JsonObjectSchema);
    // A new client (the plugin makes one per job) for the same endpoint remembers.
    let reply = client(&server)
        .complete(&request(&messages, Some(&schema)), &mut Recorder::default())
        .unwrap();
    assert_eq!(reply.text, "{\"name\": \"b\"}");
    let formats: Vec<serde_json::Value> = server
        .requests()
        .iter()
        .map(|r| r.json()["response_format"]["type"].clone())
        .collect();
    assert_eq!(formats, ["json_schema", "json_object", "json_object"]);
    let sent = server.requests()[1].json();
    assert_eq!(sent["response_format"]["schema"]["required"][0], "name");
}

#[test]
fn a_server_that_refuses_every_schema_is_asked_without_one() {
    let refusal = || {
        Reply::error(
            400,
            "Unrecognized request argument supplied: response_format",
        )
    };
    let server = ReplayServer::start(vec![
        refusal(),
        refusal(),
        Reply::streamed_chat("{}", "stop"),
    ]);
    let messages = conversation();
    let schema = small_schema();
    let reply = client(&server)
        .complete(&request(&messages, Some(&schema)), &mut Recorder::default())
        .unwrap();
    assert_eq!(reply.structured, Structured::Off);
    assert!(server.requests()[2].json().get("response_format").is_none());
}

#[test]
fn the_context_size_comes_from_the_server_when_it_says_else_from_the_setting() {
    let models = Reply::new(
        200,
        r#"{"object": "list", "data": [{"id": "replay-model", "max_model_len": 32768}]}"#,
    );
    let server = ReplayServer::with_probes(vec![Reply::chat("{}")], vec![("/v1/models", models)]);
    let context = client(&server).context();
    assert_eq!(
        (context.tokens, context.source),
        (32768, ContextSource::Server)
    );
    // Asked once per endpoint in a session.
    client(&server).context();
    assert_eq!(server.probes().len(), 1);

    // llama-cpp-python's /v1/models says nothing about the context.
    let silent = Reply::new(
        200,
        r#"{"object":"list","data":[{"id":"smollm2-135m-instruct","object":"model","owned_by":"me","permissions":[]}]}"#,
    );
    let server = ReplayServer::with_probes(vec![Reply::chat("{}")], vec![("/v1/models", silent)]);
    let context = client_with(&server, |c| c.context_tokens = 6000).context();
    assert_eq!(
        (context.tokens, context.source),
        (6000, ContextSource::Setting)
    );
}

#[test]
fn ollama_is_asked_for_its_context_and_streams_lines() {
    let show = Reply::new(
        200,
        r#"{"model_info": {"general.architecture": "llama", "llama.context_length": 4096}}"#,
    );
    let lines = [
        r#"{"model":"m","message":{"role":"assistant","content":"{\"name\""},"done":false}"#,
        r#"{"model":"m","message":{"role":"assistant","content":": \"x\"}"},"done":false}"#,
        r#"{"model":"m","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop"}"#,
    ];
    let mut answer = Reply::stream(
        lines
            .iter()
            .map(|l| (Duration::ZERO, format!("{l}\n")))
            .collect(),
    );
    answer.headers = vec![("Content-Type".into(), "application/x-ndjson".into())];
    let server = ReplayServer::with_probes(vec![answer], vec![("/api/show", show)]);
    let client = client_with(&server, |c| c.api = Api::Ollama);
    assert_eq!(
        client.endpoint(),
        format!("{}/api/chat", server.base_url().trim_end_matches("/v1"))
    );
    let context = client.context();
    assert_eq!(
        (context.tokens, context.source),
        (4096, ContextSource::Requested)
    );
    let messages = conversation();
    let schema = small_schema();
    let reply = client
        .complete(&request(&messages, Some(&schema)), &mut Recorder::default())
        .unwrap();
    assert_eq!(reply.text, "{\"name\": \"x\"}");
    assert_eq!(reply.structured, Structured::OllamaFormat);
    let sent = server.requests()[0].clone();
    assert_eq!(sent.path, "/api/chat");
    let body = sent.json();
    assert_eq!(body["options"]["num_ctx"], 4096);
    assert_eq!(body["options"]["num_predict"], 700);
    assert_eq!(body["format"]["required"][0], "name");
    assert_eq!(body["stream"], true);
    assert_eq!(server.probes()[0].json()["model"], "replay-model");
}
