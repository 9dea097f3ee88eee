//! `openclaw sim text`: text the dev gateway from a simulated phone and show the replies.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use clap::Subcommand;
use serde_json::{Value, json};

use super::Ctx;
use super::admin::{GatewayClient, block_on};

#[derive(Debug, Subcommand)]
pub(crate) enum SimCommand {
    /// Send a text from a simulated phone to the dev gateway's number, then print the replies.
    Text {
        /// The phone texting (E.164).
        #[arg(long, default_value = super::gateway::DEV_PHONE)]
        from: String,
        /// The number texted (default: the dev gateway's number).
        #[arg(long)]
        to: Option<String>,
        /// How long to wait for replies, in seconds.
        #[arg(long, default_value_t = 15)]
        wait: u64,
        /// The text.
        body: String,
    },
}

/// How long one wait for a reply lasts before the gateway's queue is asked again.
const SETTLE_POLL: Duration = Duration::from_millis(100);

/// The simulated phone's inbox.
struct Replies<'a> {
    http: &'a reqwest::Client,
    url: String,
}

impl Replies<'_> {
    /// The next reply to the phone within `window` (zero: only one already there).
    async fn next(&self, window: Duration) -> anyhow::Result<Option<Value>> {
        let reply = self
            .http
            .get(format!("{}?timeout_ms={}", self.url, window.as_millis()))
            .send()
            .await
            .context("ask the simulator for replies")?;
        if reply.status().as_u16() != 200 {
            return Ok(None);
        }
        Ok(Some(reply.json().await.unwrap_or(Value::Null)))
    }
}

/// Whether the gateway has finished every message to `to` (the queue of the account with that
/// sender, or of every account when none has it, is empty; a held first message does not
/// count). A gateway that stopped answering counts as settled: nothing more will come.
async fn queue_settled(gateway: &GatewayClient, to: &str) -> bool {
    let Some(status) = gateway.status().await else {
        return true;
    };
    let accounts = status["accounts"].as_array().cloned().unwrap_or_default();
    let mine: Vec<&Value> = accounts.iter().filter(|a| a["sender"] == to).collect();
    let relevant = if mine.is_empty() {
        accounts.iter().collect()
    } else {
        mine
    };
    relevant.iter().all(|a| a["queueDepth"].as_u64() == Some(0))
}

pub(crate) fn run(ctx: Ctx, cmd: SimCommand) -> anyhow::Result<ExitCode> {
    let SimCommand::Text {
        from,
        to,
        wait,
        body,
    } = cmd;
    block_on(async move {
        let gateway = GatewayClient::new(&ctx)?;
        let status = gateway
            .status()
            .await
            .ok_or_else(|| anyhow!("no gateway answers on this machine: start one with `openclaw gateway --dev` (or pass --gateway-port)"))?;
        let sim = status["devSimUrl"]
            .as_str()
            .ok_or_else(|| anyhow!("the running gateway has no simulator: `openclaw sim` works with `openclaw gateway --dev`"))?
            .trim_end_matches('/')
            .to_owned();
        let to = match to {
            Some(to) => to,
            None => status["accounts"][0]["sender"]
                .as_str()
                .map(str::to_owned)
                .context("the dev gateway has no SMS number")?,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(wait + 10))
            .build()?;
        let phone = from.replace('+', "%2B");
        let answer = http
            .post(format!("{sim}/_sim/phones/{phone}/text"))
            .json(&json!({"to": to, "body": body}))
            .send()
            .await
            .context("reach the simulator")?;
        let code = answer.status();
        let webhook: Value = answer.json().await.unwrap_or(Value::Null);
        if !code.is_success() {
            bail!(
                "the simulator could not deliver the text: {}",
                webhook["error"].as_str().unwrap_or("unknown error")
            );
        }
        outln!("{from} -> {to}: {body}");
        outln!("(webhook answered {})", webhook["status"]);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
        let replies = Replies {
            http: &http,
            url: format!("{sim}/_sim/phones/{phone}/next-reply"),
        };
        let mut got = 0;
        // Replies are printed as they come; once the gateway has finished the message (its
        // queue for the number is empty), every part is at the simulator: take them and stop.
        // A first message held for pairing leaves the queue when its request is stored, just
        // before the code is texted: with nothing received yet, the queue must be found empty
        // twice, one poll window apart, so that the code's text is not missed.
        let mut settled_before = false;
        loop {
            let settled = queue_settled(&gateway, &to).await;
            let finished = settled && (got > 0 || settled_before);
            settled_before = settled;
            let window = if finished {
                Duration::ZERO
            } else {
                SETTLE_POLL.min(deadline.saturating_duration_since(tokio::time::Instant::now()))
            };
            while let Some(message) = replies.next(window).await? {
                got += 1;
                outln!("{} -> {from}:", message["from"].as_str().unwrap_or("?"));
                outln!("{}", message["body"].as_str().unwrap_or(""));
            }
            if finished || tokio::time::Instant::now() >= deadline {
                break;
            }
        }
        if got == 0 {
            outln!(
                "(no reply: a sender that is not allowed gets none; see `openclaw pairing list sms`)"
            );
        }
        Ok(ExitCode::SUCCESS)
    })?
}
