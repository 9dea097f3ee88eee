//! Long replies by consent (`longReplies: "ask"`): a reply over `maxSegmentsPerReply` sends
//! its first page, which ends with "Reply MORE for the rest (N more texts)", and the rest is
//! held in the store ([`openclaw_store::UsageStore::hold_rest`]). A `MORE` from that sender
//! within `moreWindowMinutes` sends the next page (the budgets apply); after the window the
//! rest is dropped, logged and counted. `MORE` never reaches the agent while the account asks.
//!
//! Each page is sent under its own reply id (`<reply>:more:<page>`), so a page resumed after a
//! crash, or a `MORE` run twice, sends each part once.

use openclaw_sms_text::{
    Reply, ReplyOptions, TRUNCATION_NOTICE, analyze, prepare_plain_reply, prepare_reply,
};
use openclaw_store::{Claimed, FirstPart, HeldRest, HistoryEntry, NewIntent, Role, body_hash};

use crate::account::AccountRuntime;
use crate::channel::SmsChannel;
use crate::config::LongReplies;
use crate::metrics::{names, noted};
use crate::outbound::{Answering, Budgets, Finish, SendReport, reply_options};
use crate::pipeline::Processed;

/// The word that asks for the rest (whole message, trimmed, any case).
pub const MORE_KEYWORD: &str = "MORE";

/// Whether `body` is `MORE`.
pub fn is_more(body: &str) -> bool {
    body.trim().eq_ignore_ascii_case(MORE_KEYWORD)
}

/// The line that ends a page with a rest: never longer than [`TRUNCATION_NOTICE`], whose
/// place it takes, so the page keeps its size.
pub fn more_notice(remaining: u32) -> String {
    match remaining {
        1 => "Reply MORE for the rest (1 more text)".to_owned(),
        n if n < 100 => format!("Reply MORE for the rest ({n} more texts)"),
        _ => "Reply MORE for the rest (100+ texts)".to_owned(),
    }
}

/// One page of a plain text and what is left after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The page, ready to send; with a rest, its last part ends with [`more_notice`].
    pub reply: Reply,
    /// The plain text after the page, if any.
    pub rest: Option<String>,
}

/// The first page of `plain` under `options` (whose `max_segments` is the page size).
pub fn page_of(plain: &str, options: &ReplyOptions) -> Page {
    let mut reply = prepare_plain_reply(plain, options);
    if !reply.truncated {
        return Page { reply, rest: None };
    }
    let end = reply.parts.last().map_or(0, |p| p.source.end);
    let rest = reply.text.get(end..).unwrap_or_default().trim().to_owned();
    if rest.is_empty() {
        return Page { reply, rest: None };
    }
    let unbudgeted = ReplyOptions {
        split: openclaw_sms_text::SplitOptions {
            max_segments: None,
            ..options.split
        },
        ..*options
    };
    let remaining = prepare_plain_reply(&rest, &unbudgeted).billed_segments;
    if let Some(last) = reply.parts.last_mut()
        && let Some(body) = last.text.strip_suffix(TRUNCATION_NOTICE)
    {
        last.text = format!("{body}{}", more_notice(remaining));
        let report = analyze(&last.text);
        last.segments = report.segments;
        last.units = report.units;
        last.encoding = report.encoding;
    }
    reply.billed_segments = reply.parts.iter().map(|p| p.segments).sum();
    Page {
        reply,
        rest: Some(rest),
    }
}

impl SmsChannel {
    /// The answer `text` prepared for sending and its first part's intent, to be written with
    /// the answer ([`openclaw_store::PipelineSteps::save_answer_sending`]), when that first
    /// part is sure to be attempted right after: one reply (not a page offering `MORE`), no
    /// budget that could stop it, and something to send.
    pub(crate) fn first_intent(
        account: &AccountRuntime,
        sender: &str,
        text: &str,
        reply_id: &str,
        now: i64,
    ) -> Option<(Reply, NewIntent)> {
        if account.settings.long_replies == LongReplies::Ask
            || account.settings.budgets.any()
            || text.trim().is_empty()
        {
            return None;
        }
        let reply = prepare_reply(text, &reply_options(account));
        let first = reply.parts.first()?;
        let intent = NewIntent {
            reply_id: reply_id.to_owned(),
            account: account.id().to_owned(),
            recipient: sender.to_owned(),
            body_hash: body_hash(&first.text),
            part_index: 0,
            part_count: u32::try_from(reply.parts.len()).unwrap_or(u32::MAX),
            created_at: now,
        };
        Some((reply, intent))
    }

    /// Sends the agent's answer: as one reply, or with `longReplies: "ask"` and a reply over
    /// `maxSegmentsPerReply`, its first page (the rest held for `MORE`). As one reply, its
    /// last part completes `finish` when it is sent now ([`SendReport::completed`]); a page
    /// does not (the rest is held after it, before the message completes). `written` is the
    /// reply as prepared when the answer was saved, with its first part's intent
    /// ([`SmsChannel::first_intent`]).
    pub(crate) async fn send_answer(
        &self,
        account: &AccountRuntime,
        sender: &str,
        text: &str,
        reply_id: &str,
        (finish, written): (Finish, Option<(Reply, FirstPart)>),
    ) -> SendReport {
        if account.settings.long_replies != LongReplies::Ask {
            let (reply, first) = match written {
                Some((reply, first)) => (reply, Some(first)),
                None => (prepare_reply(text, &reply_options(account)), None),
            };
            let answering = Answering {
                finish: Some(finish),
                first,
            };
            return self
                .outbound
                .send_prepared_finishing(
                    account,
                    sender,
                    reply,
                    reply_id,
                    Budgets::Apply,
                    answering,
                )
                .await;
        }
        let options = reply_options(account);
        let plain = openclaw_sms_text::to_plain_text(text);
        let page = page_of(&plain, &options);
        let report = self
            .outbound
            .send_prepared(account, sender, page.reply, reply_id, Budgets::Apply)
            .await;
        match page.rest {
            Some(rest) => self.hold(account, sender, reply_id, 1, rest, &report).await,
            // A newer answer makes the rest of an older one stale: MORE is about the last.
            None => self.drop_stale_rest(account, sender, reply_id).await,
        }
        report
    }

    /// Drops what is held for `sender` unless it is `reply_id`'s own rest.
    async fn drop_stale_rest(&self, account: &AccountRuntime, sender: &str, reply_id: &str) {
        let held = noted(
            &self.metrics,
            "held_rest",
            self.store.held_rest(account.id(), sender).await,
        );
        if let Some(Some(held)) = held
            && held.reply_id != reply_id
        {
            noted(
                &self.metrics,
                "drop_rest",
                self.store
                    .drop_rest(account.id(), sender, &held.reply_id)
                    .await,
            );
        }
    }

    /// Holds the rest after a page, when the page went out.
    async fn hold(
        &self,
        account: &AccountRuntime,
        sender: &str,
        reply_id: &str,
        page: u32,
        text: String,
        report: &SendReport,
    ) {
        if !report.is_complete() {
            tracing::info!(
                account = account.id(),
                sender,
                "the page offering MORE was not fully sent; the rest of the reply is not held"
            );
            return;
        }
        let rest = HeldRest {
            account: account.id().to_owned(),
            peer: sender.to_owned(),
            reply_id: reply_id.to_owned(),
            page,
            text,
            offered_at: self.clock.now_ms(),
        };
        if noted(&self.metrics, "hold_rest", self.store.hold_rest(rest).await).is_some() {
            self.count_rest(account, "held");
        }
    }

    /// A `MORE` from `sender` (only while the account asks): sends the next page of what is
    /// held, or drops it when its window has passed. Never reaches the agent.
    pub(crate) async fn more(
        &self,
        account: &AccountRuntime,
        sender: &str,
        body: &str,
        message: &Claimed,
    ) -> Option<Processed> {
        if account.settings.long_replies != LongReplies::Ask || !is_more(body) {
            return None;
        }
        let held = match self.store.held_rest(account.id(), sender).await {
            Ok(held) => held,
            Err(err) => {
                return Some(Processed::Retrying(format!(
                    "could not read the held rest of a reply: {err}"
                )));
            }
        };
        let Some(held) = held else {
            tracing::info!(
                account = account.id(),
                sender,
                "MORE from {sender} with nothing held; not passed to the agent"
            );
            self.count_rest(account, "none");
            return Some(Processed::Keyword("more"));
        };
        // The window counts from the page's offer to the MORE's arrival, so a MORE that waited
        // in the queue is judged by when it was texted.
        let window = i64::try_from(account.settings.more_window.as_millis()).unwrap_or(i64::MAX);
        if message.received_at.saturating_sub(held.offered_at) > window {
            self.drop_expired(account, &held).await;
            return Some(Processed::Keyword("more"));
        }
        let page = page_of(&held.text, &reply_options(account));
        let reply_id = format!("{}:more:{}", held.reply_id, held.page);
        let report = self
            .outbound
            .send_prepared(account, sender, page.reply, &reply_id, Budgets::Apply)
            .await;
        noted(
            &self.metrics,
            "append_history",
            self.store
                .append_history(
                    account.id(),
                    sender,
                    HistoryEntry {
                        role: Role::Assistant,
                        text: report.reply.text.clone(),
                        at: self.clock.now_ms(),
                    },
                )
                .await,
        );
        if report.budget.is_some() {
            // Stopped by a budget: what is held stays for a MORE within its window.
            return Some(Processed::Keyword("more"));
        }
        self.count_rest(account, "sent");
        match page.rest {
            Some(rest) => {
                self.hold(
                    account,
                    sender,
                    &held.reply_id,
                    held.page + 1,
                    rest,
                    &report,
                )
                .await;
            }
            None => {
                noted(
                    &self.metrics,
                    "drop_rest",
                    self.store
                        .drop_rest(account.id(), sender, &held.reply_id)
                        .await,
                );
            }
        }
        Some(Processed::Keyword("more"))
    }

    async fn drop_expired(&self, account: &AccountRuntime, held: &HeldRest) {
        noted(
            &self.metrics,
            "drop_rest",
            self.store
                .drop_rest(&held.account, &held.peer, &held.reply_id)
                .await,
        );
        self.record_expired(account, held);
    }

    fn record_expired(&self, account: &AccountRuntime, held: &HeldRest) {
        tracing::info!(
            account = account.id(),
            sender = held.peer,
            reply_id = held.reply_id,
            "the rest of a long SMS reply to {} was dropped: no MORE within {} minutes",
            held.peer,
            account.settings.more_window.as_secs() / 60
        );
        self.count_rest(account, "expired");
    }

    /// Drops the rests whose window has passed (the pump's periodic prune).
    pub(crate) async fn drop_expired_rests(&self) {
        let now = self.clock.now_ms();
        for account in &self.accounts {
            if account.settings.long_replies != LongReplies::Ask {
                continue;
            }
            let window =
                i64::try_from(account.settings.more_window.as_millis()).unwrap_or(i64::MAX);
            let dropped = self
                .store
                .drop_rests_before(account.id(), now.saturating_sub(window))
                .await;
            for held in noted(&self.metrics, "drop_rests", dropped).unwrap_or_default() {
                self.record_expired(account, &held);
            }
        }
    }

    fn count_rest(&self, account: &AccountRuntime, outcome: &str) {
        self.metrics.inc(
            names::LONG_REPLY_RESTS,
            &[("account", account.id()), ("outcome", outcome)],
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use openclaw_sms_text::{ChunkLimit, SplitOptions};

    use super::*;

    fn options(max: u32) -> ReplyOptions {
        ReplyOptions {
            smart_encoding: true,
            split: SplitOptions {
                chunk_limit: ChunkLimit::new(160),
                max_segments: Some(max),
                ..SplitOptions::default()
            },
        }
    }

    #[test]
    fn more_is_the_whole_message_in_any_case() {
        for (body, expected) in [
            ("MORE", true),
            (" more \n", true),
            ("More", true),
            ("more please", false),
            ("", false),
        ] {
            assert_eq!(is_more(body), expected, "{body:?}");
        }
    }

    #[test]
    fn the_notice_never_outgrows_the_truncation_notice() {
        for n in [1, 2, 9, 10, 99, 100, 5_000, u32::MAX] {
            assert!(
                more_notice(n).len() <= TRUNCATION_NOTICE.len(),
                "{n}: {}",
                more_notice(n)
            );
        }
        assert_eq!(more_notice(3), "Reply MORE for the rest (3 more texts)");
    }

    #[test]
    fn pages_cover_the_text_in_order_within_the_page_size() {
        let words: Vec<String> = (0..120).map(|i| format!("word{i}")).collect();
        let text = words.join(" ");
        let mut plain = text.clone();
        let mut seen = Vec::new();
        for _ in 0..20 {
            let page = page_of(&plain, &options(2));
            assert!(page.reply.billed_segments <= 2, "{:?}", page.reply);
            let sent: String = page
                .reply
                .parts
                .iter()
                .map(|p| p.text.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            match page.rest {
                Some(rest) => {
                    let body = sent.rsplit_once('\n').map_or(sent.as_str(), |(b, _)| b);
                    assert!(
                        sent.ends_with("more texts)") || sent.ends_with("more text)"),
                        "{sent}"
                    );
                    seen.push(body.to_owned());
                    plain = rest;
                }
                None => {
                    seen.push(sent);
                    break;
                }
            }
        }
        assert_eq!(seen.join(" ").split_whitespace().collect::<Vec<_>>(), words);
    }

    #[test]
    fn a_reply_within_the_page_size_has_no_rest() {
        let page = page_of("short", &options(2));
        assert_eq!(page.rest, None);
        assert_eq!(page.reply.parts.len(), 1);
        assert_eq!(page.reply.parts[0].text, "short");
    }
}
