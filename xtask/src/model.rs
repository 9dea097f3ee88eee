//! A fake OpenAI-compatible model server for the e2e scenarios: answers
//! `POST /v1/chat/completions`, "reply exactly X" with X, anything else with `Model: <text>`,
//! and records every request so scenarios can check what was sent (history, system prompt).
//! It also serves what the real OpenClaw gateway needs from a model provider: streamed
//! answers (`stream: true`, server-sent events) and `GET /v1/models`. The text answered is
//! that of the last user message, where OpenClaw wraps it: content parts, a `[timestamp] `
//! prefix and a `Runtime: …` trailer, and its own internal-context user message after it.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// A running fake model server.
pub(crate) struct ModelServer {
    pub(crate) port: u16,
    pub(crate) requests: Arc<Mutex<Vec<Value>>>,
    /// Milliseconds each answer waits (to keep messages in flight).
    pub(crate) delay_ms: Arc<Mutex<u64>>,
}

impl ModelServer {
    pub(crate) fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let delay_ms = Arc::new(Mutex::new(0));
        let (reqs, delay) = (Arc::clone(&requests), Arc::clone(&delay_ms));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (reqs, delay) = (Arc::clone(&reqs), Arc::clone(&delay));
                std::thread::spawn(move || {
                    let _ = serve(stream, &reqs, &delay);
                });
            }
        });
        Ok(Self {
            port,
            requests,
            delay_ms,
        })
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    pub(crate) fn requests(&self) -> Vec<Value> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn serve(
    stream: TcpStream,
    requests: &Mutex<Vec<Value>>,
    delay: &Mutex<u64>,
) -> anyhow::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut stream = stream;
    if line.starts_with("GET ") {
        let payload =
            json!({"object": "list", "data": [{"id": "tiny", "object": "model"}]}).to_string();
        return write_json(&mut stream, &payload);
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let last = last_user_text(&request);
    let streamed = request["stream"].as_bool().unwrap_or(false);
    if let Ok(mut r) = requests.lock() {
        r.push(request);
    }
    let wait = delay.lock().map_or(0, |d| *d);
    if wait > 0 {
        std::thread::sleep(Duration::from_millis(wait));
    }
    let answer = answer_to(&last);
    if streamed {
        return write_events(&mut stream, &answer);
    }
    let payload =
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}]})
            .to_string();
    write_json(&mut stream, &payload)
}

/// "reply exactly X" (to the end of its line) gives X; anything else `Model: <first line>`.
fn answer_to(text: &str) -> String {
    match text.to_ascii_lowercase().find("reply exactly ") {
        Some(i) => text[i + "reply exactly ".len()..]
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
        None => format!("Model: {}", text.lines().next().unwrap_or_default().trim()),
    }
}

/// The text of the last user message that is not OpenClaw's internal context, without
/// OpenClaw's `[timestamp] ` prefix.
fn last_user_text(request: &Value) -> String {
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let text = messages
        .iter()
        .rev()
        .filter(|m| m["role"] == "user")
        .map(|m| content_text(&m["content"]))
        .find(|t| !t.starts_with("<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT"))
        .unwrap_or_default();
    match text
        .strip_prefix('[')
        .and_then(|rest| rest.split_once("] "))
    {
        Some((_, rest)) => rest.to_owned(),
        None => text,
    }
}

/// The text of a message's content: a string, or the `text` parts joined.
pub(crate) fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn write_json(stream: &mut TcpStream, payload: &str) -> anyhow::Result<()> {
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    )?;
    Ok(())
}

/// The answer as OpenAI's streamed chunks: the text, then the stop with usage, then `[DONE]`.
fn write_events(stream: &mut TcpStream, answer: &str) -> anyhow::Result<()> {
    let chunk = |choice: Value| {
        json!({"id": "fake-1", "object": "chat.completion.chunk", "created": 0, "model": "tiny",
            "choices": [choice],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
    };
    let first = chunk(
        json!({"index": 0, "delta": {"role": "assistant", "content": answer}, "finish_reason": null}),
    );
    let last = chunk(json!({"index": 0, "delta": {}, "finish_reason": "stop"}));
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\ndata: {first}\n\ndata: {last}\n\ndata: [DONE]\n\n"
    )?;
    Ok(())
}
