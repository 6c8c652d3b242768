//! The LLM client against a replaying OpenAI-compatible server on 127.0.0.1: good, fenced,
//! chatty and malformed replies, retries on server errors and rate limits, refusals, a slow
//! server, an oversized reply, no server at all, and the API key's path from the environment
//! into the header (and nowhere else).

mod support;

use std::net::TcpListener;
use std::time::Duration;

use mephisto_designer::llm::{
    extract_json, ApiKeyVar, Backoff, ChatMessage, LlmClient, LlmConfig, LlmError, Role,
};
use mephisto_designer::prompt::{design_message, example_spec, system_prompt};
use support::replay_server::{ReplayServer, Reply};

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
        ChatMessage::system(system_prompt()),
        design_message("glassy bell with a long shimmering tail"),
    ]
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
    let error = client_with(&server, |c| c.timeout = Duration::from_millis(300))
        .chat(&conversation())
        .unwrap_err();
    assert!(matches!(error, LlmError::Timeout { .. }), "{error:?}");
    assert!(
        error.to_string().contains("did not answer within 300 ms"),
        "{error}"
    );
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
                .starts_with("the model's reply is over 256 KiB;"),
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
    assert!(message.contains("offline designer"), "{message}");
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
