//! The CLI side of the admin API: talk to a gateway running on this machine.

use std::time::Duration;

use anyhow::{Context as _, anyhow};
use serde_json::Value;

use super::Ctx;
use crate::server::ADMIN_PREFIX;

/// A client for `http://127.0.0.1:<port>/__openclaw/admin`.
#[derive(Debug, Clone)]
pub(crate) struct GatewayClient {
    base: String,
    http: reqwest::Client,
}

impl GatewayClient {
    pub(crate) fn new(ctx: &Ctx) -> anyhow::Result<Self> {
        let port = super::gateway::gateway_port(ctx, ctx.gateway_port);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(120))
            .build()?;
        Ok(Self {
            base: format!("http://127.0.0.1:{port}{ADMIN_PREFIX}"),
            http,
        })
    }

    /// The running gateway's status, or `None` when no gateway answers on the port.
    pub(crate) async fn status(&self) -> Option<Value> {
        let response = self
            .http
            .get(format!("{}/status", self.base))
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json::<Value>().await.ok()
    }

    /// GET a path; an error answer becomes its `error` text.
    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .context("ask the running gateway")?;
        Self::answer(response).await
    }

    /// POST JSON to a path.
    pub(crate) async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .context("ask the running gateway")?;
        Self::answer(response).await
    }

    async fn answer(response: reqwest::Response) -> anyhow::Result<Value> {
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(value)
        } else {
            Err(anyhow!(
                "{}",
                value
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("the gateway refused the request")
            ))
        }
    }
}

/// A current-thread runtime for one command.
pub(crate) fn block_on<F: Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    Ok(runtime.block_on(future))
}
