//! `openclaw sms usage`: segments and messages sent, by day and by recipient (the sender who
//! texted the agent), with an estimated cost where `budgets.pricePerSegment` is set; and the
//! budget lines of `openclaw channels status`.
//!
//! Both read the usage counters of the store (the running gateway's state directory when one
//! runs, else the config's), as `channels dead-letters` does.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::bail;
use openclaw_sms::budget::{CostEstimate, budget_day, parse_day};
use openclaw_sms::config::{AccountSettings, SmsAccounts};
use openclaw_store::{Store, UsageRow};
use serde_json::{Value, json};

use super::Ctx;
use super::admin::{GatewayClient, block_on};
use super::print_json;
use crate::runtime::{now_ms, open_store};

/// Budget hits listed per account in `channels status`.
pub(crate) const STATUS_HITS: u32 = 5;

/// `openclaw sms usage [--account A] [--since DATE] [--json]`.
pub(crate) fn run(
    ctx: &Ctx,
    account: Option<&str>,
    since: Option<&str>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let accounts = ctx.sms_accounts()?;
    let account = match account.map(str::trim) {
        Some("") => bail!("--account must not be blank"),
        other => other.map(str::to_owned),
    };
    let since = match since {
        Some(raw) => match parse_day(raw) {
            Some(day) => Some(day),
            None => bail!(
                "--since {:?} is not a date; use YYYY-MM-DD, such as 2026-12-01",
                raw.trim()
            ),
        },
        None => None,
    };
    block_on(async move {
        let store = state_store(ctx).await?;
        let rows = store.usage(account.as_deref(), since.as_deref()).await?;
        let report = report(&rows, &accounts, account.as_deref(), since.as_deref());
        if as_json {
            print_json(&report)?;
        } else {
            print_report(&report);
        }
        Ok(ExitCode::SUCCESS)
    })?
}

/// The store of the running gateway when there is one, else of this config's state directory.
async fn state_store(ctx: &Ctx) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    let running = GatewayClient::new(ctx)?.status().await;
    state_store_of(ctx, running.as_ref()).await
}

async fn state_store_of(
    ctx: &Ctx,
    running: Option<&Value>,
) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    let state_dir = running
        .as_ref()
        .and_then(|s| s["stateDir"].as_str())
        .map_or_else(|| ctx.paths.state_dir.clone(), std::path::PathBuf::from);
    open_store(ctx, &state_dir, now_ms()).await
}

/// Segments, messages and cost by currency, summed.
#[derive(Debug, Default, Clone)]
struct Sum {
    segments: u64,
    messages: u64,
    cost: CostEstimate,
}

impl Sum {
    fn add(&mut self, row: &UsageRow, account: Option<&AccountSettings>) {
        self.segments += row.segments;
        self.messages += row.messages;
        self.cost
            .add(account.map(|a| &a.budgets), &row.peer, row.segments);
    }

    fn json(&self, priced: bool) -> Value {
        let cost: serde_json::Map<String, Value> = self
            .cost
            .by_currency
            .iter()
            .map(|(c, a)| (c.clone(), json!((a * 1e6).round() / 1e6)))
            .collect();
        json!({
            "segments": self.segments,
            "messages": self.messages,
            "estimatedCost": if priced { Value::Object(cost) } else { Value::Null },
            "unpricedSegments": if priced { json!(self.cost.unpriced) } else { Value::Null },
        })
    }
}

/// The usage report: totals, by day, by sender, and the raw rows.
fn report(
    rows: &[UsageRow],
    accounts: &SmsAccounts,
    account: Option<&str>,
    since: Option<&str>,
) -> Value {
    let settings = |id: &str| accounts.accounts.iter().find(|a| a.id == id);
    let priced = accounts
        .accounts
        .iter()
        .filter(|a| account.is_none_or(|id| a.id == id))
        .any(|a| !a.budgets.price_per_segment.is_empty());
    let mut total = Sum::default();
    let mut days: BTreeMap<(String, String), Sum> = BTreeMap::new();
    let mut senders: BTreeMap<(String, String), Sum> = BTreeMap::new();
    let mut out_rows = Vec::with_capacity(rows.len());
    for row in rows {
        let settings = settings(&row.account);
        total.add(row, settings);
        days.entry((row.day.clone(), row.account.clone()))
            .or_default()
            .add(row, settings);
        senders
            .entry((row.peer.clone(), row.account.clone()))
            .or_default()
            .add(row, settings);
        let mut one = Sum::default();
        one.add(row, settings);
        let mut value = json!({"day": row.day, "account": row.account, "sender": row.peer});
        merge(&mut value, one.json(priced));
        out_rows.push(value);
    }
    let days: Vec<Value> = days
        .iter()
        .map(|((day, account), sum)| {
            let mut v = json!({"day": day, "account": account});
            merge(&mut v, sum.json(priced));
            v
        })
        .collect();
    let mut senders: Vec<(&(String, String), &Sum)> = senders.iter().collect();
    senders.sort_by(|a, b| b.1.segments.cmp(&a.1.segments).then(a.0.cmp(b.0)));
    let senders: Vec<Value> = senders
        .into_iter()
        .map(|((sender, account), sum)| {
            let mut v = json!({"sender": sender, "account": account});
            merge(&mut v, sum.json(priced));
            v
        })
        .collect();
    let zones: BTreeMap<&str, &str> = accounts
        .accounts
        .iter()
        .filter(|a| account.is_none_or(|id| a.id == id))
        .map(|a| (a.id.as_str(), a.budgets.time_zone_name.as_str()))
        .collect();
    json!({
        "channel": "sms",
        "account": account,
        "since": since,
        "timeZones": zones,
        "total": total.json(priced),
        "days": days,
        "senders": senders,
        "rows": out_rows,
    })
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

fn cost_text(v: &Value) -> String {
    match v["estimatedCost"].as_object() {
        Some(cost) if !cost.is_empty() => cost
            .iter()
            .map(|(c, a)| format!("{} {c}", a.as_f64().unwrap_or(0.0)))
            .collect::<Vec<_>>()
            .join(" + "),
        Some(_) => "0".to_owned(),
        None => "-".to_owned(),
    }
}

fn print_report(report: &Value) {
    let account = report["account"].as_str().unwrap_or("all accounts");
    let since = report["since"]
        .as_str()
        .map(|d| format!(", since {d}"))
        .unwrap_or_default();
    outln!("SMS usage ({account}{since}; days in each account's budgets.timeZone)");
    let days = report["days"].as_array().cloned().unwrap_or_default();
    if days.is_empty() {
        outln!("Nothing sent.");
        return;
    }
    outln!(
        "  {:<12} {:<12} {:>9} {:>9}  est. cost",
        "day",
        "account",
        "segments",
        "messages"
    );
    for d in &days {
        outln!(
            "  {:<12} {:<12} {:>9} {:>9}  {}",
            d["day"].as_str().unwrap_or(""),
            d["account"].as_str().unwrap_or(""),
            d["segments"],
            d["messages"],
            cost_text(d)
        );
    }
    outln!("By sender:");
    for s in report["senders"].as_array().into_iter().flatten() {
        outln!(
            "  {:<16} {:<12} {:>9} {:>9}  {}",
            s["sender"].as_str().unwrap_or(""),
            s["account"].as_str().unwrap_or(""),
            s["segments"],
            s["messages"],
            cost_text(s)
        );
    }
    let total = &report["total"];
    outln!(
        "Total: {} segment(s), {} message(s), estimated cost {}",
        total["segments"],
        total["messages"],
        cost_text(total)
    );
}

/// The `budget` of an account's `channels status` row: today's segments against its budgets
/// and the replies budgets stopped today (the newest [`STATUS_HITS`]). `None` when the
/// account has no budget and nothing was stopped.
pub(crate) async fn budget_status(store: &dyn Store, account: &AccountSettings) -> Option<Value> {
    let budgets = &account.budgets;
    let day = budget_day(budgets, now_ms());
    let used = store.day_usage(&account.id, &day, "").await.ok()?;
    let hits = store
        .budget_hits(&account.id, &day, STATUS_HITS)
        .await
        .ok()?;
    if !budgets.any() && hits.is_empty() {
        return None;
    }
    Some(json!({
        "day": day,
        "timeZone": budgets.time_zone_name,
        "segmentsToday": used.account_segments,
        "segmentsPerAccountPerDay": budgets.per_account_per_day,
        "segmentsPerSenderPerDay": budgets.per_sender_per_day,
        "warnAtPercent": budgets.warn_at_percent,
        "stoppedToday": hits.iter().map(|h| json!({
            "scope": h.scope,
            "sender": h.peer,
            "reason": h.reason,
            "at": super::iso_time(h.at),
        })).collect::<Vec<_>>(),
    }))
}

/// Adds `budget` ([`budget_status`]) to the status row of each configured account. Best
/// effort: a store that cannot be opened leaves the rows as they are.
pub(crate) async fn attach_budgets(
    ctx: &Ctx,
    running: Option<&Value>,
    accounts: &SmsAccounts,
    rows: &mut [Value],
) {
    // Hits are recorded only under a budget: without one there is nothing to show (and no
    // state database is opened, or created, for a status).
    if !accounts.accounts.iter().any(|a| a.budgets.any()) {
        return;
    }
    let Ok(store) = state_store_of(ctx, running).await else {
        return;
    };
    for row in rows.iter_mut() {
        let Some(account) = accounts
            .accounts
            .iter()
            .find(|a| row["accountId"] == a.id.as_str())
        else {
            continue;
        };
        if let Some(budget) = budget_status(store.as_ref(), account).await {
            row["budget"] = budget;
        }
    }
}

/// The status lines of a row's `budget`.
pub(crate) fn print_budget(row: &Value) {
    let budget = &row["budget"];
    if !budget.is_object() {
        return;
    }
    let limit = budget["segmentsPerAccountPerDay"]
        .as_u64()
        .map(|l| format!(" of {l}"))
        .unwrap_or_default();
    let per_sender = budget["segmentsPerSenderPerDay"]
        .as_u64()
        .map(|l| format!(", {l} per sender"))
        .unwrap_or_default();
    outln!(
        "  Budget: {}{limit} segments today ({} {}){per_sender}",
        budget["segmentsToday"],
        budget["day"].as_str().unwrap_or(""),
        budget["timeZone"].as_str().unwrap_or("")
    );
    for hit in budget["stoppedToday"].as_array().into_iter().flatten() {
        outln!(
            "  Reply stopped {} to {}: {}",
            hit["at"].as_str().unwrap_or(""),
            hit["sender"].as_str().unwrap_or(""),
            hit["reason"].as_str().unwrap_or("")
        );
    }
}

#[cfg(test)]
mod tests {
    use openclaw_sms::config::{SmsChannelInput, resolve_accounts};

    use super::*;

    fn accounts(extra: Value) -> SmsAccounts {
        let mut config = json!({"accountSid": "AC0123456789abcdef0123456789abcdef",
            "authToken": "t", "fromNumber": "+15550001111"});
        if let (Some(c), Value::Object(extra)) = (config.as_object_mut(), extra) {
            c.extend(extra);
        }
        let input = SmsChannelInput::from_value(&config, "channels.sms").unwrap();
        resolve_accounts(&input, &|_| None, "channels.sms").unwrap()
    }

    fn row(day: &str, peer: &str, segments: u64, messages: u64) -> UsageRow {
        UsageRow {
            account: "default".into(),
            day: day.into(),
            peer: peer.into(),
            segments,
            messages,
        }
    }

    #[test]
    fn the_report_sums_by_day_and_sender_and_prices_by_calling_code() {
        let accounts = accounts(json!({"budgets": {"pricePerSegment": {
            "1": {"amount": 0.01, "currency": "USD"},
            "44": {"amount": 0.04, "currency": "GBP"}
        }}}));
        let rows = [
            row("2026-12-04", "+15551230001", 3, 2),
            row("2026-12-04", "+447700900123", 1, 1),
            row("2026-12-05", "+15551230001", 2, 1),
            row("2026-12-05", "+33612345678", 5, 1),
        ];
        let report = report(&rows, &accounts, None, Some("2026-12-04"));
        assert_eq!(
            report["total"],
            json!({"segments": 11, "messages": 5,
                "estimatedCost": {"GBP": 0.04, "USD": 0.05}, "unpricedSegments": 5})
        );
        assert_eq!(
            report["days"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| (d["day"].as_str().unwrap(), d["segments"].as_u64().unwrap()))
                .collect::<Vec<_>>(),
            [("2026-12-04", 4), ("2026-12-05", 7)]
        );
        // Senders by segments, most first.
        assert_eq!(
            report["senders"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| (
                    s["sender"].as_str().unwrap(),
                    s["segments"].as_u64().unwrap()
                ))
                .collect::<Vec<_>>(),
            [
                ("+15551230001", 5),
                ("+33612345678", 5),
                ("+447700900123", 1)
            ]
        );
        assert_eq!(report["since"], "2026-12-04");
        assert_eq!(report["rows"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn without_prices_the_cost_is_null() {
        let report = report(
            &[row("2026-12-04", "+15551230001", 3, 2)],
            &accounts(json!({})),
            None,
            None,
        );
        assert_eq!(
            report["total"],
            json!({"segments": 3, "messages": 2, "estimatedCost": null, "unpricedSegments": null})
        );
        assert_eq!(report["timeZones"], json!({"default": "UTC"}));
    }
}
