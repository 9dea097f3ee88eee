//! A small metrics registry rendered in the Prometheus text format (`/metrics`).
//!
//! Counters and histograms keyed by name and label values; enough for the channel's few
//! series without pulling in a metrics framework.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Histogram bucket upper bounds, in seconds.
pub const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct Inner {
    help: BTreeMap<&'static str, (&'static str, &'static str)>,
    counters: BTreeMap<(&'static str, Labels), u64>,
    gauges: BTreeMap<(&'static str, Labels), f64>,
    histograms: BTreeMap<(&'static str, Labels), Histogram>,
}

/// The registry. Cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

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
    /// Time from an accepted text to its reply's last part sent.
    pub const REPLY_SECONDS: &str = "openclaw_sms_reply_latency_seconds";
    /// Owner pairing notifications by account and outcome (`sent`, `failed`).
    pub const OWNER_NOTIFICATIONS: &str = "openclaw_sms_owner_notifications_total";
    /// Pairing commands texted by an owner, by account, command (`approve`, `deny`) and
    /// outcome (`done`, `no_such_code`).
    pub const OWNER_COMMANDS: &str = "openclaw_sms_owner_commands_total";
    /// Pairing codes not texted because the sender reached `pairing.maxCodeTextsPerSenderPerDay`.
    pub const PAIRING_TEXTS_CAPPED: &str = "openclaw_sms_pairing_texts_capped_total";
    /// Send API requests by outcome (`accepted`, `duplicate`, `bad_request`, `unauthorized`, …).
    pub const SEND_API_REQUESTS: &str = "openclaw_sms_send_api_requests_total";
}

impl Metrics {
    /// An empty registry with help texts for the channel's series.
    pub fn new() -> Self {
        let metrics = Self::default();
        {
            let mut inner = metrics.lock();
            for (name, kind, help) in [
                (
                    names::WEBHOOKS,
                    "counter",
                    "Webhook requests by account and outcome.",
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
            ] {
                inner.help.insert(name, (kind, help));
            }
        }
        metrics
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds `by` to a counter.
    pub fn inc(&self, name: &'static str, labels: &[(&'static str, &str)], by: u64) {
        let key = (name, own(labels));
        *self.lock().counters.entry(key).or_default() += by;
    }

    /// Sets a gauge.
    pub fn set(&self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
        self.lock().gauges.insert((name, own(labels)), value);
    }

    /// Records one observation in a histogram.
    pub fn observe(&self, name: &'static str, labels: &[(&'static str, &str)], value: Duration) {
        let secs = value.as_secs_f64();
        let mut inner = self.lock();
        let h = inner.histograms.entry((name, own(labels))).or_default();
        if h.counts.is_empty() {
            h.counts = vec![0; BUCKETS.len()];
        }
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// A counter's value (tests, status).
    pub fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> u64 {
        self.lock()
            .counters
            .get(&(name, own(labels)))
            .copied()
            .unwrap_or(0)
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        let mut names: Vec<&'static str> = inner.help.keys().copied().collect();
        names.extend(
            inner
                .counters
                .keys()
                .chain(inner.gauges.keys())
                .chain(inner.histograms.keys())
                .map(|(n, _)| *n),
        );
        names.sort_unstable();
        names.dedup();
        for name in names {
            if let Some((kind, help)) = inner.help.get(name) {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            }
            for ((n, labels), v) in &inner.counters {
                if *n == name {
                    let _ = writeln!(out, "{name}{} {v}", fmt_labels(labels, None));
                }
            }
            for ((n, labels), v) in &inner.gauges {
                if *n == name {
                    let _ = writeln!(out, "{name}{} {v}", fmt_labels(labels, None));
                }
            }
            for ((n, labels), h) in &inner.histograms {
                if *n == name {
                    for (bound, count) in BUCKETS.iter().zip(&h.counts) {
                        let _ = writeln!(
                            out,
                            "{name}_bucket{} {count}",
                            fmt_labels(labels, Some(&bound.to_string()))
                        );
                    }
                    let _ = writeln!(
                        out,
                        "{name}_bucket{} {}",
                        fmt_labels(labels, Some("+Inf")),
                        h.count
                    );
                    let _ = writeln!(out, "{name}_sum{} {}", fmt_labels(labels, None), h.sum);
                    let _ = writeln!(out, "{name}_count{} {}", fmt_labels(labels, None), h.count);
                }
            }
        }
        out
    }
}

fn own(labels: &[(&'static str, &str)]) -> Labels {
    labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

fn fmt_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new();
        m.inc(
            names::WEBHOOKS,
            &[("account", "default"), ("outcome", "accepted")],
            2,
        );
        m.inc(
            names::WEBHOOKS,
            &[("account", "default"), ("outcome", "forbidden")],
            1,
        );
        m.set(names::QUEUE_DEPTH, &[("account", "default")], 3.0);
        m.observe(names::WEBHOOK_SECONDS, &[], Duration::from_millis(3));
        let text = m.render();
        assert!(
            text.contains("# TYPE openclaw_sms_webhooks_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "openclaw_sms_webhooks_total{account=\"default\",outcome=\"accepted\"} 2\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("openclaw_sms_queue_depth{account=\"default\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("openclaw_sms_webhook_duration_seconds_bucket{le=\"0.0025\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("openclaw_sms_webhook_duration_seconds_bucket{le=\"0.005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("openclaw_sms_webhook_duration_seconds_count 1\n"),
            "{text}"
        );
        assert_eq!(
            m.counter(
                names::WEBHOOKS,
                &[("account", "default"), ("outcome", "accepted")]
            ),
            2
        );
    }
}
