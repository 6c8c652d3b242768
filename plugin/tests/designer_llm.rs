//! The LLM designer end to end: a design job goes from the worker through the client to a
//! replaying OpenAI-compatible server on 127.0.0.1 and back through parsing (a PatchSpec or
//! a synth graph), repair rounds, compiling, the sanity check, calibration and measured
//! feedback to the engine, while a note is held on the patch that was live before (a
//! runtime variant). A job that succeeds becomes the engine's patch, the project's and the
//! history's newest; one that fails says why, in words a producer can act on, and leaves the
//! previous patch playing. Needs `faust` and `rustc` on `PATH`.

mod support;

use std::net::TcpListener;
use std::time::Duration;

use mephisto::stored::Stored;
use mephisto::worker::JobStatus;
use mephisto_designer::llm::{
    ApiKeyVar, Backoff, ChatMessage, LlmClient, LlmConfig, ReplyForm, Role,
};
use mephisto_designer::prompt::{example_spec, EXAMPLE_FAUST, EXAMPLE_GRAPH};
use mephisto_designer::Failure;
use mephisto_designer::Stage;
use mephisto_designer::{DesignRequest, Designer, MAX_REPAIR_ROUNDS};
use mephisto_patch::PatchSpec;
use mephisto_rt::engine::EngineEvent;
use support::replay_server::{smollm2_answer, RecordedRequest, ReplayServer, Reply};
use support::rig::{spec, Rig, BLOCK, SINE, SR};

/// Retry waits short enough that retries take milliseconds.
const QUICK: Backoff = Backoff {
    first: Duration::from_millis(5),
    max: Duration::from_millis(20),
    max_retry_after: Duration::from_secs(2),
};

/// The patch that is live when each design job starts.
const PREVIOUS: &str = "previous_sine";

/// The name of the example spec, the model's good answer in these tests.
const EXAMPLE: &str = "rubber_bass";
const PROMPT: &str = "bouncy rubbery bass";

fn previous_spec() -> PatchSpec {
    spec(PREVIOUS, SINE)
}

/// The example spec with another Faust program.
fn example_with_faust(faust: &str) -> String {
    let mut spec: serde_json::Value = serde_json::from_str(&example_spec()).unwrap();
    spec["faust"] = faust.into();
    serde_json::to_string_pretty(&spec).unwrap()
}

/// The 1-based line of `faust` that contains `needle`.
fn line_of(faust: &str, needle: &str) -> usize {
    faust
        .lines()
        .position(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no line contains {needle}"))
        + 1
}

fn client(server: &ReplayServer, adjust: impl FnOnce(&mut LlmConfig)) -> LlmClient {
    client_for(server.base_url(), adjust)
}

fn client_for(base_url: String, adjust: impl FnOnce(&mut LlmConfig)) -> LlmClient {
    let mut config = LlmConfig {
        base_url,
        model: "replay-model".to_string(),
        timeout: Duration::from_secs(10),
        ..LlmConfig::default()
    };
    adjust(&mut config);
    LlmClient::new(config).with_backoff(QUICK)
}

/// The conversation a request carried.
fn messages(request: &RecordedRequest) -> Vec<ChatMessage> {
    serde_json::from_value(request.json()["messages"].clone()).expect("a list of chat messages")
}

/// The message a request ended with, which must be the producer's side of the chat.
fn last_user_message(request: &RecordedRequest) -> String {
    let last = messages(request).pop().expect("a request carries messages");
    assert_eq!(last.role, Role::User, "{last:?}");
    last.content
}

/// Requests from a client without an API key carry no credentials.
fn assert_no_authorization(requests: &[RecordedRequest]) {
    for request in requests {
        assert_eq!(request.header("authorization"), None);
    }
}

/// What these tests add to the shared rig.
impl Rig {
    /// A rig with a runtime variant of the previous patch live and a note held on it.
    fn playing_previous(name: &str) -> Rig {
        let mut rig = Rig::new(name, |_| {});
        rig.worker.play(previous_spec());
        let status = rig.until_settled();
        assert!(matches!(status.stage, Stage::Live { .. }), "{status:?}");
        rig.until_playing(PREVIOUS);
        rig.engine.handle(EngineEvent::NoteOn {
            note: 57,
            velocity: 0.8,
        });
        rig.seconds(0.1);
        assert!(rig.rms_of_last(0.05) > 0.05, "the held note sounds");
        rig
    }

    /// Submits a design job and renders until it is done.
    fn design(&mut self, request: DesignRequest, designer: Designer) -> JobStatus {
        let job = self.worker.design(request, designer);
        let status = self.until_settled();
        assert_eq!(status.job, job, "the status is another job's: {status:?}");
        status
    }

    /// Checks that `name` becomes the engine's patch within a second of audio (a live job's
    /// patch waits in the ring: the next block takes it and crossfades), then renders until
    /// the worker has seen it play, so the project and the history hold it.
    fn until_playing(&mut self, name: &str) {
        for _ in 0..(SR as usize).div_ceil(BLOCK) {
            if self.engine.current().name == name && !self.engine.is_swapping() {
                break;
            }
            self.block();
        }
        assert_eq!(
            self.engine.current().name,
            name,
            "the engine never took the live patch"
        );
        assert!(!self.engine.is_swapping(), "the crossfade never ended");
        self.until(&format!("the project holds {name}"), |rig| {
            rig.saved_name().as_deref() == Some(name)
        });
    }

    /// The name of the patch saved with the project.
    fn saved_name(&self) -> Option<String> {
        let saved = self.worker.shared().saved.read();
        saved.value().cloned().flatten().map(|spec| spec.name)
    }

    /// The history's patch names, oldest first, and the index of the current one.
    fn history(&self) -> (Vec<String>, Option<usize>) {
        let stored = self.worker.shared().history.read();
        let history = stored.value().expect("the history is readable");
        let names = history.entries().map(|spec| spec.name.clone()).collect();
        (names, history.cursor())
    }

    /// The job failed: returns its message after checking that the previous patch is still
    /// the engine's, the project's and the history's, and still sounds.
    fn failure(&mut self, status: &JobStatus) -> String {
        let Stage::Failed(Failure { message, .. }) = &status.stage else {
            panic!("expected a failure, got {status:?}");
        };
        assert_eq!(status.patch, None, "{status:?}");
        self.seconds(0.2);
        assert_eq!(self.engine.current().name, PREVIOUS, "{message}");
        assert!(!self.engine.is_swapping());
        assert!(
            self.rms_of_last(0.1) > 0.05,
            "the held note still sounds on the previous patch"
        );
        assert_eq!(self.saved_name().as_deref(), Some(PREVIOUS));
        assert_eq!(self.history(), (vec![PREVIOUS.to_string()], Some(0)));
        message.clone()
    }

    /// The job went live with `name`: renders until it plays, checks the held note carried
    /// over to it and that the history holds the previous patch and then it.
    fn went_live(&mut self, status: &JobStatus, name: &str) {
        assert!(matches!(status.stage, Stage::Live { .. }), "{status:?}");
        assert_eq!(status.patch.as_deref(), Some(name));
        self.until_playing(name);
        self.seconds(0.2);
        assert!(
            self.rms_of_last(0.1) > 0.01,
            "the held note carried over to {name}"
        );
        assert_eq!(
            self.history(),
            (vec![PREVIOUS.to_string(), name.to_string()], Some(1))
        );
    }
}

/// The job's last note is the calibration's, and every macro passed.
fn assert_all_macros_pass(status: &JobStatus) {
    let last = status.notes.last().expect("the job has notes");
    assert!(
        last.starts_with("macros calibrated: 6/6 pass ("),
        "{:?}",
        status.notes
    );
}

/// The note on round `round` (1 for the first answer).
fn round_note(status: &JobStatus, round: u32) -> &str {
    let start = format!("round {round}: ");
    status
        .notes
        .iter()
        .find(|n| n.starts_with(&start))
        .unwrap_or_else(|| panic!("no note on round {round}: {:?}", status.notes))
}

/// Asks for [`PROMPT`] with the model answering `replies` in turn; returns the rig (the job
/// settled), the job's status and the requests the server saw.
fn ask(
    name: &str,
    replies: Vec<Reply>,
    adjust: impl FnOnce(&mut LlmConfig),
) -> (Rig, JobStatus, Vec<RecordedRequest>) {
    ask_for(name, PROMPT, replies, adjust)
}

/// Asks for `prompt` with the model answering `replies` in turn.
fn ask_for(
    name: &str,
    prompt: &str,
    replies: Vec<Reply>,
    adjust: impl FnOnce(&mut LlmConfig),
) -> (Rig, JobStatus, Vec<RecordedRequest>) {
    let mut rig = Rig::playing_previous(name);
    let server = ReplayServer::start(replies);
    let status = rig.design(
        DesignRequest::new(prompt),
        Designer::Llm(client(&server, adjust)),
    );
    let requests = server.requests();
    assert!(!requests.is_empty(), "the model was asked");
    assert_no_authorization(&requests);
    (rig, status, requests)
}

/// A job whose model answers `replies` must fail after `expected_requests` requests; returns
/// its message and the requests.
fn ask_and_fail(
    name: &str,
    replies: Vec<Reply>,
    adjust: impl FnOnce(&mut LlmConfig),
    expected_requests: usize,
) -> (String, Vec<RecordedRequest>) {
    let (mut rig, status, requests) = ask(name, replies, adjust);
    let message = rig.failure(&status);
    assert_eq!(requests.len(), expected_requests, "{message}");
    assert!(
        message.contains("the current patch keeps playing"),
        "{message}"
    );
    (message, requests)
}

/// The replies of a model that answers `bad` every time, and then (too late) well: the job
/// must stop after its repair rounds.
fn always(bad: &str) -> Vec<Reply> {
    let mut replies = vec![Reply::chat(bad); 1 + MAX_REPAIR_ROUNDS as usize];
    replies.push(Reply::chat(&example_spec()));
    replies
}

#[test]
fn a_good_spec_goes_live_and_into_the_project_and_the_history() {
    let mut rig = Rig::playing_previous("good");
    let server = ReplayServer::start(vec![Reply::chat(&example_spec())]);
    // The plugin names the patch playing, for the history, without asking to change it.
    let request = DesignRequest {
        current: Some(previous_spec()),
        ..DesignRequest::new(PROMPT)
    };
    let status = rig.design(request, Designer::Llm(client(&server, |_| {})));
    rig.went_live(&status, EXAMPLE);
    assert_all_macros_pass(&status);
    let Stored::Value(Some(saved)) = rig.worker.shared().saved.read().clone() else {
        panic!("the project holds no patch");
    };
    let example = PatchSpec::from_json(&example_spec()).unwrap();
    assert!(
        saved.trim_db.is_some(),
        "a designed patch is levelled: {:?}",
        saved.trim_db
    );
    assert_eq!(
        saved,
        PatchSpec {
            macros: saved.macros.clone(),
            trim_db: saved.trim_db,
            ..example.clone()
        },
        "the project holds the model's patch"
    );
    assert_eq!(
        saved.macros, example.macros,
        "calibration keeps a map that passes"
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_no_authorization(&requests);
    let sent = messages(&requests[0]);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].role, Role::System);
    let design = last_user_message(&requests[0]);
    assert!(design.contains(PROMPT), "{design}");
    assert!(
        !design.contains(PREVIOUS),
        "a new design is not a refinement: {design}"
    );
}

#[test]
fn a_macro_mapped_backwards_is_flipped_once_the_patch_plays() {
    let mut backwards: serde_json::Value = serde_json::from_str(&example_spec()).unwrap();
    for target in backwards["macros"]["bright"].as_array_mut().unwrap() {
        target["depth"] = (-target["depth"].as_f64().unwrap()).into();
    }
    let (mut rig, status, _) = ask(
        "backwards",
        vec![Reply::chat(&backwards.to_string())],
        |_| {},
    );
    rig.went_live(&status, EXAMPLE);
    let saved = rig.worker.shared().saved.read().value().cloned().flatten();
    let saved = saved.expect("the project holds the patch");
    let depths: Vec<f32> = saved
        .macros
        .of(mephisto_dsp::macros::Macro::Bright)
        .map(|t| t.depth)
        .collect();
    assert_eq!(
        depths,
        [0.7, 0.2],
        "Bright darkened the patch until calibrated"
    );
    assert_all_macros_pass(&status);
    // Sound first: the patch went live with the backwards map, and the calibrated one
    // reached the playing instance afterwards (the audio thread exchanged them).
    rig.until("the corrected map plays", |rig| {
        let drives = rig.engine.current().modulation().drives();
        drives
            .iter()
            .flat_map(|d| &d.control.macro_depths)
            .any(|&(m, depth)| m == mephisto_dsp::macros::Macro::Bright && depth > 0.0)
    });
}

#[test]
fn a_spec_in_fences_between_prose_goes_live() {
    let chatty = format!(
        "Here is a bouncy bass for you:\n\n```json\n{}\n```\n\nTurn Bright up for more bite.",
        example_spec()
    );
    let (mut rig, status, requests) = ask("fenced", vec![Reply::chat(&chatty)], |_| {});
    rig.went_live(&status, EXAMPLE);
    assert_eq!(requests.len(), 1);
}

#[test]
fn invalid_json_every_time_fails_after_the_repair_rounds() {
    let broken = "```json\n{\"name\": \"pad\", \"faust\": process = os.osc(freq);}\n```";
    let (message, requests) = ask_and_fail(
        "invalid-json",
        always(broken),
        |_| {},
        1 + MAX_REPAIR_ROUNDS as usize,
    );
    assert!(
        message.contains(&format!("after {MAX_REPAIR_ROUNDS} repair rounds")),
        "{message}"
    );
    assert!(message.contains("not valid JSON"), "{message}");

    // Each repair round sends the instructions and the request as before (byte for byte,
    // so a server reuses what it read), then only the last answer and what was wrong.
    let first = messages(&requests[0]);
    assert_eq!(first.len(), 2);
    for request in &requests[1..] {
        let sent = messages(request);
        assert_eq!(sent.len(), 4);
        assert_eq!(sent[..2], first[..]);
        assert_eq!(sent[2].role, Role::Assistant);
        assert_eq!(sent[2].content, broken);
    }
    let repair = last_user_message(&requests[1]);
    assert!(repair.contains("could not use that answer"), "{repair}");
    assert!(repair.contains("not valid JSON"), "{repair}");
}

#[test]
fn a_spec_missing_required_fields_fails_naming_them() {
    let incomplete = r#"{"version": 1, "name": "no_code", "prompt": "bouncy rubbery bass"}"#;
    let (message, requests) = ask_and_fail(
        "missing-fields",
        always(incomplete),
        |_| {},
        1 + MAX_REPAIR_ROUNDS as usize,
    );
    for needle in ["`faust`: missing", "`archetype`: missing", "repair rounds"] {
        assert!(message.contains(needle), "{needle}: {message}");
    }
    let repair = last_user_message(&requests[1]);
    assert!(repair.contains("`faust`: missing"), "{repair}");
}

#[test]
fn a_faust_syntax_error_is_repaired_and_the_key_stays_in_the_header() {
    const VAR: &str = "MEPHISTO_TEST_DESIGNER_LLM_KEY";
    const KEY: &str = "sk-designer-test-5f1c0ffee0123456789";
    std::env::set_var(VAR, KEY);

    let broken = EXAMPLE_FAUST.replace("*(amp * gain * 0.45);", "*(amp * gain * 0.45) +;");
    assert_ne!(broken, EXAMPLE_FAUST);
    let line = line_of(&broken, "+;");
    let mut rig = Rig::playing_previous("syntax-error");
    let server = ReplayServer::start(vec![
        Reply::chat(&example_with_faust(&broken)),
        Reply::chat(&example_spec()),
    ]);
    let client = client(&server, |c| {
        c.api_key_env = Some(ApiKeyVar::try_from(VAR.to_string()).unwrap());
    });
    let status = rig.design(DesignRequest::new(PROMPT), Designer::Llm(client));
    rig.went_live(&status, EXAMPLE);
    assert!(
        round_note(&status, 1).contains("Faust error"),
        "{:?}",
        status.notes
    );
    assert!(
        round_note(&status, 2).contains("builds"),
        "{:?}",
        status.notes
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let repair = last_user_message(&requests[1]);
    assert!(
        repair.contains(&format!("Faust error at line {line}")),
        "{repair}"
    );

    // The key goes into the Authorization header of every request, and nowhere else.
    for request in &requests {
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert!(!request.path.contains(KEY));
        assert!(!String::from_utf8_lossy(&request.body).contains(KEY));
        for (name, value) in &request.headers {
            assert!(
                name.eq_ignore_ascii_case("authorization") || !value.contains(KEY),
                "the key leaked into {name}"
            );
        }
    }
    let shared = rig.worker.shared();
    let kept = format!(
        "{:?} {} {}",
        rig.worker.status(),
        serde_json::to_string(&*shared.saved.read()).unwrap(),
        serde_json::to_string(&*shared.history.read()).unwrap()
    );
    assert!(
        !kept.contains(KEY),
        "the key leaked into the status or the project"
    );
}

#[test]
fn ffunction_every_time_fails_and_every_repair_names_it() {
    let faust = format!("{EXAMPLE_FAUST}\nsine = ffunction(float sinf(float), <math.h>, \"\");\n");
    let refused = format!("`ffunction` at line {}", line_of(&faust, "ffunction"));
    let (message, requests) = ask_and_fail(
        "ffunction",
        always(&example_with_faust(&faust)),
        |_| {},
        1 + MAX_REPAIR_ROUNDS as usize,
    );
    assert!(message.contains(&refused), "{message}");
    assert!(message.contains("repair rounds"), "{message}");
    for request in &requests[1..] {
        let repair = last_user_message(request);
        assert!(repair.contains(&refused), "{repair}");
    }
}

#[test]
fn server_errors_on_every_attempt_fail_without_the_offline_designer() {
    let mut replies = vec![Reply::error(500, "the model crashed"); 4];
    replies.push(Reply::chat(&example_spec()));
    let (message, _) = ask_and_fail("http-500", replies, |c| c.max_retries = 3, 4);
    assert!(message.contains("HTTP 500"), "{message}");
    assert!(message.contains("the model crashed"), "{message}");
    // The server is there: the job fails (saying how to get a patch anyway) rather than
    // quietly answering with the offline designer.
    assert!(!message.contains("answered instead"), "{message}");
    assert!(
        message.contains("the offline designer gives a patch"),
        "{message}"
    );
}

#[test]
fn a_rate_limit_is_waited_out() {
    let (mut rig, status, requests) = ask(
        "rate-limit",
        vec![
            Reply::error(429, "slow down").header("Retry-After", "0"),
            Reply::chat(&example_spec()),
        ],
        |_| {},
    );
    rig.went_live(&status, EXAMPLE);
    assert_eq!(requests.len(), 2);
}

#[test]
fn a_model_slower_than_the_timeout_fails() {
    let (message, _) = ask_and_fail(
        "slow",
        vec![
            Reply::chat(&example_spec()).delayed(Duration::from_secs(3)),
            Reply::chat(&example_spec()),
        ],
        |c| c.first_token_timeout = Duration::from_secs(1),
        1,
    );
    assert!(message.contains("sent nothing for 1 s"), "{message}");
    assert!(message.contains("first-token time-out"), "{message}");
}

#[test]
fn an_oversized_reply_fails() {
    let (message, _) = ask_and_fail(
        "oversized",
        vec![
            Reply::chat(&format!("{}{}", example_spec(), " ".repeat(8 * 1024))),
            Reply::chat(&example_spec()),
        ],
        |c| c.max_reply_bytes = 4 * 1024,
        1,
    );
    assert!(
        message.contains("the model's answer grew past 4 KiB"),
        "{message}"
    );
}

#[test]
fn without_a_server_the_offline_designer_answers() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let base_url = format!("http://127.0.0.1:{port}/v1");
    let mut rig = Rig::playing_previous("no-server");
    let status = rig.design(
        DesignRequest::new(PROMPT),
        Designer::Llm(client_for(base_url.clone(), |_| {})),
    );
    assert!(matches!(status.stage, Stage::Live { .. }), "{status:?}");
    let fallback = status
        .notes
        .iter()
        .find(|n| n.contains("could not be reached"))
        .unwrap_or_else(|| panic!("no note on the fallback: {:?}", status.notes));
    assert!(fallback.contains(&base_url), "{fallback}");
    assert!(
        fallback.contains("the offline designer answered"),
        "{fallback}"
    );

    let name = status.patch.clone().expect("the patch that went live");
    assert_ne!(name, PREVIOUS);
    rig.until_playing(&name);
    assert_eq!(rig.history(), (vec![PREVIOUS.to_string(), name], Some(1)));
}

#[test]
fn refining_through_the_model_sends_the_current_spec() {
    let mut rig = Rig::playing_previous("refine");
    let server = ReplayServer::start(vec![Reply::chat(&example_spec())]);
    let status = rig.design(
        DesignRequest::refine("warmer", previous_spec()),
        Designer::Llm(client(&server, |c| c.form = ReplyForm::Faust)),
    );
    rig.went_live(&status, EXAMPLE);

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_no_authorization(&requests);
    let refine = last_user_message(&requests[0]);
    for needle in [
        "This is the current patch",
        &format!("\"name\": \"{PREVIOUS}\""),
        "os.osc(hslider(",
        "\"warmer\"",
    ] {
        assert!(refine.contains(needle), "{needle}: {refine}");
    }
}

#[test]
fn a_newer_request_supersedes_one_waiting_for_the_model() {
    let mut rig = Rig::playing_previous("superseded");
    let server = ReplayServer::start(vec![
        Reply::chat(&example_spec()).delayed(Duration::from_secs(2))
    ]);
    let first = rig.worker.design(
        DesignRequest::new(PROMPT),
        Designer::Llm(client(&server, |_| {})),
    );
    // The first job is waiting for the model when the second one comes.
    rig.until("the model was asked", |_| server.requests().len() == 1);
    let status = rig.design(DesignRequest::new("bright pluck"), Designer::Offline);
    assert!(status.job > first);
    assert!(matches!(status.stage, Stage::Live { .. }), "{status:?}");
    let name = status.patch.clone().expect("the patch that went live");
    assert_ne!(name, EXAMPLE);
    // The worker runs one job at a time: the first job ended before the second began, with
    // the model's answer in hand, and must not have sent it to the audio thread.
    rig.until_playing(&name);
    rig.seconds(0.5);
    assert_eq!(rig.saved_name(), Some(name.clone()));
    assert_eq!(rig.history(), (vec![PREVIOUS.to_string(), name], Some(1)));
    assert_no_authorization(&server.requests());
}

/// A synth graph named `name` with these nodes and no modulators or effects.
fn graph(name: &str, archetype: &str, nodes: serde_json::Value) -> String {
    serde_json::json!({
        "name": name, "archetype": archetype, "nodes": nodes,
        "envelope": {"attack": 0.005, "decay": 1.2, "sustain": 0.3, "release": 1.0},
        "modulators": [], "effects": [],
        "macros": {"warm": "body", "bright": "tone", "grit": "drive", "space": "reverb",
                   "motion": "vibrato", "punch": "attack"},
        "velocity": "level"
    })
    .to_string()
}

/// A dull bell: a sine under a low-pass at 300 Hz.
fn dull_bell() -> String {
    graph(
        "dull_bell",
        "bell",
        serde_json::json!([
            {"type": "sine", "input": 0, "frequency": 1, "amount": 0.8},
            {"type": "lowpass", "input": 0, "frequency": 300, "amount": 0.1}
        ]),
    )
}

/// A bright bell: FM partials high above the note, through a high-pass.
fn bright_bell() -> String {
    graph(
        "bright_bell",
        "bell",
        serde_json::json!([
            {"type": "saw", "input": 0, "frequency": 4, "amount": 0.6},
            {"type": "fm", "input": 0, "frequency": 3.5, "amount": 0.8},
            {"type": "highpass", "input": 1, "frequency": 3000, "amount": 0.2}
        ]),
    )
}

/// The spec the project holds.
fn saved_spec(rig: &Rig) -> PatchSpec {
    let saved = rig.worker.shared().saved.read().value().cloned().flatten();
    saved.expect("the project holds a patch")
}

#[test]
fn a_synth_graph_goes_live_with_the_faust_mephisto_wrote_for_it() {
    let (mut rig, status, requests) = ask(
        "graph",
        vec![Reply::streamed_chat(EXAMPLE_GRAPH, "stop")],
        |_| {},
    );
    rig.went_live(&status, "warm_analog_pad");
    assert!(
        round_note(&status, 1).contains("a graph patch `warm_analog_pad` that builds"),
        "{:?}",
        status.notes
    );
    let saved = saved_spec(&rig);
    assert_eq!(
        mephisto_patch::graph::SynthGraph::of_spec(&saved),
        Some(mephisto_patch::graph::SynthGraph::from_json(EXAMPLE_GRAPH).unwrap()),
        "the project holds the program Mephisto wrote for the graph"
    );
    assert!(saved.faust.contains("mp.lp("), "{}", saved.faust);
    assert!(saved.params.contains_key("level"));

    // A small context and a model of unknown size: the graph form, its schema, its budget.
    assert_eq!(requests.len(), 1);
    let body = requests[0].json();
    assert_eq!(body["max_tokens"], 1024);
    assert_eq!(body["stream"], true);
    assert_eq!(body["response_format"]["type"], "json_schema");
    let schema = &body["response_format"]["json_schema"]["schema"];
    assert_eq!(schema["properties"]["nodes"]["maxItems"], 8);
    let system = &messages(&requests[0])[0];
    assert!(system.content.contains("# Synth graph"));
    assert!(!system.content.contains("# Reference"));
}

#[test]
fn measured_feedback_goes_back_to_the_model_and_its_revision_goes_live() {
    let prompt = "bright glassy bell";
    let mut replies = vec![
        Reply::streamed_chat(&dull_bell(), "stop"),
        Reply::streamed_chat(&bright_bell(), "stop"),
    ];
    // Spare answers, so a test that fails here fails on what was sent, not on a server
    // with nothing left to say.
    replies.extend(vec![Reply::streamed_chat(&bright_bell(), "stop"); 2]);
    let (mut rig, status, requests) = ask_for("feedback", prompt, replies, |_| {});
    rig.went_live(&status, "bright_bell");
    assert_eq!(requests.len(), 2, "{:?}", status.notes);

    // Round 1's measurement is in the notes, and the same figures went to the model.
    let first = round_note(&status, 1);
    let measured = centroid_in(first);
    let asked = first
        .split("asked ≥ ")
        .nth(1)
        .and_then(|rest| rest.split(" Hz").next())
        .unwrap_or_else(|| panic!("round 1 has no target: {first}"));
    let feedback = last_user_message(&requests[1]);
    for needle in [
        "It does not yet sound like the request",
        "brighter",
        &format!("at least {asked} Hz"),
        &format!("yours measures {measured} Hz"),
    ] {
        assert!(feedback.contains(needle), "{needle}: {feedback}");
    }
    let sent = messages(&requests[1]);
    assert_eq!(
        sent[2].content,
        dull_bell(),
        "the answer the feedback is about"
    );
    assert!(
        round_note(&status, 2).contains("bright_bell"),
        "{:?}",
        status.notes
    );
}

#[test]
fn when_the_rounds_run_out_the_closest_patch_goes_live() {
    let replies = vec![Reply::streamed_chat(&dull_bell(), "stop"); 1 + MAX_REPAIR_ROUNDS as usize];
    let (mut rig, status, requests) = ask_for("no-closer", "bright glassy bell", replies, |_| {});
    rig.went_live(&status, "dull_bell");
    assert_eq!(requests.len(), 1 + MAX_REPAIR_ROUNDS as usize);
    assert!(
        status
            .notes
            .iter()
            .any(|n| n.contains("the rounds ran out") && n.contains("went live (round")),
        "{:?}",
        status.notes
    );
    for request in &requests[1..] {
        assert!(last_user_message(request).contains("spectral centroid"));
    }
}

#[test]
fn a_context_too_small_is_refused_before_anything_is_sent() {
    let mut rig = Rig::playing_previous("small-context");
    let server = ReplayServer::start(vec![Reply::chat(&example_spec())]);
    let status = rig.design(
        DesignRequest::new(PROMPT),
        Designer::Llm(client(&server, |c| c.context_tokens = 1024)),
    );
    let message = rig.failure(&status);
    assert!(server.requests().is_empty(), "nothing was sent");
    for needle in [
        "the model's context, 1024 tokens (from the settings), is too small",
        "raise the context setting to at least",
        "Settings → LLM → Context",
        "the offline designer gives a patch",
    ] {
        assert!(message.contains(needle), "{needle}: {message}");
    }
    let Stage::Failed(failure) = &status.stage else {
        unreachable!("checked by failure()")
    };
    assert_eq!(failure.setting, Some(mephisto_patch::Setting::Llm));
}

#[test]
fn a_cut_off_answer_is_called_cut_off() {
    let spec = example_spec();
    let cut = &spec[..spec.len() / 3];
    let replies = vec![Reply::streamed_chat(cut, "length"); 1 + MAX_REPAIR_ROUNDS as usize];
    let (message, requests) =
        ask_and_fail("cut-off", replies, |_| {}, 1 + MAX_REPAIR_ROUNDS as usize);
    assert!(message.contains("cut off at"), "{message}");
    assert!(message.contains("raise the answer budget"), "{message}");
    assert!(!message.contains("no JSON"), "{message}");
    let repair = last_user_message(&requests[1]);
    assert!(repair.contains("the answer was cut off at"), "{repair}");
}

#[test]
fn a_graph_patch_is_refined_through_its_graph() {
    let mut rig = Rig::playing_previous("refine-graph");
    let current = mephisto_patch::graph::SynthGraph::from_json(EXAMPLE_GRAPH)
        .unwrap()
        .to_spec("a warm analog pad");
    let server = ReplayServer::start(vec![Reply::streamed_chat(&bright_bell(), "stop")]);
    let status = rig.design(
        DesignRequest::refine("more metallic", current),
        Designer::Llm(client(&server, |_| {})),
    );
    assert!(matches!(status.stage, Stage::Live { .. }), "{status:?}");
    rig.until_playing("bright_bell");
    let refine = last_user_message(&server.requests()[0]);
    assert!(refine.contains("current patch's synth graph"), "{refine}");
    assert!(refine.contains("\"warm_analog_pad\""), "{refine}");
    assert!(!refine.contains("process ="), "{refine}");
    assert_eq!(saved_spec(&rig).prompt, "a warm analog pad; more metallic");
}

/// A reply SmolLM2-135M-Instruct gave through llama-cpp-python's server, as recorded in
/// `scripts/local_llm_samples/` (the whole HTTP body, served as it was).
fn recorded(name: &str) -> Reply {
    let path = format!(
        "{}/../scripts/local_llm_samples/{name}.reply.json",
        env!("CARGO_MANIFEST_DIR")
    );
    Reply::new(
        200,
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")),
    )
}

#[test]
fn real_small_model_answers_that_are_no_patch_go_back_with_what_was_wrong() {
    let replies = vec![
        // Prose about "ampressobes", no JSON at all.
        recorded("04_no_schema_prose_only"),
        // Fenced pseudo-JSON with `"refines:" 2`, the answer to the old 12 KB prompt.
        recorded("06_patchspec_designer_invalid_json"),
        // A string running away until max_tokens.
        recorded("03_json_object_runaway_cut_off"),
        // The right shape for another schema: ids and connections this graph does not have.
        recorded("01_schema_shape_ok_dangling_ids"),
    ];
    let (message, requests) = ask_and_fail(
        "recorded-bad",
        replies,
        |_| {},
        1 + MAX_REPAIR_ROUNDS as usize,
    );
    let repairs: Vec<String> = requests[1..].iter().map(last_user_message).collect();
    assert!(
        repairs[0].contains("contains no JSON object"),
        "{}",
        repairs[0]
    );
    assert!(repairs[1].contains("not valid JSON"), "{}", repairs[1]);
    assert!(
        repairs[2].contains("the answer was cut off at"),
        "{}",
        repairs[2]
    );
    assert!(
        message.contains("the synth graph is not valid"),
        "{message}"
    );
    assert!(
        message.contains("`nodes[0].id`: unknown field"),
        "{message}"
    );
}

/// An answer SmolLM2-135M-Instruct gave (`crates/designer/tests/data/smollm2/`): the prompt
/// it answered, and the answer streamed back as the server streamed it.
fn smollm2(name: &str) -> (String, Reply) {
    let designer = concat!(env!("CARGO_MANIFEST_DIR"), "/../crates/designer");
    let (prompt, _, reply) = smollm2_answer(designer, name);
    (prompt, reply)
}

/// Asks a recorded prompt with the model answering its recorded `first` answer, then its
/// `then` answer in every later round.
fn ask_smollm2(name: &str, first: &str, then: &str) -> (Rig, JobStatus, Vec<RecordedRequest>) {
    let (prompt, first) = smollm2(first);
    let (_, then) = smollm2(then);
    let mut replies = vec![first];
    replies.extend(vec![then; MAX_REPAIR_ROUNDS as usize]);
    let (rig, status, requests) = ask_for(name, &prompt, replies, |_| {});
    assert!(matches!(status.stage, Stage::Live { .. }), "{status:?}");
    (rig, status, requests)
}

/// The centroid a round's note records, as written.
fn centroid_in(note: &str) -> &str {
    note.split("spectral centroid ")
        .nth(1)
        .and_then(|rest| rest.split(" Hz").next())
        .unwrap_or_else(|| panic!("not measured: {note}"))
}

#[test]
fn a_real_small_models_graph_takes_the_measured_feedback() {
    let (mut rig, status, requests) = ask_smollm2(
        "smollm2-lead",
        "bright_saw_lead_round1",
        "bright_saw_lead_round2",
    );
    let name = status.patch.clone().expect("a patch went live");
    rig.until_playing(&name);
    let first_note = round_note(&status, 1);
    assert!(
        first_note.contains("a graph patch `a_bright_saw_lead` that builds"),
        "{first_note}"
    );
    let measured = centroid_in(first_note);
    let feedback = last_user_message(&requests[1]);
    assert!(feedback.contains("brighter"), "{feedback}");
    assert!(
        feedback.contains(&format!("yours measures {measured} Hz")),
        "{feedback}"
    );
}

#[test]
fn a_real_small_models_revision_that_meets_the_words_goes_live() {
    let (mut rig, status, requests) =
        ask_smollm2("smollm2-snare", "noisy_snare_round1", "noisy_snare_round2");
    // Its envelope swells over 0.8 s: the held note is not checked for sound here.
    assert_eq!(status.patch.as_deref(), Some("mephisto"));
    rig.until_playing("mephisto");
    assert_eq!(requests.len(), 2, "{:?}", status.notes);
    assert!(round_note(&status, 1).contains("`snare_drum` that builds"));
    let feedback = last_user_message(&requests[1]);
    assert!(
        feedback.starts_with("Mephisto built and measured that patch"),
        "{feedback}"
    );
    assert!(!status.notes.iter().any(|n| n.contains("rounds ran out")));
}

#[test]
fn a_server_context_smaller_than_the_setting_is_learned_and_planned_for() {
    let refusal = Reply::error(
        400,
        "This model's maximum context length is 4096 tokens. However, you requested 9041 \
         tokens (1017 in the messages, 8024 in the completion).",
    );
    let (mut rig, status, requests) = ask(
        "learned-context",
        vec![refusal, Reply::streamed_chat(EXAMPLE_GRAPH, "stop")],
        |c| c.context_tokens = 32768,
    );
    rig.went_live(&status, "warm_analog_pad");
    assert_eq!(requests.len(), 2);
    assert!(
        status
            .notes
            .iter()
            .any(|n| n.contains("too long for its 4096-token context; planned again")),
        "{:?}",
        status.notes
    );
}

/// How rough the recording's last `seconds` are: the RMS of its sample-to-sample steps over
/// its RMS (more harmonics, more roughness).
fn roughness(rig: &Rig, seconds: f32) -> f32 {
    let n = (seconds * SR) as usize;
    let tail = &rig.recording[rig.recording.len() - n..];
    let rms = |xs: &mut dyn Iterator<Item = f32>| {
        let (sum, count) = xs.fold((0.0f32, 0usize), |(s, c), x| (s + x * x, c + 1));
        (sum / count.max(1) as f32).sqrt()
    };
    rms(&mut tail.windows(2).map(|w| w[1] - w[0])) / rms(&mut tail.iter().copied())
}

#[test]
fn controllers_a_model_writes_reach_the_live_spec_and_the_engine() {
    use mephisto_dsp::controllers::{Route, Target};
    use mephisto_dsp::macros::{Macro, NEUTRAL_MACROS};
    use mephisto_rt::modulation::ControllerValues;

    // A sine through the graph's drive: the Grit macro (the drive) adds harmonics.
    let mut answer: serde_json::Value = serde_json::from_str(&graph(
        "growl_sine",
        "lead",
        serde_json::json!([{"type": "sine", "input": 0, "frequency": 1, "amount": 0.8}]),
    ))
    .unwrap();
    answer["envelope"]["sustain"] = 1.0.into();
    answer["controllers"] = serde_json::json!({
        "mod_wheel": [{"macro": "grit", "depth": 0.9}],
        "velocity": [{"macro": "bright", "depth": 0.7}],
        "aftertouch": [],
        "bend_range": 12
    });
    let answer = answer.to_string();
    // The same answer for every round the measured feedback may ask for.
    let replies = vec![Reply::streamed_chat(&answer, "stop"); 1 + MAX_REPAIR_ROUNDS as usize];
    let (mut rig, status, _) = ask_for(
        "controllers",
        "a sine lead that growls when I push the mod wheel and is brighter when I play harder",
        replies,
        |_| {},
    );
    rig.went_live(&status, "growl_sine");

    // The project's spec holds the model's controllers …
    let saved = saved_spec(&rig);
    let route = |m: Macro, depth: f32| Route {
        target: Target::Macro(m),
        depth,
    };
    assert_eq!(
        saved.controllers.mod_wheel,
        Some(vec![route(Macro::Grit, 0.9)])
    );
    assert_eq!(saved.controllers.velocity, vec![route(Macro::Bright, 0.7)]);
    assert_eq!(saved.controllers.bend_range, Some(12.0));
    // … and so does the instance the engine plays.
    let live = rig.engine.current();
    assert_eq!(live.controller_map(), &saved.controllers);
    assert_eq!(live.bend_range(), 12.0);
    let modulation = live.modulation();
    assert!(modulation.follows_velocity());
    let wheel_up = ControllerValues {
        mod_wheel: 1.0,
        aftertouch: 0.0,
    };
    let pushed = modulation.global_macros(&NEUTRAL_MACROS, wheel_up);
    assert!(
        (pushed[Macro::Grit.index()] - 0.95).abs() < 1e-4,
        "{pushed:?}"
    );
    assert_eq!(pushed[Macro::Motion.index()], 0.5, "the wheel left Motion");

    // The wheel is heard: the held note grows rougher as it goes up.
    rig.seconds(0.3);
    let at_rest = roughness(&rig, 0.2);
    rig.engine.handle(EngineEvent::ModWheel(1.0));
    rig.seconds(0.3);
    let pushed_up = roughness(&rig, 0.2);
    assert!(
        pushed_up > 1.2 * at_rest,
        "roughness {at_rest:.4} at rest, {pushed_up:.4} with the wheel up"
    );
}
