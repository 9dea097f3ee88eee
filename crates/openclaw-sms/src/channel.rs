//! The channel: every running account, the store, the agent, the outbound sender, metrics.

use std::sync::Arc;
use std::time::Duration;

use openclaw_store::{RetryBackoff, Store};
use tokio::sync::Notify;

use crate::account::AccountRuntime;
use crate::agent::Agent;
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::outbound::Outbound;

/// The channel id used in the store's pairing keys and in agent turns.
pub const CHANNEL: &str = "sms";

/// Pipeline settings.
#[derive(Debug, Clone)]
pub struct ChannelOptions {
    /// Earlier conversation lines given to the agent with each turn.
    pub history_turns: usize,
    /// How often the pump looks for due messages when nothing wakes it.
    pub poll_interval: Duration,
    /// Messages (lanes) processed at once.
    pub max_concurrent: usize,
    /// Attempts per inbound message before it is dead-lettered.
    pub max_attempts: u32,
    /// Backoff between attempts.
    pub retry: RetryBackoff,
    /// Largest inbound MMS download per message, in bytes.
    pub media_budget_bytes: u64,
    /// Where inbound MMS attachments are saved.
    pub media_dir: Option<std::path::PathBuf>,
    /// Reverse proxies whose forwarding header names the client of a webhook request.
    pub trusted_proxies: crate::proxies::TrustedProxies,
    /// After how long a turn still running gets one short "working on it" text
    /// ([`crate::texts::SLOW_REPLY_NOTICE`]); `None` sends none.
    pub slow_reply_notice_after: Option<Duration>,
}

impl Default for ChannelOptions {
    fn default() -> Self {
        Self {
            history_turns: 10,
            poll_interval: Duration::from_millis(500),
            max_concurrent: 32,
            max_attempts: 5,
            retry: RetryBackoff::default(),
            media_budget_bytes: crate::media::MESSAGE_MEDIA_BUDGET,
            media_dir: None,
            trusted_proxies: crate::proxies::TrustedProxies::default(),
            slow_reply_notice_after: None,
        }
    }
}

/// The running SMS channel. Share it as `Arc<SmsChannel>`.
pub struct SmsChannel {
    pub(crate) accounts: Vec<Arc<AccountRuntime>>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) agent: Arc<dyn Agent>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) outbound: Outbound,
    pub(crate) clock: Clock,
    pub(crate) options: ChannelOptions,
    pub(crate) wake: Arc<Notify>,
}

impl std::fmt::Debug for SmsChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsChannel")
            .field(
                "accounts",
                &self.accounts.iter().map(|a| a.id()).collect::<Vec<_>>(),
            )
            .field("agent", &self.agent.name())
            .finish_non_exhaustive()
    }
}

impl SmsChannel {
    /// A channel over these accounts.
    pub fn new(
        accounts: Vec<AccountRuntime>,
        store: Arc<dyn Store>,
        agent: Arc<dyn Agent>,
        metrics: Arc<Metrics>,
        clock: Clock,
        options: ChannelOptions,
    ) -> Self {
        crate::metrics::describe(&metrics);
        let outbound = Outbound::new(Arc::clone(&store), Arc::clone(&metrics), clock.clone());
        Self {
            accounts: accounts.into_iter().map(Arc::new).collect(),
            store,
            agent,
            metrics,
            outbound,
            clock,
            options,
            wake: Arc::new(Notify::new()),
        }
    }

    /// The running accounts.
    pub fn accounts(&self) -> &[Arc<AccountRuntime>] {
        &self.accounts
    }

    /// The account with this id.
    pub fn account(&self, id: &str) -> Option<&Arc<AccountRuntime>> {
        self.accounts.iter().find(|a| a.id() == id)
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The outbound sender.
    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Wakes the pump (after an enqueue or an approval) so it need not wait for its next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Updates the queue-depth gauge of every account.
    pub async fn refresh_gauges(&self) {
        for account in &self.accounts {
            if let Ok(depth) = self.store.queue_depth(account.id()).await {
                #[allow(
                    clippy::cast_precision_loss,
                    reason = "a gauge; queue depths are far below 2^52"
                )]
                self.metrics.set(
                    crate::metrics::names::QUEUE_DEPTH,
                    &[("account", account.id())],
                    depth as f64,
                );
            }
        }
        if let Some(counts) = self.store.store_counts() {
            let statements = counts.statements;
            for (count, value) in [
                ("transactions", Some(counts.transactions)),
                ("write_jobs", Some(counts.write_jobs)),
                ("statements", statements),
            ] {
                if let Some(value) = value {
                    #[allow(
                        clippy::cast_precision_loss,
                        reason = "a gauge; counts stay far below 2^52"
                    )]
                    self.metrics.set(
                        crate::metrics::names::STORE_WRITES,
                        &[("count", count)],
                        value as f64,
                    );
                }
            }
        }
    }
}
