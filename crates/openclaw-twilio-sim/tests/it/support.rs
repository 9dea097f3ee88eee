//! Shared helpers: a configured simulator, a recording webhook server, a raw REST client.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::any;
use openclaw_twilio_sim::{
    SimAccount, SimConfig, SimHandle, SimMessagingService, SimNumber, Simulator,
};
use serde_json::Value;

pub(crate) type TestResult = Result<(), Box<dyn std::error::Error>>;

pub(crate) const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
pub(crate) const TOKEN: &str = "sim-auth-token";
pub(crate) const KEY_SID: &str = "SK0123456789abcdef0123456789abcdef";
pub(crate) const KEY_SECRET: &str = "sim-key-secret";
pub(crate) const NUMBER: &str = "+15550001111";
pub(crate) const SERVICE_NUMBER: &str = "+15550002222";
pub(crate) const SERVICE: &str = "MG0123456789abcdef0123456789abcdef";
pub(crate) const PHONE: &str = "+15557654321";

/// One request the recording server received.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) uri: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Recorded {
    pub(crate) fn form(&self) -> Vec<(String, String)> {
        form_pairs(&self.body)
    }

    pub(crate) fn field(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

pub(crate) fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// A local HTTP server that records every request and answers with a fixed status and body.
#[derive(Clone)]
pub(crate) struct Recorder {
    pub(crate) base: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

#[derive(Clone)]
struct RecorderState {
    requests: Arc<Mutex<Vec<Recorded>>>,
    status: StatusCode,
    body: &'static str,
}

async fn record(
    State(s): State<RecorderState>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(&'static str, &'static str); 1], &'static str) {
    s.requests
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Recorded {
            method: method.to_string(),
            uri: uri.to_string(),
            headers,
            body: body.to_vec(),
        });
    (s.status, [("content-type", "text/xml")], s.body)
}

impl Recorder {
    pub(crate) async fn start(
        status: u16,
        body: &'static str,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = RecorderState {
            requests: Arc::clone(&requests),
            status: StatusCode::from_u16(status)?,
            body,
        };
        let app = Router::new().fallback(any(record)).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { base, requests })
    }

    pub(crate) async fn ok() -> Result<Self, Box<dyn std::error::Error>> {
        Self::start(
            200,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
        )
        .await
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// The standard account: one plain number, one number in a Messaging Service, an API key.
pub(crate) fn account(webhook: &str) -> SimAccount {
    SimAccount::new(ACCOUNT, TOKEN)
        .with_api_key(KEY_SID, KEY_SECRET)
        .with_number(SimNumber::new(NUMBER).with_sms_url(format!("{webhook}/webhooks/sms")))
        .with_number(
            SimNumber::new(SERVICE_NUMBER)
                .with_sms_url(format!("{webhook}/webhooks/service-number")),
        )
        .with_messaging_service(
            SimMessagingService::new(SERVICE)
                .with_number(SERVICE_NUMBER)
                .with_inbound_request_url(format!("{webhook}/webhooks/service")),
        )
}

pub(crate) async fn start_with(config: SimConfig) -> Result<SimHandle, Box<dyn std::error::Error>> {
    Ok(Simulator::start(config).await?)
}

pub(crate) async fn start(webhook: &str) -> Result<SimHandle, Box<dyn std::error::Error>> {
    start_with(SimConfig::new().with_account(account(webhook))).await
}

/// A raw Twilio REST call; returns (status, JSON body, headers).
pub(crate) async fn call(
    sim: &SimHandle,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> Result<(u16, Value, HeaderMap), Box<dyn std::error::Error>> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let url = format!("{}{path}", sim.base_url());
    let mut request = match method {
        "POST" => client.post(url).form(form),
        _ => client.get(url),
    };
    if let Some((user, password)) = auth {
        request = request.basic_auth(user, Some(password));
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await?;
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body)?
    };
    Ok((status, json, headers))
}

pub(crate) fn messages_path() -> String {
    format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.json")
}

pub(crate) const AUTH: Option<(&str, &str)> = Some((ACCOUNT, TOKEN));

/// Creates a message from NUMBER to `to`; returns (status, body).
pub(crate) async fn send(
    sim: &SimHandle,
    to: &str,
    body: &str,
) -> Result<(u16, Value), Box<dyn std::error::Error>> {
    let (status, json, _) = call(
        sim,
        "POST",
        &messages_path(),
        AUTH,
        &[("To", to), ("From", NUMBER), ("Body", body)],
    )
    .await?;
    Ok((status, json))
}
