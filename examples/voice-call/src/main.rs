//! Runs the voice example with an echo agent.
//!
//! `TWILIO_AUTH_TOKEN` (the Auth Token) and `VOICE_PUBLIC_URL` (the public HTTPS base Twilio
//! reaches, e.g. `https://voice.example.com`) are required; `VOICE_LISTEN` (default
//! `127.0.0.1:8787`) is where it listens. Pairing requests go to a SQLite store in a temporary
//! directory that is removed on exit.

use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use openclaw_channel::agent::{Agent, AgentError, AgentReply, AgentTurn};
use openclaw_store::{SqliteStore, StoreOptions};
use openclaw_voice_call_example::{VoiceChannel, VoiceConfig, router};
use secrecy::SecretString;

/// Says back what it heard.
struct Echo;

#[async_trait]
impl Agent for Echo {
    fn name(&self) -> &str {
        "echo"
    }

    async fn reply(&self, turn: &AgentTurn) -> Result<AgentReply, AgentError> {
        Ok(AgentReply {
            text: format!("You said: {}", turn.text),
        })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_target(false).init();
    let token = std::env::var("TWILIO_AUTH_TOKEN")
        .context("TWILIO_AUTH_TOKEN is not set: export your Twilio Auth Token")?;
    let public = std::env::var("VOICE_PUBLIC_URL").context(
        "VOICE_PUBLIC_URL is not set: export the public HTTPS base Twilio reaches, e.g. https://voice.example.com",
    )?;
    let listen = std::env::var("VOICE_LISTEN").unwrap_or_else(|_| "127.0.0.1:8787".to_owned());
    let dir = tempfile::tempdir().context("creating the store's temporary directory")?;
    let store = SqliteStore::open(&dir.path().join("voice.db"), &StoreOptions::default())
        .await
        .context("opening the pairing store")?;
    let config = VoiceConfig::new(&public, SecretString::from(token));
    let urls = config.public_urls.clone();
    let channel = Arc::new(VoiceChannel::new(config, Arc::new(Echo), Arc::new(store)));
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding VOICE_LISTEN={listen}"))?;
    println!("In the Twilio console, on your phone number's Voice configuration:");
    println!("  A call comes in: Webhook, HTTP POST, {}", urls.incoming);
    println!("  Call status changes: HTTP POST, {}", urls.status);
    let bound = listener.local_addr().context("reading the bound address")?;
    println!("Listening on {bound}; unknown callers hear a pairing code (dmPolicy pairing).");
    let app = router(channel).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            if let Err(err) = tokio::signal::ctrl_c().await {
                eprintln!("waiting for Ctrl-C failed: {err}");
            }
        })
        .await
        .context("serving")?;
    Ok(())
}
