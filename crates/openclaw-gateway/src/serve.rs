//! Serving the public app on TCP: hyper HTTP/1.1 connections with a header-read timeout, at
//! most `gateway.maxConnections` of them at once, and a graceful shutdown.
//!
//! `axum::serve` has neither a header-read timeout nor a connection limit: a client that sends
//! its headers a byte at a time, or nothing at all, held a connection (and a file descriptor)
//! for as long as it liked, and enough of them stopped the gateway from accepting anything
//! (`Too many open files`). Here each connection is served by hyper's HTTP/1 server with a
//! timer, so a connection must deliver a request's headers within
//! `gateway.headerReadTimeoutMs` of opening, and again within that time after each response
//! (the idle keep-alive timeout), or it is closed. A semaphore around `accept` caps the open
//! connections: at the cap the gateway stops accepting until a connection closes, and new
//! connections wait in the kernel's listen queue (they are not refused). Idle and slow
//! connections are cut by the timeout, so an attacker cannot keep the slots: a genuine
//! webhook waits one timeout for every `maxConnections` idle connections queued ahead of it.
//!
//! The webhooks, `/healthz`, `/readyz` and `/metrics` share the port and these limits.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// `gateway.maxConnections` when not set: well under the usual soft limit of 1,024 open files,
/// which the store, the Twilio and model clients, media files and agent commands share.
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// The largest `gateway.maxConnections` accepted.
pub(crate) const MAX_CONNECTIONS_LIMIT: u64 = 65_536;
/// `gateway.headerReadTimeoutMs` when not set.
pub(crate) const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The accepted range of `gateway.headerReadTimeoutMs`.
pub(crate) const HEADER_READ_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 100..=300_000;
/// The largest request head (request line and headers) read, in bytes: a bigger one is
/// answered `431` and the connection closed. Twilio's are a few hundred bytes; this bounds what
/// each open connection can make the gateway buffer before its headers are complete.
pub(crate) const MAX_HEADER_BYTES: usize = 32 * 1024;
/// File descriptors kept for everything but the public connections (store, clients, media,
/// agent commands, the admin socket): a cap closer than this to the open-file limit is warned
/// about at start.
pub(crate) const RESERVED_FILES: u64 = 128;
/// How long the accept loop pauses after an accept error (out of file descriptors, for one).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);
/// At most one "connection limit reached" warning per this long.
const LIMIT_WARNING_EVERY: Duration = Duration::from_secs(60);

/// The checked server keys of the `gateway` section. Other keys of the section are left alone
/// (an upstream `openclaw.json` has its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ServerSettings {
    /// `gateway.maxConnections`: open TCP connections at most.
    pub(crate) max_connections: usize,
    /// `gateway.headerReadTimeoutMs`: time to deliver a request's headers, from the
    /// connection's start or the previous response.
    pub(crate) header_read_timeout: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
        }
    }
}

impl ServerSettings {
    /// Reads and checks `gateway.maxConnections` and `gateway.headerReadTimeoutMs` of
    /// `config` (defaults when absent).
    pub(crate) fn from_config(config: &Value) -> anyhow::Result<Self> {
        let mut settings = Self::default();
        let Some(section) = config.get("gateway").and_then(Value::as_object) else {
            return Ok(settings);
        };
        if let Some(value) = section.get("maxConnections") {
            match value.as_u64() {
                Some(n) if (1..=MAX_CONNECTIONS_LIMIT).contains(&n) => {
                    settings.max_connections = usize::try_from(n)?;
                }
                _ => bail!(
                    "gateway.maxConnections: must be a whole number from 1 to {MAX_CONNECTIONS_LIMIT} (default {DEFAULT_MAX_CONNECTIONS})"
                ),
            }
        }
        if let Some(value) = section.get("headerReadTimeoutMs") {
            match value.as_u64() {
                Some(ms) if HEADER_READ_TIMEOUT_MS.contains(&ms) => {
                    settings.header_read_timeout = Duration::from_millis(ms);
                }
                _ => bail!(
                    "gateway.headerReadTimeoutMs: must be a whole number of milliseconds from {} to {} (default {})",
                    HEADER_READ_TIMEOUT_MS.start(),
                    HEADER_READ_TIMEOUT_MS.end(),
                    DEFAULT_HEADER_READ_TIMEOUT.as_millis()
                ),
            }
        }
        Ok(settings)
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting, lets each
/// connection finish the request it is in (idle ones close at once) and waits for them, at
/// most `grace`.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    settings: ServerSettings,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_header_size(MAX_HEADER_BYTES)
        .keep_alive(true);
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let closing = CancellationToken::new();
    let mut limit = LimitWarning::default();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break,
            permit = take_slot(&slots, settings.max_connections, &mut limit) => permit,
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!("accept error: {err} (retrying in {} s)", ACCEPT_ERROR_PAUSE.as_secs());
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        tokio::spawn(serve_connection(
            stream,
            peer,
            app.clone(),
            http.clone(),
            closing.clone(),
            permit,
        ));
    }
    drop(listener);
    closing.cancel();
    // Every connection holds a slot until it ends: all slots back means all connections done.
    let all = u32::try_from(settings.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace elapsed with HTTP connections still open; closing them");
    }
}

/// A free connection slot; at the cap, waits for one (warning at most once a minute).
async fn take_slot(
    slots: &Arc<Semaphore>,
    max: usize,
    limit: &mut LimitWarning,
) -> OwnedSemaphorePermit {
    if let Ok(permit) = Arc::clone(slots).try_acquire_owned() {
        return permit;
    }
    limit.warn(max);
    // The semaphore is never closed, so acquiring only ends with a permit.
    loop {
        if let Ok(permit) = Arc::clone(slots).acquire_owned().await {
            return permit;
        }
    }
}

/// Rate limit of the "connection limit reached" warning.
#[derive(Default)]
struct LimitWarning {
    last: Option<Instant>,
}

impl LimitWarning {
    fn warn(&mut self, max: usize) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < LIMIT_WARNING_EVERY)
        {
            return;
        }
        self.last = Some(now);
        tracing::warn!(
            "connection limit reached: {max} HTTP connections are open (gateway.maxConnections); new connections wait until one closes"
        );
    }
}

/// Serves one connection; its slot is freed when it ends.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    http: http1::Builder,
    closing: CancellationToken,
    _slot: OwnedSemaphorePermit,
) {
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        // What `into_make_service_with_connect_info` gave the handlers.
        request.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(request)
    });
    let connection = http.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = closing.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = result {
        // Timeouts, resets and malformed requests: routine on a public port.
        tracing::debug!(%peer, "HTTP connection ended: {err}");
    }
}

/// Raises the soft limit of open files toward the hard limit (at most
/// [`MAX_CONNECTIONS_LIMIT`] plus [`RESERVED_FILES`]), logs the server's limits, and warns when
/// `gateway.maxConnections` would not fit under the open-file limit.
pub(crate) fn log_limits(settings: ServerSettings) {
    let limit = open_file_limit();
    let files = match &limit {
        Some(FileLimit {
            soft,
            raised_from: Some(before),
        }) => {
            format!("{soft} (raised from {before})")
        }
        Some(FileLimit {
            soft,
            raised_from: None,
        }) => soft.to_string(),
        None => "unlimited".to_owned(),
    };
    tracing::info!(
        "HTTP: at most {} connections (gateway.maxConnections), request headers within {} ms (gateway.headerReadTimeoutMs); open-file limit {files}",
        settings.max_connections,
        settings.header_read_timeout.as_millis()
    );
    let max = settings.max_connections as u64;
    if let Some(&FileLimit { soft, .. }) = limit.as_ref()
        && max + RESERVED_FILES > soft
    {
        tracing::warn!(
            "gateway.maxConnections is {max} but the open-file limit is {soft}: raise the limit (LimitNOFILE= in systemd, ulimit -n) or lower gateway.maxConnections to at most {}",
            soft.saturating_sub(RESERVED_FILES).max(1)
        );
    }
}

/// The soft open-file limit, and what it was before this process raised it.
struct FileLimit {
    soft: u64,
    raised_from: Option<u64>,
}

/// The soft open-file limit after raising it toward the hard limit (`None`: unlimited).
#[cfg(unix)]
fn open_file_limit() -> Option<FileLimit> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let soft = limit.current?;
    let wanted = limit
        .maximum
        .unwrap_or(u64::MAX)
        .min(MAX_CONNECTIONS_LIMIT + RESERVED_FILES);
    if wanted <= soft {
        return Some(FileLimit {
            soft,
            raised_from: None,
        });
    }
    let raised = Rlimit {
        current: Some(wanted),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => Some(FileLimit {
            soft: wanted,
            raised_from: Some(soft),
        }),
        Err(err) => {
            tracing::debug!("the open-file limit {soft} could not be raised: {err}");
            Some(FileLimit {
                soft,
                raised_from: None,
            })
        }
    }
}

/// Open-file limits are a Unix matter.
#[cfg(not(unix))]
fn open_file_limit() -> Option<FileLimit> {
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check_err(gateway: Value, expected: &str) {
        let err = ServerSettings::from_config(&json!({ "gateway": gateway })).unwrap_err();
        assert!(err.to_string().starts_with(expected), "{err}");
    }

    #[test]
    fn defaults_and_values() {
        assert_eq!(
            ServerSettings::from_config(&json!({})).unwrap(),
            ServerSettings::default()
        );
        // Other keys of the section (upstream's) are left alone.
        let s = ServerSettings::from_config(&json!({"gateway": {
            "port": 1, "bind": "loopback", "maxConnections": 8, "headerReadTimeoutMs": 1000
        }}))
        .unwrap();
        assert_eq!(s.max_connections, 8);
        assert_eq!(s.header_read_timeout, Duration::from_secs(1));
    }

    #[test]
    fn bad_values_name_the_key_and_the_range() {
        check_err(
            json!({"maxConnections": 0}),
            "gateway.maxConnections: must be a whole number from 1 to 65536",
        );
        check_err(json!({"maxConnections": 65_537}), "gateway.maxConnections:");
        check_err(json!({"maxConnections": "8"}), "gateway.maxConnections:");
        check_err(
            json!({"headerReadTimeoutMs": 99}),
            "gateway.headerReadTimeoutMs: must be a whole number of milliseconds from 100 to 300000",
        );
        check_err(
            json!({"headerReadTimeoutMs": 300_001}),
            "gateway.headerReadTimeoutMs:",
        );
        check_err(
            json!({"headerReadTimeoutMs": 1.5}),
            "gateway.headerReadTimeoutMs:",
        );
    }
}
