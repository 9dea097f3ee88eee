//! The voice example driven in process with signed Twilio voice webhooks; each test checks the
//! TwiML (or status) that comes back.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use openclaw_access_policy::{AllowRule, DmPolicy};
use openclaw_channel::agent::{Agent, AgentError, AgentReply, AgentTurn};
use openclaw_store::{PairingKey, PairingStore as _, SqliteStore};
use openclaw_twilio::form::Form;
use openclaw_twilio::signature;
use openclaw_voice_call_example::{
    GATHER_PATH, INCOMING_PATH, MAX_SPOKEN_CHARS, STATUS_PATH, VoiceChannel, VoiceConfig, router,
    speakable, spell,
};
use secrecy::SecretString;
use tower::ServiceExt as _;

const BASE: &str = "https://voice.example.com";
const TOKEN: &str = "voice-test-auth-token";
const CALL: &str = "CA0123456789abcdef0123456789abcdef";
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const OUR_NUMBER: &str = "+15550001111";
const ALICE: &str = "+15557654321";

/// Records every turn and answers with a fixed reply.
struct TestAgent {
    reply: String,
    turns: Mutex<Vec<AgentTurn>>,
}

#[async_trait]
impl Agent for TestAgent {
    fn name(&self) -> &str {
        "test"
    }

    async fn reply(&self, turn: &AgentTurn) -> Result<AgentReply, AgentError> {
        self.turns.lock().unwrap().push(turn.clone());
        Ok(AgentReply {
            text: self.reply.clone(),
        })
    }
}

struct Harness {
    router: Router,
    channel: Arc<VoiceChannel>,
    agent: Arc<TestAgent>,
    store: Arc<SqliteStore>,
}

fn harness(config: VoiceConfig, reply: &str) -> Harness {
    let agent = Arc::new(TestAgent {
        reply: reply.to_owned(),
        turns: Mutex::new(Vec::new()),
    });
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let channel = Arc::new(VoiceChannel::new(config, agent.clone(), store.clone()));
    Harness {
        router: router(channel.clone()),
        channel,
        agent,
        store,
    }
}

fn config(policy: DmPolicy, allow: &[&str]) -> VoiceConfig {
    let mut config = VoiceConfig::new(BASE, SecretString::from(TOKEN));
    config.policy = policy;
    config.allow_from = allow.iter().map(|a| AllowRule::parse(a).unwrap()).collect();
    config
}

fn pairs(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A POST of `fields` to `path`, signed for `url` with `token`, from a fixed client.
fn signed(url: &str, path: &str, fields: &[(&str, &str)], token: &str) -> Request<Body> {
    let form = Form::from_pairs(pairs(fields));
    let signature = signature::compute(url, form.pairs(), &SecretString::from(token));
    post(path, form.encode(), &signature)
}

fn post(path: &str, body: String, signature: &str) -> Request<Body> {
    let mut request = Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("content-length", body.len().to_string())
        .header("x-twilio-signature", signature)
        .body(Body::from(body))
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([203, 0, 113, 9], 40_000))));
    request
}

fn incoming(from: &str) -> Request<Body> {
    signed(
        &format!("{BASE}{INCOMING_PATH}"),
        INCOMING_PATH,
        &[
            ("CallSid", CALL),
            ("AccountSid", ACCOUNT),
            ("From", from),
            ("To", OUR_NUMBER),
            ("CallStatus", "ringing"),
            ("Direction", "inbound"),
        ],
        TOKEN,
    )
}

fn gathered(from: &str, speech: &str) -> Request<Body> {
    signed(
        &format!("{BASE}{GATHER_PATH}"),
        GATHER_PATH,
        &[
            ("CallSid", CALL),
            ("AccountSid", ACCOUNT),
            ("From", from),
            ("To", OUR_NUMBER),
            ("SpeechResult", speech),
            ("Confidence", "0.9"),
        ],
        TOKEN,
    )
}

async fn send(h: &Harness, request: Request<Body>) -> (StatusCode, String) {
    let response: Response<Body> = h.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    if status == StatusCode::OK {
        assert_eq!(
            response.headers()["content-type"],
            "text/xml; charset=utf-8"
        );
    }
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

fn listens(twiml: &str) -> bool {
    twiml.contains(r#"<Gather input="speech" action="/voice/gather" speechTimeout="auto">"#)
}

#[tokio::test]
async fn an_allowed_caller_is_greeted_inside_a_speech_gather() {
    let h = harness(config(DmPolicy::Allowlist, &[ALICE]), "unused");
    let (status, twiml) = send(&h, incoming(ALICE)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(listens(&twiml), "{twiml}");
    assert!(twiml.contains("<Say>Hello. What can I do for you?</Say></Gather>"));
    assert!(!twiml.contains("<Hangup/>"), "{twiml}");
}

#[tokio::test]
async fn speech_reaches_the_agent_and_its_reply_is_spoken_escaped_then_gathered_again() {
    let h = harness(
        config(DmPolicy::Allowlist, &[ALICE]),
        "**Sure**: 2 < 3 &   so\non",
    );
    let (status, twiml) = send(&h, gathered(ALICE, "is two less than three")).await;
    assert_eq!(status, StatusCode::OK);
    let turns = h.agent.turns.lock().unwrap().clone();
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0].channel, "voice");
    assert_eq!(turns[0].sender, ALICE);
    assert_eq!(turns[0].text, "is two less than three");
    assert_eq!(turns[0].message_id, CALL);
    assert!(
        twiml.contains(r#"speechTimeout="auto"><Say>Sure: 2 &lt; 3 &amp; so on</Say></Gather>"#),
        "{twiml}"
    );
    assert!(listens(&twiml), "{twiml}");
}

#[tokio::test]
async fn digits_reach_the_agent_when_there_is_no_speech() {
    let h = harness(config(DmPolicy::Open, &["*"]), "ok");
    let request = signed(
        &format!("{BASE}{GATHER_PATH}"),
        GATHER_PATH,
        &[
            ("CallSid", CALL),
            ("AccountSid", ACCOUNT),
            ("From", ALICE),
            ("Digits", "42"),
        ],
        TOKEN,
    );
    let (status, twiml) = send(&h, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.agent.turns.lock().unwrap()[0].text, "42");
    assert!(twiml.contains("<Say>ok</Say>"), "{twiml}");
}

#[tokio::test]
async fn an_unknown_caller_under_pairing_hears_the_code_and_the_request_is_stored() {
    let h = harness(config(DmPolicy::Pairing, &[]), "unused");
    let (status, twiml) = send(&h, incoming(ALICE)).await;
    assert_eq!(status, StatusCode::OK);
    let key = PairingKey::new("voice", "default");
    let requests = h
        .store
        .list_requests(&key, i64::MAX / 2, i64::MAX / 2)
        .await
        .unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].sender_id, ALICE);
    assert!(
        twiml.contains(&spell(&requests[0].code)),
        "the code is spoken one character at a time: {twiml}"
    );
    assert!(twiml.ends_with("<Hangup/></Response>"), "{twiml}");
    assert!(!listens(&twiml));

    // A second call while the request is live does not make another request or another code.
    let (_, again) = send(&h, incoming(ALICE)).await;
    assert!(!again.contains(&spell(&requests[0].code)), "{again}");
    assert!(again.ends_with("<Hangup/></Response>"));
    let after = h
        .store
        .list_requests(&key, i64::MAX / 2, i64::MAX / 2)
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
}

#[tokio::test]
async fn an_approved_caller_is_served_after_pairing() {
    let h = harness(config(DmPolicy::Pairing, &[]), "welcome back");
    send(&h, incoming(ALICE)).await;
    let key = PairingKey::new("voice", "default");
    h.store.add_allow_entry(&key, ALICE, 1).await.unwrap();
    let (_, twiml) = send(&h, incoming(ALICE)).await;
    assert!(listens(&twiml), "{twiml}");
    let (_, reply) = send(&h, gathered(ALICE, "hello")).await;
    assert!(reply.contains("<Say>welcome back</Say>"), "{reply}");
}

#[tokio::test]
async fn an_unknown_callers_gather_is_hung_up_without_the_agent_or_a_pairing_request() {
    let h = harness(config(DmPolicy::Pairing, &[]), "unused");
    let (status, twiml) = send(&h, gathered(ALICE, "let me in")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(twiml.ends_with("<Response><Hangup/></Response>"), "{twiml}");
    assert!(h.agent.turns.lock().unwrap().is_empty());
    let key = PairingKey::new("voice", "default");
    let requests = h.store.list_requests(&key, 0, i64::MAX / 2).await.unwrap();
    assert!(requests.is_empty());
}

#[tokio::test]
async fn a_client_caller_is_identified_as_client_name() {
    let h = harness(config(DmPolicy::Allowlist, &["client:alice"]), "hi alice");
    let (_, twiml) = send(&h, incoming("client:alice")).await;
    assert!(listens(&twiml), "{twiml}");
    send(&h, gathered("client:alice", "hello")).await;
    assert_eq!(h.agent.turns.lock().unwrap()[0].sender, "client:alice");
}

#[tokio::test]
async fn an_anonymous_caller_is_told_and_hung_up_without_a_pairing_request() {
    let h = harness(config(DmPolicy::Pairing, &[]), "unused");
    let (status, twiml) = send(&h, incoming("Anonymous")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(twiml.contains("withheld numbers"), "{twiml}");
    assert!(twiml.ends_with("<Hangup/></Response>"), "{twiml}");
    let key = PairingKey::new("voice", "default");
    let requests = h.store.list_requests(&key, 0, i64::MAX / 2).await.unwrap();
    assert!(requests.is_empty());
}

#[tokio::test]
async fn a_caller_not_on_the_allowlist_is_hung_up_silently() {
    let h = harness(config(DmPolicy::Allowlist, &[ALICE]), "unused");
    let (status, twiml) = send(&h, incoming("+15550009999")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(twiml.ends_with("<Response><Hangup/></Response>"), "{twiml}");
    let (_, gather) = send(&h, gathered("+15550009999", "let me in")).await;
    assert!(
        gather.ends_with("<Response><Hangup/></Response>"),
        "{gather}"
    );
    assert!(h.agent.turns.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_disabled_line_hangs_up_on_everyone() {
    let h = harness(config(DmPolicy::Disabled, &["*"]), "unused");
    let (_, twiml) = send(&h, incoming(ALICE)).await;
    assert!(twiml.ends_with("<Response><Hangup/></Response>"), "{twiml}");
}

#[tokio::test]
async fn a_forged_signature_is_refused_with_403_before_the_agent() {
    let h = harness(config(DmPolicy::Open, &["*"]), "unused");
    let forged = signed(
        &format!("{BASE}{GATHER_PATH}"),
        GATHER_PATH,
        &[
            ("CallSid", CALL),
            ("AccountSid", ACCOUNT),
            ("From", ALICE),
            ("SpeechResult", "hi"),
        ],
        "not-the-token",
    );
    let (status, _) = send(&h, forged).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(h.agent.turns.lock().unwrap().is_empty());
    assert_eq!(h.channel.rejection_counts().get("forbidden"), Some(&1));
}

#[tokio::test]
async fn a_get_is_refused_with_405() {
    let h = harness(config(DmPolicy::Open, &["*"]), "unused");
    let mut request = Request::get(INCOMING_PATH).body(Body::empty()).unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([203, 0, 113, 9], 40_000))));
    let (status, _) = send(&h, request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

/// Twilio's published voice example ("Validating Signatures from Twilio"): the signature
/// verifies when the public URL is the one Twilio signed; the form then fails the gather
/// parser (its CallSid is short, and it has no AccountSid), which answers 400.
#[tokio::test]
async fn twilios_published_voice_signature_passes_the_guard_then_the_form_is_refused() {
    let mut config = config(DmPolicy::Open, &["*"]);
    config.public_urls.gather = "https://mycompany.com/myapp.php?foo=1&bar=2".to_owned();
    config.auth_token = SecretString::from("12345");
    let h = harness(config, "unused");
    let form = Form::from_pairs(pairs(&[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ]));
    let good = post(GATHER_PATH, form.encode(), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    let (status, body) = send(&h, good).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body, "Invalid webhook form");

    let bad = post(GATHER_PATH, form.encode(), "RSOYDt4T1cUTdK1PDd93/VVr8B9=");
    let (status, _) = send(&h, bad).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(h.agent.turns.lock().unwrap().is_empty());
}

#[tokio::test]
async fn status_callbacks_are_counted_and_answered_with_an_empty_response() {
    let h = harness(config(DmPolicy::Open, &["*"]), "unused");
    let request = signed(
        &format!("{BASE}{STATUS_PATH}"),
        STATUS_PATH,
        &[
            ("CallSid", CALL),
            ("AccountSid", ACCOUNT),
            ("CallStatus", "completed"),
            ("CallDuration", "12"),
            ("CallbackSource", "call-progress-events"),
        ],
        TOKEN,
    );
    let (status, twiml) = send(&h, request).await;
    assert_eq!(status, StatusCode::OK);
    assert!(twiml.ends_with("<Response/>") || twiml.ends_with("<Response></Response>"));
    assert_eq!(h.channel.status_counts().get("completed"), Some(&1));
}

#[test]
fn a_long_reply_is_cut_on_a_character_boundary() {
    let long = "é".repeat(MAX_SPOKEN_CHARS + 50);
    let spoken = speakable(&long);
    assert_eq!(spoken.chars().count(), MAX_SPOKEN_CHARS);
    assert_eq!(
        speakable("  # Title\n\n*bold*   `code` "),
        "Title bold code"
    );
}

#[test]
fn a_code_is_spelled_one_character_at_a_time() {
    assert_eq!(spell("AB3D"), "A, B, 3, D");
}
