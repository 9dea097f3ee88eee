//! Twilio-shaped JSON for the resources the simulator serves.

use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

use crate::config::SimMessagingService;
use crate::model::{MessageStatus, SimMessage};
use crate::state::{API_VERSION, AccountState, ApiError, NumberState};
use crate::time::rfc2822;

/// `{code, message, more_info, status}`.
pub(crate) fn error(e: &ApiError) -> Value {
    json!({
        "code": e.code,
        "message": e.message,
        "more_info": format!("https://www.twilio.com/docs/errors/{}", e.code),
        "status": e.status,
    })
}

/// A Message resource.
pub(crate) fn message(m: &SimMessage) -> Value {
    let base = format!("/2010-04-01/Accounts/{}/Messages/{}", m.account_sid, m.sid);
    let accepted = m.status == MessageStatus::Accepted;
    json!({
        "account_sid": m.account_sid,
        "api_version": API_VERSION,
        "body": m.body,
        "date_created": rfc2822(m.date_created),
        "date_sent": m.date_sent.map(rfc2822),
        "date_updated": rfc2822(m.date_updated),
        "direction": m.direction.as_str(),
        "error_code": m.error_code,
        "error_message": Value::Null,
        // A Messaging Service send has no sender until it is queued.
        "from": if accepted { Value::Null } else { Value::from(m.from.clone()) },
        "messaging_service_sid": m.messaging_service_sid,
        "num_media": m.media_urls.len().to_string(),
        // Twilio reports 0 segments while a Messaging Service message is only accepted.
        "num_segments": if accepted { "0".to_owned() } else { m.num_segments.to_string() },
        "price": Value::Null,
        "price_unit": "USD",
        "sid": m.sid,
        "status": m.status.as_str(),
        "subresource_uris": {
            "media": format!("{base}/Media.json"),
            "feedback": format!("{base}/Feedback.json"),
        },
        "to": m.to,
        "uri": format!("{base}.json"),
    })
}

/// An Account resource (Twilio includes the Auth Token; so does the simulator).
pub(crate) fn account(a: &AccountState) -> Value {
    let base = format!("/2010-04-01/Accounts/{}", a.sid);
    json!({
        "auth_token": a.auth_token.expose_secret(),
        "date_created": rfc2822(a.date_created),
        "date_updated": rfc2822(a.date_created),
        "friendly_name": a.friendly_name,
        "owner_account_sid": a.sid,
        "sid": a.sid,
        "status": "active",
        "subresource_uris": {
            "messages": format!("{base}/Messages.json"),
            "incoming_phone_numbers": format!("{base}/IncomingPhoneNumbers.json"),
        },
        "type": match a.account_type {
            crate::config::AccountType::Full => "Full",
            crate::config::AccountType::Trial { .. } => "Trial",
        },
        "uri": format!("{base}.json"),
    })
}

/// An IncomingPhoneNumber resource.
pub(crate) fn incoming_number(account_sid: &str, n: &NumberState) -> Value {
    json!({
        "account_sid": account_sid,
        "address_requirements": "none",
        "api_version": API_VERSION,
        "beta": false,
        "capabilities": { "fax": false, "mms": true, "sms": true, "voice": true },
        "date_created": rfc2822(n.date_created),
        "date_updated": rfc2822(n.date_created),
        "friendly_name": n.number,
        "phone_number": n.number,
        "sid": n.sid,
        "sms_application_sid": "",
        "sms_fallback_method": "POST",
        "sms_fallback_url": "",
        "sms_method": n.sms_method.as_str(),
        "sms_url": n.sms_url.clone().unwrap_or_default(),
        "status": "in-use",
        "status_callback": "",
        "status_callback_method": "POST",
        "uri": format!("/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers/{}.json", n.sid),
        "voice_method": "POST",
        "voice_url": "",
    })
}

/// A Messaging Service resource (`messaging.twilio.com/v1`), with absolute URLs on `base_url`.
pub(crate) fn service(
    account_sid: &str,
    created: std::time::SystemTime,
    s: &SimMessagingService,
    base_url: &str,
) -> Value {
    let url = format!("{base_url}/v1/Services/{}", s.sid);
    json!({
        "account_sid": account_sid,
        "area_code_geomatch": true,
        "date_created": rfc2822(created),
        "date_updated": rfc2822(created),
        "fallback_method": "POST",
        "fallback_to_long_code": true,
        "fallback_url": Value::Null,
        "friendly_name": s.friendly_name,
        "inbound_method": s.inbound_method.as_str(),
        "inbound_request_url": s.inbound_request_url,
        "links": {
            "phone_numbers": format!("{url}/PhoneNumbers"),
            "short_codes": format!("{url}/ShortCodes"),
            "alpha_senders": format!("{url}/AlphaSenders"),
        },
        "mms_converter": true,
        "scan_message_content": "inherit",
        "sid": s.sid,
        "smart_encoding": true,
        "status_callback": s.status_callback,
        "sticky_sender": true,
        "synchronous_validation": true,
        "url": url,
        "us_app_to_person_registered": false,
        "use_inbound_webhook_on_number": s.use_inbound_webhook_on_number,
        "usecase": "undeclared",
        "validity_period": 36000,
    })
}

/// A page of a v2010 list: `{<key>: items, page, page_size, start, end, uri, first_page_uri,
/// next_page_uri, previous_page_uri}`. `path` is the list path without query.
pub(crate) fn page(
    key: &str,
    items: Vec<Value>,
    path: &str,
    filters: &str,
    page: usize,
    page_size: usize,
    has_next: bool,
) -> Value {
    let start = page * page_size;
    let end = (start + items.len()).saturating_sub(1);
    let uri = |p: usize| format!("{path}?{filters}PageSize={page_size}&Page={p}");
    json!({
        key: Value::Array(items),
        "end": end,
        "first_page_uri": uri(0),
        "next_page_uri": if has_next { Value::from(uri(page + 1)) } else { Value::Null },
        "page": page,
        "page_size": page_size,
        "previous_page_uri": if page > 0 { Value::from(uri(page - 1)) } else { Value::Null },
        "start": start,
        "uri": uri(page),
    })
}
