//! A scripted OpenAI-compatible server for tests that need an LLM: it listens
//! on 127.0.0.1 (a random port), answers each chat request with the next recorded reply
//! (status, headers, body, optional delay; or a stream of pieces written one by one, with
//! pauses, as chunked server-sent events), and keeps what it was sent so tests can check the
//! headers, the model and the messages. Other paths (`GET /v1/models`, Ollama's
//! `/api/show`) are probes: answered from a fixed table (404 when absent), recorded apart,
//! and they use up no reply. HTTP/1.1, one request per connection. It serves at most as
//! many chat requests as it has replies, and stops when dropped.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the idle server looks for a new connection or the order to stop.
const POLL: Duration = Duration::from_millis(2);
/// How long the server waits for a client to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests larger than this are not read (the designer's are tens of KiB).
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// How long the server waits after reading the request before answering.
    pub delay: Duration,
    /// Sends no Content-Length: the body ends when the connection closes, so the client
    /// cannot know its size in advance.
    pub close_delimited: bool,
    /// A streamed body: each piece written as an HTTP chunk after its pause.
    pub pieces: Vec<(Duration, Vec<u8>)>,
    /// How long the connection stays open after the last piece (servers keep it alive
    /// after `[DONE]`).
    pub hold_open: Duration,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into(),
            delay: Duration::ZERO,
            close_delimited: false,
            pieces: Vec::new(),
            hold_open: Duration::ZERO,
        }
    }

    /// A streamed answer: server-sent events, each piece after its pause.
    pub fn stream(pieces: Vec<(Duration, String)>) -> Self {
        Reply {
            headers: vec![(
                "Content-Type".into(),
                "text/event-stream; charset=utf-8".into(),
            )],
            pieces: pieces
                .into_iter()
                .map(|(d, p)| (d, p.into_bytes()))
                .collect(),
            ..Reply::new(200, Vec::new())
        }
    }

    /// A chat answer streamed as llama-cpp-python streams it: the role, `content` in pieces
    /// of a few characters, an empty delta with `finish`, then `data: [DONE]`.
    pub fn streamed_chat(content: &str, finish: &str) -> Self {
        let mut pieces = vec![(Duration::ZERO, sse_role())];
        pieces.extend(token_pieces(content).map(|t| (Duration::ZERO, sse_content(&t))));
        pieces.push((Duration::ZERO, sse_finish(finish)));
        pieces.push((Duration::ZERO, SSE_DONE.to_string()));
        Reply::stream(pieces)
    }

    /// Keeps the connection open this long after the last piece.
    pub fn held_open(mut self, hold: Duration) -> Self {
        self.hold_open = hold;
        self
    }

    /// A successful chat completion whose assistant message is `content`.
    pub fn chat(content: &str) -> Self {
        let body = serde_json::json!({
            "id": "chatcmpl-replay",
            "object": "chat.completion",
            "created": 0,
            "model": "replay",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop"
            }],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        });
        Reply::new(200, body.to_string())
    }

    /// An OpenAI-style error reply.
    pub fn error(status: u16, message: &str) -> Self {
        let body = serde_json::json!({
            "error": {"message": message, "type": "invalid_request_error", "code": null}
        });
        Reply::new(status, body.to_string())
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn close_delimited(mut self) -> Self {
        self.close_delimited = true;
        self
    }
}

/// An answer SmolLM2-135M-Instruct gave to `mephisto design --llm` through llama-cpp-python,
/// recorded in `DESIGNER_DIR/tests/data/smollm2/NAME.json` (`designer_dir`: the designer
/// crate's folder, as the calling test finds it): the prompt it answered, the recorded answer itself, and the answer streamed back as the
/// server streamed it.
pub fn smollm2_answer(designer_dir: &str, name: &str) -> (String, String, Reply) {
    let path = format!("{designer_dir}/tests/data/smollm2/{name}.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let record: serde_json::Value = serde_json::from_str(&text).unwrap();
    let answer = record["answer"].as_str().unwrap().to_string();
    let reply = Reply::streamed_chat(&answer, record["finish_reason"].as_str().unwrap());
    (
        record["prompt"].as_str().unwrap().to_string(),
        answer,
        reply,
    )
}

/// `content` cut into pieces of about four characters, as a tokenizer would.
pub fn token_pieces(content: &str) -> impl Iterator<Item = String> + '_ {
    let chars: Vec<char> = content.chars().collect();
    let pieces: Vec<String> = chars.chunks(4).map(|c| c.iter().collect()).collect();
    pieces.into_iter()
}

/// The event that opens a streamed answer.
pub fn sse_role() -> String {
    sse_event(&serde_json::json!({"role": "assistant"}), None)
}

/// An event carrying a piece of the answer.
pub fn sse_content(piece: &str) -> String {
    sse_event(&serde_json::json!({ "content": piece }), None)
}

/// The event that says why the answer ended.
pub fn sse_finish(reason: &str) -> String {
    sse_event(&serde_json::json!({}), Some(reason))
}

/// A keep-alive comment, as sse-starlette sends every 15 s while a prompt is read.
pub const SSE_PING: &str = ": ping - 2026-12-07 07:55:19.244054+00:00\n\n";

/// The end marker.
pub const SSE_DONE: &str = "data: [DONE]\n\n";

fn sse_event(delta: &serde_json::Value, finish: Option<&str>) -> String {
    let chunk = serde_json::json!({
        "id": "chatcmpl-replay", "model": "replay", "created": 0,
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
    });
    format!("data: {chunk}\n\n")
}

/// How a streamed reply went: pieces written before the client hung up (or all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOutcome {
    pub written: usize,
    pub total: usize,
    /// The client closed the connection before the stream ended.
    pub hung_up: bool,
}

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The value of a header, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics when it is not (the client must send JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the request body is JSON")
    }
}

/// What the server shares with its thread.
#[derive(Default)]
struct Record {
    requests: Mutex<Vec<RecordedRequest>>,
    probes: Mutex<Vec<RecordedRequest>>,
    streams: Mutex<Vec<StreamOutcome>>,
}

pub struct ReplayServer {
    addr: SocketAddr,
    record: Arc<Record>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ReplayServer {
    /// Starts serving `replies`, in order, one per chat request; probes get 404.
    pub fn start(replies: Vec<Reply>) -> Self {
        ReplayServer::with_probes(replies, Vec::new())
    }

    /// Like [`ReplayServer::start`], with answers for probes by path (`/v1/models`).
    pub fn with_probes(replies: Vec<Reply>, probes: Vec<(&str, Reply)>) -> Self {
        let probes: Vec<(String, Reply)> = probes
            .into_iter()
            .map(|(p, r)| (p.to_string(), r))
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port on 127.0.0.1");
        listener
            .set_nonblocking(true)
            .expect("make the listener non-blocking");
        let addr = listener.local_addr().expect("the listener's address");
        let record = Arc::new(Record::default());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let record = record.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("replay-server".into())
                .spawn(move || serve(listener, replies, &probes, &record, &stop))
                .expect("start the replay server thread")
        };
        ReplayServer {
            addr,
            record,
            stop,
            thread: Some(thread),
        }
    }

    /// The base URL to configure a client with, e.g. `http://127.0.0.1:40123/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The chat requests received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.record.requests.lock().unwrap().clone()
    }

    /// The probes received so far.
    pub fn probes(&self) -> Vec<RecordedRequest> {
        self.record.probes.lock().unwrap().clone()
    }

    /// How each streamed reply went, in order.
    pub fn streams(&self) -> Vec<StreamOutcome> {
        self.record.streams.lock().unwrap().clone()
    }
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether a path is a chat request (the rest are probes).
fn is_chat(path: &str) -> bool {
    path.ends_with("/chat/completions") || path.ends_with("/api/chat")
}

fn serve(
    listener: TcpListener,
    replies: Vec<Reply>,
    probes: &[(String, Reply)],
    record: &Record,
    stop: &AtomicBool,
) {
    let mut replies = replies.into_iter().peekable();
    while replies.peek().is_some() && !stop.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(POLL);
                continue;
            }
            Err(_) => return,
        };
        // A client that connects and sends nothing usable gets no reply and uses none up.
        let Some(request) = read_request(&stream) else {
            continue;
        };
        if !is_chat(&request.path) {
            let reply = probes
                .iter()
                .find(|(path, _)| *path == request.path)
                .map(|(_, reply)| reply.clone())
                .unwrap_or_else(|| Reply::new(404, r#"{"detail":"Not Found"}"#));
            record.probes.lock().unwrap().push(request);
            write_reply(stream, &reply, record, stop);
            continue;
        }
        record.requests.lock().unwrap().push(request);
        let reply = replies.next().expect("peeked above");
        if wait(reply.delay, stop) {
            write_reply(stream, &reply, record, stop);
        }
    }
}

fn read_request(stream: &TcpStream) -> Option<RecordedRequest> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(READ_TIMEOUT)).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(Some(0), |(_, v)| v.parse::<usize>().ok())?;
    if length > MAX_REQUEST_BYTES {
        return None;
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(RecordedRequest {
        method,
        path,
        headers,
        body,
    })
}

/// Waits `delay` unless told to stop first; true when the wait ran its course.
fn wait(delay: Duration, stop: &AtomicBool) -> bool {
    let end = Instant::now() + delay;
    while Instant::now() < end {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep(POLL.min(end - Instant::now()));
    }
    true
}

fn write_reply(mut stream: TcpStream, reply: &Reply, record: &Record, stop: &AtomicBool) {
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let streamed = !reply.pieces.is_empty();
    if streamed {
        head.push_str("Transfer-Encoding: chunked\r\n");
    } else if !reply.close_delimited {
        head.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    // The client may hang up early (a timeout, a refused size): that is the test's business.
    let sent = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(&reply.body))
        .and_then(|()| stream.flush());
    if streamed {
        let mut written = 0;
        let mut hung_up = sent.is_err();
        for (pause, piece) in &reply.pieces {
            if hung_up || !wait(*pause, stop) {
                break;
            }
            let chunk = [format!("{:x}\r\n", piece.len()).as_bytes(), piece, b"\r\n"].concat();
            match stream.write_all(&chunk).and_then(|()| stream.flush()) {
                Ok(()) => written += 1,
                Err(_) => hung_up = true,
            }
            // A closed connection shows on the write after the client's close: look for it
            // at once, so a hang-up is seen at the piece it happened.
            if !hung_up && client_closed(&stream) {
                hung_up = true;
            }
        }
        if !hung_up {
            let _ = stream.write_all(b"0\r\n\r\n").and_then(|()| stream.flush());
            wait(reply.hold_open, stop);
        }
        record.streams.lock().unwrap().push(StreamOutcome {
            written,
            total: reply.pieces.len(),
            hung_up,
        });
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// Whether the client has closed its end: a read that returns end-of-file at once.
fn client_closed(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let closed = matches!(stream.peek(&mut probe), Ok(0));
    let _ = stream.set_nonblocking(false);
    closed
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
