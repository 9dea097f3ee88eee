//! The Twilio REST client (reqwest with rustls): messages, account, numbers, services.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::api::{
    Account, Call, CreateCall, CreateMessage, DecodeError, IncomingPhoneNumber, ListCalls,
    ListMessages, Message, MessagingService, UpdateCall,
};
use crate::error::{ErrorKind, Operation, TwilioError};
use crate::sid::{AccountSid, ApiKeySid, CallSid, MessagingServiceSid};

/// Default time to establish a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default time for a whole call (connect, send, read the response).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest success body read (1 MiB); a larger one is an error.
pub const MAX_SUCCESS_BODY_BYTES: usize = 1024 * 1024;

/// Largest prefix of an error body read (8 KiB), cut on a character boundary.
pub const MAX_ERROR_BODY_BYTES: usize = 8 * 1024;

/// Marker appended to an error body that was cut.
pub const TRUNCATED_MARKER: &str = "... [truncated]";

/// Default REST API host.
pub const DEFAULT_API_BASE: &str = "https://api.twilio.com";

/// Default Messaging API host (Messaging Services).
pub const DEFAULT_MESSAGING_BASE: &str = "https://messaging.twilio.com";

const REDACTED: &str = "***";

/// How the client authenticates (HTTP Basic).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Credentials {
    /// Account SID and its Auth Token.
    AuthToken {
        /// The account.
        account_sid: AccountSid,
        /// The primary Auth Token.
        token: SecretString,
    },
    /// An API Key (`SK…`) and its secret, acting for an account.
    ApiKey {
        /// The account the key belongs to.
        account_sid: AccountSid,
        /// The API Key SID.
        key_sid: ApiKeySid,
        /// The API Key secret.
        secret: SecretString,
    },
}

impl Credentials {
    /// The account calls are made for.
    #[must_use]
    pub fn account_sid(&self) -> &AccountSid {
        match self {
            Self::AuthToken { account_sid, .. } | Self::ApiKey { account_sid, .. } => account_sid,
        }
    }

    fn user_and_secret(&self) -> (&str, &SecretString) {
        match self {
            Self::AuthToken { account_sid, token } => (account_sid.as_str(), token),
            Self::ApiKey {
                key_sid, secret, ..
            } => (key_sid.as_str(), secret),
        }
    }
}

/// Where the client sends requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiBase {
    /// `https://api.twilio.com` and `https://messaging.twilio.com`.
    #[default]
    Default,
    /// A Twilio region and edge: `https://api.<edge>.<region>.twilio.com` and
    /// `https://messaging.<edge>.<region>.twilio.com` (e.g. region `ie1`, edge `dublin`).
    Region {
        /// The region, e.g. `ie1`, `au1`, `us1`.
        region: String,
        /// The edge location, e.g. `dublin`, `sydney`, `ashburn`.
        edge: String,
    },
    /// One explicit base URL for both APIs (a proxy, the Twilio simulator, tests). Must be
    /// `https://`, except for loopback hosts (`127.0.0.1`, `[::1]`, `localhost`).
    Custom(String),
}

/// Client configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// How to authenticate.
    pub credentials: Credentials,
    /// Where to send requests.
    pub base: ApiBase,
    /// Time to establish a connection ([`DEFAULT_CONNECT_TIMEOUT`]).
    pub connect_timeout: Duration,
    /// Time for a whole call ([`DEFAULT_TIMEOUT`]).
    pub timeout: Duration,
}

impl ClientConfig {
    /// Configuration with the default hosts and timeouts.
    #[must_use]
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            base: ApiBase::Default,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sets the base.
    #[must_use]
    pub fn base(mut self, base: ApiBase) -> Self {
        self.base = base;
        self
    }

    /// Sets the connect timeout.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the total timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// A Twilio REST client. Cheap to clone (shared connection pool). `Debug` shows no secret.
///
/// ```no_run
/// use openclaw_twilio::{Client, ClientConfig, CreateMessage, Credentials, Sender};
/// use openclaw_twilio::sid::AccountSid;
/// use secrecy::SecretString;
///
/// # async fn send() -> Result<(), Box<dyn std::error::Error>> {
/// let credentials = Credentials::AuthToken {
///     account_sid: AccountSid::parse("AC0123456789abcdef0123456789abcdef")?,
///     token: SecretString::from("auth-token"),
/// };
/// let client = Client::new(ClientConfig::new(credentials))?;
/// let request = CreateMessage::new("+15550001111", Sender::From("+15550002222".into()), "Hello");
/// let message = client.create_message(&request).await?;
/// println!("queued {}", message.sid);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    account_sid: AccountSid,
    authorization: SecretString,
    basic_b64: SecretString,
    secret: SecretString,
    api_base: String,
    messaging_base: String,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("account_sid", &self.inner.account_sid)
            .field("api_base", &self.inner.api_base)
            .field("messaging_base", &self.inner.messaging_base)
            .field("authorization", &"[REDACTED]")
            .finish()
    }
}

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.first() != Some(&b'-')
        && b.last() != Some(&b'-')
}

fn config_error(message: &str) -> TwilioError {
    TwilioError::new(ErrorKind::Config, Operation::Configure, message)
}

fn bases(base: &ApiBase) -> Result<(String, String), TwilioError> {
    match base {
        ApiBase::Default => Ok((
            DEFAULT_API_BASE.to_owned(),
            DEFAULT_MESSAGING_BASE.to_owned(),
        )),
        ApiBase::Region { region, edge } => {
            if !is_label(region) || !is_label(edge) {
                return Err(config_error(
                    "region and edge must be lower-case DNS labels (e.g. ie1, dublin)",
                ));
            }
            Ok((
                format!("https://api.{edge}.{region}.twilio.com"),
                format!("https://messaging.{edge}.{region}.twilio.com"),
            ))
        }
        ApiBase::Custom(url) => {
            let url = url.trim_end_matches('/');
            let rest = if let Some(rest) = url.strip_prefix("https://") {
                rest
            } else if let Some(rest) = url.strip_prefix("http://") {
                let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
                let host = host.rsplit_once(':').map_or(host, |(h, p)| {
                    if p.bytes().all(|b| b.is_ascii_digit()) {
                        h
                    } else {
                        host
                    }
                });
                if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
                    return Err(config_error(
                        "a custom base URL must use https (http only for loopback hosts)",
                    ));
                }
                rest
            } else {
                return Err(config_error("a custom base URL must start with https://"));
            };
            if rest.is_empty() || rest.contains(['?', '#', '@', ' ']) {
                return Err(config_error(
                    "a custom base URL needs a host and no userinfo, query or fragment",
                ));
            }
            Ok((url.to_owned(), url.to_owned()))
        }
    }
}

/// The HTTP method of a [`Client::request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestMethod {
    /// `GET`: read.
    Get,
    /// `POST` with a form body: create or update.
    Post,
    /// `DELETE`.
    Delete,
}

/// Most redirects followed when fetching media.
pub const MAX_MEDIA_REDIRECTS: usize = 3;

/// An attachment fetched by [`Client::fetch_media`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchedMedia {
    /// The `Content-Type` of the final answer.
    pub content_type: Option<String>,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Whether a media redirect may be followed: `https` to a host under `twilio.com` or
/// `twiliocdn.com`. The URL is read by the WHATWG parser (the `url` crate), the parser reqwest
/// itself uses, so the host checked is the host connected to (a hand-split string would read
/// `https://evil.example\.twilio.com/` as a Twilio host; WHATWG reads `evil.example`).
fn is_twilio_media_host(url: &url::Url) -> bool {
    url.scheme() == "https"
        && matches!(url.host(), Some(url::Host::Domain(host))
            if host.ends_with(".twilio.com") || host.ends_with(".twiliocdn.com"))
}

/// Replaces credentials in text Twilio (or a proxy) sent back: the secret itself, the
/// Basic-auth string, `Basic …`/`Bearer …` tokens, JSON `auth_token` values and the userinfo
/// of URLs.
fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = crate::redact::redact_userinfo(text);
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        if out.contains(s) {
            out = out.replace(s, REDACTED);
        }
    }
    for scheme in ["Basic ", "basic ", "Bearer ", "bearer "] {
        out = redact_after(&out, scheme, |c| {
            c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_' | '.' | '~')
        });
    }
    redact_json_string_field(&out, "\"auth_token\"")
}

fn redact_after(text: &str, marker: &str, is_token: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(marker) {
        let after = pos + marker.len();
        out.push_str(&rest[..after]);
        let tail = &rest[after..];
        let len = tail.find(|c: char| !is_token(c)).unwrap_or(tail.len());
        if len > 0 && &tail[..len] != REDACTED {
            out.push_str(REDACTED);
        } else {
            out.push_str(&tail[..len]);
        }
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

fn redact_json_string_field(text: &str, key: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(key) {
        let after_key = pos + key.len();
        out.push_str(&rest[..after_key]);
        let tail = &rest[after_key..];
        let trimmed = tail.trim_start();
        let Some(value) = trimmed.strip_prefix(':').map(str::trim_start) else {
            rest = tail;
            continue;
        };
        let Some(inner) = value.strip_prefix('"') else {
            rest = tail;
            continue;
        };
        // Find the closing quote, skipping escapes.
        let mut end = None;
        let mut escaped = false;
        for (i, c) in inner.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let prefix_len = tail.len() - inner.len();
        out.push_str(&tail[..prefix_len]);
        out.push_str(REDACTED);
        match end {
            Some(e) => rest = &inner[e..],
            None => rest = "",
        }
    }
    out.push_str(rest);
    out
}

/// The longest prefix of `bytes` that does not end inside a UTF-8 sequence, decoded (invalid
/// sequences inside become U+FFFD).
fn utf8_prefix(bytes: &[u8]) -> String {
    let end = match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        Err(_) => bytes.len(),
    };
    String::from_utf8_lossy(bytes.get(..end).unwrap_or_default()).into_owned()
}

/// The innermost message of an error chain (reqwest's own text names the URL only).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

impl Client {
    /// Builds a client.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for an unusable base URL, region or edge, or when the HTTP stack
    /// cannot be initialised.
    pub fn new(config: ClientConfig) -> Result<Self, TwilioError> {
        let ClientConfig {
            credentials,
            base,
            connect_timeout,
            timeout,
        } = config;
        let (api_base, messaging_base) = bases(&base)?;
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("openclaw-twilio/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| config_error("could not initialise the HTTP client"))?;
        let (user, secret) = credentials.user_and_secret();
        let basic_b64 = base64::engine::general_purpose::STANDARD
            .encode(format!("{user}:{}", secret.expose_secret()));
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                account_sid: credentials.account_sid().clone(),
                authorization: SecretString::from(format!("Basic {basic_b64}")),
                basic_b64: SecretString::from(basic_b64),
                secret: secret.clone(),
                api_base,
                messaging_base,
            }),
        })
    }

    /// The account calls are made for.
    #[must_use]
    pub fn account_sid(&self) -> &AccountSid {
        &self.inner.account_sid
    }

    /// The REST API base URL in use (e.g. `https://api.dublin.ie1.twilio.com`).
    #[must_use]
    pub fn api_base(&self) -> &str {
        &self.inner.api_base
    }

    /// The Messaging API base URL in use (Messaging Services).
    #[must_use]
    pub fn messaging_base(&self) -> &str {
        &self.inner.messaging_base
    }

    fn redact(&self, text: &str) -> String {
        redact(
            text,
            &[
                self.inner.secret.expose_secret(),
                self.inner.basic_b64.expose_secret(),
            ],
        )
    }

    fn account_url(&self, suffix: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}{suffix}",
            self.inner.api_base, self.inner.account_sid
        )
    }

    /// Creates (sends) a message.
    ///
    /// # Errors
    /// [`TwilioError`]; see [`TwilioError::retry_class`] before retrying: a timeout or 5xx may
    /// have created the message.
    pub async fn create_message(&self, request: &CreateMessage) -> Result<Message, TwilioError> {
        let op = Operation::Send;
        let body = request
            .encode()
            .map_err(|reason| TwilioError::new(ErrorKind::InvalidRequest, op, reason))?;
        let url = self.account_url("/Messages.json");
        let (status, value) = self
            .call(op, reqwest::Method::POST, &url, Some(body))
            .await?;
        Message::from_json(&value, Some(request.to.trim())).map_err(|e| decode_error(op, status, e))
    }

    /// Fetches the account (a credential probe). Its `auth_token` field is never read.
    ///
    /// # Errors
    /// [`TwilioError`]; 20003 / HTTP 401 means the credentials are wrong.
    pub async fn fetch_account(&self) -> Result<Account, TwilioError> {
        let op = Operation::AccountLookup;
        let url = self.account_url(".json");
        let (status, value) = self.call(op, reqwest::Method::GET, &url, None).await?;
        Account::from_json(&value).map_err(|e| decode_error(op, status, e))
    }

    /// Lists the account's incoming phone numbers matching `phone_number` (first page).
    ///
    /// # Errors
    /// [`TwilioError`].
    pub async fn list_incoming_phone_numbers(
        &self,
        phone_number: &str,
    ) -> Result<Vec<IncomingPhoneNumber>, TwilioError> {
        let op = Operation::PhoneNumberLookup;
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("PhoneNumber", phone_number)
            .finish();
        let url = self.account_url(&format!("/IncomingPhoneNumbers.json?{query}"));
        let (status, value) = self.call(op, reqwest::Method::GET, &url, None).await?;
        list(&value, "incoming_phone_numbers")
            .and_then(|items| items.iter().map(IncomingPhoneNumber::from_json).collect())
            .map_err(|e| decode_error(op, status, e))
    }

    /// Fetches a Messaging Service from the Messaging API.
    ///
    /// # Errors
    /// [`TwilioError`].
    pub async fn fetch_messaging_service(
        &self,
        sid: &MessagingServiceSid,
    ) -> Result<MessagingService, TwilioError> {
        let op = Operation::MessagingServiceLookup;
        let url = format!("{}/v1/Services/{sid}", self.inner.messaging_base);
        let (status, value) = self.call(op, reqwest::Method::GET, &url, None).await?;
        MessagingService::from_json(&value).map_err(|e| decode_error(op, status, e))
    }

    /// Lists messages (first page), newest first as Twilio orders them.
    ///
    /// # Errors
    /// [`TwilioError`]; [`ErrorKind::InvalidRequest`] for a malformed filter.
    pub async fn list_messages(&self, filter: &ListMessages) -> Result<Vec<Message>, TwilioError> {
        let op = Operation::MessageLookup;
        let query = filter
            .query()
            .map_err(|r| TwilioError::new(ErrorKind::InvalidRequest, op, r))?;
        let sep = if query.is_empty() { "" } else { "?" };
        let url = self.account_url(&format!("/Messages.json{sep}{query}"));
        let (status, value) = self.call(op, reqwest::Method::GET, &url, None).await?;
        list(&value, "messages")
            .and_then(|items| items.iter().map(|m| Message::from_json(m, None)).collect())
            .map_err(|e| decode_error(op, status, e))
    }

    /// Places a call.
    ///
    /// # Errors
    /// [`TwilioError`]; [`ErrorKind::InvalidRequest`] before any HTTP for a call without `To`
    /// or `From`, an empty `Twiml`, a relative `Url` or a `Timeout` out of range. As for
    /// messages, a timeout or 5xx may have placed the call.
    pub async fn create_call(&self, request: &CreateCall) -> Result<Call, TwilioError> {
        let op = Operation::CallCreate;
        let body = request
            .encode()
            .map_err(|reason| TwilioError::new(ErrorKind::InvalidRequest, op, reason))?;
        let url = self.account_url("/Calls.json");
        let (status, value) = self
            .call(op, reqwest::Method::POST, &url, Some(body))
            .await?;
        Call::from_json(&value).map_err(|e| decode_error(op, status, e))
    }

    /// Fetches a call.
    ///
    /// # Errors
    /// [`TwilioError`]; HTTP 404 for a call this account does not have.
    pub async fn fetch_call(&self, sid: &CallSid) -> Result<Call, TwilioError> {
        let op = Operation::CallLookup;
        let url = self.account_url(&format!("/Calls/{sid}.json"));
        let (status, value) = self.call(op, reqwest::Method::GET, &url, None).await?;
        Call::from_json(&value).map_err(|e| decode_error(op, status, e))
    }

    /// Changes a call in progress: new TwiML or URL, or hang up.
    ///
    /// # Errors
    /// [`TwilioError`]; [`ErrorKind::InvalidRequest`] before any HTTP for an update with
    /// nothing (or both things) to do; Twilio 21220 for a call that has already ended.
    pub async fn update_call(
        &self,
        sid: &CallSid,
        update: &UpdateCall,
    ) -> Result<Call, TwilioError> {
        let op = Operation::CallUpdate;
        let body = update
            .encode()
            .map_err(|reason| TwilioError::new(ErrorKind::InvalidRequest, op, reason))?;
        let url = self.account_url(&format!("/Calls/{sid}.json"));
        let (status, value) = self
            .call(op, reqwest::Method::POST, &url, Some(body))
            .await?;
        Call::from_json(&value).map_err(|e| decode_error(op, status, e))
    }

    /// Lists calls (first page), newest first as Twilio orders them.
    ///
    /// # Errors
    /// [`TwilioError`]; [`ErrorKind::InvalidRequest`] for a malformed filter.
    pub async fn list_calls(&self, filter: &ListCalls) -> Result<Vec<Call>, TwilioError> {
        let op = Operation::CallLookup;
        let query = filter
            .query()
            .map_err(|r| TwilioError::new(ErrorKind::InvalidRequest, op, r))?;
        let sep = if query.is_empty() { "" } else { "?" };
        let url = self.account_url(&format!("/Calls.json{sep}{query}"));
        let (status, value) = self.call(op, reqwest::Method::GET, &url, None).await?;
        list(&value, "calls")
            .and_then(|items| items.iter().map(Call::from_json).collect())
            .map_err(|e| decode_error(op, status, e))
    }

    /// Sends one request to any REST endpoint under this client's API base, with its
    /// credentials, bounds, redaction and error mapping, for endpoints this crate does not
    /// model (another crate adds them without forking this one).
    ///
    /// `path` starts with `/` and is appended to [`Client::api_base`]; use
    /// [`Client::account_sid`] to build account paths. `form` is sent as the form body (POST)
    /// and is ignored for GET and DELETE. The answer is the JSON object of a 2xx response
    /// (an empty object for an empty body, e.g. a 204 after DELETE).
    ///
    /// ```no_run
    /// # async fn f(client: &openclaw_twilio::Client) -> Result<(), openclaw_twilio::TwilioError> {
    /// use openclaw_twilio::RequestMethod;
    /// let path = format!("/2010-04-01/Accounts/{}/Recordings.json", client.account_sid());
    /// let page = client.request(RequestMethod::Get, &path, &[]).await?;
    /// # let _ = page; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::InvalidRequest`] before any HTTP for a path that does not start with `/`
    /// or that would leave the API host (`//`, `\\`, `@`, `#`, control characters); otherwise
    /// as the other calls.
    pub async fn request(
        &self,
        method: RequestMethod,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<Value, TwilioError> {
        let op = Operation::Request;
        if !path.starts_with('/')
            || path.starts_with("//")
            || path.contains(['\\', '@', '#'])
            || path.chars().any(char::is_control)
        {
            return Err(TwilioError::new(
                ErrorKind::InvalidRequest,
                op,
                "the path must start with one / and stay under the API host",
            ));
        }
        let url = format!("{}{path}", self.inner.api_base);
        let (method, body) = match method {
            RequestMethod::Get => (reqwest::Method::GET, None),
            RequestMethod::Delete => (reqwest::Method::DELETE, None),
            RequestMethod::Post => {
                let mut body = form_urlencoded::Serializer::new(String::new());
                body.extend_pairs(form);
                (reqwest::Method::POST, Some(body.finish()))
            }
        };
        self.call(op, method, &url, body)
            .await
            .map(|(_, value)| value)
    }

    /// Fetches an inbound MMS attachment (a `MediaUrl{N}` of a webhook) with the account's
    /// credentials, reading at most `max_bytes`.
    ///
    /// The URL must be under this client's API base. Redirects (Twilio answers with one to its
    /// media CDN) are followed, at most [`MAX_MEDIA_REDIRECTS`], only to `https` hosts under
    /// `twilio.com` or `twiliocdn.com` (or the API origin itself: same scheme, host and port),
    /// and the credentials are sent to the API origin only.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidRequest`] (permanent) for a URL outside the API base, a refused
    /// redirect or a body over `max_bytes`; otherwise as the other calls (429 and 5xx are
    /// retryable).
    pub async fn fetch_media(
        &self,
        url: &str,
        max_bytes: u64,
    ) -> Result<FetchedMedia, TwilioError> {
        let op = Operation::MediaFetch;
        let refuse = |why: &str| TwilioError::new(ErrorKind::InvalidRequest, op, why.to_owned());
        // The API host is its whole origin (scheme, host and port): another port or plain
        // `http` on the same host name is another server and gets neither credentials nor trust.
        let api_origin = url::Url::parse(&self.inner.api_base)
            .map_err(|_| config_error("the API base is not a URL"))?
            .origin();
        let is_api = |url: &url::Url| url.origin() == api_origin;
        let under_base = format!("{}/", self.inner.api_base);
        let first = url::Url::parse(url)
            .ok()
            .filter(|u| is_api(u) && u.as_str().starts_with(&under_base))
            .ok_or_else(|| refuse("media URL is not under the Twilio API host"))?;
        let mut current = first;
        for _ in 0..=MAX_MEDIA_REDIRECTS {
            let mut req = self.inner.http.get(current.as_str());
            if is_api(&current) {
                let mut auth = reqwest::header::HeaderValue::from_str(
                    self.inner.authorization.expose_secret(),
                )
                .map_err(|_| {
                    TwilioError::new(
                        ErrorKind::Config,
                        op,
                        "credentials are not valid header text",
                    )
                })?;
                auth.set_sensitive(true);
                req = req.header(reqwest::header::AUTHORIZATION, auth);
            }
            let mut resp = req.send().await.map_err(|e| self.transport_error(op, &e))?;
            let status = resp.status();
            if status.is_redirection() {
                let location = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        TwilioError::new(
                            ErrorKind::MalformedResponse,
                            op,
                            "redirect without a Location",
                        )
                        .with_status(status.as_u16())
                    })?;
                let next = current
                    .join(location)
                    .map_err(|_| refuse("refused a media redirect: its Location is not a URL"))?;
                if !(is_twilio_media_host(&next) || is_api(&next)) {
                    return Err(TwilioError::new(
                        ErrorKind::InvalidRequest,
                        op,
                        format!(
                            "refused a media redirect to {}: not a Twilio media host",
                            next.host_str().unwrap_or("a URL without a host")
                        ),
                    ));
                }
                current = next;
                continue;
            }
            if !status.is_success() {
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                return Err(TwilioError::api(
                    op,
                    status.as_u16(),
                    None,
                    format!("media fetch answered {status}"),
                    String::new(),
                    retry_after,
                ));
            }
            if resp.content_length().is_some_and(|n| n > max_bytes) {
                return Err(TwilioError::new(
                    ErrorKind::InvalidRequest,
                    op,
                    format!("media is larger than the {max_bytes}-byte budget"),
                ));
            }
            let content_type = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty());
            let mut bytes = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| self.transport_error(op, &e))?
            {
                if bytes.len() as u64 + chunk.len() as u64 > max_bytes {
                    return Err(TwilioError::new(
                        ErrorKind::InvalidRequest,
                        op,
                        format!("media is larger than the {max_bytes}-byte budget"),
                    ));
                }
                bytes.extend_from_slice(&chunk);
            }
            return Ok(FetchedMedia {
                content_type,
                bytes,
            });
        }
        Err(TwilioError::new(
            ErrorKind::InvalidRequest,
            op,
            format!("more than {MAX_MEDIA_REDIRECTS} media redirects"),
        ))
    }

    /// Sends one request; returns the status and the JSON object of a 2xx answer.
    async fn call(
        &self,
        op: Operation,
        method: reqwest::Method,
        url: &str,
        form: Option<String>,
    ) -> Result<(u16, Value), TwilioError> {
        let mut auth =
            reqwest::header::HeaderValue::from_str(self.inner.authorization.expose_secret())
                .map_err(|_| {
                    TwilioError::new(
                        ErrorKind::Config,
                        op,
                        "credentials are not valid header text",
                    )
                })?;
        auth.set_sensitive(true);
        let mut req = self
            .inner
            .http
            .request(method, url)
            .header(reqwest::header::AUTHORIZATION, auth)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = form {
            req = req
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body);
        }
        let mut resp = req.send().await.map_err(|e| self.transport_error(op, &e))?;
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            if resp
                .content_length()
                .is_some_and(|n| n > MAX_SUCCESS_BODY_BYTES as u64)
            {
                return Err(too_large(op, status));
            }
            let mut buf = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| self.transport_error(op, &e).with_status(status))?
            {
                if buf.len() + chunk.len() > MAX_SUCCESS_BODY_BYTES {
                    return Err(too_large(op, status));
                }
                buf.extend_from_slice(&chunk);
            }
            let value = if buf.iter().all(u8::is_ascii_whitespace) {
                Value::Object(serde_json::Map::new())
            } else {
                serde_json::from_slice::<Value>(&buf).map_err(|_| malformed(op, status))?
            };
            if !value.is_object() {
                return Err(malformed(op, status));
            }
            return Ok((status, value));
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut buf = Vec::new();
        let mut truncated = false;
        // A failure while reading an error body leaves what was read: the status says enough.
        while let Ok(Some(chunk)) = resp.chunk().await {
            let room = MAX_ERROR_BODY_BYTES - buf.len();
            if chunk.len() > room {
                buf.extend_from_slice(chunk.get(..room).unwrap_or_default());
                truncated = true;
                break;
            }
            buf.extend_from_slice(&chunk);
        }
        let mut text = utf8_prefix(&buf);
        if truncated || text.len() < buf.len() {
            text.push_str(TRUNCATED_MARKER);
        }
        let text = self.redact(&text);
        let json = serde_json::from_str::<Value>(&text).ok();
        let code = json
            .as_ref()
            .and_then(|j| j.get("code"))
            .and_then(Value::as_u64)
            .and_then(|c| u32::try_from(c).ok());
        let message = json
            .as_ref()
            .and_then(|j| j.get("message"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| (!text.trim().is_empty()).then(|| text.trim().to_owned()))
            .unwrap_or_else(|| "unknown".to_owned());
        Err(TwilioError::api(
            op,
            status,
            code,
            message,
            text,
            retry_after,
        ))
    }

    fn transport_error(&self, op: Operation, e: &reqwest::Error) -> TwilioError {
        let cause = self.redact(&root_cause(e));
        if e.is_connect() {
            let what = if e.is_timeout() {
                "connect timed out"
            } else {
                "could not connect"
            };
            TwilioError::new(ErrorKind::Connect, op, format!("{what}: {cause}"))
                .with_timeout(e.is_timeout())
        } else if e.is_timeout() {
            TwilioError::new(ErrorKind::Timeout, op, "request timed out")
        } else {
            TwilioError::new(
                ErrorKind::Transport,
                op,
                format!("transport failed: {cause}"),
            )
        }
    }
}

fn list<'a>(value: &'a Value, key: &'static str) -> Result<&'a Vec<Value>, DecodeError> {
    value
        .get(key)
        .and_then(Value::as_array)
        .ok_or(DecodeError::Malformed("expected a list"))
}

fn too_large(op: Operation, status: u16) -> TwilioError {
    TwilioError::new(
        ErrorKind::BodyTooLarge,
        op,
        format!("response body too large (limit: {MAX_SUCCESS_BODY_BYTES} bytes)"),
    )
    .with_status(status)
}

fn malformed(op: Operation, status: u16) -> TwilioError {
    TwilioError::new(
        ErrorKind::MalformedResponse,
        op,
        "response was malformed JSON",
    )
    .with_status(status)
}

fn decode_error(op: Operation, status: u16, e: DecodeError) -> TwilioError {
    match e {
        DecodeError::MissingSid => {
            TwilioError::new(ErrorKind::MissingSid, op, "response did not include a SID")
        }
        DecodeError::Malformed(why) => TwilioError::new(
            ErrorKind::MalformedResponse,
            op,
            format!("response was not the expected resource: {why}"),
        ),
    }
    .with_status(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_table() {
        fn check(input: &str, expected: &str) {
            assert_eq!(
                redact(input, &["s3cr3t-token", "QUMxOnMzY3IzdA=="]),
                expected,
                "{input}"
            );
        }
        check("plain", "plain");
        check("token s3cr3t-token here", "token *** here");
        check(
            "Authorization: Basic QUMxOnMzY3IzdA==",
            "Authorization: Basic ***",
        );
        check(
            "Authorization: Basic dXNlcjpwYXNz, next",
            "Authorization: Basic ***, next",
        );
        check("bearer abc.def-ghi end", "bearer *** end");
        check(
            r#"{"auth_token": "abc\"def", "sid": "AC1"}"#,
            r#"{"auth_token": "***", "sid": "AC1"}"#,
        );
        check(r#"{"auth_token":"x"}"#, r#"{"auth_token":"***"}"#);
        check(r#"{"auth_token": null}"#, r#"{"auth_token": null}"#);
        check(r#"{"auth_token": "unterminated"#, r#"{"auth_token": "***"#);
        check("Basic ", "Basic ");
        check("a short secret abc stays", "a short secret abc stays");
        check(
            "error sending request for url (https://u:pw@proxy.example/x)",
            "error sending request for url (https://***@proxy.example/x)",
        );
    }

    #[test]
    fn utf8_prefix_cuts_on_character_boundaries() {
        assert_eq!(utf8_prefix("aé".as_bytes()), "aé");
        assert_eq!(utf8_prefix(&"aé".as_bytes()[..2]), "a");
        assert_eq!(utf8_prefix(&"a😀".as_bytes()[..4]), "a");
        assert_eq!(utf8_prefix(b"a\xffb"), "a\u{fffd}b");
    }

    #[test]
    fn bases_table() {
        fn check(base: &ApiBase, expected: Result<(&str, &str), ()>) {
            let got = bases(base).map_err(|_| ());
            let expected = expected.map(|(a, m)| (a.to_owned(), m.to_owned()));
            assert_eq!(got, expected, "{base:?}");
        }
        check(
            &ApiBase::Default,
            Ok(("https://api.twilio.com", "https://messaging.twilio.com")),
        );
        let region = |r: &str, e: &str| ApiBase::Region {
            region: r.into(),
            edge: e.into(),
        };
        check(
            &region("ie1", "dublin"),
            Ok((
                "https://api.dublin.ie1.twilio.com",
                "https://messaging.dublin.ie1.twilio.com",
            )),
        );
        check(&region("IE1", "dublin"), Err(()));
        check(&region("ie1", "evil.com/"), Err(()));
        check(&region("", "dublin"), Err(()));
        check(&region("-a", "dublin"), Err(()));
        let custom = |u: &str| ApiBase::Custom(u.into());
        check(
            &custom("https://proxy.example/twilio/"),
            Ok((
                "https://proxy.example/twilio",
                "https://proxy.example/twilio",
            )),
        );
        check(
            &custom("http://127.0.0.1:8080"),
            Ok(("http://127.0.0.1:8080", "http://127.0.0.1:8080")),
        );
        check(
            &custom("http://localhost"),
            Ok(("http://localhost", "http://localhost")),
        );
        check(
            &custom("http://[::1]:9"),
            Ok(("http://[::1]:9", "http://[::1]:9")),
        );
        check(&custom("http://example.com"), Err(()));
        check(&custom("http://127.0.0.1.evil.com"), Err(()));
        check(&custom("ftp://x"), Err(()));
        check(&custom("https://"), Err(()));
        check(&custom("https://u:p@host"), Err(()));
        check(&custom("https://host?x"), Err(()));
    }
}
