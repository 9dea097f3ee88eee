//! Delivery observations of outbound messages, reduced as upstream does.
//!
//! A record holds the account, the provider message id, a status and an error code: never a
//! message body or a phone number.

use async_trait::async_trait;

use crate::StoreError;

/// Delivery records are dropped this long after their last observation (upstream: 30 days).
pub const DELIVERY_TTL_MS: i64 = 30 * 86_400_000;
/// At most this many delivery records are kept; the oldest go first (upstream: 5,000).
pub const MAX_DELIVERY_RECORDS: u64 = 5_000;
/// The status a record takes when two different terminal statuses were observed.
pub const CONFLICTED: &str = "conflicted";

/// One observed status of an outbound message (from an API response or a status callback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryObservation {
    /// The channel account.
    pub account: String,
    /// The provider's message id (Twilio `MessageSid`).
    pub message_sid: String,
    /// The status as received; it is trimmed and lower-cased before use.
    pub status: String,
    /// The provider's error code, if any.
    pub error_code: Option<String>,
    /// When observed, unix milliseconds.
    pub at: i64,
}

/// What the store knows about one outbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The channel account.
    pub account: String,
    /// The provider's message id.
    pub message_sid: String,
    /// The reduced status (lower-case; [`CONFLICTED`] after two different terminal statuses).
    pub status: String,
    /// The error code, from the observation that set the status or the first that had one.
    pub error_code: Option<String>,
    /// First observation, unix milliseconds.
    pub first_observed_at: i64,
    /// Last observation, unix milliseconds.
    pub last_observed_at: i64,
    /// Whether two different terminal statuses were observed.
    pub conflict: bool,
    /// How many observations were reduced into this record.
    pub observations: u32,
}

/// Trims and lower-cases a status.
#[must_use]
pub(crate) fn normalize_status(status: &str) -> String {
    status.trim().to_ascii_lowercase()
}

/// Whether a (normalised) status is final: Twilio's rule,
/// [`MessageStatus::is_terminal`](openclaw_twilio::webhook::MessageStatus::is_terminal)
/// (`delivered`, `undelivered`, `failed`, `canceled`), read from the stored text.
#[must_use]
pub fn is_terminal(status: &str) -> bool {
    openclaw_twilio::webhook::MessageStatus::parse(status).is_terminal()
}

/// The ranks of the non-terminal statuses, lowest first; other statuses rank -1.
pub(crate) const STATUS_RANKS: &[(&str, i32)] = &[
    ("accepted", 10),
    ("scheduled", 20),
    ("queued", 30),
    ("sending", 40),
    ("sent", 50),
];

/// The terminal statuses ([`is_terminal`]), for a backend that reduces in SQL.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) const TERMINAL_STATUSES: &[&str] = &["delivered", "undelivered", "failed", "canceled"];

/// The rank of a (normalised) non-terminal status; unknown statuses rank -1.
#[must_use]
pub(crate) fn status_rank(status: &str) -> i32 {
    STATUS_RANKS
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(-1, |(_, rank)| *rank)
}

/// An observation's status and error code as the reducer reads them: trimmed, lower-cased;
/// a blank error code is none.
pub(crate) fn normalized(observation: &DeliveryObservation) -> (String, Option<String>) {
    let error_code = observation
        .error_code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    (normalize_status(&observation.status), error_code)
}

/// Reduces one observation into the current record (upstream's reducer): the same status keeps
/// the record and fills a missing error code; `conflicted` sticks; two different terminal
/// statuses give `conflicted`; a terminal status never regresses; a non-terminal status advances
/// only to a higher rank. Observation times only widen the record's window.
#[must_use]
pub(crate) fn reduce_delivery(
    current: Option<&DeliveryRecord>,
    observation: &DeliveryObservation,
) -> DeliveryRecord {
    let (status, error_code) = normalized(observation);
    let Some(current) = current else {
        return DeliveryRecord {
            account: observation.account.clone(),
            message_sid: observation.message_sid.clone(),
            status,
            error_code,
            first_observed_at: observation.at,
            last_observed_at: observation.at,
            conflict: false,
            observations: 1,
        };
    };
    let mut next = current.clone();
    next.first_observed_at = next.first_observed_at.min(observation.at);
    next.last_observed_at = next.last_observed_at.max(observation.at);
    next.observations = next.observations.saturating_add(1);
    if current.status == CONFLICTED {
        // Sticks.
    } else if status == current.status {
        if next.error_code.is_none() {
            next.error_code = error_code;
        }
    } else if is_terminal(&current.status) {
        if is_terminal(&status) {
            next.status = CONFLICTED.to_owned();
            next.conflict = true;
            if next.error_code.is_none() {
                next.error_code = error_code;
            }
        }
        // A non-terminal status after a terminal one is late news: ignored.
    } else if is_terminal(&status) || status_rank(&status) > status_rank(&current.status) {
        next.status = status;
        if error_code.is_some() {
            next.error_code = error_code;
        }
    }
    next
}

/// Delivery observations.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Reduces an observation into the stored record (atomically) and returns the result.
    async fn record_delivery(
        &self,
        observation: DeliveryObservation,
    ) -> Result<DeliveryRecord, StoreError>;

    /// The record of one message.
    async fn delivery(
        &self,
        account: &str,
        message_sid: &str,
    ) -> Result<Option<DeliveryRecord>, StoreError>;

    /// The most recently observed record of an account (for the status probe).
    async fn latest_delivery(&self, account: &str) -> Result<Option<DeliveryRecord>, StoreError>;

    /// Drops records older than the TTL and the oldest beyond the cap; returns how many.
    async fn prune_deliveries(&self, now: i64) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(status: &str, code: Option<&str>, at: i64) -> DeliveryObservation {
        DeliveryObservation {
            account: "default".to_owned(),
            message_sid: "SM1".to_owned(),
            status: status.to_owned(),
            error_code: code.map(str::to_owned),
            at,
        }
    }

    /// Applies the observations in order; returns (status, error code, conflict).
    #[track_caller]
    fn check(steps: &[(&str, Option<&str>)], expected: (&str, Option<&str>, bool)) {
        let mut record: Option<DeliveryRecord> = None;
        for (i, (status, code)) in steps.iter().enumerate() {
            let at = i64::try_from(i).unwrap() * 10;
            record = Some(reduce_delivery(record.as_ref(), &obs(status, *code, at)));
        }
        let record = record.unwrap();
        assert_eq!(
            (
                record.status.as_str(),
                record.error_code.as_deref(),
                record.conflict
            ),
            expected,
            "steps {steps:?}"
        );
        assert_eq!(record.observations as usize, steps.len());
    }

    #[test]
    fn reducer_follows_upstream() {
        check(&[("queued", None)], ("queued", None, false));
        check(&[(" Queued ", None)], ("queued", None, false));
        check(&[("queued", None), ("sent", None)], ("sent", None, false));
        check(&[("sent", None), ("queued", None)], ("sent", None, false));
        check(
            &[("accepted", None), ("scheduled", None), ("sending", None)],
            ("sending", None, false),
        );
        check(
            &[("sent", None), ("delivered", None)],
            ("delivered", None, false),
        );
        check(
            &[("delivered", None), ("sent", None)],
            ("delivered", None, false),
        );
        check(
            &[("delivered", None), ("queued", None)],
            ("delivered", None, false),
        );
        check(
            &[("delivered", None), ("delivered", None)],
            ("delivered", None, false),
        );
        check(
            &[("delivered", None), ("undelivered", Some("30003"))],
            ("conflicted", Some("30003"), true),
        );
        check(
            &[("failed", Some("30007")), ("delivered", None)],
            ("conflicted", Some("30007"), true),
        );
        check(
            &[("failed", None), ("delivered", None), ("sent", None)],
            ("conflicted", None, true),
        );
        check(
            &[("failed", None), ("delivered", None), ("failed", Some("1"))],
            ("conflicted", None, true),
        );
        check(
            &[("undelivered", None), ("undelivered", Some("30005"))],
            ("undelivered", Some("30005"), false),
        );
        check(
            &[
                ("undelivered", Some("30005")),
                ("undelivered", Some("30006")),
            ],
            ("undelivered", Some("30005"), false),
        );
        check(
            &[("sent", None), ("undelivered", Some("30003"))],
            ("undelivered", Some("30003"), false),
        );
        check(&[("queued", None), ("read", None)], ("queued", None, false));
        check(&[("read", None), ("queued", None)], ("queued", None, false));
        check(
            &[("weird", None), ("canceled", None)],
            ("canceled", None, false),
        );
        check(
            &[("sent", Some("  ")), ("sent", Some("123"))],
            ("sent", Some("123"), false),
        );
    }

    #[test]
    fn reducer_widens_the_time_window() {
        let first = reduce_delivery(None, &obs("sent", None, 100));
        let older = reduce_delivery(Some(&first), &obs("queued", None, 50));
        assert_eq!((older.first_observed_at, older.last_observed_at), (50, 100));
        let newer = reduce_delivery(Some(&older), &obs("delivered", None, 200));
        assert_eq!((newer.first_observed_at, newer.last_observed_at), (50, 200));
    }

    #[test]
    fn the_terminal_list_is_twilios_rule() {
        for status in [
            "accepted",
            "scheduled",
            "queued",
            "sending",
            "sent",
            "receiving",
            "received",
            "read",
            "partially_delivered",
            "delivered",
            "undelivered",
            "failed",
            "canceled",
            "conflicted",
            "weird",
        ] {
            assert_eq!(
                TERMINAL_STATUSES.contains(&status),
                is_terminal(status),
                "{status}"
            );
        }
    }

    #[test]
    fn ranks_and_terminals() {
        for (s, r) in [
            ("accepted", 10),
            ("scheduled", 20),
            ("queued", 30),
            ("sending", 40),
            ("sent", 50),
            ("delivered", -1),
            ("x", -1),
        ] {
            assert_eq!(status_rank(s), r, "{s}");
        }
        for (s, t) in [
            ("delivered", true),
            ("undelivered", true),
            ("failed", true),
            ("canceled", true),
            ("sent", false),
            ("conflicted", false),
        ] {
            assert_eq!(is_terminal(s), t, "{s}");
        }
    }
}
