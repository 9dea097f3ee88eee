//! Scheduled sends and quiet-hours holds: when a message that the owner or automation starts
//! (`openclaw message send`, the send API) goes out, the durable schedule it waits in, and the
//! task that sends what is due.
//!
//! [`plan`] decides: now, at the asked time (`--at`, `--after`, `sendAt`), or at the end of the
//! recipient's quiet hours (`quietHours`, read at the time the message would go out). A
//! message that waits is a row of the store's schedule ([`openclaw_store::ScheduledStore`]), durable before
//! the caller is answered. [`Scheduler::run`] wakes when a send is stored and at most every
//! [`POLL_INTERVAL`], claims what is due (one gateway per send, even on a shared PostgreSQL),
//! and sends it through the account's `Outbound` (formatting, segments, pacing, opt-outs)
//! under the send's reply id, so a send taken over after a crash skips the parts already sent.
//! Direct replies to a text never come here.

use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, Zoned};
use openclaw_sms::SmsChannel;
use openclaw_sms::config::AccountSettings;
use openclaw_sms::metrics::names;
use openclaw_sms_target::E164;
use openclaw_store::{
    NewScheduledSend, SCHEDULE_LEASE_MS, ScheduleReason, ScheduledOutcome, ScheduledSend,
    ScheduledState, Store, StoreError,
};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Longest sleep of the scheduler between looks at the schedule.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(5);
/// Due sends claimed per look.
pub(crate) const CLAIM_BATCH: u32 = 16;
/// Most sends `message scheduled list` shows.
pub(crate) const LIST_LIMIT: u32 = 500;
/// How far ahead a send may be scheduled (one year).
pub(crate) const MAX_AHEAD_MS: i64 = 366 * 86_400_000;

/// When a started message goes out, if not now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Planned {
    pub(crate) due_at: i64,
    pub(crate) reason: ScheduleReason,
    /// The zone that decided `due_at` (quiet hours' zone for the recipient, or the zone the
    /// asked time was written in).
    pub(crate) zone: Option<String>,
}

/// Decides when a message started by the owner or automation goes out: `None` is now. `asked`
/// is the requested time and the zone it was written in; quiet hours are read at that time (or
/// now), in the recipient's zone.
pub(crate) fn plan(
    settings: &AccountSettings,
    to: &str,
    asked: Option<(i64, Option<String>)>,
    now: i64,
) -> Option<Planned> {
    let at = asked.as_ref().map_or(now, |(at, _)| (*at).max(now));
    if let (Some(quiet), Ok(number)) = (&settings.quiet_hours, E164::parse(to))
        && let Some(hold) = quiet.hold_until(&number, at)
    {
        return Some(Planned {
            due_at: hold.until_ms,
            reason: ScheduleReason::QuietHours,
            zone: Some(hold.zone.name),
        });
    }
    match asked {
        Some((due_at, zone)) if due_at > now => Some(Planned {
            due_at,
            reason: ScheduleReason::At,
            zone,
        }),
        _ => None,
    }
}

/// A new id for a scheduled send: 32 lower-case hex characters.
pub(crate) fn new_id() -> String {
    rand::random::<[u8; 16]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `id` looks like a scheduled send's id (32 lower-case hex characters).
pub(crate) fn is_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Parses `--at`: `2026-12-04T09:00[Europe/Paris]`, `2026-12-04T09:00+01:00`,
/// `2026-12-04T09:00Z`, or `2026-12-04T09:00` in `local` (the gateway machine's zone).
/// Returns the instant (unix ms) and the zone it was written in, if named.
pub(crate) fn parse_at(input: &str, local: &TimeZone) -> Result<(i64, Option<String>), String> {
    let input = input.trim();
    let hint = "give a time such as 2026-12-04T09:00, 2026-12-04T09:00[Europe/Paris] or 2026-12-04T09:00-05:00";
    if input.len() > 64 {
        return Err(format!("--at is too long; {hint}"));
    }
    if input.contains('[') {
        let zoned: Zoned = input
            .parse()
            .map_err(|e| format!("--at {input:?}: {e}; {hint}"))?;
        let name = zoned.time_zone().iana_name().map(str::to_owned);
        return Ok((zoned.timestamp().as_millisecond(), name));
    }
    if let Ok(ts) = input.parse::<Timestamp>() {
        return Ok((ts.as_millisecond(), None));
    }
    let civil: jiff::civil::DateTime = input
        .parse()
        .map_err(|e| format!("--at {input:?}: {e}; {hint}"))?;
    let zoned = civil
        .to_zoned(local.clone())
        .map_err(|e| format!("--at {input:?}: {e}"))?;
    Ok((
        zoned.timestamp().as_millisecond(),
        local.iana_name().map(str::to_owned),
    ))
}

/// Parses `--after`: `90s`, `45m`, `2h`, `1d`, `1h30m` (or ISO 8601 `PT2H`), counted from
/// `now` (unix ms) in `local`.
pub(crate) fn parse_after(input: &str, now: i64, local: &TimeZone) -> Result<i64, String> {
    let input = input.trim();
    let hint = "give a duration such as 90s, 45m, 2h, 1d or 1h30m";
    if input.len() > 64 {
        return Err(format!("--after is too long; {hint}"));
    }
    let span: Span = input
        .parse()
        .map_err(|e| format!("--after {input:?}: {e}; {hint}"))?;
    if span.is_negative() || span.is_zero() {
        return Err(format!("--after {input:?} must be positive; {hint}"));
    }
    let start = Timestamp::from_millisecond(now)
        .map_err(|e| e.to_string())?
        .to_zoned(local.clone());
    start
        .checked_add(span)
        .map(|z| z.timestamp().as_millisecond())
        .map_err(|e| format!("--after {input:?}: {e}"))
}

/// Checks an asked time against `now`: not in the past (with a minute of slack for clocks),
/// not more than [`MAX_AHEAD_MS`] ahead.
pub(crate) fn check_asked(due_at: i64, now: i64) -> Result<(), String> {
    if due_at < now.saturating_sub(60_000) {
        return Err(format!(
            "the time {} is in the past",
            crate::cli::iso_time(due_at)
        ));
    }
    if due_at > now.saturating_add(MAX_AHEAD_MS) {
        return Err("the time is more than a year ahead".to_owned());
    }
    Ok(())
}

/// The JSON of a scheduled send (`message scheduled list`, `message send` of a held message).
pub(crate) fn scheduled_json(send: &ScheduledSend) -> Value {
    json!({
        "id": send.id,
        "account": send.account,
        "to": send.recipient,
        "dueAt": crate::cli::iso_time(send.due_at),
        "reason": send.reason.as_str(),
        "zone": send.zone,
        "state": send.state.as_str(),
        "error": send.error,
        "createdAt": crate::cli::iso_time(send.created_at),
    })
}

/// The schedule of a running gateway: stores sends (and wakes the task), and sends what is
/// due.
pub(crate) struct Scheduler {
    channel: Arc<SmsChannel>,
    wake: Notify,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler").finish_non_exhaustive()
    }
}

/// What [`schedule_in`] stores.
#[derive(Debug, Clone)]
pub(crate) struct ScheduleRequest {
    pub(crate) id: String,
    pub(crate) account: String,
    pub(crate) to: String,
    pub(crate) text: String,
    pub(crate) reply_id: String,
    pub(crate) planned: Planned,
    pub(crate) now: i64,
}

/// Stores a send in `store`'s schedule (durable when this returns): the one write of the
/// gateway, the send API and the CLI without a gateway.
pub(crate) async fn schedule_in(
    store: &dyn Store,
    request: ScheduleRequest,
) -> Result<ScheduledSend, StoreError> {
    store
        .schedule_send(NewScheduledSend {
            id: request.id,
            account: request.account,
            recipient: request.to,
            text: request.text,
            reply_id: request.reply_id,
            due_at: request.planned.due_at,
            reason: request.planned.reason,
            zone: request.planned.zone,
            created_at: request.now,
        })
        .await
}

impl Scheduler {
    pub(crate) fn new(channel: &Arc<SmsChannel>) -> Arc<Self> {
        Arc::new(Self {
            channel: Arc::clone(channel),
            wake: Notify::new(),
        })
    }

    /// Stores a send and wakes the task.
    pub(crate) async fn schedule(
        &self,
        request: ScheduleRequest,
    ) -> Result<ScheduledSend, StoreError> {
        let stored = schedule_in(&**self.channel.store(), request).await?;
        self.count(stored.reason, "scheduled");
        self.wake.notify_one();
        Ok(stored)
    }

    /// Cancels a waiting send; returns it as it is now (`None`: unknown id).
    pub(crate) async fn cancel(&self, id: &str) -> Result<Option<ScheduledSend>, StoreError> {
        let now = self.channel.clock().now_ms();
        let send = self.channel.store().cancel_scheduled(id, now).await?;
        // Cancelled by this call (not earlier): its last change is now.
        if let Some(s) = &send
            && s.state == ScheduledState::Cancelled
            && s.updated_at == now
        {
            self.count(s.reason, "cancelled");
        }
        Ok(send)
    }

    fn count(&self, reason: ScheduleReason, event: &'static str) {
        self.channel.metrics().inc(
            names::SCHEDULED_SENDS,
            &[("reason", reason.as_str()), ("event", event)],
            1,
        );
    }

    /// Sends what is due until `stop`: looks when woken, when the next send is due, and at
    /// least every [`POLL_INTERVAL`].
    pub(crate) async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut last_prune = i64::MIN;
        loop {
            while self.tick().await > 0 {
                if stop.is_cancelled() {
                    return;
                }
            }
            let now = self.channel.clock().now_ms();
            if now.saturating_sub(last_prune) > 3_600_000 {
                last_prune = now;
                if let Err(err) = self.channel.store().prune_scheduled(now).await {
                    tracing::warn!("could not prune finished scheduled sends: {err}");
                }
            }
            let sleep = match self.channel.store().next_scheduled_due().await {
                Ok(Some(due)) => {
                    Duration::from_millis(u64::try_from(due.saturating_sub(now)).unwrap_or(0))
                        .min(POLL_INTERVAL)
                }
                Ok(None) => POLL_INTERVAL,
                Err(err) => {
                    tracing::warn!("could not read the schedule: {err}");
                    POLL_INTERVAL
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(sleep) => {}
            }
        }
    }

    /// Claims and sends the due sends; returns how many it took.
    pub(crate) async fn tick(self: &Arc<Self>) -> usize {
        let now = self.channel.clock().now_ms();
        let claimed = match self
            .channel
            .store()
            .claim_due_sends(now, SCHEDULE_LEASE_MS, CLAIM_BATCH)
            .await
        {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!("could not claim due scheduled sends: {err}");
                return 0;
            }
        };
        let count = claimed.len();
        // Different recipients go out in parallel (`Outbound` paces each recipient).
        let mut sends = tokio::task::JoinSet::new();
        for send in claimed {
            let this = Arc::clone(self);
            sends.spawn(async move { this.send_one(send).await });
        }
        while let Some(done) = sends.join_next().await {
            if let Err(err) = done {
                tracing::error!("a scheduled send task failed: {err}");
            }
        }
        count
    }

    async fn send_one(&self, send: ScheduledSend) {
        let outcome = match self.channel.account(&send.account) {
            None => ScheduledOutcome::Failed(format!(
                "account {} is not running on this gateway",
                send.account
            )),
            Some(account) => {
                let report = self
                    .channel
                    .outbound()
                    .send_reply(account, &send.recipient, &send.text, &send.reply_id)
                    .await;
                if report.is_complete() && !report.parts.is_empty() {
                    ScheduledOutcome::Sent
                } else {
                    ScheduledOutcome::Failed(
                        report
                            .first_error()
                            .unwrap_or("nothing was sent")
                            .to_owned(),
                    )
                }
            }
        };
        let event = match &outcome {
            ScheduledOutcome::Sent => "sent",
            ScheduledOutcome::Failed(_) => "failed",
        };
        tracing::info!(
            account = %send.account,
            id = %send.id,
            reason = send.reason.as_str(),
            "scheduled send {event}"
        );
        let now = self.channel.clock().now_ms();
        match self
            .channel
            .store()
            .finish_scheduled(&send.id, outcome, now)
            .await
        {
            Ok(true) => self.count(send.reason, event),
            Ok(false) => tracing::warn!(id = %send.id, "scheduled send was no longer claimed"),
            Err(err) => tracing::warn!(id = %send.id, "could not record a scheduled send: {err}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> TimeZone {
        TimeZone::UTC
    }

    fn ms(rfc3339: &str) -> i64 {
        rfc3339.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn at_reads_zones_offsets_and_local_times() {
        let paris = parse_at("2026-12-04T09:00[Europe/Paris]", &utc()).unwrap();
        assert_eq!(
            paris,
            (ms("2026-12-04T08:00:00Z"), Some("Europe/Paris".to_owned()))
        );
        assert_eq!(
            parse_at("2026-12-04T09:00-05:00", &utc()).unwrap(),
            (ms("2026-12-04T14:00:00Z"), None)
        );
        let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
        assert_eq!(
            parse_at("2026-12-04T09:00", &tokyo).unwrap(),
            (ms("2026-12-04T00:00:00Z"), Some("Asia/Tokyo".to_owned()))
        );
        for bad in [
            "tomorrow",
            "2026-13-01T09:00",
            "2026-12-04T09:00[Mars/Base]",
            &"9".repeat(65),
        ] {
            assert!(parse_at(bad, &utc()).is_err(), "{bad}");
        }
    }

    #[test]
    fn after_reads_friendly_durations() {
        let now = ms("2026-12-04T09:00:00Z");
        assert_eq!(
            parse_after("2h", now, &utc()).unwrap(),
            ms("2026-12-04T11:00:00Z")
        );
        assert_eq!(
            parse_after("1h30m", now, &utc()).unwrap(),
            ms("2026-12-04T10:30:00Z")
        );
        assert_eq!(parse_after("90s", now, &utc()).unwrap(), now + 90_000);
        assert_eq!(
            parse_after("1d", now, &utc()).unwrap(),
            ms("2026-12-05T09:00:00Z")
        );
        for bad in ["", "soon", "-2h", "0s"] {
            assert!(parse_after(bad, now, &utc()).is_err(), "{bad}");
        }
    }

    #[test]
    fn asked_times_are_bounded() {
        let now = ms("2026-12-04T09:00:00Z");
        assert!(check_asked(now + 1, now).is_ok());
        assert!(check_asked(now - 60_000, now).is_ok());
        assert!(
            check_asked(now - 60_001, now)
                .unwrap_err()
                .contains("in the past")
        );
        assert!(check_asked(now + MAX_AHEAD_MS + 1, now).is_err());
    }

    fn settings(quiet: Option<Value>) -> AccountSettings {
        let mut config = json!({"accountSid": "AC0123456789abcdef0123456789abcdef",
            "authToken": "t", "fromNumber": "+15550001111"});
        if let Some(q) = quiet {
            config["quietHours"] = q;
        }
        let input =
            openclaw_sms::config::SmsChannelInput::from_value(&config, "channels.sms").unwrap();
        openclaw_sms::config::resolve_accounts(&input, &|_| None, "channels.sms")
            .unwrap()
            .accounts
            .remove(0)
    }

    #[test]
    fn plan_holds_in_quiet_hours_and_keeps_asked_times() {
        let quiet = settings(Some(
            json!({"start": "21:00", "end": "08:00", "timeZone": "auto", "fallbackTimeZone": "America/New_York"}),
        ));
        let gb = "+447400123456";
        let night = ms("2026-12-04T22:00:00Z");
        assert_eq!(
            plan(&quiet, gb, None, night),
            Some(Planned {
                due_at: ms("2026-12-05T08:00:00Z"),
                reason: ScheduleReason::QuietHours,
                zone: Some("Europe/London".to_owned()),
            })
        );
        // +1: the fallback zone (New York: 17:00 there, not quiet).
        assert_eq!(plan(&quiet, "+14155552671", None, night), None);
        // An asked time inside the window is held to its end; one outside is kept.
        let asked = ms("2026-12-05T06:00:00Z");
        assert_eq!(
            plan(&quiet, gb, Some((asked, None)), night).map(|p| (p.due_at, p.reason)),
            Some((ms("2026-12-05T08:00:00Z"), ScheduleReason::QuietHours))
        );
        let day = ms("2026-12-05T10:00:00Z");
        assert_eq!(
            plan(&quiet, gb, Some((day, Some("UTC".to_owned()))), night),
            Some(Planned {
                due_at: day,
                reason: ScheduleReason::At,
                zone: Some("UTC".to_owned())
            })
        );
        // No quiet hours: now, or the asked time.
        let plain = settings(None);
        assert_eq!(plan(&plain, gb, None, night), None);
        assert_eq!(plan(&plain, gb, Some((night - 1, None)), night), None);
    }
}
