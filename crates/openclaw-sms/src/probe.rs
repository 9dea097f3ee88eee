//! The Twilio-side probe of an account (upstream section 6): does Twilio send this number's
//! SMS webhooks where this gateway listens, with POST? What happened to the latest inbound and
//! outbound messages? Each problem comes with a hint.

use std::time::Duration;

use openclaw_twilio::{ListMessages, Sender};
use serde::Serialize;
use serde_json::{Value, json};

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
    pub webhook: Value,
    /// The newest message to our number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recent_inbound: Option<Value>,
    /// The newest delivery state we know.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recent_outbound: Option<Value>,
    /// What to do about each problem.
    pub hints: Vec<String>,
}

/// Probes `account`'s Twilio side within `timeout`.
pub async fn probe(
    account: &AccountRuntime,
    store: &dyn openclaw_store::Store,
    timeout: Duration,
) -> ProbeResult {
    let mut errors = Vec::new();
    let mut hints = Vec::new();
    let expected = account.settings.public_webhook_url.clone();
    let recent_outbound = match store.latest_delivery(account.id()).await {
        Ok(Some(d)) => Some(json!({
            "messageSid": d.message_sid,
            "status": d.status,
            "lastObservedAt": d.last_observed_at,
            "errorCode": d.error_code,
            "conflict": d.conflict,
        })),
        _ => None,
    };
    let remote = async {
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
                    Err(err) => {
                        let reason = failure(
                            "Twilio webhook probe",
                            account.twilio.api_base(),
                            &err,
                            &mut hints,
                        );
                        errors.push(reason.clone());
                        json!({"status": "unavailable", "reason": reason})
                    }
                    Ok(list) => match list.first() {
                        None => {
                            errors.push(format!(
                                "Twilio account does not list {number} as an incoming phone number."
                            ));
                            hints.push("Check fromNumber: it must be a number of this Twilio account (or use messagingServiceSid).".to_owned());
                            json!({"status": "number-not-found", "expectedNumber": number})
                        }
                        Some(n) => {
                            let method = n.sms_method.clone().unwrap_or_default();
                            let url = n.sms_url.clone().unwrap_or_default();
                            let base = json!({"phoneNumber": number, "expectedUrl": expected, "configuredUrl": url, "configuredMethod": method});
                            if url.is_empty() {
                                errors.push(format!(
                                    "Twilio number {number} has no SMS webhook URL configured."
                                ));
                                hints.push(format!("In Twilio, set \"A message comes in\" for {number} to {} with HTTP POST.", expected.as_deref().unwrap_or("your publicWebhookUrl")));
                                merge(base, json!({"status": "missing"}))
                            } else if !method.is_empty() && !method.eq_ignore_ascii_case("POST") {
                                errors.push(format!("Twilio number {number} uses {method} for SMS webhooks; use POST."));
                                hints.push(
                                    "Set the number's SMS webhook method to HTTP POST.".to_owned(),
                                );
                                merge(base, json!({"status": "method-mismatch"}))
                            } else if expected.as_deref() != Some(url.as_str()) {
                                errors.push(format!(
                                    "Twilio number {number} points SMS webhooks at {url}; expected {}.",
                                    expected.as_deref().unwrap_or("(publicWebhookUrl is not set)")
                                ));
                                hints.push("publicWebhookUrl must match the URL configured in Twilio byte for byte (scheme, host, path, query).".to_owned());
                                merge(base, json!({"status": "url-mismatch"}))
                            } else {
                                merge(base, json!({"status": "matches"}))
                            }
                        }
                    },
                };
                let recent_inbound = match recent {
                    Err(err) => {
                        errors.push(failure("Twilio message history probe", account.twilio.api_base(), &err, &mut hints));
                        None
                    }
                    Ok(messages) => messages.first().map(|m| {
                        if m.error_code == Some(11200) {
                            errors.push(format!("Recent inbound SMS {} has Twilio error 11200.", m.sid.as_str()));
                            hints.push("Error 11200: Twilio could not reach the webhook. Check the URL, POST, the tunnel's exact path, and that publicWebhookUrl reproduces the signed URL.".to_owned());
                        }
                        json!({
                            "sid": m.sid.as_str(),
                            "direction": m.direction,
                            "status": m.status.as_ref().map(openclaw_twilio::webhook::MessageStatus::as_str),
                            "errorCode": m.error_code,
                            "dateCreated": m.date_created,
                            "dateSent": m.date_sent,
                        })
                    }),
                };
                (webhook, recent_inbound)
            }
            Sender::MessagingService(sid) => {
                let webhook = match account.twilio.fetch_messaging_service(sid).await {
                    Err(err) => {
                        let reason = failure(
                            "Twilio webhook probe",
                            account.twilio.messaging_base(),
                            &err,
                            &mut hints,
                        );
                        errors.push(reason.clone());
                        json!({"status": "unavailable", "reason": reason})
                    }
                    Ok(service) if service.use_inbound_webhook_on_number => {
                        let reason = "Twilio Messaging Service defers inbound webhooks to sender phone numbers; configure fromNumber or disable defer-to-sender before probing.";
                        json!({"status": "unavailable", "reason": reason, "serviceSid": sid.as_str()})
                    }
                    Ok(service) => {
                        let url = service.inbound_request_url.clone().unwrap_or_default();
                        let method = service.inbound_method.clone().unwrap_or_default();
                        let base = json!({"serviceSid": sid.as_str(), "expectedUrl": expected, "configuredUrl": url, "configuredMethod": method});
                        if url.is_empty() {
                            errors.push(format!("Twilio Messaging Service {} has no inbound request URL configured.", sid.as_str()));
                            merge(base, json!({"status": "messaging-service-missing"}))
                        } else if !method.is_empty() && !method.eq_ignore_ascii_case("POST") {
                            errors.push(format!("Twilio Messaging Service {} uses {method} for inbound webhooks; use POST.", sid.as_str()));
                            merge(base, json!({"status": "messaging-service-method-mismatch"}))
                        } else if expected.as_deref() != Some(url.as_str()) {
                            errors.push(format!(
                                "Twilio Messaging Service {} points inbound webhooks at {url}; expected {}.",
                                sid.as_str(),
                                expected.as_deref().unwrap_or("(publicWebhookUrl is not set)")
                            ));
                            merge(base, json!({"status": "messaging-service-url-mismatch"}))
                        } else {
                            merge(base, json!({"status": "messaging-service-matches"}))
                        }
                    }
                };
                (webhook, None)
            }
            _ => (
                json!({"status": "unavailable", "reason": "Twilio SMS probe requires fromNumber or messagingServiceSid."}),
                None,
            ),
        }
    };
    let (webhook, recent_inbound) = match tokio::time::timeout(timeout, remote).await {
        Ok(r) => r,
        Err(_) => {
            let reason = format!(
                "Twilio webhook probe failed: timed out after {}ms ({}).",
                timeout.as_millis(),
                account.twilio.api_base()
            );
            hints.push(unreachable_hint(account.twilio.api_base()));
            errors.push(reason.clone());
            (json!({"status": "unavailable", "reason": reason}), None)
        }
    };
    if expected.as_deref().is_some_and(|u| u.contains(".ts.net")) && !errors.is_empty() {
        hints.push(format!(
            "Tailscale Funnel: expose exactly the webhook path, e.g. tailscale funnel --bg --set-path {0} http://127.0.0.1:<gateway-port>{0}",
            account.settings.webhook_path
        ));
    }
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
fn failure(
    what: &str,
    base: &str,
    err: &openclaw_twilio::TwilioError,
    hints: &mut Vec<String>,
) -> String {
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

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}
