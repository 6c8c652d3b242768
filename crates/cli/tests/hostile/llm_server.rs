//! A hostile OpenAI-compatible server on 127.0.0.1: it answers every chat request with the
//! next of its scripted replies (the last one repeated) and records what it was sent, so a
//! test can check that nothing from a file the program may not read reached it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One scripted answer.
#[derive(Clone)]
pub enum Answer {
    /// A chat completion whose message is this text.
    Chat(String),
    /// These raw bytes, as the whole HTTP response.
    Raw(Vec<u8>),
    /// Nothing for this long, then close.
    Stall(Duration),
}

pub struct Server {
    pub url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start(answers: Vec<Answer>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { continue };
                let answer = answers[n.min(answers.len() - 1)].clone();
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || serve(stream, answer, &seen));
            }
        });
        Server { url, requests }
    }

    /// Every request body so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(mut stream: TcpStream, answer: Answer, seen: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut data = Vec::new();
    let mut buffer = [0u8; 8192];
    let body = loop {
        let Ok(n) = stream.read(&mut buffer) else {
            return;
        };
        if n == 0 {
            return;
        }
        data.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if body.len() >= length {
                break body.to_string();
            }
        }
    };
    seen.lock().unwrap().push(body);
    let response = match answer {
        Answer::Chat(text) => {
            let json = serde_json::json!({
                "choices": [{"message": {"role": "assistant", "content": text}}]
            })
            .to_string();
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
                json.len()
            )
            .into_bytes()
        }
        Answer::Raw(bytes) => bytes,
        Answer::Stall(time) => {
            std::thread::sleep(time);
            return;
        }
    };
    let _ = stream.write_all(&response);
}
