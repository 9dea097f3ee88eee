//! The Twilio-side probe of an account: does Twilio send this number's SMS webhooks where this
//! gateway listens, with POST? What happened to the latest inbound and outbound messages? Each
//! problem comes with a hint. The result is a typed report ([`ProbeResult`]) serialised once,
//! in the JSON shape of upstream's probe.

use std::time::Duration;

use openclaw_twilio::sid::MessagingServiceSid;
use openclaw_twilio::{
    IncomingPhoneNumber, ListMessages, Message, MessagingService, Sender, TwilioError,
};
use serde::Serialize;

use crate::account::AccountRuntime;

/// The default time budget of a probe.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The probe result, shaped as upstream's.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeResult {
    /// No error found.
    pub ok: bool,
    /// The errors, space-joined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The webhook check.
    pub webhook: WebhookCheck,
    /// The newest message to our number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recent_inbound: Option<RecentInbound>,
    /// The newest delivery state we know.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recent_outbound: Option<RecentOutbound>,
    /// What to do about each problem.
    pub hints: Vec<String>,
}

impl ProbeResult {
    /// A probe that could not run: `error`, and the webhook `unavailable` (for `reason`).
    #[must_use]
    pub fn unavailable(error: String, reason: Option<String>) -> Self {
        Self {
            ok: false,
            error: Some(error),
            webhook: WebhookCheck::Unavailable {
                status: WebhookStatus::Unavailable,
                reason,
                service_sid: None,
            },
            recent_inbound: None,
            recent_outbound: None,
            hints: Vec::new(),
        }
    }
}

/// What the webhook check found (`status`), with what it compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum WebhookCheck {
    /// Twilio could not be asked, or the answer cannot be checked (`status: unavailable`).
    Unavailable {
        /// Always [`WebhookStatus::Unavailable`].
        status: WebhookStatus,
        /// Why.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// The Messaging Service that defers to its numbers.
        #[serde(rename = "serviceSid", skip_serializing_if = "Option::is_none")]
        service_sid: Option<String>,
    },
    /// The account does not list `fromNumber` (`status: number-not-found`).
    NumberNotFound {
        /// Always [`WebhookStatus::NumberNotFound`].
        status: WebhookStatus,
        /// The number looked for.
        #[serde(rename = "expectedNumber")]
        expected_number: String,
    },
    /// The number's or Messaging Service's webhook, compared with `publicWebhookUrl`.
    Configured(ConfiguredWebhook),
}

/// A configured webhook as Twilio reports it, and the verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfiguredWebhook {
    /// The number or Messaging Service it belongs to.
    #[serde(flatten)]
    pub owner: WebhookOwner,
    /// `publicWebhookUrl` (`null` when not set).
    pub expected_url: Option<String>,
    /// The URL configured in Twilio (empty when none).
    pub configured_url: String,
    /// The HTTP method configured in Twilio (empty when none).
    pub configured_method: String,
    /// The verdict.
    pub status: WebhookStatus,
}

/// Whose webhook was checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum WebhookOwner {
    /// `fromNumber` (`phoneNumber`).
    PhoneNumber(String),
    /// `messagingServiceSid` (`serviceSid`).
    ServiceSid(String),
}

/// The webhook check's verdict, as upstream names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum WebhookStatus {
    /// Not checked (see the reason).
    Unavailable,
    /// `fromNumber` is not a number of the account.
    NumberNotFound,
    /// The number has no SMS webhook URL.
    Missing,
    /// The number's SMS webhook is not POST.
    MethodMismatch,
    /// The number's SMS webhook is another URL.
    UrlMismatch,
    /// The number's SMS webhook is `publicWebhookUrl` with POST.
    Matches,
    /// The Messaging Service has no inbound request URL.
    MessagingServiceMissing,
    /// The Messaging Service's inbound webhook is not POST.
    MessagingServiceMethodMismatch,
    /// The Messaging Service's inbound webhook is another URL.
    MessagingServiceUrlMismatch,
    /// The Messaging Service's inbound webhook is `publicWebhookUrl` with POST.
    MessagingServiceMatches,
}

/// The newest message to the number, as Twilio lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentInbound {
    /// Its Message SID.
    pub sid: String,
    /// Twilio's direction (`inbound`).
    pub direction: Option<String>,
    /// Twilio's status name.
    pub status: Option<String>,
    /// Twilio's error code.
    pub error_code: Option<u32>,
    /// When Twilio created it.
    pub date_created: Option<String>,
    /// When Twilio sent it.
    pub date_sent: Option<String>,
}

/// The newest delivery state the store knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentOutbound {
    /// Its Message SID.
    pub message_sid: String,
    /// The delivery status.
    pub status: String,
    /// When it was last observed, unix milliseconds.
    pub last_observed_at: i64,
    /// Twilio's error code, as reported.
    pub error_code: Option<String>,
    /// Whether callbacks disagreed.
    pub conflict: bool,
}

/// The errors and hints gathered while probing.
#[derive(Debug, Default)]
struct Findings {
    errors: Vec<String>,
    hints: Vec<String>,
}

impl Findings {
    fn problem(&mut self, error: String, hint: Option<String>) {
        self.errors.push(error);
        self.hints.extend(hint);
    }

    /// A failed Twilio call: its sentence as an error and its hint; the sentence is returned.
    fn failed(&mut self, what: &str, base: &str, err: &TwilioError) -> String {
        let reason = failure(what, base, err, &mut self.hints);
        self.errors.push(reason.clone());
        reason
    }
}

/// `status: unavailable` for `reason`.
fn unavailable(reason: String) -> WebhookCheck {
    WebhookCheck::Unavailable {
        status: WebhookStatus::Unavailable,
        reason: Some(reason),
        service_sid: None,
    }
}

/// Probes `account`'s Twilio side within `timeout`.
pub async fn probe(
    account: &AccountRuntime,
    store: &dyn openclaw_store::Store,
    timeout: Duration,
) -> ProbeResult {
    let mut findings = Findings::default();
    let recent_outbound = recent_outbound(account, store).await;
    let remote = remote_checks(account, &mut findings);
    let (webhook, recent_inbound) = match tokio::time::timeout(timeout, remote).await {
        Ok(checked) => checked,
        Err(_) => {
            let base = account.twilio.api_base();
            let reason = format!(
                "Twilio webhook probe failed: timed out after {}ms ({base}).",
                timeout.as_millis(),
            );
            findings.problem(reason.clone(), Some(unreachable_hint(base)));
            (unavailable(reason), None)
        }
    };
    let expected = account.settings.public_webhook_url.as_deref();
    if expected.is_some_and(|u| u.contains(".ts.net")) && !findings.errors.is_empty() {
        findings.hints.push(format!(
            "Tailscale Funnel: expose exactly the webhook path, e.g. tailscale funnel --bg --set-path {0} http://127.0.0.1:<gateway-port>{0}",
            account.settings.webhook_path
        ));
    }
    let Findings { errors, mut hints } = findings;
    let mut seen = std::collections::HashSet::new();
    hints.retain(|h| seen.insert(h.clone()));
    ProbeResult {
        ok: errors.is_empty(),
        // Each error is a sentence, so the space-joined text (upstream's shape) reads apart.
        error: (!errors.is_empty()).then(|| {
            errors
                .iter()
                .map(|e| sentence(e))
                .collect::<Vec<_>>()
                .join(" ")
        }),
        webhook,
        recent_inbound,
        recent_outbound,
        hints,
    }
}

/// The newest delivery state the store knows for `account` (none on a store error).
async fn recent_outbound(
    account: &AccountRuntime,
    store: &dyn openclaw_store::Store,
) -> Option<RecentOutbound> {
    let delivery = store.latest_delivery(account.id()).await.ok()??;
    Some(RecentOutbound {
        message_sid: delivery.message_sid,
        status: delivery.status,
        last_observed_at: delivery.last_observed_at,
        error_code: delivery.error_code,
        conflict: delivery.conflict,
    })
}

/// The checks that ask Twilio, by the account's sender.
async fn remote_checks(
    account: &AccountRuntime,
    findings: &mut Findings,
) -> (WebhookCheck, Option<RecentInbound>) {
    let expected = account.settings.public_webhook_url.as_deref();
    match &account.sender {
        Sender::From(number) => {
            let numbers = account.twilio.list_incoming_phone_numbers(number);
            let filter = ListMessages {
                to: Some(number.clone()),
                page_size: Some(3),
                ..ListMessages::default()
            };
            let recent = account.twilio.list_messages(&filter);
            let (numbers, recent) = tokio::join!(numbers, recent);
            let webhook = match numbers {
                Err(err) => unavailable(findings.failed(
                    "Twilio webhook probe",
                    account.twilio.api_base(),
                    &err,
                )),
                Ok(list) => number_webhook(number, list.first(), expected, findings),
            };
            let recent_inbound = match recent {
                Err(err) => {
                    findings.failed(
                        "Twilio message history probe",
                        account.twilio.api_base(),
                        &err,
                    );
                    None
                }
                Ok(messages) => messages.first().map(|m| recent_inbound(m, findings)),
            };
            (webhook, recent_inbound)
        }
        Sender::MessagingService(sid) => {
            let webhook = match account.twilio.fetch_messaging_service(sid).await {
                Err(err) => unavailable(findings.failed(
                    "Twilio webhook probe",
                    account.twilio.messaging_base(),
                    &err,
                )),
                Ok(service) => service_webhook(sid, &service, expected, findings),
            };
            (webhook, None)
        }
        _ => (
            unavailable("Twilio SMS probe requires fromNumber or messagingServiceSid.".to_owned()),
            None,
        ),
    }
}

/// The SMS webhook of `number` (as the account lists it) against `expected`.
fn number_webhook(
    number: &str,
    listed: Option<&IncomingPhoneNumber>,
    expected: Option<&str>,
    findings: &mut Findings,
) -> WebhookCheck {
    let Some(listed) = listed else {
        findings.problem(
            format!("Twilio account does not list {number} as an incoming phone number."),
            Some("Check fromNumber: it must be a number of this Twilio account (or use messagingServiceSid).".to_owned()),
        );
        return WebhookCheck::NumberNotFound {
            status: WebhookStatus::NumberNotFound,
            expected_number: number.to_owned(),
        };
    };
    let method = listed.sms_method.clone().unwrap_or_default();
    let url = listed.sms_url.clone().unwrap_or_default();
    let status = if url.is_empty() {
        findings.problem(
            format!("Twilio number {number} has no SMS webhook URL configured."),
            Some(format!(
                "In Twilio, set \"A message comes in\" for {number} to {} with HTTP POST.",
                expected.unwrap_or("your publicWebhookUrl")
            )),
        );
        WebhookStatus::Missing
    } else if !method.is_empty() && !method.eq_ignore_ascii_case("POST") {
        findings.problem(
            format!("Twilio number {number} uses {method} for SMS webhooks; use POST."),
            Some("Set the number's SMS webhook method to HTTP POST.".to_owned()),
        );
        WebhookStatus::MethodMismatch
    } else if expected != Some(url.as_str()) {
        findings.problem(
            format!(
                "Twilio number {number} points SMS webhooks at {url}; expected {}.",
                expected.unwrap_or("(publicWebhookUrl is not set)")
            ),
            Some("publicWebhookUrl must match the URL configured in Twilio byte for byte (scheme, host, path, query).".to_owned()),
        );
        WebhookStatus::UrlMismatch
    } else {
        WebhookStatus::Matches
    };
    configured(
        WebhookOwner::PhoneNumber(number.to_owned()),
        expected,
        url,
        method,
        status,
    )
}

/// A configured webhook of `owner` and the verdict on it.
fn configured(
    owner: WebhookOwner,
    expected: Option<&str>,
    configured_url: String,
    configured_method: String,
    status: WebhookStatus,
) -> WebhookCheck {
    WebhookCheck::Configured(ConfiguredWebhook {
        owner,
        expected_url: expected.map(str::to_owned),
        configured_url,
        configured_method,
        status,
    })
}

/// The newest inbound message, with error 11200 (webhook unreachable) flagged.
fn recent_inbound(message: &Message, findings: &mut Findings) -> RecentInbound {
    if message.error_code == Some(11200) {
        findings.problem(
            format!("Recent inbound SMS {} has Twilio error 11200.", message.sid.as_str()),
            Some("Error 11200: Twilio could not reach the webhook. Check the URL, POST, the tunnel's exact path, and that publicWebhookUrl reproduces the signed URL.".to_owned()),
        );
    }
    RecentInbound {
        sid: message.sid.as_str().to_owned(),
        direction: message.direction.clone(),
        status: message.status.as_ref().map(|s| s.as_str().to_owned()),
        error_code: message.error_code,
        date_created: message.date_created.clone(),
        date_sent: message.date_sent.clone(),
    }
}

/// The inbound webhook of a Messaging Service against `expected`.
fn service_webhook(
    sid: &MessagingServiceSid,
    service: &MessagingService,
    expected: Option<&str>,
    findings: &mut Findings,
) -> WebhookCheck {
    let sid = sid.as_str();
    if service.use_inbound_webhook_on_number {
        return WebhookCheck::Unavailable {
            status: WebhookStatus::Unavailable,
            reason: Some("Twilio Messaging Service defers inbound webhooks to sender phone numbers; configure fromNumber or disable defer-to-sender before probing.".to_owned()),
            service_sid: Some(sid.to_owned()),
        };
    }
    let url = service.inbound_request_url.clone().unwrap_or_default();
    let method = service.inbound_method.clone().unwrap_or_default();
    let status = if url.is_empty() {
        findings.problem(
            format!("Twilio Messaging Service {sid} has no inbound request URL configured."),
            None,
        );
        WebhookStatus::MessagingServiceMissing
    } else if !method.is_empty() && !method.eq_ignore_ascii_case("POST") {
        findings.problem(
            format!("Twilio Messaging Service {sid} uses {method} for inbound webhooks; use POST."),
            None,
        );
        WebhookStatus::MessagingServiceMethodMismatch
    } else if expected != Some(url.as_str()) {
        findings.problem(
            format!(
                "Twilio Messaging Service {sid} points inbound webhooks at {url}; expected {}.",
                expected.unwrap_or("(publicWebhookUrl is not set)")
            ),
            None,
        );
        WebhookStatus::MessagingServiceUrlMismatch
    } else {
        WebhookStatus::MessagingServiceMatches
    };
    configured(
        WebhookOwner::ServiceSid(sid.to_owned()),
        expected,
        url,
        method,
        status,
    )
}

/// `text` ending with a full stop (one is added unless it ends with `.`, `?` or `!`).
fn sentence(text: &str) -> String {
    let text = text.trim_end();
    if text.ends_with(['.', '?', '!']) {
        text.to_owned()
    } else {
        format!("{text}.")
    }
}

/// A failed Twilio call of the probe as one sentence naming the host tried, and its hint
/// (where to look when the host could not be reached; Twilio's own hint for its error codes).
fn failure(what: &str, base: &str, err: &TwilioError, hints: &mut Vec<String>) -> String {
    use openclaw_twilio::ErrorKind;
    match err.kind() {
        ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::Transport => {
            hints.push(unreachable_hint(base));
        }
        _ => {
            if let Some(hint) = err.hint() {
                hints.push(sentence(&format!("Twilio: {hint}")));
            }
        }
    }
    sentence(&format!("{what} failed ({base}): {err}"))
}

/// What to check when the Twilio API at `base` could not be reached.
fn unreachable_hint(base: &str) -> String {
    format!(
        "Could not reach {base}: check this machine's network, DNS and proxy; channels.sms.apiBaseUrl, region and edge choose the host."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(value: &impl Serialize) -> String {
        serde_json::to_string(value).unwrap_or_default()
    }

    /// The report serialises in upstream's shape, keys in upstream's order.
    #[test]
    fn the_report_keeps_upstreams_json_shape() {
        let number = WebhookCheck::Configured(ConfiguredWebhook {
            owner: WebhookOwner::PhoneNumber("+15550001111".to_owned()),
            expected_url: None,
            configured_url: "https://x.example.com/sms".to_owned(),
            configured_method: "POST".to_owned(),
            status: WebhookStatus::UrlMismatch,
        });
        assert_eq!(
            json(&number),
            r#"{"phoneNumber":"+15550001111","expectedUrl":null,"configuredUrl":"https://x.example.com/sms","configuredMethod":"POST","status":"url-mismatch"}"#
        );
        let service = WebhookCheck::Configured(ConfiguredWebhook {
            owner: WebhookOwner::ServiceSid("MG1".to_owned()),
            expected_url: Some("u".to_owned()),
            configured_url: "u".to_owned(),
            configured_method: String::new(),
            status: WebhookStatus::MessagingServiceMatches,
        });
        assert_eq!(
            json(&service),
            r#"{"serviceSid":"MG1","expectedUrl":"u","configuredUrl":"u","configuredMethod":"","status":"messaging-service-matches"}"#
        );
        let missing = WebhookCheck::NumberNotFound {
            status: WebhookStatus::NumberNotFound,
            expected_number: "+1555".to_owned(),
        };
        assert_eq!(
            json(&missing),
            r#"{"status":"number-not-found","expectedNumber":"+1555"}"#
        );
        let failed = ProbeResult::unavailable("boom".to_owned(), None);
        assert_eq!(
            json(&failed),
            r#"{"ok":false,"error":"boom","webhook":{"status":"unavailable"},"hints":[]}"#
        );
    }
}
