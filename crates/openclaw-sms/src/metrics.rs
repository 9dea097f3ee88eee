//! The SMS channel's series in the channel-neutral registry ([`openclaw_channel::metrics`]):
//! their names and help texts.

pub use openclaw_channel::metrics::{BUCKETS, Metrics};

/// Metric names used by the channel.
pub mod names {
    /// Webhook requests by account and outcome (`accepted`, `duplicate`, `forbidden`, …).
    pub const WEBHOOKS: &str = "openclaw_sms_webhooks_total";
    /// Inbound messages waiting in the durable queue, by account.
    pub const QUEUE_DEPTH: &str = "openclaw_sms_queue_depth";
    /// Agent turns by outcome.
    pub const AGENT_TURNS: &str = "openclaw_sms_agent_turns_total";
    /// Outbound parts by outcome (`sent`, `retried`, `failed`, `ambiguous`, `opted_out`).
    pub const SENDS: &str = "openclaw_sms_sends_total";
    /// Billed segments sent.
    pub const SEGMENTS: &str = "openclaw_sms_segments_sent_total";
    /// Webhook handling time.
    pub const WEBHOOK_SECONDS: &str = "openclaw_sms_webhook_duration_seconds";
    /// Agent answer time.
    pub const AGENT_SECONDS: &str = "openclaw_sms_agent_duration_seconds";
    /// Store writes that failed where the pipeline goes on without them, by step.
    pub const STORE_ERRORS: &str = "openclaw_sms_store_errors_total";
    /// Time from an accepted text to its reply's last part sent.
    pub const REPLY_SECONDS: &str = "openclaw_sms_reply_latency_seconds";
    /// Owner pairing notifications by account and outcome (`sent`, `failed`).
    pub const OWNER_NOTIFICATIONS: &str = "openclaw_sms_owner_notifications_total";
    /// Pairing commands texted by an owner, by account, command (`approve`, `deny`) and
    /// outcome (`done`, `no_such_code`).
    pub const OWNER_COMMANDS: &str = "openclaw_sms_owner_commands_total";
    /// Pairing codes not texted because the sender reached `pairing.maxCodeTextsPerSenderPerDay`.
    pub const PAIRING_TEXTS_CAPPED: &str = "openclaw_sms_pairing_texts_capped_total";
    /// What the state store has written since the start, by `count` (`transactions`: commits;
    /// `write_jobs`: units of work in them; `statements`: sent to a database server).
    pub const STORE_WRITES: &str = "openclaw_sms_store_writes";
    /// Send API requests by outcome (`accepted`, `duplicate`, `bad_request`, `unauthorized`, …).
    pub const SEND_API_REQUESTS: &str = "openclaw_sms_send_api_requests_total";
    /// Replies cut short by a daily budget, by account and scope (`sender`, `account`).
    pub const BUDGET_HITS: &str = "openclaw_sms_budget_hits_total";
    /// Daily budgets that reached `budgets.warnAtPercent`, by account and scope.
    pub const BUDGET_WARNINGS: &str = "openclaw_sms_budget_warnings_total";
    /// Rests of long replies (`longReplies: "ask"`) by account and outcome (`held`, `sent`,
    /// `expired`, `none`).
    pub const LONG_REPLY_RESTS: &str = "openclaw_sms_long_reply_rests_total";
    /// Scheduled and quiet-hours-held sends by `reason` (`at`, `quiet_hours`) and `event`
    /// (`scheduled`, `sent`, `failed`, `cancelled`).
    pub const SCHEDULED_SENDS: &str = "openclaw_sms_scheduled_sends_total";
}

/// A store write whose failure the pipeline survives (a history line, a prune, a touch): the
/// failure is logged with the step and counted in [`names::STORE_ERRORS`], never dropped
/// silently. `None` when it failed.
pub(crate) fn noted<T>(
    metrics: &Metrics,
    step: &'static str,
    result: Result<T, openclaw_store::StoreError>,
) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(err) => {
            tracing::warn!(step, "state store write failed, going on without it: {err}");
            metrics.inc(names::STORE_ERRORS, &[("step", step)], 1);
            None
        }
    }
}

/// Declares the SMS channel's series (type and help) in `metrics`.
pub fn describe(metrics: &Metrics) {
    for (name, kind, help) in [
        (
            names::STORE_ERRORS,
            "counter",
            "State store writes that failed where the pipeline went on, by step.",
        ),
        (
            names::OWNER_NOTIFICATIONS,
            "counter",
            "Owner notifications of new pairing requests by account and outcome.",
        ),
        (
            names::OWNER_COMMANDS,
            "counter",
            "APPROVE and DENY texted by an owner, by account, command and outcome.",
        ),
        (
            names::PAIRING_TEXTS_CAPPED,
            "counter",
            "Pairing codes not texted: the sender reached its daily cap.",
        ),
        (
            names::SEND_API_REQUESTS,
            "counter",
            "HTTP send API requests by outcome.",
        ),
        (
            names::BUDGET_HITS,
            "counter",
            "Replies cut short by a daily segment budget, by account and scope.",
        ),
        (
            names::BUDGET_WARNINGS,
            "counter",
            "Daily segment budgets that reached budgets.warnAtPercent, by account and scope.",
        ),
        (
            names::LONG_REPLY_RESTS,
            "counter",
            "Rests of long replies held for MORE, by account and outcome.",
        ),
        (
            names::SCHEDULED_SENDS,
            "counter",
            "Scheduled and quiet-hours-held sends by reason (at, quiet_hours) and event (scheduled, sent, failed, cancelled).",
        ),
        (
            names::WEBHOOKS,
            "counter",
            "Webhook requests by account and outcome.",
        ),
        (
            names::STORE_WRITES,
            "gauge",
            "State store commits, write jobs and statements since the start.",
        ),
        (
            names::QUEUE_DEPTH,
            "gauge",
            "Inbound messages waiting in the durable queue.",
        ),
        (names::AGENT_TURNS, "counter", "Agent turns by outcome."),
        (
            names::SENDS,
            "counter",
            "Outbound message parts by outcome.",
        ),
        (names::SEGMENTS, "counter", "Billed SMS segments sent."),
        (
            names::WEBHOOK_SECONDS,
            "histogram",
            "Webhook handling time in seconds.",
        ),
        (
            names::AGENT_SECONDS,
            "histogram",
            "Agent answer time in seconds.",
        ),
        (
            names::REPLY_SECONDS,
            "histogram",
            "Time from accepted text to reply sent, in seconds.",
        ),
    ] {
        metrics.describe(name, kind, help);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_store_write_is_counted_by_step() {
        let m = Metrics::new();
        assert_eq!(
            noted(&m, "history", Ok::<_, openclaw_store::StoreError>(7)),
            Some(7)
        );
        let failed: Result<(), _> = Err(openclaw_store::StoreError::WriterStopped);
        assert_eq!(noted(&m, "history", failed), None);
        assert_eq!(m.counter(names::STORE_ERRORS, &[("step", "history")]), 1);
    }

    #[test]
    fn every_sms_series_is_described() {
        let m = Metrics::new();
        describe(&m);
        m.inc(
            names::WEBHOOKS,
            &[("account", "default"), ("outcome", "accepted")],
            1,
        );
        let text = m.render();
        for name in [
            names::WEBHOOKS,
            names::QUEUE_DEPTH,
            names::SENDS,
            names::REPLY_SECONDS,
            names::BUDGET_HITS,
            names::BUDGET_WARNINGS,
            names::LONG_REPLY_RESTS,
        ] {
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}: {text}");
        }
    }
}
