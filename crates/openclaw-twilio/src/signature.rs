//! Twilio request signatures (`X-Twilio-Signature`): compute and verify. Pure: no IO.
//!
//! The string Twilio signs is the full URL it requested (fragment excluded) followed, for a
//! form POST, by every parameter as `name + value`: names in byte order; a repeated name
//! contributes each of its distinct values, sorted (as twilio-python and twilio-node do);
//! empty values contribute just the name; nothing is trimmed. The MAC is HMAC-SHA1 keyed with
//! the Auth Token (or HMAC-SHA256 with a shared key, see below), encoded as standard base64.
//!
//! [`verify`] compares in constant time and tries the URL candidates Twilio's official helper
//! libraries try (see [`UrlVariant`]), built with string operations only: re-serialising
//! through a URL type would drop `:443`, lower-case the host and re-encode the query.
//!
//! JSON bodies: when the URL carries a `bodySHA256` query parameter, the signature covers the
//! URL alone and the SHA-256 of the raw body is compared with that parameter. Twilio appends
//! that parameter to the configured URL's own query, so a webhook verifies against
//! [`webhook_urls`] (the configured URL, then its scheme, host and path with the request's
//! query) through [`verify_urls`].
//!
//! Shared keys: when `X-Twilio-Webhooks-Signature-Settings: key=<id>,algorithm=HMAC_SHA256`
//! is present, the same string is signed with HMAC-SHA256 and the configured shared key.
//!
//! ```
//! use openclaw_twilio::signature::{self, Keys, VerifyRequest};
//! use secrecy::SecretString;
//!
//! let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
//! let body = b"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234\
//!              &From=%2B14158675309&To=%2B18005551212";
//! let keys = Keys::new(&SecretString::from("12345"));
//! let request = VerifyRequest::new(url, body).signature(Some("RSOYDt4T1cUTdK1PDd93/VVr8B8="));
//! let verified = signature::verify(&request, &keys)?;
//! assert_eq!(verified.variant(), signature::UrlVariant::AsGiven);
//! # Ok::<(), openclaw_twilio::signature::VerifySignatureError>(())
//! ```

use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::form::{Form, ParseFormError};
use crate::redact::redact_userinfo;

type HmacSha1 = Hmac<Sha1>;
type HmacSha256 = Hmac<Sha256>;

/// Name of the header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// Name of the header announcing shared-key signing (Twilio Webhook Settings).
pub const SIGNATURE_SETTINGS_HEADER: &str = "X-Twilio-Webhooks-Signature-Settings";

/// Name of the query parameter that carries the SHA-256 of a JSON body.
pub const BODY_SHA256_PARAM: &str = "bodySHA256";

/// Longest base64 signature we produce (HMAC-SHA256: 32 bytes, 44 characters).
const MAX_SIGNATURE_B64: usize = 44;

/// The MAC algorithm of a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC-SHA1 keyed with the Auth Token (the default).
    HmacSha1,
    /// HMAC-SHA256 keyed with a shared key (Webhook Settings).
    HmacSha256,
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::HmacSha1 => "HMAC_SHA1",
            Self::HmacSha256 => "HMAC_SHA256",
        })
    }
}

/// Which URL candidate matched (Twilio's back end is not consistent about ports, and
/// twilio-node also accepts the `'` / `%27` spellings of the query).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UrlVariant {
    /// The URL exactly as given (fragment cut).
    AsGiven,
    /// The URL with its explicit port removed.
    PortRemoved,
    /// The URL with the default port (`:443` for https, `:80` otherwise) added.
    DefaultPortAdded,
    /// The given URL with `'` and `%27` swapped in the query.
    QuoteVariant,
    /// The port variant with `'` and `%27` swapped in the query.
    PortQuoteVariant,
}

/// A signature that did not verify. The message never carries a secret; URL userinfo is
/// redacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifySignatureError {
    /// No `X-Twilio-Signature` header, or an empty one.
    #[error("request has no X-Twilio-Signature header")]
    MissingSignature,
    /// The signature matched none of the URL candidates. A wrong auth token looks exactly like
    /// a wrong URL (an HMAC tells no more), so the message names both.
    #[error(
        "the signature matches none of the URLs with this token: check the token and the URL ({algorithm}; tried {})",
        DisplayList(.tried)
    )]
    MismatchedSignature {
        /// The URL candidates tried, userinfo redacted.
        tried: Vec<String>,
        /// The algorithm used.
        algorithm: Algorithm,
    },
    /// The URL carries `bodySHA256` and it is not the SHA-256 of the body.
    #[error("bodySHA256 in the signed URL does not match the request body")]
    MismatchedBodyHash,
    /// The `X-Twilio-Webhooks-Signature-Settings` header could not be understood.
    #[error("invalid X-Twilio-Webhooks-Signature-Settings header: {reason}")]
    InvalidSignatureSettings {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The request was signed with a shared key that is not configured.
    #[error("request is signed with shared key {key_id:?}, which is not configured")]
    UnknownSharedKey {
        /// The key id from the settings header.
        key_id: String,
    },
    /// The body is not a valid form (and the URL has no `bodySHA256`).
    #[error("request body is not a valid form: {0}")]
    ParseForm(#[from] ParseFormError),
}

impl VerifySignatureError {
    /// The URL candidates tried, for a [`VerifySignatureError::MismatchedSignature`].
    #[must_use]
    pub fn tried(&self) -> &[String] {
        match self {
            Self::MismatchedSignature { tried, .. } => tried,
            _ => &[],
        }
    }
}

/// Longest URL candidate an error shows, in bytes: a candidate carries the request's query,
/// which a forger chooses, so showing it whole would let each forged request write its query
/// several times into the log.
pub const MAX_SHOWN_URL_BYTES: usize = 160;

struct DisplayList<'a>(&'a [String]);

impl fmt::Display for DisplayList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "<{}>", Shortened(s))?;
        }
        Ok(())
    }
}

/// A string cut to [`MAX_SHOWN_URL_BYTES`] (on a character boundary), with how much was cut.
struct Shortened<'a>(&'a str);

impl fmt::Display for Shortened<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if s.len() <= MAX_SHOWN_URL_BYTES {
            return f.write_str(s);
        }
        let mut end = MAX_SHOWN_URL_BYTES;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        write!(f, "{}…(+{} bytes)", &s[..end], s.len() - end)
    }
}

/// A shared key for Webhook Settings signing (HMAC-SHA256).
#[derive(Clone)]
struct SharedKey {
    id: String,
    mac: HmacSha256,
}

/// The secrets a verifier needs: the account's Auth Token and, optionally, a shared key.
///
/// The keyed MAC states are prepared once here, so verification does not re-derive them.
/// `Debug` shows neither secret.
#[derive(Clone)]
pub struct Keys {
    sha1: HmacSha1,
    shared: Option<SharedKey>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("auth_token", &"[REDACTED]")
            .field(
                "shared_key_id",
                &self.shared.as_ref().map(|k| k.id.as_str()),
            )
            .finish()
    }
}

fn hmac_sha1(key: &[u8]) -> HmacSha1 {
    // HMAC accepts keys of any length (long keys are hashed), so this cannot fail.
    HmacSha1::new_from_slice(key).expect("HMAC accepts keys of any length")
}

fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length (long keys are hashed), so this cannot fail.
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

impl Keys {
    /// Keys with the account's Auth Token only (HMAC-SHA1).
    #[must_use]
    pub fn new(auth_token: &SecretString) -> Self {
        Self {
            sha1: hmac_sha1(auth_token.expose_secret().as_bytes()),
            shared: None,
        }
    }

    /// Adds a Webhook Settings shared key, used when the settings header names `key_id`.
    #[must_use]
    pub fn with_shared_key(mut self, key_id: impl Into<String>, secret: &SecretString) -> Self {
        self.shared = Some(SharedKey {
            id: key_id.into(),
            mac: hmac_sha256(secret.expose_secret().as_bytes()),
        });
        self
    }
}

/// What [`verify`] needs from one webhook request.
#[derive(Debug, Clone, Copy)]
pub struct VerifyRequest<'a> {
    url: &'a str,
    body: &'a [u8],
    form: Option<&'a Form>,
    signature: Option<&'a str>,
    signature_settings: Option<&'a str>,
}

impl<'a> VerifyRequest<'a> {
    /// A request to verify: `url` is the URL Twilio requested (the configured public URL
    /// with the request's query, byte for byte; a `#…` fragment is cut), `body` the raw body.
    #[must_use]
    pub fn new(url: &'a str, body: &'a [u8]) -> Self {
        Self {
            url,
            body,
            form: None,
            signature: None,
            signature_settings: None,
        }
    }

    /// The body already parsed with [`Form::parse`] (saves parsing it again). It must be the
    /// parse of `body`.
    #[must_use]
    pub fn form(mut self, form: &'a Form) -> Self {
        self.form = Some(form);
        self
    }

    /// The `X-Twilio-Signature` header value (the first one if repeated).
    #[must_use]
    pub fn signature(mut self, signature: Option<&'a str>) -> Self {
        self.signature = signature;
        self
    }

    /// The `X-Twilio-Webhooks-Signature-Settings` header value, if present.
    #[must_use]
    pub fn signature_settings(mut self, settings: Option<&'a str>) -> Self {
        self.signature_settings = settings;
        self
    }
}

/// A request whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    variant: UrlVariant,
    algorithm: Algorithm,
    body_sha256: bool,
}

impl Verified {
    /// The URL candidate that matched.
    #[must_use]
    pub fn variant(&self) -> UrlVariant {
        self.variant
    }

    /// The MAC algorithm that matched.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Whether this was a JSON request verified through `bodySHA256`.
    #[must_use]
    pub fn body_sha256(&self) -> bool {
        self.body_sha256
    }
}

/// The URL without its `#…` fragment.
fn cut_fragment(url: &str) -> &str {
    url.split_once('#').map_or(url, |(before, _)| before)
}

/// The parameter part of the signed string: names in byte order, each name's distinct values
/// in byte order, each pair as `name + value`. Built once per request and shared by all URL
/// candidates (one MAC update instead of two per pair).
fn params_suffix<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> Vec<u8> {
    let mut sorted: Vec<(u64, &str, &str)> = params
        .iter()
        .map(|(k, v)| (prefix_key(k.as_ref()), k.as_ref(), v.as_ref()))
        .collect();
    // Ordering by the 8-byte prefix first is the same order as byte order of the names (see
    // `prefix_key`); most comparisons end there instead of in a string comparison.
    sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| (a.1, a.2).cmp(&(b.1, b.2))));
    sorted.dedup_by(|a, b| a.1 == b.1 && a.2 == b.2);
    let len = sorted.iter().map(|(_, k, v)| k.len() + v.len()).sum();
    let mut suffix = Vec::with_capacity(len);
    for (_, k, v) in sorted {
        suffix.extend_from_slice(k.as_bytes());
        suffix.extend_from_slice(v.as_bytes());
    }
    suffix
}

/// The first 8 bytes of `name`, zero-padded, as a big-endian number. Monotone with byte
/// order: `prefix_key(a) < prefix_key(b)` implies `a < b` (a shorter name's zero padding never
/// sorts after the longer name's bytes), and equal keys fall back to comparing the strings.
fn prefix_key(name: &str) -> u64 {
    let mut buf = [0u8; 8];
    let n = name.len().min(8);
    buf[..n].copy_from_slice(&name.as_bytes()[..n]);
    u64::from_be_bytes(buf)
}

fn mac_over<M: Mac + Clone>(base: &M, url: &str, suffix: &[u8]) -> M {
    let mut mac = base.clone();
    mac.update(url.as_bytes());
    mac.update(suffix);
    mac
}

/// The exact string Twilio signs for `url` and `params` (for debugging and tests).
#[must_use]
pub fn string_to_sign<K: AsRef<str>, V: AsRef<str>>(url: &str, params: &[(K, V)]) -> String {
    let suffix = params_suffix(params);
    // The suffix is a concatenation of whole `&str`s, so it is valid UTF-8.
    let mut s = String::from(cut_fragment(url));
    s.push_str(&String::from_utf8_lossy(&suffix));
    s
}

/// Computes the `X-Twilio-Signature` value Twilio would send: HMAC-SHA1 keyed with the Auth
/// Token, base64. Use `&[] as &[(&str, &str)]` for a GET or JSON request (URL only).
#[must_use]
pub fn compute<K: AsRef<str>, V: AsRef<str>>(
    url: &str,
    params: &[(K, V)],
    auth_token: &SecretString,
) -> String {
    compute_with(Algorithm::HmacSha1, url, params, auth_token)
}

/// Computes a signature with the given algorithm and key (the Auth Token for
/// [`Algorithm::HmacSha1`], a shared key secret for [`Algorithm::HmacSha256`]).
#[must_use]
pub fn compute_with<K: AsRef<str>, V: AsRef<str>>(
    algorithm: Algorithm,
    url: &str,
    params: &[(K, V)],
    key: &SecretString,
) -> String {
    let url = cut_fragment(url);
    let sorted = params_suffix(params);
    let key = key.expose_secret().as_bytes();
    let b64 = base64::engine::general_purpose::STANDARD;
    match algorithm {
        Algorithm::HmacSha1 => b64.encode(
            mac_over(&hmac_sha1(key), url, &sorted)
                .finalize()
                .into_bytes(),
        ),
        Algorithm::HmacSha256 => b64.encode(
            mac_over(&hmac_sha256(key), url, &sorted)
                .finalize()
                .into_bytes(),
        ),
    }
}

/// The URL Twilio signed for a request, from the configured public webhook URL (upstream's
/// rule): the public URL byte for byte with its `#…` fragment cut; if it has no query, the
/// request's own query string (without `?`) is appended. Never re-serialised, so `:443` and
/// the query's spelling stay as configured.
#[must_use]
pub fn webhook_url(public_url: &str, request_query: Option<&str>) -> String {
    let base = cut_fragment(public_url);
    match request_query.filter(|q| !q.is_empty()) {
        Some(query) if !base.contains('?') => format!("{base}?{query}"),
        _ => base.to_owned(),
    }
}

/// The URLs Twilio may have signed for a request to `public_url` with `request_query`, in
/// the order [`verify_urls`] tries them: first [`webhook_url`] (the configured URL as it is,
/// or with the request's query when it has none); then, when the configured URL has a query
/// and the request's query differs from it, the configured scheme, host and path with the
/// request's query. The second is what Twilio signs for a JSON webhook: it appends
/// `&bodySHA256=<hex>` to the configured query.
#[must_use]
pub fn webhook_urls(public_url: &str, request_query: Option<&str>) -> Vec<String> {
    let as_configured = webhook_url(public_url, request_query);
    let with_request_query = cut_fragment(public_url)
        .split_once('?')
        .zip(request_query.filter(|q| !q.is_empty()))
        .map(|((base, _), query)| format!("{base}?{query}"))
        .filter(|url| *url != as_configured);
    std::iter::once(as_configured)
        .chain(with_request_query)
        .collect()
}

/// Lower-case hexadecimal SHA-256 of a body, as Twilio puts it in `bodySHA256`.
#[must_use]
pub fn body_sha256_hex(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX_DIGITS[usize::from(b >> 4)]));
        out.push(char::from(HEX_DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `url` with `bodySHA256=<hex>` appended to its query, as Twilio builds the URL of a JSON
/// webhook. Sign the result with [`compute`] and no params.
#[must_use]
pub fn url_with_body_sha256(url: &str, body: &[u8]) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let sep = if base.contains('?') {
        if base.ends_with('?') || base.ends_with('&') {
            ""
        } else {
            "&"
        }
    } else {
        "?"
    };
    let mut out = format!("{base}{sep}{BODY_SHA256_PARAM}={}", body_sha256_hex(body));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// Signs a JSON webhook as Twilio does: returns the URL with `bodySHA256` added and the
/// `X-Twilio-Signature` for it (HMAC-SHA1 over the URL alone). For simulators and tests.
#[must_use]
pub fn sign_json(url: &str, body: &[u8], auth_token: &SecretString) -> (String, String) {
    let signed_url = url_with_body_sha256(url, body);
    let signature = compute(&signed_url, &[] as &[(&str, &str)], auth_token);
    (signed_url, signature)
}

/// The value of the `bodySHA256` query parameter, if present.
fn body_sha256_param(url: &str) -> Option<&str> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .find_map(|piece| piece.strip_prefix("bodySHA256="))
}

/// Where the port sits in a URL string: `(authority_end, port)` where `port` is the byte range
/// of `:port` if present. `None` when the string has no `scheme://`.
fn locate_port(url: &str) -> Option<(usize, Option<(usize, usize)>)> {
    let authority_start = url.find("://")? + 3;
    let rest = url.get(authority_start..)?;
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority_end = authority_start + authority_len;
    let authority = url.get(authority_start..authority_end)?;
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let host_port = authority.get(host_start..)?;
    // Skip an IPv6 literal: its colons are not a port separator.
    let search_from = if host_port.starts_with('[') {
        host_port.find(']')?
    } else {
        0
    };
    let colon = host_port
        .get(search_from..)?
        .rfind(':')
        .map(|c| c + search_from);
    let port = colon.map(|c| (authority_start + host_start + c, authority_end));
    Some((authority_end, port))
}

fn port_variant(url: &str) -> Option<(UrlVariant, String)> {
    let (authority_end, port) = locate_port(url)?;
    match port {
        Some((start, end)) => Some((
            UrlVariant::PortRemoved,
            format!("{}{}", url.get(..start)?, url.get(end..)?),
        )),
        None => {
            let scheme = url.get(..url.find("://")?)?;
            let port = if scheme.eq_ignore_ascii_case("https") {
                ":443"
            } else {
                ":80"
            };
            let (head, tail) = url.split_at(authority_end);
            Some((UrlVariant::DefaultPortAdded, format!("{head}{port}{tail}")))
        }
    }
}

/// The URL with `'` and `%27` swapped in its query (twilio-node accepts both spellings).
fn quote_variant(url: &str) -> Option<String> {
    let q = url.find('?')?;
    let (head, query) = url.split_at(q);
    if query.contains('\'') {
        Some(format!("{head}{}", query.replace('\'', "%27")))
    } else if query.contains("%27") {
        Some(format!("{head}{}", query.replace("%27", "'")))
    } else {
        None
    }
}

fn ct_equal_b64(mac: &[u8], header: &str) -> bool {
    let mut buf = [0u8; MAX_SIGNATURE_B64];
    let Ok(len) = base64::engine::general_purpose::STANDARD.encode_slice(mac, &mut buf) else {
        return false;
    };
    buf.get(..len)
        .is_some_and(|b64| bool::from(b64.ct_eq(header.as_bytes())))
}

enum Verifier<'k> {
    Sha1(&'k HmacSha1),
    Sha256(&'k HmacSha256),
}

impl Verifier<'_> {
    fn matches(&self, url: &str, sorted: &[u8], header: &str) -> bool {
        match self {
            Self::Sha1(base) => ct_equal_b64(
                &mac_over(*base, url, sorted).finalize().into_bytes(),
                header,
            ),
            Self::Sha256(base) => ct_equal_b64(
                &mac_over(*base, url, sorted).finalize().into_bytes(),
                header,
            ),
        }
    }

    fn algorithm(&self) -> Algorithm {
        match self {
            Self::Sha1(_) => Algorithm::HmacSha1,
            Self::Sha256(_) => Algorithm::HmacSha256,
        }
    }
}

fn select_verifier<'k>(
    settings: Option<&str>,
    keys: &'k Keys,
) -> Result<Verifier<'k>, VerifySignatureError> {
    let Some(settings) = settings else {
        return Ok(Verifier::Sha1(&keys.sha1));
    };
    let mut key_id = None;
    let mut algorithm = None;
    for part in settings.split(',') {
        let Some((name, value)) = part.split_once('=') else {
            return Err(VerifySignatureError::InvalidSignatureSettings {
                reason: "expected key=value pairs",
            });
        };
        match name.trim() {
            "key" => key_id = Some(value.trim()),
            "algorithm" => algorithm = Some(value.trim()),
            _ => {}
        }
    }
    match algorithm {
        Some("HMAC_SHA256") => {}
        Some(_) => {
            return Err(VerifySignatureError::InvalidSignatureSettings {
                reason: "unsupported algorithm (only HMAC_SHA256 is known)",
            });
        }
        None => {
            return Err(VerifySignatureError::InvalidSignatureSettings {
                reason: "no algorithm named",
            });
        }
    }
    let key_id =
        key_id
            .filter(|k| !k.is_empty())
            .ok_or(VerifySignatureError::InvalidSignatureSettings {
                reason: "no key id named",
            })?;
    match &keys.shared {
        Some(shared) if shared.id == key_id => Ok(Verifier::Sha256(&shared.mac)),
        _ => Err(VerifySignatureError::UnknownSharedKey {
            key_id: key_id.to_owned(),
        }),
    }
}

/// Verifies a webhook request's signature in constant time.
///
/// Candidates, in order, stopping at the first match: the URL as given (fragment cut); with
/// its explicit port removed, or with the default port added when it has none; and the same
/// two with `'` / `%27` swapped in the query when the query has either. When the URL has a
/// `bodySHA256` parameter the signature covers the URL alone and the body's SHA-256 must
/// match the parameter; otherwise the body is a form whose pairs are signed.
///
/// # Errors
/// [`VerifySignatureError`]: missing signature, no candidate matched (listing them),
/// body hash mismatch, unknown shared key or settings, or a body that is not a form.
pub fn verify(request: &VerifyRequest<'_>, keys: &Keys) -> Result<Verified, VerifySignatureError> {
    let header = request.signature.filter(|s| !s.is_empty());
    let header = header.ok_or(VerifySignatureError::MissingSignature)?;
    let verifier = select_verifier(request.signature_settings, keys)?;
    let url = cut_fragment(request.url);

    let parsed;
    let (sorted, body_hash) = if let Some(expected_hash) = body_sha256_param(url) {
        let actual = body_sha256_hex(request.body);
        let hash_ok = bool::from(actual.as_bytes().ct_eq(expected_hash.as_bytes()));
        (Vec::new(), Some(hash_ok))
    } else {
        let form = match request.form {
            Some(form) => form,
            None => {
                parsed = Form::parse(request.body)?;
                &parsed
            }
        };
        (params_suffix(form.pairs()), None)
    };

    let mut tried: Vec<String> = Vec::new();
    let mut try_url = |variant: UrlVariant, candidate: &str| {
        let ok = verifier.matches(candidate, &sorted, header);
        if !ok {
            tried.push(redact_userinfo(candidate));
        }
        ok.then_some(variant)
    };
    // The common case (the URL as given) allocates nothing; the other candidates are built
    // only when it fails.
    let mut matched = try_url(UrlVariant::AsGiven, url);
    if matched.is_none() {
        let port = port_variant(url);
        let quoted = quote_variant(url);
        let port_quoted = port.as_ref().and_then(|(_, p)| quote_variant(p));
        matched = port
            .iter()
            .map(|(v, c)| (*v, c.as_str()))
            .chain(
                quoted
                    .iter()
                    .map(|c| (UrlVariant::QuoteVariant, c.as_str())),
            )
            .chain(
                port_quoted
                    .iter()
                    .map(|c| (UrlVariant::PortQuoteVariant, c.as_str())),
            )
            .find_map(|(v, c)| try_url(v, c));
    }
    let Some(variant) = matched else {
        return Err(VerifySignatureError::MismatchedSignature {
            tried,
            algorithm: verifier.algorithm(),
        });
    };
    if body_hash == Some(false) {
        return Err(VerifySignatureError::MismatchedBodyHash);
    }
    Ok(Verified {
        variant,
        algorithm: verifier.algorithm(),
        body_sha256: body_hash.is_some(),
    })
}

/// [`verify`] against each of `urls` in turn (the URL of `request` is not used): the first
/// that verifies wins. Build `urls` with [`webhook_urls`].
///
/// # Errors
/// As [`verify`]. When no URL verifies: a body hash mismatch if one URL's signature matched
/// but the body did not; otherwise the mismatch listing every candidate tried.
pub fn verify_urls(
    urls: &[String],
    request: &VerifyRequest<'_>,
    keys: &Keys,
) -> Result<Verified, VerifySignatureError> {
    let mut failed: Option<VerifySignatureError> = None;
    for url in urls {
        let attempt = VerifyRequest { url, ..*request };
        let err = match verify(&attempt, keys) {
            Ok(verified) => return Ok(verified),
            Err(err) => err,
        };
        failed = Some(match (failed, err) {
            // Errors that do not depend on the URL: no other candidate can do better.
            (
                _,
                err @ (VerifySignatureError::MissingSignature
                | VerifySignatureError::InvalidSignatureSettings { .. }
                | VerifySignatureError::UnknownSharedKey { .. }),
            ) => return Err(err),
            (
                Some(VerifySignatureError::MismatchedSignature {
                    mut tried,
                    algorithm,
                }),
                VerifySignatureError::MismatchedSignature { tried: more, .. },
            ) => {
                tried.extend(more);
                VerifySignatureError::MismatchedSignature { tried, algorithm }
            }
            (_, err @ VerifySignatureError::MismatchedBodyHash) => err,
            (Some(err @ VerifySignatureError::MismatchedBodyHash), _) => err,
            (Some(VerifySignatureError::ParseForm(_)) | None, err) => err,
            (Some(err), _) => err,
        });
    }
    Err(failed.unwrap_or(VerifySignatureError::MismatchedSignature {
        tried: Vec::new(),
        algorithm: Algorithm::HmacSha1,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_location_table() {
        fn check(url: &str, expected: Option<&str>) {
            assert_eq!(
                port_variant(url).map(|(_, u)| u).as_deref(),
                expected,
                "{url}"
            );
        }
        check("https://a.com/p?x=1", Some("https://a.com:443/p?x=1"));
        check("http://a.com/p", Some("http://a.com:80/p"));
        check("HTTPS://a.com", Some("HTTPS://a.com:443"));
        check("https://a.com?x=1", Some("https://a.com:443?x=1"));
        check("https://a.com:8443/p", Some("https://a.com/p"));
        check("https://a.com:/p", Some("https://a.com/p"));
        check("https://u:p@a.com/p", Some("https://u:p@a.com:443/p"));
        check("https://u:p@a.com:1/p", Some("https://u:p@a.com/p"));
        check("https://[::1]/p", Some("https://[::1]:443/p"));
        check("https://[::1]:8080/p", Some("https://[::1]/p"));
        check("https://a.com/p?u=x:1", Some("https://a.com:443/p?u=x:1"));
        check("no-scheme/p", None);
        check("https://[::1/p", None);
    }

    #[test]
    fn quote_variant_table() {
        fn check(url: &str, expected: Option<&str>) {
            assert_eq!(quote_variant(url).as_deref(), expected, "{url}");
        }
        check("https://a/p?t=it's", Some("https://a/p?t=it%27s"));
        check("https://a/p?t=it%27s", Some("https://a/p?t=it's"));
        check("https://a/it's?t=1", None);
        check("https://a/p", None);
    }

    /// The straightforward definition the optimised `params_suffix` must match.
    fn naive_suffix(params: &[(String, String)]) -> Vec<u8> {
        let mut sorted: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        sorted.sort_unstable();
        sorted.dedup();
        sorted
            .iter()
            .flat_map(|(k, v)| k.bytes().chain(v.bytes()))
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn suffix_matches_the_naive_sort(
            params in proptest::collection::vec(("(To|From|Sms|Media|\\x00|[a-zA-Z0-9]){0,6}", "[a-c]{0,2}"), 0..24)
        ) {
            proptest::prop_assert_eq!(params_suffix(&params), naive_suffix(&params));
        }
    }

    #[test]
    fn prefix_key_ties_and_padding() {
        let names = [
            "",
            "\0",
            "\0\0",
            "To",
            "To\0",
            "ToCity",
            "ToCountry",
            "ToCountrz",
            "Tp",
            "a",
        ];
        let params: Vec<(String, String)> = names
            .iter()
            .rev()
            .map(|n| ((*n).to_owned(), "v".to_owned()))
            .collect();
        assert_eq!(params_suffix(&params), naive_suffix(&params));
    }

    #[test]
    fn webhook_url_table() {
        fn check(public: &str, query: Option<&str>, expected: &str) {
            assert_eq!(webhook_url(public, query), expected, "{public} {query:?}");
        }
        check(
            "https://gw.example:443/sms",
            None,
            "https://gw.example:443/sms",
        );
        check(
            "https://gw.example/sms#ct=100&rc=1",
            None,
            "https://gw.example/sms",
        );
        check(
            "https://gw.example/sms",
            Some("a=1&b='"),
            "https://gw.example/sms?a=1&b='",
        );
        check("https://gw.example/sms", Some(""), "https://gw.example/sms");
        check(
            "https://gw.example/sms?k=v#rc=1",
            Some("a=1"),
            "https://gw.example/sms?k=v",
        );
        check("https://GW.example/SMS", None, "https://GW.example/SMS");
    }

    #[test]
    fn webhook_urls_table() {
        fn check(public: &str, query: Option<&str>, expected: &[&str]) {
            assert_eq!(webhook_urls(public, query), expected, "{public} {query:?}");
        }
        check("https://g/sms", Some("a=1"), &["https://g/sms?a=1"]);
        check("https://g/sms", None, &["https://g/sms"]);
        check(
            "https://g/sms?foo=1",
            Some("foo=1"),
            &["https://g/sms?foo=1"],
        );
        check("https://g/sms?foo=1", None, &["https://g/sms?foo=1"]);
        check("https://g/sms?foo=1", Some(""), &["https://g/sms?foo=1"]);
        check(
            "https://g:443/sms?foo=1#f",
            Some("foo=1&bodySHA256=ab"),
            &[
                "https://g:443/sms?foo=1",
                "https://g:443/sms?foo=1&bodySHA256=ab",
            ],
        );
    }

    #[test]
    fn long_candidates_are_shown_shortened() {
        let long = format!("https://g/sms?pad={}", "é".repeat(200));
        let err = VerifySignatureError::MismatchedSignature {
            tried: vec![long.clone(), "https://g/sms".to_owned()],
            algorithm: Algorithm::HmacSha1,
        };
        let shown = err.to_string();
        assert!(shown.len() < 2 * MAX_SHOWN_URL_BYTES, "{shown}");
        assert!(shown.contains("…(+"), "{shown}");
        assert!(shown.ends_with(", <https://g/sms>)"), "{shown}");
        assert_eq!(err.tried()[0], long, "tried() keeps the whole candidate");
    }

    #[test]
    fn body_sha256_url_building() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        assert_eq!(body_sha256_hex(body), hash);
        assert_eq!(
            url_with_body_sha256("https://a/p", body),
            format!("https://a/p?bodySHA256={hash}")
        );
        assert_eq!(
            url_with_body_sha256("https://a/p?x=1", body),
            format!("https://a/p?x=1&bodySHA256={hash}")
        );
        assert_eq!(
            url_with_body_sha256("https://a/p?#f", body),
            format!("https://a/p?bodySHA256={hash}#f")
        );
    }
}
