//! The CLI side of the admin API: talk to a gateway running on this machine, over its
//! owner-only Unix socket (see `admin_socket`), and only when that socket and its directory
//! are this user's and no one else can write them.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::Ctx;
use crate::admin_socket::{socket_dir, socket_path, verify_before_connect, verify_socket_dir};
use crate::server::ADMIN_PREFIX;

/// A client for the admin API of the gateway on a port.
#[derive(Debug, Clone)]
pub(crate) struct GatewayClient {
    socket: PathBuf,
}

/// Longest wait for an admin answer (a send may take a while).
const ADMIN_TIMEOUT: Duration = Duration::from_secs(120);

impl GatewayClient {
    /// A client for the gateway on the configured port; an error when its socket directory
    /// or socket is not safe to talk to (see [`verify_before_connect`]).
    pub(crate) fn new(ctx: &Ctx) -> anyhow::Result<Self> {
        let port = super::gateway::gateway_port(ctx, ctx.gateway_port);
        let socket = socket_path(port);
        verify_before_connect(&socket)?;
        Ok(Self { socket })
    }

    /// A client for the admin socket at `socket`.
    pub(crate) fn at(socket: PathBuf) -> Self {
        Self { socket }
    }

    /// Every gateway of this user that answers on its admin socket (any port), with its status;
    /// an error when the socket directory is not safe to look in.
    pub(crate) async fn all_running() -> anyhow::Result<Vec<Value>> {
        let dir = socket_dir();
        verify_socket_dir(&dir)?;
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("gateway-")
                && name.ends_with(".sock")
                && let Some(status) = Self::at(entry.path()).status().await
            {
                found.push(status);
            }
        }
        Ok(found)
    }

    /// The running gateway's status, or `None` when no gateway answers.
    pub(crate) async fn status(&self) -> Option<Value> {
        let (status, body) =
            tokio::time::timeout(Duration::from_secs(3), self.call("GET", "/status", None))
                .await
                .ok()?
                .ok()?;
        (status == 200).then_some(body)
    }

    /// GET a path; an error answer becomes its `error` text.
    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Self::answer(self.call("GET", path, None).await?)
    }

    /// POST JSON to a path.
    pub(crate) async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        Self::answer(self.call("POST", path, Some(body)).await?)
    }

    fn answer((status, value): (u16, Value)) -> anyhow::Result<Value> {
        if (200..300).contains(&status) {
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

    /// One HTTP/1.1 exchange over the socket (`Connection: close`, answer read to the end).
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
        verify_before_connect(&self.socket)?;
        let mut stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .context("reach the running gateway")?;
        let body = body
            .map(serde_json::to_vec)
            .transpose()?
            .unwrap_or_default();
        let head = format!(
            "{method} {ADMIN_PREFIX}{path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let exchange = async {
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&body).await?;
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).await?;
            anyhow::Ok(raw)
        };
        let raw = tokio::time::timeout(ADMIN_TIMEOUT, exchange)
            .await
            .context("the gateway did not answer in time")??;
        parse_answer(&raw)
    }
}

fn parse_answer(raw: &[u8]) -> anyhow::Result<(u16, Value)> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("the gateway's answer has no header")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("bad status line")?;
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body)?;
    }
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    Ok((status, value))
}

fn dechunk(mut data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("bad chunk")?;
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16)?;
        data = &data[end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
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
