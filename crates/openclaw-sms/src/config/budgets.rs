//! `budgets`, `longReplies` and `moreWindowMinutes` of an account: daily segment budgets in a
//! time zone, the price per segment for usage estimates, and what a reply over
//! `maxSegmentsPerReply` does.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::SmsError;

/// Keys of `budgets`.
pub const BUDGET_KEYS: &[&str] = &[
    "segmentsPerSenderPerDay",
    "segmentsPerAccountPerDay",
    "timeZone",
    "warnAtPercent",
    "pricePerSegment",
];

/// `budgets.warnAtPercent` when unset.
pub const DEFAULT_WARN_AT_PERCENT: u8 = 80;
/// `moreWindowMinutes` when unset.
pub const DEFAULT_MORE_WINDOW_MINUTES: u32 = 60;
/// Largest `moreWindowMinutes`: one week.
pub const MAX_MORE_WINDOW_MINUTES: u32 = 10_080;
/// Longest currency code accepted in `budgets.pricePerSegment`.
pub const MAX_CURRENCY_CHARS: usize = 8;

/// `budgets` as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BudgetsInput {
    /// Billed segments to one sender per day.
    pub segments_per_sender_per_day: Option<u32>,
    /// Billed segments of the whole account per day.
    pub segments_per_account_per_day: Option<u32>,
    /// IANA time zone of the budget day. Default `UTC`.
    pub time_zone: Option<String>,
    /// Percent of a budget at which the owner is warned. Default 80.
    pub warn_at_percent: Option<u32>,
    /// Price per segment by country calling code (`"1"`, `"44"`, `"*"` for the rest).
    pub price_per_segment: Option<BTreeMap<String, PriceInput>>,
}

/// One price as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PriceInput {
    /// Price of one segment.
    pub amount: f64,
    /// Currency code (`USD`).
    pub currency: String,
}

/// A price per segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Price {
    /// Price of one segment (finite, not negative).
    pub amount: f64,
    /// Currency code, upper case.
    pub currency: String,
}

/// An account's budgets, resolved.
#[derive(Debug, Clone)]
pub struct BudgetSettings {
    /// Billed segments to one sender per day.
    pub per_sender_per_day: Option<u32>,
    /// Billed segments of the account per day.
    pub per_account_per_day: Option<u32>,
    /// The zone whose calendar day the budgets count.
    pub time_zone: jiff::tz::TimeZone,
    /// Its name as configured (`UTC` by default).
    pub time_zone_name: String,
    /// Percent of a budget at which the owner is warned (1..=100).
    pub warn_at_percent: u8,
    /// Price per segment by country calling code; `*` for every other code.
    pub price_per_segment: BTreeMap<String, Price>,
}

impl Default for BudgetSettings {
    fn default() -> Self {
        Self {
            per_sender_per_day: None,
            per_account_per_day: None,
            time_zone: jiff::tz::TimeZone::UTC,
            time_zone_name: "UTC".to_owned(),
            warn_at_percent: DEFAULT_WARN_AT_PERCENT,
            price_per_segment: BTreeMap::new(),
        }
    }
}

impl BudgetSettings {
    /// Whether any daily budget is set.
    pub fn any(&self) -> bool {
        self.per_sender_per_day.is_some() || self.per_account_per_day.is_some()
    }

    /// The price of a segment to a number of `calling_code`, if one is configured.
    pub fn price_for(&self, calling_code: u16) -> Option<&Price> {
        self.price_per_segment
            .get(&calling_code.to_string())
            .or_else(|| self.price_per_segment.get("*"))
    }
}

/// What a reply over `maxSegmentsPerReply` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LongReplies {
    /// Cut it at the budget (today's behaviour).
    #[default]
    Send,
    /// Send the first part and offer the rest on `MORE`.
    Ask,
}

impl LongReplies {
    /// The configured spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Send => "send",
            Self::Ask => "ask",
        }
    }
}

/// `budgets` resolved; `path` is the account's config path.
pub(crate) fn resolve_budgets(
    input: Option<&BudgetsInput>,
    path: &str,
) -> Result<BudgetSettings, SmsError> {
    let mut out = BudgetSettings::default();
    let Some(input) = input else {
        return Ok(out);
    };
    let key = |k: &str| format!("{path}.budgets.{k}");
    let positive = |name: &str, v: Option<u32>| match v {
        Some(0) => Err(SmsError::invalid(
            &key(name),
            "must be at least 1 (leave it out for no budget)",
        )),
        v => Ok(v),
    };
    out.per_sender_per_day =
        positive("segmentsPerSenderPerDay", input.segments_per_sender_per_day)?;
    out.per_account_per_day = positive(
        "segmentsPerAccountPerDay",
        input.segments_per_account_per_day,
    )?;
    if let Some(name) = &input.time_zone {
        let name = name.trim();
        out.time_zone = jiff::tz::TimeZone::get(name).map_err(|_| {
            SmsError::invalid(
                &key("timeZone"),
                &format!(
                    "{name:?} is not an IANA time zone; use a name such as \"UTC\", \"America/New_York\" or \"Asia/Tokyo\""
                ),
            )
        })?;
        name.clone_into(&mut out.time_zone_name);
    }
    if let Some(percent) = input.warn_at_percent {
        out.warn_at_percent = u8::try_from(percent)
            .ok()
            .filter(|p| (1..=100).contains(p))
            .ok_or_else(|| SmsError::invalid(&key("warnAtPercent"), "must be from 1 to 100"))?;
    }
    for (code, price) in input.price_per_segment.iter().flatten() {
        let at = key(&format!("pricePerSegment.{code}"));
        let valid_code = code == "*"
            || (!code.is_empty()
                && code.len() <= 3
                && code.bytes().all(|b| b.is_ascii_digit())
                && !code.starts_with('0'));
        if !valid_code {
            return Err(SmsError::invalid(
                &at,
                "must be keyed by a country calling code without + (\"1\", \"44\") or \"*\" for every other",
            ));
        }
        if !price.amount.is_finite() || price.amount < 0.0 {
            return Err(SmsError::invalid(
                &format!("{at}.amount"),
                "must be a number, 0 or more",
            ));
        }
        let currency = price.currency.trim();
        if currency.is_empty()
            || currency.len() > MAX_CURRENCY_CHARS
            || !currency.bytes().all(|b| b.is_ascii_alphabetic())
        {
            return Err(SmsError::invalid(
                &format!("{at}.currency"),
                "must be a currency code such as \"USD\"",
            ));
        }
        out.price_per_segment.insert(
            code.clone(),
            Price {
                amount: price.amount,
                currency: currency.to_ascii_uppercase(),
            },
        );
    }
    Ok(out)
}

/// `longReplies` resolved.
pub(crate) fn resolve_long_replies(
    input: Option<&str>,
    path: &str,
) -> Result<LongReplies, SmsError> {
    match input.map(str::trim) {
        None | Some("send") => Ok(LongReplies::Send),
        Some("ask") => Ok(LongReplies::Ask),
        Some(other) => Err(SmsError::invalid(
            &format!("{path}.longReplies"),
            &format!("{other:?} is not a choice; use \"send\" or \"ask\""),
        )),
    }
}

/// `moreWindowMinutes` resolved.
pub(crate) fn resolve_more_window(input: Option<u32>, path: &str) -> Result<Duration, SmsError> {
    let minutes = input.unwrap_or(DEFAULT_MORE_WINDOW_MINUTES);
    if minutes == 0 || minutes > MAX_MORE_WINDOW_MINUTES {
        return Err(SmsError::invalid(
            &format!("{path}.moreWindowMinutes"),
            &format!("must be from 1 to {MAX_MORE_WINDOW_MINUTES} (one week)"),
        ));
    }
    Ok(Duration::from_secs(u64::from(minutes) * 60))
}
