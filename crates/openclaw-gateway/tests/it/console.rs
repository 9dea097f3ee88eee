//! The web console against a real gateway process: sessions, CSRF, the login limiter, headers,
//! escaping, export, the base path, the start-up refusal without a token, the live thread
//! stream and its cap, MMS attachments, and the account export.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::harness::{FakeTwilio, PHONE, Sandbox};
use crate::state::{Background, wait_for_the_gateway};

const TOKEN: &str = "console-test-token-0123456789";

fn echo_agent() -> Value {
    json!({"defaults": {"model": {"primary": "echo"}}})
}

/// A gateway with the console on (`console` merged into `gateway.console`), an open account on
/// the fake Twilio, and the echo agent.
fn start(sandbox: &Sandbox, twilio: &FakeTwilio, gateway: Value) -> Background {
    start_with(sandbox, twilio, gateway, json!({}))
}

/// [`start`] with more keys of `channels.sms` (`sms`, merged over the defaults).
fn start_with(sandbox: &Sandbox, twilio: &FakeTwilio, gateway: Value, extra: Value) -> Background {
    let port = sandbox.gateway_port();
    let mut sms = twilio.sms_section();
    if let (Some(sms), Value::Object(extra)) = (sms.as_object_mut(), extra) {
        sms.extend(extra);
    }
    sms["publicWebhookUrl"] = json!(format!("http://127.0.0.1:{port}/webhooks/sms"));
    sms["dmPolicy"] = json!("open");
    sms["allowFrom"] = json!(["*"]);
    sandbox.write_config(
        &json!({"agents": echo_agent(), "channels": {"sms": sms}, "gateway": gateway}),
    );
    let child = Background(sandbox.spawn_background(&["gateway", "--port", &port.to_string()]));
    wait_for_the_gateway(sandbox);
    child
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The console of a gateway on loopback: base URL, cookie and CSRF of a logged-in session.
struct Browser {
    http: reqwest::Client,
    origin: String,
    base: String,
    cookie: Option<String>,
}

impl Browser {
    fn new(port: u16, base: &str) -> Self {
        Self {
            http: http(),
            origin: format!("http://127.0.0.1:{port}"),
            base: base.to_owned(),
            cookie: None,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}{path}", self.origin, self.base)
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        let mut req = self.http.get(self.url(path));
        if let Some(cookie) = &self.cookie {
            req = req.header("cookie", cookie);
        }
        req.send().await.expect("GET")
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut req = self.http.post(self.url(path)).form(form);
        if let Some(cookie) = &self.cookie {
            req = req.header("cookie", cookie);
        }
        req.send().await.expect("POST")
    }

    async fn login(&self, token: &str) -> reqwest::Response {
        self.post("/login", &[("token", token)]).await
    }

    async fn log_in(&mut self) -> String {
        let answer = self.login(TOKEN).await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        let set = set_cookie(answer.headers());
        self.cookie = Some(set.split(';').next().expect("cookie pair").to_owned());
        self.csrf().await
    }

    async fn csrf(&self) -> String {
        let page = self.get("/").await.text().await.expect("overview");
        let start = page.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
        page[start..start + 64].to_owned()
    }
}

fn set_cookie(headers: &HeaderMap) -> String {
    headers
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

const GET_ROUTES: &[&str] = &[
    "/",
    "/pairing",
    "/conversations",
    "/thread?sender=%2B15557654321",
    "/export?format=csv&sender=%2B15557654321",
    "/dead-letters",
    "/opt-outs",
    "/thread/events?sender=%2B15557654321",
    "/media?sender=%2B15557654321&name=mms-SM0123456789abcdef0123456789abcdef-1.png",
    "/export/account?format=csv",
];
/// The GET routes that answer an HTML page.
fn is_page(path: &str) -> bool {
    !["/export", "/thread/events", "/media"]
        .iter()
        .any(|p| path.starts_with(p))
}
const POST_ROUTES: &[&str] = &[
    "/logout",
    "/pairing/approve",
    "/pairing/deny",
    "/pairing/revoke",
    "/dead-letters/resubmit",
];

#[test]
fn console_sessions_csrf_headers_escaping_export_and_the_login_limiter() {
    let sandbox = Sandbox::new();
    let port = sandbox.gateway_port();
    let twilio = FakeTwilio::start(Some(&format!("http://127.0.0.1:{port}/webhooks/sms")));
    let _gateway = start(
        &sandbox,
        &twilio,
        json!({"auth": {"token": TOKEN}, "console": {"enabled": true}}),
    );
    twilio.text_from(PHONE, "<script>alert(1)</script> & =1+1");
    let deadline = Instant::now() + Duration::from_secs(30);
    while twilio.bodies_to(PHONE).is_empty() {
        assert!(Instant::now() < deadline, "no reply");
        std::thread::sleep(Duration::from_millis(50));
    }
    runtime().block_on(async {
        let mut browser = Browser::new(port, "/console");
        // No session: every page sends to the login form, every action is refused.
        for path in GET_ROUTES {
            let answer = browser.get(path).await;
            assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{path}");
            assert_eq!(answer.headers()[LOCATION], "/console/login", "{path}");
        }
        for path in POST_ROUTES {
            let answer = browser.post(path, &[("code", "ABCD2345")]).await;
            assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{path}");
        }
        // A made-up cookie is no session.
        browser.cookie = Some("openclaw_console=00ff".to_owned());
        assert_eq!(browser.get("/").await.status(), StatusCode::SEE_OTHER);
        browser.cookie = None;

        // The login page: strict headers, no inline script, no token.
        let login = browser.get("/login").await;
        assert_eq!(login.status(), StatusCode::OK);
        let headers = login.headers().clone();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.starts_with("default-src 'self'; script-src 'self';"),
            "{csp}"
        );
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert_eq!(headers["cache-control"], "no-store");
        let html = login.text().await.unwrap();
        assert!(
            !html.contains("<script>")
                && html.contains("<script src=\"/console/static/console.js\" defer></script>"),
            "{html}"
        );

        // The right token: a session cookie, HttpOnly, SameSite=Strict, not Secure over http.
        let csrf = browser.log_in().await;
        let again = browser.login(TOKEN).await;
        let cookie = set_cookie(again.headers());
        assert!(
            cookie.contains("; Path=/console; HttpOnly; SameSite=Strict;"),
            "{cookie}"
        );
        assert!(!cookie.contains("Secure"), "{cookie}");

        // Pages render; a sender's `<script>` stays text; the token is nowhere.
        for path in GET_ROUTES.iter().filter(|p| is_page(p)) {
            let page = browser.get(path).await;
            assert_eq!(page.status(), StatusCode::OK, "{path}");
            assert_eq!(page.headers()["content-security-policy"], csp, "{path}");
            let text = page.text().await.unwrap();
            assert!(!text.contains(TOKEN), "{path}");
            assert!(!text.contains("<script>alert"), "{path}: {text}");
        }
        let list = browser.get("/conversations").await.text().await.unwrap();
        // An open policy's sender is neither paired nor opted out.
        assert!(list.contains(">+15557654321</a></td><td>—</td>"), "{list}");
        let thread = browser
            .get("/thread?sender=%2B15557654321")
            .await
            .text()
            .await
            .unwrap();
        assert!(
            thread.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; =1+1"),
            "{thread}"
        );

        // Export: JSON Lines and CSV with the formula cell neutralised.
        let jsonl = browser
            .get("/export?format=jsonl&sender=%2B15557654321")
            .await
            .text()
            .await
            .unwrap();
        let first: Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
        assert_eq!(first["text"], "<script>alert(1)</script> & =1+1");
        assert_eq!(first["role"], "user");
        let csv = browser
            .get("/export?format=csv&sender=%2B15557654321")
            .await
            .text()
            .await
            .unwrap();
        assert!(csv.starts_with("at,role,sender,text\r\n"), "{csv}");
        assert!(
            csv.contains(",\"user\",\"'+15557654321\",\"<script>alert(1)</script> & =1+1\"\r\n"),
            "{csv}"
        );

        // CSRF: none, or another value, is refused; the right one goes through.
        for form in [
            vec![("code", "ABCD2345")],
            vec![("code", "ABCD2345"), ("csrf", "0000")],
        ] {
            let answer = browser.post("/pairing/approve", &form).await;
            assert_eq!(answer.status(), StatusCode::FORBIDDEN);
        }
        let answer = browser
            .post("/pairing/approve", &[("code", "ABCD2345"), ("csrf", &csrf)])
            .await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            answer.headers()[LOCATION],
            "/console/pairing?note=unknown-code"
        );

        // Wrong tokens are refused and counted; past the limit even the right one waits.
        let fresh = Browser::new(port, "/console");
        for _ in 0..5 {
            let answer = fresh.login("wrong-token-wrong-token").await;
            assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
            assert!(set_cookie(answer.headers()).is_empty());
        }
        assert_eq!(
            fresh.login("wrong-token-wrong-token").await.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        let limited = fresh.login(TOKEN).await;
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(set_cookie(limited.headers()).is_empty());
        // The existing session is not affected; logging out ends it.
        assert_eq!(browser.get("/").await.status(), StatusCode::OK);
        assert_eq!(
            browser.post("/logout", &[("csrf", &csrf)]).await.status(),
            StatusCode::SEE_OTHER
        );
        assert_eq!(browser.get("/").await.status(), StatusCode::SEE_OTHER);
    });
}

#[test]
fn console_base_path_and_secure_cookie_behind_a_trusted_proxy() {
    let sandbox = Sandbox::new();
    let port = sandbox.gateway_port();
    let twilio = FakeTwilio::start(None);
    let _gateway = start(
        &sandbox,
        &twilio,
        json!({"auth": {"token": TOKEN}, "console": {"enabled": true, "basePath": "/ops/console/"}, "trustedProxies": ["127.0.0.1"]}),
    );
    runtime().block_on(async {
        let mut browser = Browser::new(port, "/ops/console");
        assert_eq!(
            Browser::new(port, "/console").get("/login").await.status(),
            StatusCode::NOT_FOUND
        );
        let page = browser.get("/login").await.text().await.unwrap();
        assert!(page.contains("action=\"/ops/console/login\""), "{page}");
        assert_eq!(
            browser.get("/pairing").await.headers()[LOCATION],
            "/ops/console/login"
        );
        let over_https = browser
            .http
            .post(browser.url("/login"))
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-for", "203.0.113.9")
            .form(&[("token", TOKEN)])
            .send()
            .await
            .unwrap();
        let cookie = set_cookie(over_https.headers());
        assert!(
            cookie.contains("; Path=/ops/console; HttpOnly; SameSite=Strict;")
                && cookie.ends_with("; Secure"),
            "{cookie}"
        );
        browser.log_in().await;
        let overview = browser.get("/").await.text().await.unwrap();
        assert!(
            overview.contains("href=\"/ops/console/pairing\""),
            "{overview}"
        );
    });
}

#[test]
fn an_enabled_console_without_a_token_refuses_to_start() {
    let sandbox = Sandbox::new();
    sandbox
        .write_config(&json!({"agents": echo_agent(), "gateway": {"console": {"enabled": true}}}));
    let port = sandbox.gateway_port().to_string();
    let out =
        sandbox.run_expecting_exit(&["gateway", "--port", &port], crate::config::REFUSAL_LIMIT);
    assert_eq!(out.code, Some(1), "{}", out.render());
    assert!(
        out.stderr
            .contains("gateway.console.enabled is true but gateway.auth.token is not set"),
        "{}",
        out.render()
    );
    let validate = sandbox.run(&["config", "validate"]);
    assert_eq!(validate.code, Some(1), "{}", validate.render());
    assert!(
        validate.stderr.contains("gateway.auth.token is not set"),
        "{}",
        validate.render()
    );
}

/// Reads a server-sent event stream until `done` holds for what came so far (or the stream
/// ends, or 30 s pass); returns what came.
async fn read_stream(answer: &mut reqwest::Response, done: impl Fn(&str) -> bool) -> String {
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(&seen) && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), answer.chunk()).await {
            Ok(Ok(Some(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(_) => break,
            Err(_) => {}
        }
    }
    seen
}

const INBOUND_SID: &str = "SM00000000000000000000000000000abc";
/// A 1x1 PNG's first bytes are enough: the console serves the file as saved.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\nnot really a picture";

#[test]
fn console_thread_is_live_streams_are_capped_media_is_the_senders_and_accounts_export() {
    let sandbox = Sandbox::new();
    let port = sandbox.gateway_port();
    let twilio = FakeTwilio::start(Some(&format!("http://127.0.0.1:{port}/webhooks/sms")));
    let _gateway = start(
        &sandbox,
        &twilio,
        json!({"auth": {"token": TOKEN}, "console": {"enabled": true}}),
    );
    twilio.text_from_with_sid(PHONE, INBOUND_SID, "=cmd|' /C calc'!A0 <b>bold</b>");
    let deadline = Instant::now() + Duration::from_secs(30);
    while twilio.bodies_to(PHONE).is_empty() {
        assert!(Instant::now() < deadline, "no reply");
        std::thread::sleep(Duration::from_millis(50));
    }
    // An attachment as the pipeline saves it, and one of another message.
    let media = sandbox.state_dir().join("media").join("inbound");
    std::fs::create_dir_all(&media).unwrap();
    let name = format!("mms-{INBOUND_SID}-1.png");
    std::fs::write(media.join(&name), PNG).unwrap();
    let stranger = "mms-SM11111111111111111111111111111111-1.png";
    std::fs::write(media.join(stranger), PNG).unwrap();
    runtime().block_on(async {
        let mut browser = Browser::new(port, "/console");
        let csrf = browser.log_in().await;

        // The thread: every part with its delivery status (the fake Twilio reports
        // "delivered" to the gateway), the attachment link, the body escaped.
        let page = browser
            .get("/thread?sender=%2B15557654321")
            .await
            .text()
            .await
            .unwrap();
        assert!(!page.contains("http-equiv=\"refresh\""), "{page}");
        assert!(
            page.contains(
                "data-events=\"/console/thread/events?account=default&amp;sender=%2B15557654321\""
            ),
            "{page}"
        );
        assert!(page.contains("&lt;b&gt;bold&lt;/b&gt;"), "{page}");
        assert!(page.contains("part 1/1 · 1 segment(s), GSM-7"), "{page}");
        assert!(
            page.contains(&format!(
                "/console/media?account=default&amp;sender=%2B15557654321&amp;name={name}"
            )),
            "{page}"
        );
        assert!(!page.contains(stranger), "{page}");

        // The stream: the thread's list at once, then every status change.
        let mut stream = browser.get("/thread/events?sender=%2B15557654321").await;
        assert_eq!(stream.status(), StatusCode::OK);
        assert_eq!(stream.headers()["content-type"], "text/event-stream");
        let seen = read_stream(&mut stream, |s| s.contains(">delivered<")).await;
        assert!(
            seen.starts_with("retry: 2000\n\nevent: thread\ndata: "),
            "{seen}"
        );
        assert!(seen.contains(">delivered<"), "{seen}");
        assert!(
            seen.contains("&lt;b&gt;bold&lt;/b&gt;") && !seen.contains("<b>bold"),
            "{seen}"
        );

        // At most 16 streams: the 17th waits its turn; closing one frees a slot.
        let mut open = Vec::new();
        for _ in 1..16 {
            let answer = browser.get("/thread/events?sender=%2B15557654321").await;
            assert_eq!(answer.status(), StatusCode::OK);
            open.push(answer);
        }
        let refused = browser.get("/thread/events?sender=%2B15557654321").await;
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.headers()["retry-after"], "10");
        drop(open.pop());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let again = browser.get("/thread/events?sender=%2B15557654321").await;
            if again.status() == StatusCode::OK {
                open.push(again);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "a closed stream's slot never came back"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // The attachment: only through the session, only this sender's, only by its name.
        let picture = browser
            .get(&format!("/media?sender=%2B15557654321&name={name}"))
            .await;
        assert_eq!(picture.status(), StatusCode::OK);
        assert_eq!(picture.headers()["content-type"], "image/png");
        assert_eq!(picture.bytes().await.unwrap().as_ref(), PNG);
        for query in [
            format!("sender=%2B15550000000&name={name}"),
            format!("sender=%2B15557654321&name={stranger}"),
            "sender=%2B15557654321&name=..%2F..%2Fopenclaw.json".to_owned(),
        ] {
            let answer = browser.get(&format!("/media?{query}")).await;
            assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{query}");
        }

        // The account export: every sender's turns, page by page, CSV formula-safe.
        let jsonl = browser
            .get("/export/account?format=jsonl")
            .await
            .text()
            .await
            .unwrap();
        let turns: Vec<Value> = jsonl
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(turns.len(), 2, "{jsonl}");
        assert_eq!(turns[0]["sender"], PHONE);
        assert_eq!(turns[0]["text"], "=cmd|' /C calc'!A0 <b>bold</b>");
        assert_eq!(turns[1]["role"], "assistant");
        let csv = browser
            .get("/export/account?format=csv")
            .await
            .text()
            .await
            .unwrap();
        assert!(
            csv.starts_with("at,role,sender,text\r\n")
                && csv.contains(
                    ",\"user\",\"'+15557654321\",\"'=cmd|' /C calc'!A0 <b>bold</b>\"\r\n"
                ),
            "{csv}"
        );

        // The overview and the opt-outs page render; logging out ends every stream.
        let overview = browser.get("/").await.text().await.unwrap();
        assert!(overview.contains("id=\"today\""), "{overview}");
        assert!(
            browser
                .get("/opt-outs")
                .await
                .text()
                .await
                .unwrap()
                .contains("No opted-out senders.")
        );
        assert_eq!(
            browser.post("/logout", &[("csrf", &csrf)]).await.status(),
            StatusCode::SEE_OTHER
        );
        let rest = read_stream(&mut stream, |_| false).await;
        assert!(!rest.contains("event: thread"), "{rest}");
        assert_eq!(
            stream.chunk().await.ok().flatten(),
            None,
            "the stream outlived the session"
        );
    });
}

#[test]
fn the_overview_shows_todays_billed_segments_and_their_estimated_cost() {
    let sandbox = Sandbox::new();
    let port = sandbox.gateway_port();
    let twilio = FakeTwilio::start(Some(&format!("http://127.0.0.1:{port}/webhooks/sms")));
    let _gateway = start_with(
        &sandbox,
        &twilio,
        json!({"auth": {"token": TOKEN}, "console": {"enabled": true}}),
        json!({"budgets": {"pricePerSegment": {"1": {"amount": 0.5, "currency": "USD"}}}}),
    );
    // The echo agent answers with the text: three segments of GSM-7 (161..=459 characters).
    twilio.text_from(PHONE, &"a".repeat(400));
    let deadline = Instant::now() + Duration::from_secs(30);
    while twilio.segments_to(PHONE) == 0 {
        assert!(Instant::now() < deadline, "no reply");
        std::thread::sleep(Duration::from_millis(50));
    }
    let segments = twilio.segments_to(PHONE);
    runtime().block_on(async {
        let mut browser = Browser::new(port, "/console");
        browser.log_in().await;
        let overview = browser.get("/").await.text().await.unwrap();
        let billed = &overview[overview.find("id=\"billed\"").expect("the billed table")..];
        let body = &billed[billed.find("<tbody>").expect("rows")..];
        let row = &body[..body.find("</tr>").unwrap()];
        assert!(row.contains("<td>default</td>"), "{row}");
        assert!(row.contains(&format!("<td>{segments}</td>")), "{row}");
        let cost = 0.5 * f64::from(u32::try_from(segments).unwrap());
        assert!(row.contains(&format!("{cost:.4} USD")), "{row}");
    });
}
