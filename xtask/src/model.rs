//! A fake OpenAI-compatible model server for the e2e scenarios: answers
//! `POST /v1/chat/completions`, "reply exactly X" with X, anything else with `Model: <text>`,
//! and records every request so scenarios can check what was sent (history, system prompt).

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
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let last = request["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_owned();
    if let Ok(mut r) = requests.lock() {
        r.push(request);
    }
    let wait = delay.lock().map_or(0, |d| *d);
    if wait > 0 {
        std::thread::sleep(Duration::from_millis(wait));
    }
    let answer = match last.to_ascii_lowercase().find("reply exactly ") {
        Some(i) => last[i + "reply exactly ".len()..].trim().to_owned(),
        None => format!("Model: {last}"),
    };
    let payload =
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}]})
            .to_string();
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    )?;
    Ok(())
}
