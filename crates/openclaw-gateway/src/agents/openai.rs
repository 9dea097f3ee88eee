//! An OpenAI-compatible chat-completions agent (OpenAI, Ollama, vLLM, llama.cpp, OpenRouter).

use std::time::Duration;

use async_trait::async_trait;
use openclaw_sms::{Agent, AgentError, AgentReply, AgentTurn, HistoryRole};
use openclaw_twilio::escape::Escaped;
use rand::Rng as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};

use super::SMS_SYSTEM_PROMPT;
use super::content::user_content;

/// Largest response body read from the model server.
pub(super) const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// First retry delay; doubled per attempt, with jitter.
const BASE_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait honoured from a `Retry-After` header.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Settings of an [`OpenAiAgent`].
#[derive(Debug)]
pub(crate) struct OpenAiOptions {
    /// Base URL ending before `/chat/completions` (e.g. `http://127.0.0.1:11434/v1`).
    pub(crate) base_url: String,
    /// Model id sent in each request.
    pub(crate) model: String,
    /// Bearer token, when the server needs one.
    pub(crate) api_key: Option<SecretString>,
    /// Time allowed for one request.
    pub(crate) timeout: Duration,
    /// Attempts per turn on 429, 5xx and connection errors.
    pub(crate) max_attempts: u32,
    /// Whether the model takes images (`models[].input` contains `"image"`).
    pub(crate) image_input: bool,
    /// Largest total of image bytes per turn.
    pub(crate) media_budget: u64,
}

/// Talks to `POST {base_url}/chat/completions`.
#[derive(Debug)]
pub(crate) struct OpenAiAgent {
    options: OpenAiOptions,
    endpoint: String,
    name: String,
    http: reqwest::Client,
}

impl OpenAiAgent {
    pub(crate) fn new(options: OpenAiOptions) -> anyhow::Result<Self> {
        let base = options.base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            anyhow::bail!("baseUrl must start with http:// or https://");
        }
        let endpoint = format!("{base}/chat/completions");
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .build()?;
        let name = format!("openai:{}", options.model);
        Ok(Self {
            options,
            endpoint,
            name,
            http,
        })
    }

    fn request_body(&self, turn: &AgentTurn) -> Value {
        let mut messages = vec![json!({"role": "system", "content": SMS_SYSTEM_PROMPT})];
        for line in &turn.history {
            let role = match line.role {
                HistoryRole::User => "user",
                HistoryRole::Assistant => "assistant",
            };
            messages.push(json!({"role": role, "content": line.text}));
        }
        let content = user_content(turn, self.options.image_input, self.options.media_budget);
        messages.push(json!({"role": "user", "content": content}));
        json!({"model": self.options.model, "messages": messages})
    }

    async fn attempt(&self, body: &Value) -> Result<String, Attempt> {
        let mut request = self.http.post(&self.endpoint).json(body);
        if let Some(key) = &self.options.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(err) if err.is_timeout() => {
                return Err(Attempt::retry(
                    format!("model server timed out after {:?}", self.options.timeout),
                    None,
                ));
            }
            Err(err) if err.is_connect() => {
                return Err(Attempt::retry(
                    format!("cannot connect to the model server at {}", self.endpoint),
                    None,
                ));
            }
            Err(err) => {
                return Err(Attempt::retry(
                    format!("model request failed: {}", err.without_url()),
                    None,
                ));
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
        let bytes = read_limited(response)
            .await
            .map_err(|m| Attempt::retry(m, None))?;
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(Attempt::retry(
                format!("model server answered {status}"),
                retry_after,
            ));
        }
        if !status.is_success() {
            let detail = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| {
                    v.pointer("/error/message")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or_default();
            return Err(Attempt::Permanent(
                format!("model server answered {status} {detail}")
                    .trim()
                    .to_owned(),
            ));
        }
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|_| Attempt::Permanent("model server returned malformed JSON".to_owned()))?;
        let content = value.pointer("/choices/0/message/content");
        match content {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Array(parts)) => Ok(parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("")),
            Some(Value::Null) | None => Err(Attempt::Permanent(
                "model answer has no choices[0].message.content".to_owned(),
            )),
            Some(_) => Err(Attempt::Permanent(
                "model answer content is not text".to_owned(),
            )),
        }
    }
}

enum Attempt {
    Retry {
        message: String,
        after: Option<Duration>,
    },
    Permanent(String),
}

impl Attempt {
    fn retry(message: String, after: Option<Duration>) -> Self {
        Self::Retry { message, after }
    }
}

pub(super) async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the model answer failed: {}", e.without_url()))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!(
                "model answer is larger than {MAX_RESPONSE_BYTES} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[async_trait]
impl Agent for OpenAiAgent {
    fn name(&self) -> &str {
        &self.name
    }

    async fn reply(&self, turn: &AgentTurn) -> Result<AgentReply, AgentError> {
        let body = self.request_body(turn);
        let mut last = String::new();
        for attempt in 0..self.options.max_attempts.max(1) {
            match self.attempt(&body).await {
                Ok(text) => return Ok(AgentReply { text }),
                Err(Attempt::Permanent(message)) => return Err(AgentError::new(message, false)),
                Err(Attempt::Retry { message, after }) => {
                    tracing::warn!(agent = %self.name, attempt = attempt + 1, "{}", Escaped(&message));
                    last = message;
                    if attempt + 1 < self.options.max_attempts {
                        let backoff = BASE_BACKOFF * 2u32.saturating_pow(attempt);
                        let jitter = rand::rng().random_range(0.8..1.2);
                        tokio::time::sleep(after.unwrap_or_else(|| backoff.mul_f64(jitter))).await;
                    }
                }
            }
        }
        Err(AgentError::new(last, true))
    }
}

#[cfg(test)]
mod tests {
    use openclaw_sms::HistoryTurn;

    use super::*;

    fn agent(url: &str, attempts: u32) -> OpenAiAgent {
        OpenAiAgent::new(OpenAiOptions {
            base_url: format!("{url}/v1"),
            model: "m1".into(),
            api_key: Some(SecretString::from("sk-secret-key")),
            timeout: Duration::from_secs(5),
            max_attempts: attempts,
            image_input: false,
            media_budget: 1024,
        })
        .unwrap()
    }

    fn turn(text: &str, history: Vec<HistoryTurn>) -> AgentTurn {
        AgentTurn {
            channel: "sms".into(),
            account_id: "default".into(),
            sender: "+15557654321".into(),
            message_id: "SM1".into(),
            text: text.into(),
            media: vec![],
            history,
            received_at_ms: 0,
        }
    }

    #[tokio::test]
    async fn sends_system_prompt_history_and_message() {
        let mut server = mockito::Server::new_async().await;
        let expected = json!({"model": "m1", "messages": [
            {"role": "system", "content": SMS_SYSTEM_PROMPT},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "reply exactly SMS pong"},
        ]});
        let mock = server
            .mock("POST", "/v1/chat/completions")
            .match_header("authorization", "Bearer sk-secret-key")
            .match_body(mockito::Matcher::Json(expected))
            .with_body(r#"{"choices":[{"message":{"role":"assistant","content":"SMS pong"}}]}"#)
            .create_async()
            .await;
        let history = vec![
            HistoryTurn {
                role: HistoryRole::User,
                text: "hi".into(),
            },
            HistoryTurn {
                role: HistoryRole::Assistant,
                text: "hello".into(),
            },
        ];
        let reply = agent(&server.url(), 1)
            .reply(&turn("reply exactly SMS pong", history))
            .await
            .unwrap();
        assert_eq!(reply.text, "SMS pong");
        mock.assert_async().await;
    }

    #[tokio::test]
    async fn retries_429_then_succeeds() {
        let mut server = mockito::Server::new_async().await;
        let limited = server
            .mock("POST", "/v1/chat/completions")
            .with_status(429)
            .with_header("retry-after", "0")
            .expect(1)
            .create_async()
            .await;
        let reply = agent(&server.url(), 3);
        let ok = server
            .mock("POST", "/v1/chat/completions")
            .with_body(r#"{"choices":[{"message":{"content":"ok"}}]}"#)
            .expect(1)
            .create_async()
            .await;
        // mockito serves mocks in creation order until each one's expectation is met.
        assert_eq!(reply.reply(&turn("x", vec![])).await.unwrap().text, "ok");
        limited.assert_async().await;
        ok.assert_async().await;
    }

    #[tokio::test]
    async fn permanent_and_exhausted_failures_are_classed() {
        let mut server = mockito::Server::new_async().await;
        let _bad = server
            .mock("POST", "/v1/chat/completions")
            .with_status(400)
            .with_body(r#"{"error":{"message":"bad model"}}"#)
            .create_async()
            .await;
        let err = agent(&server.url(), 3)
            .reply(&turn("x", vec![]))
            .await
            .unwrap_err();
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("bad model"), "{err}");
        assert!(!err.to_string().contains("sk-secret-key"));

        let mut server = mockito::Server::new_async().await;
        let down = server
            .mock("POST", "/v1/chat/completions")
            .with_status(503)
            .with_header("retry-after", "0")
            .expect(2)
            .create_async()
            .await;
        let err = agent(&server.url(), 2)
            .reply(&turn("x", vec![]))
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err}");
        down.assert_async().await;
    }

    #[tokio::test]
    async fn malformed_answers_are_errors() {
        let mut server = mockito::Server::new_async().await;
        let _m = server
            .mock("POST", "/v1/chat/completions")
            .with_body("not json")
            .create_async()
            .await;
        let err = agent(&server.url(), 1)
            .reply(&turn("x", vec![]))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("malformed JSON"), "{err}");
    }
}

#[cfg(test)]
mod image_tests {
    use openclaw_sms::MediaAttachment;

    use super::*;

    #[tokio::test]
    async fn images_go_as_parts_when_the_model_takes_images() {
        let dir = std::env::temp_dir().join(format!("openclaw-openai-img-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.png");
        std::fs::write(&path, b"\x89PNG").unwrap();
        let mut server = mockito::Server::new_async().await;
        let expected = json!({"model": "m1", "messages": [
            {"role": "system", "content": SMS_SYSTEM_PROMPT},
            {"role": "user", "content": [
                {"type": "text", "text": "what is this"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
            ]},
        ]});
        let mock = server
            .mock("POST", "/v1/chat/completions")
            .match_body(mockito::Matcher::Json(expected))
            .with_body(r#"{"choices":[{"message":{"content":"a pixel"}}]}"#)
            .create_async()
            .await;
        let agent = OpenAiAgent::new(OpenAiOptions {
            base_url: format!("{}/v1", server.url()),
            model: "m1".into(),
            api_key: None,
            timeout: Duration::from_secs(5),
            max_attempts: 1,
            image_input: true,
            media_budget: 1024,
        })
        .unwrap();
        let turn = AgentTurn {
            channel: "sms".into(),
            account_id: "default".into(),
            sender: "+15557654321".into(),
            message_id: "SM1".into(),
            text: "what is this".into(),
            media: vec![MediaAttachment {
                content_type: "image/png".into(),
                path,
            }],
            history: vec![],
            received_at_ms: 0,
        };
        assert_eq!(agent.reply(&turn).await.unwrap().text, "a pixel");
        mock.assert_async().await;
        std::fs::remove_dir_all(dir).unwrap();
    }
}
