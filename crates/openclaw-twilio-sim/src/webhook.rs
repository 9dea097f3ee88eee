//! Requests the simulator makes: inbound-SMS webhooks and status callbacks, signed as Twilio
//! signs them, and the delivery task that walks a message through its statuses.

use std::sync::Arc;
use std::time::SystemTime;

use secrecy::SecretString;

use crate::config::WebhookMethod;
use crate::model::{MessageStatus, StatusCallbackRecord};
use crate::sign::{encode_form, signature};
use crate::state::{API_VERSION, DeliveryPlan, Shared};
use crate::time;

/// `User-Agent` Twilio sends with webhooks.
const USER_AGENT: &str = "TwilioProxy/1.1";

/// An HTTP answer to a webhook.
#[derive(Debug)]
pub(crate) struct HttpAnswer {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) headers: Vec<(String, String)>,
}

/// The URL Twilio requests: the configured one without a `#` fragment (connection overrides
/// are never sent and never signed).
pub(crate) fn request_url(configured: &str) -> &str {
    configured.split_once('#').map_or(configured, |(u, _)| u)
}

/// Sends a signed Twilio webhook. `Err` carries why no HTTP answer came.
pub(crate) async fn send(
    shared: &Shared,
    configured_url: &str,
    method: WebhookMethod,
    params: &[(String, String)],
    auth_token: &SecretString,
) -> Result<HttpAnswer, String> {
    let url = request_url(configured_url);
    let request = match method {
        WebhookMethod::Post => {
            let sig = signature(url, params, auth_token);
            shared
                .http
                .post(url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("X-Twilio-Signature", sig)
                .body(encode_form(params))
        }
        WebhookMethod::Get => {
            let sep = if url.contains('?') { '&' } else { '?' };
            let full = format!("{url}{sep}{}", encode_form(params));
            let sig = signature(&full, &[], auth_token);
            shared.http.get(full).header("X-Twilio-Signature", sig)
        }
    };
    let response = request
        .header("User-Agent", USER_AGENT)
        .header("Accept", "*/*")
        .header("I-Twilio-Idempotency-Token", crate::sid::new_sid(""))
        .timeout(shared.webhook_timeout)
        .send()
        .await
        .map_err(describe)?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response.text().await.map_err(describe)?;
    Ok(HttpAnswer {
        status,
        body,
        headers,
    })
}

fn describe(error: reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else {
        // The URL is reported separately.
        error.without_url().to_string()
    }
}

/// The form of one status callback, in the order Twilio sends it.
fn callback_params(
    plan: &DeliveryPlan,
    status: MessageStatus,
    now: SystemTime,
) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = Vec::new();
    let mut push = |k: &str, v: &str| p.push((k.to_owned(), v.to_owned()));
    push("SmsSid", &plan.message_sid);
    push("SmsStatus", status.as_str());
    push("MessageStatus", status.as_str());
    push("To", &plan.to);
    if let Some(s) = &plan.messaging_service_sid {
        push("MessagingServiceSid", s);
    }
    push("MessageSid", &plan.message_sid);
    push("AccountSid", &plan.account_sid);
    if let (Some(code), MessageStatus::Failed | MessageStatus::Undelivered) =
        (plan.error_code, status)
    {
        push("ErrorCode", &code.to_string());
    }
    if matches!(
        status,
        MessageStatus::Delivered | MessageStatus::Undelivered
    ) {
        push("RawDlrDoneDate", &time::raw_dlr_done_date(now));
    }
    push("From", &plan.from);
    push("ApiVersion", API_VERSION);
    p
}

/// Walks a created message through its statuses, POSTing a signed callback for each when the
/// message has a status callback URL. Callbacks of one message are sent one after another, so
/// they arrive in order.
pub(crate) async fn run_delivery(shared: Arc<Shared>, plan: DeliveryPlan) {
    for &status in &plan.steps {
        if !shared.delivery_step.is_zero() {
            tokio::time::sleep(shared.delivery_step).await;
        }
        let now = SystemTime::now();
        shared
            .lock()
            .advance(&plan.message_sid, status, plan.error_code, now);
        let Some(url) = plan.status_callback.as_deref() else {
            continue;
        };
        let params = callback_params(&plan, status, now);
        let answer = send(&shared, url, WebhookMethod::Post, &params, &plan.auth_token).await;
        let (response_status, error) = match answer {
            Ok(a) => (Some(a.status), None),
            Err(e) => (None, Some(e)),
        };
        tracing::debug!(sid = %plan.message_sid, status = status.as_str(), ?response_status, "status callback");
        shared.lock().callbacks.push(StatusCallbackRecord {
            message_sid: plan.message_sid.clone(),
            status,
            url: request_url(url).to_owned(),
            response_status,
            error,
        });
        shared.callback_recorded.notify_waiters();
    }
}

/// The bodies of `<Message>` verbs in a TwiML answer (`<Message>text</Message>` or
/// `<Message><Body>text</Body></Message>`), entities decoded. Not a full XML parser: enough
/// for the replies a gateway writes.
pub(crate) fn twiml_messages(twiml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = twiml;
    while let Some(start) = rest.find("<Message") {
        rest = &rest[start + "<Message".len()..];
        let Some(tag_end) = rest.find('>') else { break };
        let self_closing = rest[..tag_end].ends_with('/');
        let after = &rest[tag_end + 1..];
        if self_closing
            || !(rest.starts_with('>')
                || rest.starts_with(char::is_whitespace)
                || rest.starts_with('/'))
        {
            rest = after;
            continue;
        }
        let Some(end) = after.find("</Message>") else {
            break;
        };
        let inner = &after[..end];
        let text = match (inner.find("<Body>"), inner.find("</Body>")) {
            (Some(b), Some(e)) if b < e => &inner[b + "<Body>".len()..e],
            _ => inner,
        };
        out.push(unescape(text));
        rest = &after[end..];
    }
    out
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(twiml: &str, expected: &[&str]) {
        assert_eq!(twiml_messages(twiml), expected, "{twiml}");
    }

    #[test]
    fn twiml_table() {
        check("<Response></Response>", &[]);
        check("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>", &[]);
        check("<Response><Message>hi</Message></Response>", &["hi"]);
        check(
            "<Response><Message to=\"+1\">a &amp; b</Message><Message><Body>c&lt;d</Body></Message></Response>",
            &["a & b", "c<d"],
        );
        check("<Response><Message/></Response>", &[]);
        check("<Response><MessageX>no</MessageX></Response>", &[]);
    }

    #[test]
    fn fragment_is_cut() {
        assert_eq!(
            request_url("https://h/p?x=1#rc=2&rt=5000"),
            "https://h/p?x=1"
        );
        assert_eq!(request_url("https://h/p"), "https://h/p");
    }
}
