//! The `/_sim` control API, as another process would use it.

use serde_json::{Value, json};

use crate::support::{NUMBER, PHONE, Recorder, TestResult, send, start};

async fn control(
    sim: &openclaw_twilio_sim::SimHandle,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Value), Box<dyn std::error::Error>> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let url = format!("{}{path}", sim.base_url());
    let request = match method {
        "POST" => client.post(url),
        "PUT" => client.put(url),
        _ => client.get(url),
    };
    let request = if let Some(b) = body {
        request.json(&b)
    } else {
        request
    };
    let response = request.send().await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    Ok((
        status,
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        },
    ))
}

#[tokio::test]
async fn text_and_read_messages_over_http() -> TestResult {
    let hook = Recorder::start(200, "<Response><Message>pong</Message></Response>").await?;
    let sim = start(&hook.base).await?;
    let (status, json) = control(&sim, "GET", "/_sim/health", None).await?;
    assert_eq!((status, json["ok"].as_bool()), (200, Some(true)));

    let (status, json) = control(
        &sim,
        "POST",
        "/_sim/phones/+15557654321/text",
        Some(json!({"to": NUMBER, "body": "ping"})),
    )
    .await?;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["status"], 200);
    assert!(
        json["message_sid"]
            .as_str()
            .is_some_and(|s| s.starts_with("SM"))
    );
    assert!(json["body"].as_str().is_some_and(|b| b.contains("pong")));
    assert_eq!(hook.requests()[0].field("Body").as_deref(), Some("ping"));

    let (status, json) = control(
        &sim,
        "GET",
        "/_sim/phones/%2B15557654321/next-reply?timeout_ms=2000",
        None,
    )
    .await?;
    assert_eq!((status, json["body"].as_str()), (200, Some("pong")));
    let (status, _) = control(
        &sim,
        "GET",
        "/_sim/phones/+15557654321/next-reply?timeout_ms=10",
        None,
    )
    .await?;
    assert_eq!(status, 204);
    let (_, json) = control(&sim, "GET", "/_sim/phones/+15557654321/messages", None).await?;
    assert_eq!(json.as_array().map(Vec::len), Some(1));

    let (_, json) = control(&sim, "GET", "/_sim/messages", None).await?;
    assert_eq!(
        json.as_array().map(Vec::len),
        Some(2),
        "inbound ping and the TwiML reply"
    );

    let (status, json) = control(
        &sim,
        "POST",
        "/_sim/phones/+15557654321/text",
        Some(json!({"to": "+15559990000", "body": "x"})),
    )
    .await?;
    assert_eq!(status, 404, "{json}");
    assert!(json["error"].as_str().is_some());
    Ok(())
}

#[tokio::test]
async fn faults_delivery_and_webhook_over_http() -> TestResult {
    let hook = Recorder::ok().await?;
    let sim = start(&hook.base).await?;
    let (status, json) = control(
        &sim,
        "POST",
        "/_sim/faults",
        Some(json!({"rate_limit_share": 1.0})),
    )
    .await?;
    assert_eq!(
        (status, json["rate_limit_share"].as_f64()),
        (200, Some(1.0))
    );
    assert_eq!(send(&sim, PHONE, "x").await?.0, 429);
    let (_, json) = control(&sim, "GET", "/_sim/faults/counts", None).await?;
    assert_eq!(json["rate_limited"], 1);
    let (status, _) = control(
        &sim,
        "POST",
        "/_sim/faults",
        Some(json!({"rate_limit_share": 3.0})),
    )
    .await?;
    assert_eq!(status, 400);
    control(&sim, "POST", "/_sim/faults", Some(json!({}))).await?;

    let (status, _) = control(
        &sim,
        "PUT",
        "/_sim/phones/+15557654321/delivery",
        Some(json!({"outcome": "undelivered"})),
    )
    .await?;
    assert_eq!(status, 204);
    assert_eq!(send(&sim, PHONE, "lost").await?.0, 201);
    assert!(sim.phone(PHONE)?.replies().is_empty());

    let (status, _) = control(
        &sim,
        "PUT",
        "/_sim/numbers/+15550001111/webhook",
        Some(json!({"sms_url": format!("{}/moved", hook.base)})),
    )
    .await?;
    assert_eq!(status, 204);
    sim.phone(PHONE)?.text(NUMBER, "STOP").await?;
    assert_eq!(
        hook.requests().pop().map(|r| r.uri).as_deref(),
        Some("/moved")
    );
    let (_, json) = control(&sim, "GET", "/_sim/opt-outs", None).await?;
    assert_eq!(json, json!([{"phone": PHONE, "sender": NUMBER}]));
    Ok(())
}

#[tokio::test]
async fn uploaded_media_is_served_as_twilio_media_with_basic_auth() -> TestResult {
    use crate::support::{ACCOUNT, TOKEN};
    let hook = Recorder::ok().await?;
    let sim = start(&hook.base).await?;
    let client = reqwest::Client::builder().no_proxy().build()?;
    let me = "ME0123456789abcdef0123456789abcdef";
    let put = |id: &str, body: Vec<u8>| {
        client
            .put(format!("{}/_sim/media/{id}", sim.base_url()))
            .header("content-type", "image/png")
            .body(body)
            .send()
    };
    assert_eq!(put(me, b"\x89PNG".to_vec()).await?.status(), 204);
    assert_eq!(put("ME123", b"x".to_vec()).await?.status(), 400);
    // One byte over the limit (2 MiB) is refused, by the route or by the body limit.
    let over = put(me, vec![0; 2 * 1024 * 1024 + 1]).await?.status();
    assert_eq!(over, 413);
    let url = format!(
        "{}/2010-04-01/Accounts/{ACCOUNT}/Messages/SM0123456789abcdef0123456789abcdef/Media/{me}",
        sim.base_url()
    );
    let served = client
        .get(&url)
        .basic_auth(ACCOUNT, Some(TOKEN))
        .send()
        .await?;
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.bytes().await?.as_ref(), b"\x89PNG");
    assert_eq!(client.get(&url).send().await?.status(), 401);
    let missing = url.replace(me, "ME0123456789abcdef0123456789abcdee");
    let status = client
        .get(&missing)
        .basic_auth(ACCOUNT, Some(TOKEN))
        .send()
        .await?
        .status();
    assert_eq!(status, 404);
    Ok(())
}
