//! One HTTP exchange with a chat endpoint, on a thread of its own so the design job can
//! watch the clock and a newer request while the model answers: the thread sends the
//! request, reads the answer as it arrives (server-sent events from OpenAI-compatible
//! servers, one JSON object per line from Ollama, or a whole completion from a server that
//! does not stream) and passes on what it reads. When the job gives up (a newer prompt, a
//! silence too long) it sets the cancel flag; the thread then drops the connection at the
//! next byte it reads, which is what stops a server generating.

use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;

use serde_json::Value;

use super::extract::preview;

/// What the exchange thread reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A data event without text (the assistant's role, an empty delta, reasoning).
    Activity,
    /// A piece of the answer (about one token).
    Content(String),
    /// Why the model stopped (`stop`, `length`).
    Finish(String),
    /// The end marker (`data: [DONE]`, `"done": true`).
    Done,
    /// The connection closed.
    End,
    /// A whole, non-streamed completion.
    Whole {
        text: String,
        finish: Option<String>,
    },
    /// The server answered with an error inside the stream, or something unreadable.
    Broken(String),
    /// The answer grew past the reading limit.
    Overflow,
}

/// How an answer's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `text/event-stream`: `data: {json}` lines, `: ping` comments, `data: [DONE]`.
    Sse,
    /// `application/x-ndjson` (Ollama): one JSON object per line, the last with `done`.
    Ndjson,
    /// Anything else: one JSON completion.
    Whole,
}

impl Framing {
    pub fn of(content_type: Option<&str>) -> Framing {
        let content_type = content_type.unwrap_or_default().to_ascii_lowercase();
        if content_type.starts_with("text/event-stream") {
            Framing::Sse
        } else if content_type.contains("ndjson") {
            Framing::Ndjson
        } else {
            Framing::Whole
        }
    }
}

/// Reads an answer's body and sends what it holds, until the end, a send that nobody
/// receives, or the cancel flag. Returns without reading further in all three cases,
/// which drops (closes) the connection.
pub fn read_answer(body: impl Read, framing: Framing, tx: &Sender<Event>, cancel: &AtomicBool) {
    let mut reader = BufReader::new(body);
    if framing == Framing::Whole {
        let mut bytes = Vec::new();
        let event = match reader.read_to_end(&mut bytes) {
            Ok(_) => parse_whole(&bytes),
            Err(e) => broke_off(&e),
        };
        let _ = tx.send(event);
        return;
    }
    let mut line = String::new();
    loop {
        if cancel.load(Ordering::Relaxed) {
            return;
        }
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => {
                let _ = tx.send(Event::End);
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = tx.send(broke_off(&e));
                return;
            }
        }
        if cancel.load(Ordering::Relaxed) {
            return;
        }
        let events = match framing {
            Framing::Sse => parse_sse_line(line.trim_end_matches(['\r', '\n'])),
            Framing::Ndjson => parse_ndjson_line(line.trim()),
            Framing::Whole => unreachable!("read whole above"),
        };
        for event in events {
            let done = event == Event::Done;
            if tx.send(event).is_err() || done {
                return;
            }
        }
    }
}

/// What a failed read means: the body limit, or a broken connection.
fn broke_off(error: &std::io::Error) -> Event {
    let over_limit = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<ureq::Error>())
        .is_some_and(|e| matches!(e, ureq::Error::BodyExceedsLimit(_)));
    if over_limit {
        Event::Overflow
    } else {
        Event::Broken(format!("the answer broke off: {error}"))
    }
}

/// The events of one line of a server-sent event stream. Comments (`: ping …`, sent while
/// a long prompt is read), `event:`/`id:` lines and blank lines carry nothing.
pub fn parse_sse_line(line: &str) -> Vec<Event> {
    let Some(data) = line.strip_prefix("data:") else {
        return Vec::new();
    };
    let data = data.trim();
    if data == "[DONE]" {
        return vec![Event::Done];
    }
    match serde_json::from_str::<Value>(data) {
        Ok(chunk) => openai_chunk(&chunk),
        Err(_) => vec![Event::Broken(format!(
            "a streamed event is not JSON: {}",
            preview(data)
        ))],
    }
}

/// The events of an OpenAI-style chunk: the delta's text and the finish reason.
fn openai_chunk(chunk: &Value) -> Vec<Event> {
    if let Some(error) = chunk.get("error") {
        let message = error
            .get("message")
            .or(Some(error))
            .and_then(Value::as_str)
            .unwrap_or("an error without a message");
        return vec![Event::Broken(format!("the server reported: {message}"))];
    }
    let choice = chunk.get("choices").and_then(|c| c.get(0));
    let content = choice
        .and_then(|c| c.get("delta"))
        .and_then(|d| d.get("content"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut events = vec![text_event(content)];
    if let Some(finish) = choice
        .and_then(|c| c.get("finish_reason"))
        .and_then(Value::as_str)
    {
        events.push(Event::Finish(finish.to_string()));
    }
    events
}

/// A piece of the answer, or a sign of life when it carries no text.
fn text_event(content: &str) -> Event {
    if content.is_empty() {
        Event::Activity
    } else {
        Event::Content(content.to_string())
    }
}

/// The events of one line of Ollama's streamed answer.
pub fn parse_ndjson_line(line: &str) -> Vec<Event> {
    if line.is_empty() {
        return Vec::new();
    }
    let Ok(chunk) = serde_json::from_str::<Value>(line) else {
        return vec![Event::Broken(format!(
            "a streamed line is not JSON: {}",
            preview(line)
        ))];
    };
    if let Some(error) = chunk.get("error").and_then(Value::as_str) {
        return vec![Event::Broken(format!("the server reported: {error}"))];
    }
    let content = chunk
        .get("message")
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut events = vec![text_event(content)];
    if chunk.get("done").and_then(Value::as_bool) == Some(true) {
        let reason = chunk
            .get("done_reason")
            .and_then(Value::as_str)
            .unwrap_or("stop");
        events.push(Event::Finish(reason.to_string()));
        events.push(Event::Done);
    }
    events
}

/// A whole completion: OpenAI's `choices[0].message` or Ollama's `message`.
pub fn parse_whole(bytes: &[u8]) -> Event {
    let text = String::from_utf8_lossy(bytes);
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return Event::Broken(format!(
            "expected a JSON object with `choices`, got {}",
            preview(&text)
        ));
    };
    if let Some(message) = value
        .get("message")
        .filter(|_| value.get("choices").is_none())
    {
        return Event::Whole {
            text: message
                .get("content")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            finish: value
                .get("done_reason")
                .and_then(Value::as_str)
                .map(str::to_string),
        };
    }
    let Some(choices) = value.get("choices").and_then(Value::as_array) else {
        return Event::Broken(format!(
            "expected a JSON object with `choices`, got {}",
            preview(&text)
        ));
    };
    let Some(choice) = choices.first() else {
        return Event::Broken("it has no choices".to_string());
    };
    Event::Whole {
        text: choice
            .get("message")
            .and_then(|m| m.get("content"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        finish: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
    }
}

/// A flag shared with an exchange thread that tells it to hang up.
#[derive(Debug, Clone, Default)]
pub struct Hangup(Arc<AtomicBool>);

impl Hangup {
    pub fn now(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn flag(&self) -> &AtomicBool {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::channel;

    use super::*;

    /// What `read_answer` passes on for `body`.
    fn events(body: &str, framing: Framing) -> Vec<Event> {
        let (tx, rx) = channel();
        read_answer(body.as_bytes(), framing, &tx, &AtomicBool::new(false));
        drop(tx);
        rx.into_iter().collect()
    }

    #[test]
    fn server_sent_events_skip_pings_and_stop_at_done() {
        let body = ": ping - 2026-12-07 07:55:19.244054+00:00\n\n\
            data: {\"choices\": [{\"index\": 0, \"delta\": {\"role\": \"assistant\"}, \"finish_reason\": null}]}\n\n\
            data: {\"choices\": [{\"delta\": {\"content\": \"{\\\"a\\\"\"}, \"finish_reason\": null}]}\n\n\
            data: {\"choices\": [{\"delta\": {\"content\": \": 1}\"}, \"finish_reason\": null}]}\n\n\
            data: {\"choices\": [{\"delta\": {}, \"finish_reason\": \"stop\"}]}\n\n\
            data: [DONE]\n\n\
            data: {\"choices\": [{\"delta\": {\"content\": \"after the end\"}}]}\n\n";
        assert_eq!(
            events(body, Framing::Sse),
            [
                Event::Activity,
                Event::Content("{\"a\"".into()),
                Event::Content(": 1}".into()),
                Event::Activity,
                Event::Finish("stop".into()),
                Event::Done,
            ]
        );
    }

    #[test]
    fn a_stream_without_an_end_marker_ends_with_the_connection() {
        assert_eq!(events("", Framing::Sse), [Event::End]);
        let body = "data: {\"choices\": [{\"delta\": {\"content\": \"x\"}}]}\n";
        assert_eq!(
            events(body, Framing::Sse),
            [Event::Content("x".into()), Event::End]
        );
    }

    #[test]
    fn errors_inside_a_stream_are_reported() {
        let body = "data: {\"error\": {\"message\": \"out of memory\"}}\n";
        assert_eq!(
            events(body, Framing::Sse)[0],
            Event::Broken("the server reported: out of memory".into())
        );
        assert!(matches!(
            events("data: not json\n", Framing::Sse)[0],
            Event::Broken(_)
        ));
    }

    #[test]
    fn ollama_lines_carry_text_and_the_reason_it_stopped() {
        let body = "{\"message\": {\"role\": \"assistant\", \"content\": \"hi\"}, \"done\": false}\n\
                    {\"message\": {\"role\": \"assistant\", \"content\": \"\"}, \"done\": true, \"done_reason\": \"length\"}\n";
        assert_eq!(
            events(body, Framing::Ndjson),
            [
                Event::Content("hi".into()),
                Event::Activity,
                Event::Finish("length".into()),
                Event::Done
            ]
        );
    }

    #[test]
    fn whole_completions_of_both_kinds_are_read() {
        let openai = r#"{"choices": [{"message": {"content": "x"}, "finish_reason": "length"}]}"#;
        assert_eq!(
            parse_whole(openai.as_bytes()),
            Event::Whole {
                text: "x".into(),
                finish: Some("length".into())
            }
        );
        let ollama = r#"{"message": {"content": "y"}, "done": true, "done_reason": "stop"}"#;
        assert_eq!(
            parse_whole(ollama.as_bytes()),
            Event::Whole {
                text: "y".into(),
                finish: Some("stop".into())
            }
        );
        assert_eq!(
            parse_whole(br#"{"choices": []}"#),
            Event::Broken("it has no choices".into())
        );
    }

    #[test]
    fn a_cancelled_read_stops_at_once() {
        let (tx, rx) = channel();
        let body = "data: {\"choices\": [{\"delta\": {\"content\": \"x\"}}]}\n".repeat(10);
        read_answer(body.as_bytes(), Framing::Sse, &tx, &AtomicBool::new(true));
        drop(tx);
        assert_eq!(rx.into_iter().count(), 0);
    }
}
