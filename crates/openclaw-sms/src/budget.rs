//! Daily segment budgets: what one sender and one account may cost per day.
//!
//! The day is the calendar day in `budgets.timeZone` (UTC by default). What counts is what
//! Twilio accepted: each sent part's segments are added to the store's counters in the
//! transaction that marks the part sent ([`openclaw_store::UsageStore::mark_sent_counted`]),
//! so the count survives restarts and is shared by gateways on one PostgreSQL database.
//!
//! Before each part of a reply, [`check`] compares the day's counters with the budgets: a
//! part that fits is sent, the first that does not stops the reply (the parts before it
//! went out). The reply's recipient then gets one short notice per day, the owner numbers
//! (`pairing.notifyOwner`) one text per day and budget, the hit is recorded in the store
//! (shown by `openclaw channels status`) and counted in `openclaw_sms_budget_hits_total`.
//! Crossing `budgets.warnAtPercent` is logged, counted and texted to the owners once per day.
//! Notices and owner texts are exempt from the budgets (they are counted).
//!
//! Two gateways on PostgreSQL may both pass the check for their last part at the same moment:
//! a budget can be passed by at most one part per gateway, never by a whole reply.

use std::collections::{BTreeMap, HashSet};

use openclaw_sms_text::prepare_reply;
use openclaw_store::{BudgetHit, DayUsage};

use crate::account::AccountRuntime;
use crate::config::BudgetSettings;
use crate::metrics::{names, noted};
use crate::outbound::{Budgets, Outbound, PartOutcome, SendReport, reply_options};

/// The notice texted once per day to a sender whose reply a budget cut.
pub const BUDGET_NOTICE: &str = "Daily text limit reached; replies resume tomorrow.";

/// Which budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `budgets.segmentsPerSenderPerDay`.
    Sender,
    /// `budgets.segmentsPerAccountPerDay`.
    Account,
}

impl Scope {
    /// The label of metrics and records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sender => "sender",
            Self::Account => "account",
        }
    }

    /// The config key of the budget.
    pub fn key(self) -> &'static str {
        match self {
            Self::Sender => "budgets.segmentsPerSenderPerDay",
            Self::Account => "budgets.segmentsPerAccountPerDay",
        }
    }
}

/// A part that a budget stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Over {
    /// The budget that stops it.
    pub scope: Scope,
    /// Its limit, in segments per day.
    pub limit: u32,
    /// Segments already sent today under it.
    pub used: u64,
}

impl Over {
    /// Operator-facing reason, recorded with the reply.
    pub fn reason(&self) -> String {
        format!(
            "daily {} budget reached: {} of {} segments sent today ({}); the rest of the reply was not sent",
            self.scope.as_str(),
            self.used,
            self.limit,
            self.scope.key()
        )
    }
}

/// The verdict on one part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It fits; the budgets it brings to `warnAtPercent` (none, one or both).
    Fits {
        /// Budgets crossing their warning level with this part.
        warn: Vec<Scope>,
    },
    /// It does not fit.
    Over(Over),
}

/// Whether a part of `segments` fits the budgets, given what was sent today. The sender's
/// budget is checked first.
pub fn check(settings: &BudgetSettings, used: DayUsage, segments: u32) -> Verdict {
    let budgets = [
        (
            Scope::Sender,
            settings.per_sender_per_day,
            used.peer_segments,
        ),
        (
            Scope::Account,
            settings.per_account_per_day,
            used.account_segments,
        ),
    ];
    let mut warn = Vec::new();
    for (scope, limit, used) in budgets {
        let Some(limit) = limit else { continue };
        let after = used.saturating_add(u64::from(segments));
        if after > u64::from(limit) {
            return Verdict::Over(Over { scope, limit, used });
        }
        let level = u64::from(limit) * u64::from(settings.warn_at_percent);
        if used * 100 < level && after * 100 >= level {
            warn.push(scope);
        }
    }
    Verdict::Fits { warn }
}

/// The budget day (`YYYY-MM-DD`) of a unix-millisecond time in `settings`' zone.
pub fn budget_day(settings: &BudgetSettings, now_ms: i64) -> String {
    let instant = jiff::Timestamp::from_millisecond(now_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    instant
        .to_zoned(settings.time_zone.clone())
        .date()
        .strftime("%Y-%m-%d")
        .to_string()
}

/// `YYYY-MM-DD` checked as a calendar date (for `openclaw sms usage --since`).
pub fn parse_day(input: &str) -> Option<String> {
    let date: jiff::civil::Date = input.trim().parse().ok()?;
    Some(date.strftime("%Y-%m-%d").to_string())
}

/// The price of one segment to `number` under `settings`, by its country calling code (`*`
/// for a number that does not parse or has no price of its own).
pub fn price_for_number<'a>(
    settings: &'a BudgetSettings,
    number: &str,
) -> Option<&'a crate::config::Price> {
    match openclaw_sms_target::E164::parse(number) {
        Ok(n) => settings.price_for(n.country_code()),
        Err(_) => settings.price_per_segment.get("*"),
    }
}

/// The estimated cost of sent segments by currency, each recipient priced by
/// [`price_for_number`], and the segments that have no price.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CostEstimate {
    /// Amount per currency.
    pub by_currency: BTreeMap<String, f64>,
    /// Segments to numbers without a price (or of an account without settings).
    pub unpriced: u64,
}

impl CostEstimate {
    /// Adds `segments` sent to `peer`, priced under `settings` (`None`: unpriced).
    pub fn add(&mut self, settings: Option<&BudgetSettings>, peer: &str, segments: u64) {
        match settings.and_then(|s| price_for_number(s, peer)) {
            #[allow(
                clippy::cast_precision_loss,
                reason = "an estimate; segment counts stay far below 2^52"
            )]
            Some(price) => {
                *self.by_currency.entry(price.currency.clone()).or_default() +=
                    price.amount * segments as f64;
            }
            None => self.unpriced += segments,
        }
    }
}

/// The owner's text when a budget stops a reply.
pub fn owner_hit_notice(over: &Over, peer: &str) -> String {
    match over.scope {
        Scope::Sender => format!(
            "SMS budget: {peer} reached today's limit of {} texts (segments); their replies stop until tomorrow.",
            over.limit
        ),
        Scope::Account => format!(
            "SMS budget: this number reached today's limit of {} texts (segments); replies stop until tomorrow.",
            over.limit
        ),
    }
}

/// The owner's text when a budget reaches `warnAtPercent`.
pub fn owner_warn_notice(scope: Scope, settings: &BudgetSettings, peer: &str) -> String {
    let (limit, whose) = match scope {
        Scope::Sender => (settings.per_sender_per_day.unwrap_or(0), peer.to_owned()),
        Scope::Account => (
            settings.per_account_per_day.unwrap_or(0),
            "this number".to_owned(),
        ),
    };
    format!(
        "SMS budget: {whose} used {}% of today's {limit} texts (segments).",
        settings.warn_at_percent
    )
}

/// The budget check of one reply's parts ([`Outbound::send_prepared`]).
#[derive(Debug, Default)]
pub(crate) struct Gate {
    /// Whether the reply is held to budgets.
    active: bool,
    /// Parts already sent or failed by an earlier run: not checked again.
    finished: HashSet<u32>,
    /// Budgets the part being sent brings to their warning level.
    warn: Vec<Scope>,
    /// The budget that stopped the reply.
    over: Option<Over>,
    /// The budget day of the last check.
    day: String,
}

impl Gate {
    /// `Some(reason)` when the part at `index` does not fit (the reply stops there).
    pub(crate) async fn stops(
        &mut self,
        outbound: &Outbound,
        account: &AccountRuntime,
        to: &str,
        index: u32,
        segments: u32,
    ) -> Option<String> {
        self.warn.clear();
        if !self.active || self.finished.contains(&index) {
            return None;
        }
        let settings = &account.settings.budgets;
        self.day = budget_day(settings, outbound.clock.now_ms());
        let used = match outbound.store.day_usage(account.id(), &self.day, to).await {
            Ok(used) => used,
            Err(err) => {
                // The send itself needs the store: a store that cannot answer here rarely lets
                // the part go out, and a reply is not dropped on a doubt.
                tracing::warn!(
                    account = account.id(),
                    to,
                    "could not read today's SMS usage; the part is sent unchecked: {err}"
                );
                return None;
            }
        };
        match check(settings, used, segments) {
            Verdict::Over(over) => {
                let reason = over.reason();
                self.over = Some(over);
                Some(reason)
            }
            Verdict::Fits { warn } => {
                self.warn = warn;
                None
            }
        }
    }

    /// The part just checked was sent: warns of the budgets it brought to their level.
    pub(crate) async fn sent(&mut self, outbound: &Outbound, account: &AccountRuntime, to: &str) {
        for scope in std::mem::take(&mut self.warn) {
            outbound.budget_warned(account, to, scope, &self.day).await;
        }
    }

    /// The budget that stopped the reply.
    pub(crate) fn into_over(self) -> Option<Over> {
        self.over
    }
}

impl Outbound {
    /// The gate of one reply: inactive when exempt or when the account has no budget.
    pub(crate) async fn budget_gate(
        &self,
        account: &AccountRuntime,
        reply_id: &str,
        budgets: Budgets,
    ) -> Gate {
        if budgets == Budgets::Exempt || !account.settings.budgets.any() {
            return Gate::default();
        }
        let finished = match self.store.intents_for_reply(reply_id).await {
            Ok(intents) => intents
                .iter()
                .filter(|i| i.state.is_finished())
                .map(|i| i.part_index)
                .collect(),
            Err(err) => {
                tracing::warn!(
                    account = account.id(),
                    reply_id,
                    "could not read the parts sent earlier: {err}"
                );
                HashSet::new()
            }
        };
        Gate {
            active: true,
            finished,
            ..Gate::default()
        }
    }

    /// A budget stopped the reply `reply_id` to `to`: recorded (once per reply and budget),
    /// counted, and told to the recipient and the owners, once per day each.
    pub(crate) async fn budget_hit(
        &self,
        account: &AccountRuntime,
        to: &str,
        reply_id: &str,
        over: &Over,
    ) {
        let now = self.clock.now_ms();
        let day = budget_day(&account.settings.budgets, now);
        let hit = BudgetHit {
            account: account.id().to_owned(),
            day: day.clone(),
            scope: over.scope.as_str().to_owned(),
            peer: to.to_owned(),
            reply_id: reply_id.to_owned(),
            reason: over.reason(),
            at: now,
        };
        if noted(
            &self.metrics,
            "record_budget_hit",
            self.store.record_budget_hit(hit).await,
        ) == Some(true)
        {
            tracing::warn!(
                account = account.id(),
                to,
                reply_id,
                scope = over.scope.as_str(),
                "SMS reply to {to} stopped: {}",
                over.reason()
            );
            self.metrics.inc(
                names::BUDGET_HITS,
                &[("account", account.id()), ("scope", over.scope.as_str())],
                1,
            );
        }
        let notice_id = format!("budget-notice:{}:{day}:{to}", account.id());
        self.send_notice(account, to, BUDGET_NOTICE, &notice_id)
            .await;
        let text = owner_hit_notice(over, to);
        for owner in &account.settings.pairing.notify_owner {
            let owner = owner.as_str();
            if owner == to {
                continue;
            }
            let id = format!(
                "budget-owner:{}:{day}:{}:{owner}",
                account.id(),
                over.scope.as_str()
            );
            self.send_notice(account, owner, &text, &id).await;
        }
    }

    /// A budget reached `warnAtPercent` with a part to `to`: logged, counted, and texted to
    /// the owners once per day and budget.
    pub(crate) async fn budget_warned(
        &self,
        account: &AccountRuntime,
        to: &str,
        scope: Scope,
        day: &str,
    ) {
        let settings = &account.settings.budgets;
        tracing::warn!(
            account = account.id(),
            to,
            scope = scope.as_str(),
            "SMS {} budget at {}% for today ({})",
            scope.as_str(),
            settings.warn_at_percent,
            scope.key()
        );
        self.metrics.inc(
            names::BUDGET_WARNINGS,
            &[("account", account.id()), ("scope", scope.as_str())],
            1,
        );
        let text = owner_warn_notice(scope, settings, to);
        for owner in &account.settings.pairing.notify_owner {
            let owner = owner.as_str();
            let id = format!(
                "budget-warn:{}:{day}:{}:{owner}",
                account.id(),
                scope.as_str()
            );
            self.send_notice(account, owner, &text, &id).await;
        }
    }

    /// Sends a notice outside the budgets, once per `reply_id` (the outbound ledger skips a
    /// notice already sent).
    async fn send_notice(&self, account: &AccountRuntime, to: &str, text: &str, reply_id: &str) {
        let reply = prepare_reply(text, &reply_options(account));
        let report: SendReport =
            Box::pin(self.send_prepared(account, to, reply, reply_id, Budgets::Exempt)).await;
        if let Some(err) = report.first_error() {
            tracing::warn!(
                account = account.id(),
                to,
                reply_id,
                "an SMS budget notice was not sent: {err}"
            );
        } else if report
            .parts
            .iter()
            .any(|p| matches!(p, PartOutcome::Sent { earlier: false, .. }))
        {
            tracing::info!(
                account = account.id(),
                to,
                reply_id,
                "SMS budget notice sent"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(sender: Option<u32>, account: Option<u32>) -> BudgetSettings {
        BudgetSettings {
            per_sender_per_day: sender,
            per_account_per_day: account,
            ..BudgetSettings::default()
        }
    }

    #[track_caller]
    fn check_case(s: &BudgetSettings, peer: u64, account: u64, segments: u32, expected: Verdict) {
        let used = DayUsage {
            peer_segments: peer,
            account_segments: account,
        };
        assert_eq!(check(s, used, segments), expected);
    }

    fn fits(warn: &[Scope]) -> Verdict {
        Verdict::Fits {
            warn: warn.to_vec(),
        }
    }

    fn over(scope: Scope, limit: u32, used: u64) -> Verdict {
        Verdict::Over(Over { scope, limit, used })
    }

    #[test]
    fn the_last_fitting_segment_and_the_first_that_does_not() {
        let s = settings(Some(10), Some(100));
        check_case(&s, 9, 9, 1, fits(&[]));
        check_case(&s, 9, 9, 2, over(Scope::Sender, 10, 9));
        check_case(&s, 10, 10, 1, over(Scope::Sender, 10, 10));
        check_case(&s, 0, 99, 1, fits(&[]));
        check_case(&s, 0, 100, 1, over(Scope::Account, 100, 100));
        // No budget: anything fits.
        check_case(&settings(None, None), u64::MAX, u64::MAX, 7, fits(&[]));
    }

    #[test]
    fn warning_when_a_part_crosses_the_level() {
        let s = settings(Some(10), Some(20));
        // 80 % of 10 is 8: the part that reaches 8 warns, the ones before and after do not.
        check_case(&s, 6, 6, 1, fits(&[]));
        check_case(&s, 7, 7, 1, fits(&[Scope::Sender]));
        check_case(&s, 8, 8, 1, fits(&[]));
        // 80 % of 20 is 16, crossed with a 3-segment part at once with the sender's.
        check_case(&s, 5, 14, 3, fits(&[Scope::Sender, Scope::Account]));
    }

    #[test]
    fn days_and_prices() {
        assert_eq!(parse_day("2026-12-04").as_deref(), Some("2026-12-04"));
        assert_eq!(parse_day(" 2026-02-29"), None);
        assert_eq!(parse_day("yesterday"), None);
        let mut s = BudgetSettings::default();
        assert!(price_for_number(&s, "+15551234567").is_none());
        let price = |amount| crate::config::Price {
            amount,
            currency: "USD".to_owned(),
        };
        s.price_per_segment.insert("1".to_owned(), price(0.0079));
        assert_eq!(price_for_number(&s, "+15551234567"), Some(&price(0.0079)));
        assert!(price_for_number(&s, "+447700900123").is_none());
        s.price_per_segment.insert("*".to_owned(), price(0.05));
        assert_eq!(price_for_number(&s, "+447700900123"), Some(&price(0.05)));
        assert_eq!(price_for_number(&s, "not a number"), Some(&price(0.05)));
    }

    #[test]
    fn the_day_turns_at_midnight_in_the_configured_zone() {
        let mut s = BudgetSettings::default();
        // 2026-12-05T04:59:59.999Z is 23:59:59.999 on the 4th in New York (EST, UTC-5).
        let before = 1_796_446_799_999;
        assert_eq!(budget_day(&s, before), "2026-12-05");
        s.time_zone = jiff::tz::TimeZone::get("America/New_York").unwrap();
        assert_eq!(budget_day(&s, before), "2026-12-04");
        assert_eq!(budget_day(&s, before + 1), "2026-12-05");
        s.time_zone = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
        // 15:00Z is midnight in Tokyo (UTC+9).
        assert_eq!(budget_day(&s, 1_796_482_799_999), "2026-12-05");
        assert_eq!(budget_day(&s, 1_796_482_800_000), "2026-12-06");
    }
}
