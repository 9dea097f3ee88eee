//! The webhook guard: what every Twilio webhook route does before it may trust a request.
//!
//! In this order, as upstream answers: 405 for non-POST; at most `pre_auth` unauthenticated
//! requests in flight *per client* (429, `Connection: close`): a client that opens many
//! connections and stalls them holds only its own slots; the body read within
//! [`BODY_READ_TIMEOUT`] and at most `max_body_bytes` (413; a slow body is a 500 so that Twilio
//! retries); the form parsed (400); the signature checked against the public URL (403, or 429
//! once a client has failed `invalid` times in its window). Only then does the channel see the
//! request ([`Admitted`]).
//!
//! The client is the connection's peer, or, when the peer is a trusted proxy, the client it
//! names ([`crate::proxies`]). A rejection is logged once per client per window (its first
//! failure, with the arrived query and the URL candidates cut to a bounded length); the others
//! are only counted by the caller under [`Rejection::label`], so forged requests cannot flood
//! the log.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt as _;
use openclaw_twilio::form::Form;
use openclaw_twilio::signature::{
    Keys, SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER, VerifyRequest, VerifySignatureError,
    verify_urls, webhook_urls,
};
use secrecy::SecretString;

use crate::limits::{FixedWindowLimiter, InFlightLimiter};
use crate::proxies::TrustedProxies;

/// Time allowed to read a webhook body.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest part of an arrived query that a rejection log line shows, in bytes.
pub const MAX_LOGGED_QUERY_BYTES: usize = 160;

/// One route's guard: what it checks against, and its limiters.
#[derive(Debug)]
pub struct WebhookGuard<'a> {
    /// What log lines call the route (`SMS webhook`, `voice webhook`).
    pub name: &'a str,
    /// The channel account, for log lines.
    pub account: &'a str,
    /// The route's path, for log lines and the client keys.
    pub path: &'a str,
    /// The URL Twilio signs (`publicWebhookUrl`); `None` refuses every signed check.
    pub public_url: Option<&'a str>,
    /// The Auth Token the signature is computed with.
    pub auth_token: &'a SecretString,
    /// Whether signatures are checked at all (off only for local testing).
    pub signature_validation: bool,
    /// Largest body read, in bytes.
    pub max_body_bytes: u64,
    /// Unauthenticated requests in flight, per client.
    pub pre_auth: &'a InFlightLimiter,
    /// Failed requests per client per window.
    pub invalid: &'a FixedWindowLimiter,
    /// Reverse proxies whose forwarding header names the client.
    pub proxies: &'a TrustedProxies,
    /// The metric the caller counts rejections in, named in log lines.
    pub counted_in: &'a str,
}

/// A request the guard let through: signed (or validation off) and parsed.
#[derive(Debug)]
pub struct Admitted {
    /// The request line and headers.
    pub parts: Parts,
    /// The body as received.
    pub body: Bytes,
    /// The body as a form.
    pub form: Form,
    /// The client (peer, or the client a trusted proxy names).
    pub client: String,
    /// `account:path:client`: the key of this client's limiter windows on this route.
    pub client_key: String,
    /// When the guard saw the request (the limiters' clock).
    pub at: Instant,
}

/// Why the guard refused a request: one answer and one metric label each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// Not a POST: 405 with `Allow: POST`.
    MethodNotAllowed,
    /// The client has all its unauthenticated slots in use: 429, connection closed.
    PreAuthLimited,
    /// The body is (or says it is) over the limit: 413, connection closed.
    TooLarge,
    /// The body could not be read: 400, connection closed.
    BodyError,
    /// The body did not arrive in time: 500 (so that Twilio retries), connection closed.
    BodyTimeout,
    /// The body is not a form: 400.
    BadRequest,
    /// The client failed too often in its window: 429.
    InvalidLimited,
    /// The signature matched none of the URLs: 403.
    Forbidden,
}

impl Rejection {
    /// The metric label of this outcome (`forbidden`, `too_large`, …).
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PreAuthLimited => "pre_auth_limited",
            Self::TooLarge => "too_large",
            Self::BodyError => "body_error",
            Self::BodyTimeout => "body_timeout",
            Self::BadRequest => "bad_request",
            Self::InvalidLimited => "invalid_limited",
            Self::Forbidden => "forbidden",
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Self::MethodNotAllowed => {
                let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("POST"));
                response
            }
            Self::PreAuthLimited => {
                closing(plain(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded"))
            }
            Self::TooLarge => closing(plain(StatusCode::PAYLOAD_TOO_LARGE, "Payload too large")),
            Self::BodyError => closing(plain(StatusCode::BAD_REQUEST, "Invalid request body")),
            Self::BodyTimeout => closing(plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
            )),
            Self::BadRequest => plain(StatusCode::BAD_REQUEST, "Invalid request body"),
            Self::InvalidLimited => plain(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded"),
            Self::Forbidden => plain(StatusCode::FORBIDDEN, "Invalid signature"),
        }
    }
}

/// A short plain-text answer that no cache keeps.
#[must_use]
pub fn plain(status: StatusCode, body: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `response` with `Connection: close`.
#[must_use]
pub fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Why a request's signature was refused.
enum SignatureRejection {
    /// No public URL is configured, so nothing can be checked.
    NoPublicUrl,
    /// The signature did not verify.
    Invalid(VerifySignatureError),
}

impl WebhookGuard<'_> {
    /// Runs the guard over `request`: the [`Admitted`] request, or why it was refused.
    ///
    /// # Errors
    /// The [`Rejection`] to answer with (it is a response: `rejection.into_response()`).
    pub async fn admit(&self, request: Request) -> Result<Admitted, Rejection> {
        if request.method() != Method::POST {
            return Err(Rejection::MethodNotAllowed);
        }
        let (parts, body) = request.into_parts();
        let client = self.client_of(&parts);
        let client_key = format!("{}:{}:{client}", self.account, self.path);
        let at = Instant::now();
        // Unauthenticated work is bounded per client: the permit is held until the signature
        // is checked, so one client's stalled bodies take only its own slots.
        let Some(permit) = self.pre_auth.try_acquire(&client_key) else {
            return Err(Rejection::PreAuthLimited);
        };
        let body = self.read_body(&parts, body, &client_key, at).await?;
        let Ok(form) = Form::parse(&body) else {
            return Err(if self.invalid.hit(&client_key, at) {
                Rejection::InvalidLimited
            } else {
                Rejection::BadRequest
            });
        };
        if self.signature_validation {
            if let Err(rejected) = self.check_signature(&parts, &body, &form) {
                let hit = self.invalid.record(&client_key, at);
                if hit.first {
                    self.log(&rejected, &client, parts.uri.query());
                }
                return Err(if hit.over {
                    Rejection::InvalidLimited
                } else {
                    Rejection::Forbidden
                });
            }
        } else if self.invalid.is_over(&client_key, at) {
            return Err(Rejection::InvalidLimited);
        }
        drop(permit);
        Ok(Admitted {
            parts,
            body,
            form,
            client,
            client_key,
            at,
        })
    }

    /// The client of a request: the peer address, or the client a trusted proxy names.
    fn client_of(&self, parts: &Parts) -> String {
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(
                || "unknown".to_owned(),
                |peer| self.proxies.client(peer.0.ip(), &parts.headers).to_string(),
            )
    }

    /// The body, bounded in bytes (the declared length first) and in time.
    async fn read_body(
        &self,
        parts: &Parts,
        body: Body,
        client_key: &str,
        at: Instant,
    ) -> Result<Bytes, Rejection> {
        let max = self.max_body_bytes;
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max) {
            self.invalid.hit(client_key, at);
            return Err(Rejection::TooLarge);
        }
        match tokio::time::timeout(BODY_READ_TIMEOUT, read_limited(body, max)).await {
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(ReadError::TooLarge)) => {
                self.invalid.hit(client_key, at);
                Err(Rejection::TooLarge)
            }
            Ok(Err(ReadError::Body)) => Err(Rejection::BodyError),
            Err(_) => Err(Rejection::BodyTimeout),
        }
    }

    /// Verifies the request's signature against the URLs Twilio may have signed: the public
    /// URL (with the request's query when it has none), and the public URL's scheme, host and
    /// path with the request's query (what Twilio signs for a JSON body: the configured query
    /// plus `bodySHA256`).
    fn check_signature(
        &self,
        parts: &Parts,
        body: &[u8],
        form: &Form,
    ) -> Result<(), SignatureRejection> {
        let public = self
            .public_url
            .filter(|p| !p.is_empty())
            .ok_or(SignatureRejection::NoPublicUrl)?;
        let urls = webhook_urls(public, parts.uri.query());
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let request = VerifyRequest::new(public, body)
            .form(form)
            .signature(header(SIGNATURE_HEADER))
            .signature_settings(header(SIGNATURE_SETTINGS_HEADER));
        verify_urls(&urls, &request, &Keys::new(self.auth_token))
            .map(|_| ())
            .map_err(SignatureRejection::Invalid)
    }

    /// One bounded line: the error shows each URL candidate cut to a bounded length, and the
    /// arrived query is cut and written as a field (escaped by the log formatter).
    fn log(&self, rejected: &SignatureRejection, client: &str, query: Option<&str>) {
        match rejected {
            SignatureRejection::NoPublicUrl => tracing::warn!(
                account = self.account,
                client,
                "{} rejected: publicWebhookUrl is not configured, so no signature can be checked (further rejections of this client in the next minute are counted in {}, not logged)",
                self.name,
                self.counted_in
            ),
            SignatureRejection::Invalid(err) => tracing::warn!(
                account = self.account,
                client,
                query = shorten(query.unwrap_or_default(), MAX_LOGGED_QUERY_BYTES).as_str(),
                "{} rejected invalid Twilio signature: {err}; request arrived at {} (further rejections of this client in the next minute are counted in {}, not logged)",
                self.name,
                self.path,
                self.counted_in
            ),
        }
    }
}

/// `s` cut to at most `max` bytes on a character boundary, saying how much was cut.
fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…(+{} bytes)", &s[..end], s.len() - end)
}

enum ReadError {
    TooLarge,
    Body,
}

async fn read_limited(mut body: Body, max: u64) -> Result<Bytes, ReadError> {
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ReadError::Body)?;
        if let Ok(data) = frame.into_data() {
            if buf.len() as u64 + data.len() as u64 > max {
                return Err(ReadError::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rejection_has_its_answer_and_label() {
        let table = [
            (
                Rejection::MethodNotAllowed,
                405,
                "method_not_allowed",
                false,
            ),
            (Rejection::PreAuthLimited, 429, "pre_auth_limited", true),
            (Rejection::TooLarge, 413, "too_large", true),
            (Rejection::BodyError, 400, "body_error", true),
            (Rejection::BodyTimeout, 500, "body_timeout", true),
            (Rejection::BadRequest, 400, "bad_request", false),
            (Rejection::InvalidLimited, 429, "invalid_limited", false),
            (Rejection::Forbidden, 403, "forbidden", false),
        ];
        for (rejection, status, label, closes) in table {
            let response = rejection.into_response();
            assert_eq!(response.status().as_u16(), status, "{rejection:?}");
            assert_eq!(rejection.label(), label);
            assert_eq!(
                response.headers().get(header::CONNECTION).is_some(),
                closes,
                "{rejection:?}"
            );
            assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        }
        let allow = Rejection::MethodNotAllowed.into_response();
        assert_eq!(allow.headers()[header::ALLOW], "POST");
    }

    #[test]
    fn shorten_cuts_on_a_character_boundary() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcdef", 3), "abc…(+3 bytes)");
        assert_eq!(shorten("aé", 2), "a…(+2 bytes)");
    }
}
