//! The Calls resource, the public low-level request, and media-redirect trust decisions made
//! with the WHATWG URL parser, against a local `mockito` server.

use mockito::{Matcher, Server, ServerGuard};
use openclaw_twilio::sid::{AccountSid, CallSid};
use openclaw_twilio::twiml::{Response, Say};
use openclaw_twilio::voice::CallStatus;
use openclaw_twilio::{
    ApiBase, CallTarget, Client, ClientConfig, CreateCall, Credentials, ErrorKind, ListCalls,
    RequestMethod, UpdateCall,
};
use secrecy::SecretString;

const AC: &str = "AC0123456789abcdef0123456789abcdef";
const CA: &str = "CA0123456789abcdef0123456789abcdef";
const CALLS: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Calls.json";
const CALL: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Calls/CA0123456789abcdef0123456789abcdef.json";

fn client_for(server: &ServerGuard) -> Client {
    let credentials = Credentials::AuthToken {
        account_sid: AccountSid::parse(AC).unwrap(),
        token: SecretString::from("tok-0123456789"),
    };
    Client::new(ClientConfig::new(credentials).base(ApiBase::Custom(server.url()))).unwrap()
}

fn call_json(status: &str) -> String {
    format!(
        r#"{{"sid": "{CA}", "account_sid": "{AC}", "status": "{status}", "to": "+15550001111",
            "from": "+15550002222", "direction": "outbound-api", "duration": "42"}}"#
    )
}

#[tokio::test]
async fn create_call_with_inline_twiml_sends_exact_fields() {
    let mut server = Server::new_async().await;
    let twiml = Response::new().say(Say::new("Hello & welcome")).to_xml();
    let expected = form_urlencoded::Serializer::new(String::new())
        .append_pair("To", "+15550001111")
        .append_pair("From", "+15550002222")
        .append_pair("Twiml", &twiml)
        .append_pair("StatusCallback", "https://gw.example/voice/status")
        .append_pair("StatusCallbackEvent", "answered")
        .append_pair("StatusCallbackEvent", "completed")
        .append_pair("Timeout", "20")
        .finish();
    let mock = server
        .mock("POST", CALLS)
        .match_header("content-type", "application/x-www-form-urlencoded")
        .match_body(Matcher::Exact(expected))
        .with_status(201)
        .with_body(call_json("queued"))
        .create_async()
        .await;
    let mut request = CreateCall::new("+15550001111", "+15550002222", CallTarget::Twiml(twiml));
    request.status_callback = Some("https://gw.example/voice/status".to_owned());
    request.status_callback_events = vec!["answered".to_owned(), "completed".to_owned()];
    request.timeout = Some(20);
    let call = client_for(&server).create_call(&request).await.unwrap();
    mock.assert_async().await;
    assert_eq!(call.sid.as_str(), CA);
    assert_eq!(call.status, Some(CallStatus::Queued));
    assert_eq!(call.duration, Some(42));
}

#[tokio::test]
async fn calls_refused_before_any_http() {
    let mut server = Server::new_async().await;
    let never = server
        .mock("POST", Matcher::Any)
        .expect(0)
        .create_async()
        .await;
    let client = client_for(&server);
    for request in [
        CreateCall::new(
            "",
            "+1555",
            CallTarget::Url("https://x.example/t".to_owned()),
        ),
        CreateCall::new("+1555", "+1556", CallTarget::Url("/relative".to_owned())),
        CreateCall::new("+1555", "+1556", CallTarget::Twiml("  ".to_owned())),
        {
            let mut r =
                CreateCall::new("+1555", "+1556", CallTarget::Url("https://x/t".to_owned()));
            r.timeout = Some(601);
            r
        },
    ] {
        let e = client.create_call(&request).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{e}");
    }
    let sid = CallSid::parse(CA).unwrap();
    let mut both = UpdateCall::hang_up();
    both.target = Some(CallTarget::Url("https://x.example/t".to_owned()));
    for update in [UpdateCall::default(), both] {
        let e = client.update_call(&sid, &update).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{e}");
    }
    never.assert_async().await;
}

#[tokio::test]
async fn fetch_update_and_list_calls() {
    let mut server = Server::new_async().await;
    let fetch = server
        .mock("GET", CALL)
        .with_body(call_json("in-progress"))
        .create_async()
        .await;
    let hang_up = server
        .mock("POST", CALL)
        .match_body(Matcher::Exact("Status=completed".to_owned()))
        .with_body(call_json("completed"))
        .create_async()
        .await;
    let list = server
        .mock("GET", CALLS)
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("To".into(), "+15550001111".into()),
            Matcher::UrlEncoded("Status".into(), "completed".into()),
            Matcher::UrlEncoded("PageSize".into(), "20".into()),
        ]))
        .with_body(format!(
            r#"{{"calls": [{}, {}]}}"#,
            call_json("completed"),
            call_json("busy")
        ))
        .create_async()
        .await;
    let client = client_for(&server);
    let sid = CallSid::parse(CA).unwrap();
    assert_eq!(
        client.fetch_call(&sid).await.unwrap().status,
        Some(CallStatus::InProgress)
    );
    assert_eq!(
        client
            .update_call(&sid, &UpdateCall::hang_up())
            .await
            .unwrap()
            .status,
        Some(CallStatus::Completed)
    );
    let calls = client
        .list_calls(&ListCalls {
            to: Some("+15550001111".to_owned()),
            status: Some(CallStatus::Completed),
            page_size: Some(20),
            ..ListCalls::default()
        })
        .await
        .unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].status, Some(CallStatus::Busy));
    fetch.assert_async().await;
    hang_up.assert_async().await;
    list.assert_async().await;
}

#[tokio::test]
async fn the_low_level_request_reaches_any_endpoint_with_credentials() {
    let mut server = Server::new_async().await;
    let path = format!("/2010-04-01/Accounts/{AC}/Recordings.json");
    let post = server
        .mock("POST", path.as_str())
        .match_header("authorization", Matcher::Regex("^Basic ".to_owned()))
        .match_body(Matcher::Exact("Name=a+b&X=%26".to_owned()))
        .with_status(201)
        .with_body(r#"{"sid": "RE0123456789abcdef0123456789abcdef"}"#)
        .create_async()
        .await;
    let delete = server
        .mock("DELETE", path.as_str())
        .with_status(204)
        .create_async()
        .await;
    let missing = server
        .mock("GET", path.as_str())
        .with_status(404)
        .with_body(r#"{"code": 20404, "message": "The requested resource was not found"}"#)
        .create_async()
        .await;
    let client = client_for(&server);
    let value = client
        .request(RequestMethod::Post, &path, &[("Name", "a b"), ("X", "&")])
        .await
        .unwrap();
    assert_eq!(value["sid"], "RE0123456789abcdef0123456789abcdef");
    assert!(
        client
            .request(RequestMethod::Delete, &path, &[])
            .await
            .unwrap()
            .as_object()
            .unwrap()
            .is_empty()
    );
    let e = client
        .request(RequestMethod::Get, &path, &[])
        .await
        .unwrap_err();
    assert_eq!((e.status(), e.twilio_code()), (Some(404), Some(20404)));
    post.assert_async().await;
    delete.assert_async().await;
    missing.assert_async().await;
    for bad in [
        "relative",
        "//evil.example/x",
        "/x@evil.example",
        "/x\\y",
        "/x#y",
        "/x\ny",
    ] {
        let e = client
            .request(RequestMethod::Get, bad, &[])
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{bad}");
    }
}

async fn redirect_to(
    location: &str,
) -> (ServerGuard, Result<Vec<u8>, openclaw_twilio::TwilioError>) {
    let mut server = Server::new_async().await;
    let media = format!("/2010-04-01/Accounts/{AC}/Messages/MM0/Media/ME0");
    server
        .mock("GET", media.as_str())
        .with_status(302)
        .with_header("location", location)
        .create_async()
        .await;
    server
        .mock("GET", "/cdn/image.jpg")
        .with_header("content-type", "image/jpeg")
        .with_body("JPEG")
        .create_async()
        .await;
    let url = format!("{}{media}", server.url());
    let result = client_for(&server)
        .fetch_media(&url, 1024)
        .await
        .map(|m| m.bytes);
    (server, result)
}

/// The redirect check reads hosts as reqwest does (WHATWG): a backslash ends the host, so
/// `evil.example\.twilio.com` is `evil.example`, not a Twilio host.
#[tokio::test]
async fn media_redirects_are_judged_by_the_host_reqwest_would_connect_to() {
    for location in [
        "https://evil.example\\.twilio.com/media",
        "https://evil.example/.twilio.com/media",
        "http://media.twiliocdn.com/x",
        "https://twilio.com.evil.example/x",
        "https://user@evil.example#.twilio.com",
    ] {
        let (_server, result) = redirect_to(location).await;
        let e = result.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{location}");
        assert!(
            e.to_string().contains("refused a media redirect"),
            "{location}: {e}"
        );
        assert!(!e.to_string().contains("twilio.com:"), "{e}");
    }
    let (_server, result) = redirect_to("https://evil.example\\.twilio.com/").await;
    assert!(result.unwrap_err().to_string().contains("to evil.example:"));
    // A relative redirect stays on the API origin and is followed.
    let (_server, result) = redirect_to("/cdn/image.jpg").await;
    assert_eq!(result.unwrap(), b"JPEG");
}

#[tokio::test]
async fn media_urls_outside_the_api_base_are_refused() {
    let server = Server::new_async().await;
    let client = client_for(&server);
    let base = server.url();
    for url in [
        "https://api.twilio.com/2010-04-01/x".to_owned(),
        format!("{base}.evil.example/x"),
        format!("{}/x", base.replace("127.0.0.1", "localhost")),
        "not a url".to_owned(),
    ] {
        let e = client.fetch_media(&url, 10).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{url}");
    }
}
