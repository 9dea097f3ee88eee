//! A small metrics registry rendered in the Prometheus text format (`/metrics`).
//!
//! Counters, gauges and histograms keyed by name and label values; enough for a channel's few
//! series without pulling in a metrics framework. Each channel names and describes its own
//! series ([`Metrics::describe`]); the registry knows none.

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

impl Metrics {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares a series: its Prometheus type (`counter`, `gauge`, `histogram`) and help text,
    /// written as `# TYPE` and `# HELP` lines by [`Metrics::render`]. A channel declares its
    /// series once, when it starts.
    pub fn describe(&self, name: &'static str, kind: &'static str, help: &'static str) {
        self.lock().help.insert(name, (kind, help));
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

    const REQUESTS: &str = "example_requests_total";
    const DEPTH: &str = "example_queue_depth";
    const SECONDS: &str = "example_duration_seconds";

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new();
        m.describe(REQUESTS, "counter", "Requests by outcome.");
        m.inc(
            REQUESTS,
            &[("account", "default"), ("outcome", "accepted")],
            2,
        );
        m.inc(
            REQUESTS,
            &[("account", "default"), ("outcome", "forbidden")],
            1,
        );
        m.set(DEPTH, &[("account", "default")], 3.0);
        m.observe(SECONDS, &[], Duration::from_millis(3));
        let text = m.render();
        assert!(
            text.contains("# HELP example_requests_total Requests by outcome.\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE example_requests_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("example_requests_total{account=\"default\",outcome=\"accepted\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("example_queue_depth{account=\"default\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("example_duration_seconds_bucket{le=\"0.0025\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("example_duration_seconds_bucket{le=\"0.005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("example_duration_seconds_count 1\n"),
            "{text}"
        );
        assert!(
            !text.contains("# TYPE example_queue_depth"),
            "undescribed series have no TYPE: {text}"
        );
        assert_eq!(
            m.counter(REQUESTS, &[("account", "default"), ("outcome", "accepted")]),
            2
        );
    }
}
