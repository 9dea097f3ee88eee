//! Pairing that tells the owner: the notice of a new request to the `pairing.notifyOwner`
//! numbers, the `APPROVE <CODE>` / `DENY <CODE>` they text back, and the one approve-and-notify
//! that the owner's text, the admin API and `openclaw pairing approve` share.
//!
//! Owner commands are recognised only from an owner number of the account the text was sent
//! to; from anyone else the same words are an ordinary message. They never reach the agent.

use openclaw_channel::ChannelError;
use openclaw_channel::pairing::{self, ApprovalNotice};
use openclaw_store::{PairingRequest, Store};

use crate::account::AccountRuntime;
use crate::metrics::names;
use crate::outbound::Outbound;
use crate::pipeline::pairing_key;
use crate::texts;

/// What an owner texted: approve or deny the request with a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerCommand {
    /// `APPROVE <CODE>`: the code as written (checked against the store, any case).
    Approve(String),
    /// `DENY <CODE>`.
    Deny(String),
}

impl OwnerCommand {
    /// The command word, lower-case, for metrics and logs.
    #[must_use]
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Approve(_) => "approve",
            Self::Deny(_) => "deny",
        }
    }

    /// The code as written.
    #[must_use]
    pub fn code(&self) -> &str {
        match self {
            Self::Approve(code) | Self::Deny(code) => code,
        }
    }
}

/// Longest owner command looked at: a longer text is never a command.
pub const MAX_COMMAND_CHARS: usize = 64;

/// Parses `APPROVE <CODE>` / `DENY <CODE>`: case-insensitive, any whitespace around and between
/// the two words, nothing else in the text. The code is returned as written (its format is
/// judged by the caller, so that a mistyped code gets an answer rather than reaching the agent).
///
/// ```
/// use openclaw_sms::owner::{OwnerCommand, parse_command};
///
/// assert_eq!(parse_command(" approve  abcd2345\n"), Some(OwnerCommand::Approve("abcd2345".into())));
/// assert_eq!(parse_command("DENY X"), Some(OwnerCommand::Deny("X".into())));
/// assert_eq!(parse_command("approve"), None);
/// assert_eq!(parse_command("please approve ABCD2345"), None);
/// ```
#[must_use]
pub fn parse_command(body: &str) -> Option<OwnerCommand> {
    if body.chars().count() > MAX_COMMAND_CHARS {
        return None;
    }
    let mut words = body.split_whitespace();
    let verb = words.next()?;
    let code = words.next()?;
    if words.next().is_some() {
        return None;
    }
    if verb.eq_ignore_ascii_case("APPROVE") {
        Some(OwnerCommand::Approve(code.to_owned()))
    } else if verb.eq_ignore_ascii_case("DENY") {
        Some(OwnerCommand::Deny(code.to_owned()))
    } else {
        None
    }
}

/// The reply id of the notice of `request` to `owner`: one per request and owner number, so a
/// message run again (after a crash or a retry) never notifies twice.
#[must_use]
pub fn notice_reply_id(account: &str, request: &PairingRequest, owner: &str) -> String {
    format!(
        "pairing-owner:{account}:{}:{}:{owner}",
        request.sender_id, request.created_at
    )
}

/// The reply id of the approval notice to the approved sender: one per request.
#[must_use]
pub fn approved_reply_id(account: &str, request: &PairingRequest) -> String {
    format!(
        "approved:{account}:{}:{}",
        request.sender_id, request.created_at
    )
}

/// An approved request, and whether the sender was told (the channel core's).
pub use openclaw_channel::pairing::Approval;

/// The approval notice as an SMS text to the approved sender, through `outbound` from
/// `runtime`'s number (once per request: the notice has a reply id of its own).
struct ApprovedText<'a> {
    outbound: &'a Outbound,
    runtime: &'a AccountRuntime,
}

#[async_trait::async_trait]
impl ApprovalNotice for ApprovedText<'_> {
    async fn send(&self, request: &PairingRequest) -> bool {
        let account = self.runtime.id();
        let reply_id = approved_reply_id(account, request);
        let report = self
            .outbound
            .send_reply(
                self.runtime,
                &request.sender_id,
                texts::APPROVED_NOTICE,
                &reply_id,
            )
            .await;
        if let Some(err) = report.first_error() {
            tracing::warn!(
                account,
                sender = request.sender_id,
                "the approval notice could not be sent: {err}"
            );
        }
        report.is_complete()
    }
}

/// Approves the live request with `code` (any case) on `account`'s pairing list, and when
/// `notify` is given, texts the sender [`texts::APPROVED_NOTICE`] through it (once per request:
/// the notice has a reply id of its own). `None` when no live request has the code. The
/// request's held message is released in the approval's transaction; a running channel
/// answers it after [`crate::SmsChannel::wake`] (see [`crate::SmsChannel::approve`]).
///
/// The gateway's admin API and console (through [`crate::SmsChannel::approve`]),
/// `openclaw pairing approve` without a running gateway, and an owner's `APPROVE` text all
/// approve through here, on the channel core's [`openclaw_channel::pairing::approve`].
///
/// # Errors
///
/// [`ChannelError::Store`] when the approval could not be written.
pub async fn approve_and_notify(
    store: &dyn Store,
    account: &str,
    code: &str,
    now: i64,
    ttl_ms: i64,
    notify: Option<(&Outbound, &AccountRuntime)>,
) -> Result<Option<Approval>, ChannelError> {
    let notice = notify.map(|(outbound, runtime)| ApprovedText { outbound, runtime });
    let notice = notice.as_ref().map(|n| n as &dyn ApprovalNotice);
    pairing::approve(store, &pairing_key(account), code, now, ttl_ms, notice).await
}

/// Denies the live request with `code` (any case) on `account`'s pairing list: the request
/// and its held message are gone. `None` when no live request has the code. The admin API,
/// the console, `openclaw pairing deny` and an owner's `DENY` text all deny through here.
///
/// # Errors
///
/// [`ChannelError::Store`] when the denial could not be written.
pub async fn deny(
    store: &dyn Store,
    account: &str,
    code: &str,
    now: i64,
    ttl_ms: i64,
) -> Result<Option<PairingRequest>, ChannelError> {
    pairing::deny(store, &pairing_key(account), code, now, ttl_ms).await
}

impl crate::SmsChannel {
    /// Approves the live request with `code` on `account` (see [`approve_and_notify`]), texting
    /// the sender when `notify`, then wakes the pump so that the released message is answered
    /// now.
    ///
    /// # Errors
    ///
    /// [`ChannelError::Store`] when the approval could not be written.
    pub async fn approve(
        &self,
        account: &AccountRuntime,
        code: &str,
        notify: bool,
    ) -> Result<Option<Approval>, ChannelError> {
        let now = self.clock.now_ms();
        let ttl = crate::pipeline::pairing_ttl_ms(&account.settings.pairing.limits);
        let notify = notify.then_some((&self.outbound, account));
        let approval =
            approve_and_notify(&*self.store, account.id(), code, now, ttl, notify).await?;
        if approval.is_some() {
            self.wake();
        }
        Ok(approval)
    }
}

impl crate::SmsChannel {
    /// Texts each owner number of `account` about the new `request`, unless a text of that
    /// notice already went out or is under way (then a pending one resumes under its id).
    pub(crate) async fn notify_owners(&self, account: &AccountRuntime, request: &PairingRequest) {
        for owner in &account.settings.pairing.notify_owner {
            let owner = owner.as_str();
            if owner == request.sender_id {
                continue;
            }
            let reply_id = notice_reply_id(account.id(), request, owner);
            match self.store.intents_for_reply(&reply_id).await {
                Ok(intents)
                    if intents.iter().all(|i| i.state.is_finished()) && !intents.is_empty() =>
                {
                    continue;
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(
                        account = account.id(),
                        "could not read the owner notice of a pairing request: {err}"
                    );
                    continue;
                }
            }
            let text = texts::owner_notice(&request.sender_id, &request.code);
            let report = self
                .outbound
                .send_reply(account, owner, &text, &reply_id)
                .await;
            let outcome = if report.is_complete() {
                "sent"
            } else {
                "failed"
            };
            self.metrics.inc(
                names::OWNER_NOTIFICATIONS,
                &[("account", account.id()), ("outcome", outcome)],
                1,
            );
            if let Some(err) = report.first_error() {
                tracing::warn!(
                    account = account.id(),
                    owner,
                    "the owner notice of a pairing request failed: {err}"
                );
            }
        }
    }

    /// Runs an owner's `APPROVE` / `DENY` and texts the owner the outcome (under `reply_id`,
    /// one per inbound message).
    pub(crate) async fn owner_command(
        &self,
        account: &AccountRuntime,
        owner: &str,
        command: &OwnerCommand,
        reply_id: &str,
    ) -> Result<(), String> {
        let now = self.clock.now_ms();
        let pairing = &account.settings.pairing;
        let ttl = crate::pipeline::pairing_ttl_ms(&pairing.limits);
        let code = command.code();
        let valid = openclaw_access_policy::PairingCode::parse(code).ok();
        let (answer, outcome) = match (command, valid) {
            (_, None) => (texts::owner_not_a_code(), "no_such_code"),
            (OwnerCommand::Approve(_), Some(code)) => {
                match self
                    .approve(account, code.as_str(), pairing.confirm_sender)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    Some(approval) => {
                        tracing::info!(
                            account = account.id(),
                            sender = approval.request.sender_id,
                            "SMS pairing request approved by an owner's text"
                        );
                        (texts::owner_approved(&approval.request.sender_id), "done")
                    }
                    None => (texts::owner_no_such_code(code.as_str()), "no_such_code"),
                }
            }
            (OwnerCommand::Deny(_), Some(code)) => {
                match deny(&*self.store, account.id(), code.as_str(), now, ttl)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    Some(request) => {
                        tracing::info!(
                            account = account.id(),
                            sender = request.sender_id,
                            "SMS pairing request denied by an owner's text"
                        );
                        (texts::owner_denied(&request.sender_id), "done")
                    }
                    None => (texts::owner_no_such_code(code.as_str()), "no_such_code"),
                }
            }
        };
        self.metrics.inc(
            names::OWNER_COMMANDS,
            &[
                ("account", account.id()),
                ("command", command.verb()),
                ("outcome", outcome),
            ],
            1,
        );
        let report = self
            .outbound
            .send_reply(account, owner, &answer, reply_id)
            .await;
        if let Some(err) = report.first_error() {
            tracing::warn!(
                account = account.id(),
                owner,
                "the answer to an owner's pairing command failed: {err}"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, expected: Option<OwnerCommand>) {
        assert_eq!(parse_command(body), expected, "{body:?}");
    }

    #[test]
    fn command_table() {
        use OwnerCommand::{Approve, Deny};
        check("APPROVE ABCD2345", Some(Approve("ABCD2345".into())));
        check("approve abcd2345", Some(Approve("abcd2345".into())));
        check("  Approve\tABCD2345 \n", Some(Approve("ABCD2345".into())));
        check("deny ABCD2345", Some(Deny("ABCD2345".into())));
        check("DENY nope", Some(Deny("nope".into())));
        check("APPROVE", None);
        check("APPROVE ABCD2345 now", None);
        check("APPROVED ABCD2345", None);
        check("ok APPROVE ABCD2345", None);
        check("", None);
        check(&format!("APPROVE {}", "A".repeat(MAX_COMMAND_CHARS)), None);
    }
}
