//! TLS to PostgreSQL: libpq's `sslmode` and `sslrootcert`, over rustls.
//!
//! `tokio-postgres` knows only `disable`, `prefer` and `require` and no root certificates, so
//! the two keys are taken out of the connection string here ([`split_tls_params`]) and mapped:
//!
//! | `sslmode`     | driver mode | server certificate                                          |
//! |---------------|-------------|-------------------------------------------------------------|
//! | `disable`     | disable     | no TLS                                                      |
//! | `prefer`      | prefer      | TLS if the server offers it, else plain; not verified       |
//! | `require`     | require     | not verified (chain verified when `sslrootcert` is a file)  |
//! | `verify-ca`   | require     | chain to `sslrootcert` (or the bundled roots), any host name |
//! | `verify-full` | require     | chain and host name                                         |
//!
//! "Not verified" still checks the handshake signature: the connection is encrypted to
//! whoever holds the key of the certificate shown, as libpq does without a root certificate.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::AsyncReadExt as _;
use tokio_postgres::config::Host;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::StoreError;

/// The largest `sslrootcert` file read (a bundle of every public root is about 200 KB).
pub const MAX_ROOT_CERT_BYTES: u64 = 1024 * 1024;

/// The longest `sslmode` value echoed in an error.
const MAX_ECHOED_VALUE: usize = 32;

/// libpq's `sslmode`, as [`PostgresStore`](super::PostgresStore) applies it (see the
/// `state.url` section of `docs/config.md`). The default is [`SslMode::Prefer`], as in libpq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, plain otherwise; the certificate is not verified.
    #[default]
    Prefer,
    /// TLS or no connection; the certificate is not verified (unless `sslrootcert` names a
    /// file: then its chain is, as `verify-ca`).
    Require,
    /// TLS; the certificate chains to `sslrootcert` (or the bundled public roots); any host
    /// name.
    VerifyCa,
    /// TLS; the certificate chains to `sslrootcert` (or the bundled public roots) and names the
    /// host connected to.
    VerifyFull,
}

impl SslMode {
    /// The libpq spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    fn parse(value: &str) -> Result<Self, StoreError> {
        Ok(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => {
                return Err(StoreError::InvalidInput {
                    what: "sslmode of the PostgreSQL URL",
                    reason: format!(
                        "{:?} is not one of disable, prefer, require, verify-ca, verify-full",
                        echo(other)
                    ),
                });
            }
        })
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A config value cut to [`MAX_ECHOED_VALUE`] characters for an error message.
fn echo(value: &str) -> String {
    value.chars().take(MAX_ECHOED_VALUE).collect()
}

/// Where the trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RootCert {
    /// No `sslrootcert`.
    Unset,
    /// `sslrootcert=system`: the bundled public roots (libpq 16's spelling for "the usual
    /// public CAs").
    System,
    /// `sslrootcert=<path>`: a PEM file.
    File(PathBuf),
}

/// The TLS keys of a connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsParams {
    /// `sslmode`, or `None` when the string has none.
    pub(crate) mode: Option<SslMode>,
    pub(crate) root_cert: RootCert,
}

impl TlsParams {
    /// The mode in force: as written, else `verify-full` with `sslrootcert=system` (as libpq),
    /// else `prefer`. A weaker mode written beside `sslrootcert=system` is refused, as libpq
    /// does.
    pub(crate) fn effective_mode(&self) -> Result<SslMode, StoreError> {
        match (self.mode, &self.root_cert) {
            (None, RootCert::System) => Ok(SslMode::VerifyFull),
            (Some(mode), RootCert::System) if mode != SslMode::VerifyFull => {
                Err(StoreError::InvalidInput {
                    what: "sslmode of the PostgreSQL URL",
                    reason: format!(
                        "sslmode={mode} may not be used with sslrootcert=system: use verify-full \
                         (or leave sslmode out)"
                    ),
                })
            }
            (mode, _) => Ok(mode.unwrap_or_default()),
        }
    }
}

/// Takes `sslmode` and `sslrootcert` out of a connection string (a `postgres://` URL or a
/// `key=value` string) and returns the rest, for `tokio-postgres`, with the two values. The
/// last occurrence of a key wins, as in libpq. A string that does not tokenize is returned as
/// it is (the driver's parser then says what is wrong with it).
pub(crate) fn split_tls_params(url: &str) -> Result<(String, TlsParams), StoreError> {
    let mut mode = None;
    let mut root_cert = RootCert::Unset;
    let mut take = |key: &str, value: &str| -> Result<bool, StoreError> {
        match key {
            "sslmode" => mode = Some(SslMode::parse(value)?),
            "sslrootcert" => {
                root_cert = match value {
                    "" => RootCert::Unset,
                    "system" => RootCert::System,
                    path => RootCert::File(PathBuf::from(path)),
                };
            }
            _ => return Ok(false),
        }
        Ok(true)
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        split_url_query(url, &mut take)?
    } else {
        split_key_values(url, &mut take)?
    };
    Ok((rest, TlsParams { mode, root_cert }))
}

type Take<'a> = dyn FnMut(&str, &str) -> Result<bool, StoreError> + 'a;

/// The URL form: `?k=v&k=v` after the first `?`, percent-decoded.
fn split_url_query(url: &str, take: &mut Take<'_>) -> Result<String, StoreError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok(url.to_owned());
    };
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
        let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
        if !take(&key, &value)? {
            kept.push(pair);
        }
    }
    Ok(if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    })
}

/// The `key=value` form, with libpq's quoting (`'a b'`, backslash escapes).
fn split_key_values(text: &str, take: &mut Take<'_>) -> Result<String, StoreError> {
    let Some(params) = tokenize_key_values(text) else {
        return Ok(text.to_owned());
    };
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for (key, value, span) in params {
        if take(&key, &value)? {
            out.push_str(&text[from..span.start]);
            from = span.end;
        }
    }
    out.push_str(&text[from..]);
    Ok(out)
}

/// `(key, unescaped value, byte span of the whole parameter)` for each parameter, or `None`
/// when the text is not a well-formed `key=value` list.
fn tokenize_key_values(text: &str) -> Option<Vec<(String, String, std::ops::Range<usize>)>> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    let skip_space = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    };
    loop {
        skip_space(&mut chars);
        let Some(&(start, _)) = chars.peek() else {
            return Some(out);
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        skip_space(&mut chars);
        chars.next_if(|(_, c)| *c == '=')?;
        skip_space(&mut chars);
        let mut value = String::new();
        let end;
        if chars.next_if(|(_, c)| *c == '\'').is_some() {
            loop {
                match chars.next()? {
                    (i, '\'') => {
                        end = i + 1;
                        break;
                    }
                    (_, '\\') => value.push(chars.next()?.1),
                    (_, c) => value.push(c),
                }
            }
        } else {
            loop {
                match chars.peek() {
                    None => {
                        end = text.len();
                        break;
                    }
                    Some(&(i, c)) if c.is_whitespace() => {
                        end = i;
                        break;
                    }
                    Some(_) => {
                        let (_, c) = chars.next()?;
                        if c == '\\' {
                            value.push(chars.next()?.1);
                        } else {
                            value.push(c);
                        }
                    }
                }
            }
        }
        out.push((key, value, start..end));
    }
}

/// `reason` with what to do about a TLS failure that the driver reports in its own words.
pub(crate) fn with_hint(reason: String, mode: SslMode) -> String {
    let hint = if reason.contains("UnknownIssuer") {
        "the server's certificate is not issued by a CA of sslrootcert (without sslrootcert: of \
         the bundled public roots); set sslrootcert to the CA file your database provider \
         publishes"
    } else if reason.contains("not valid for name") || reason.contains("NotValidForName") {
        "the server's certificate does not name the host of the URL; connect by a name it \
         carries, or use sslmode=verify-ca to check the CA only"
    } else if reason.contains("Expired") || reason.contains("NotValidYet") {
        "the server's certificate is outside its validity period; renew it, or check this \
         machine's clock"
    } else if reason.contains("server does not support TLS") {
        match mode {
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                "the server has TLS off (ssl=off); turn it on, or use sslmode=prefer or disable \
                 on a private network"
            }
            SslMode::Disable | SslMode::Prefer => return reason,
        }
    } else {
        return reason;
    };
    format!("{reason} ({hint})")
}

/// What to hand the driver: its mode, and a connector unless TLS is off.
pub(crate) struct Tls {
    pub(crate) mode: SslMode,
    pub(crate) driver_mode: tokio_postgres::config::SslMode,
    pub(crate) connector: Option<MakeRustlsConnect>,
}

/// The driver mode and the rustls connector for `params` on `hosts`. Reads `sslrootcert` (a
/// regular file of at most [`MAX_ROOT_CERT_BYTES`]). Over Unix sockets only, TLS is off
/// whatever the mode, as in libpq (PostgreSQL has no TLS on Unix sockets).
pub(crate) async fn prepare(params: &TlsParams, hosts: &[Host]) -> Result<Tls, StoreError> {
    use tokio_postgres::config::SslMode as Driver;
    let mode = params.effective_mode()?;
    let unix_only = !hosts.is_empty() && hosts.iter().all(|h| !matches!(h, Host::Tcp(_)));
    let file_roots = match &params.root_cert {
        RootCert::File(path) if mode != SslMode::Disable => Some(load_root_file(path).await?),
        _ => None,
    };
    if mode == SslMode::Disable || unix_only {
        return Ok(Tls {
            mode,
            driver_mode: Driver::Disable,
            connector: None,
        });
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let roots = || Arc::new(file_roots.clone().unwrap_or_else(bundled_roots));
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::Disable | SslMode::Prefer => Arc::new(DangerAcceptAnyServerCert { algorithms }),
        SslMode::Require if file_roots.is_none() => {
            Arc::new(DangerAcceptAnyServerCert { algorithms })
        }
        SslMode::Require | SslMode::VerifyCa => Arc::new(ChainOnlyVerifier {
            roots: roots(),
            algorithms,
        }),
        SslMode::VerifyFull => rustls::client::WebPkiServerVerifier::builder_with_provider(
            roots(),
            Arc::clone(&provider),
        )
        .build()
        .map_err(|e| StoreError::InvalidInput {
            what: "sslrootcert",
            reason: e.to_string(),
        })?,
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::InvalidInput {
            what: "TLS configuration",
            reason: e.to_string(),
        })?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Tls {
        mode,
        driver_mode: if mode == SslMode::Prefer {
            Driver::Prefer
        } else {
            Driver::Require
        },
        connector: Some(MakeRustlsConnect::new(config)),
    })
}

/// The public roots compiled in (`webpki-roots`, Mozilla's list).
fn bundled_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// Reads the PEM certificates of an `sslrootcert` file: a regular file (not a FIFO or a
/// device), at most [`MAX_ROOT_CERT_BYTES`] read whatever its metadata says, at least one
/// certificate, every one valid as a root.
pub(crate) async fn load_root_file(path: &Path) -> Result<RootCertStore, StoreError> {
    let fail = |why: String| StoreError::InvalidInput {
        what: "sslrootcert",
        reason: format!("{path:?}: {why}"),
    };
    let pem = read_bounded_regular(path).await.map_err(fail)?;
    let mut roots = RootCertStore::empty();
    for (n, cert) in CertificateDer::pem_slice_iter(&pem).enumerate() {
        let cert =
            cert.map_err(|e| fail(format!("certificate {} is not valid PEM: {e}", n + 1)))?;
        roots
            .add(cert)
            .map_err(|e| fail(format!("certificate {} is not a usable root: {e}", n + 1)))?;
    }
    if roots.is_empty() {
        return Err(fail(
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned(),
        ));
    }
    Ok(roots)
}

/// At most [`MAX_ROOT_CERT_BYTES`] of a regular file; an error for anything else or more.
async fn read_bounded_regular(path: &Path) -> Result<Vec<u8>, String> {
    let not_regular = "is not a regular file".to_owned();
    // Checked before opening: opening a FIFO would block until a writer comes.
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| format!("cannot be read: {e}"))?;
    if !meta.is_file() {
        return Err(not_regular);
    }
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("cannot be opened: {e}"))?;
    let opened = file
        .metadata()
        .await
        .map_err(|e| format!("cannot be read: {e}"))?;
    if !opened.is_file() {
        return Err(not_regular);
    }
    let mut bytes = Vec::new();
    file.take(MAX_ROOT_CERT_BYTES + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| format!("cannot be read: {e}"))?;
    if bytes.len() as u64 > MAX_ROOT_CERT_BYTES {
        return Err(format!("is larger than {MAX_ROOT_CERT_BYTES} bytes"));
    }
    Ok(bytes)
}

/// `prefer` and `require` without a root file: any certificate, as libpq does. The handshake
/// signature is still checked, so the traffic is encrypted to the holder of the certificate's
/// key (not verified to be the intended server).
#[derive(Debug)]
struct DangerAcceptAnyServerCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for DangerAcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `verify-ca` (and `require` with a root file): the certificate chains to a trusted root and
/// is valid now for server authentication; the host name is not checked.
#[derive(Debug)]
struct ChainOnlyVerifier {
    roots: Arc<RootCertStore>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ChainOnlyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The provider's verifier for a mode, for the unit tests of the verifiers.
#[cfg(test)]
fn verifier_for(mode: SslMode, roots: RootCertStore) -> Arc<dyn ServerCertVerifier> {
    let provider: Arc<rustls::crypto::CryptoProvider> =
        Arc::new(rustls::crypto::ring::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    match mode {
        SslMode::VerifyFull => {
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap()
        }
        SslMode::VerifyCa => Arc::new(ChainOnlyVerifier {
            roots: Arc::new(roots),
            algorithms,
        }),
        _ => Arc::new(DangerAcceptAnyServerCert { algorithms }),
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };

    use super::*;

    #[track_caller]
    fn check_split(url: &str, rest: &str, mode: Option<SslMode>, root_cert: RootCert) {
        let (got_rest, params) = split_tls_params(url).unwrap();
        assert_eq!(
            (got_rest.as_str(), params),
            (rest, TlsParams { mode, root_cert }),
            "{url}"
        );
    }

    fn file(path: &str) -> RootCert {
        RootCert::File(PathBuf::from(path))
    }

    #[test]
    fn tls_keys_are_taken_out_of_urls() {
        use SslMode::*;
        let u = "postgres://u:pw@h:5432/db";
        check_split(u, u, None, RootCert::Unset);
        check_split(
            &format!("{u}?sslmode=disable"),
            u,
            Some(Disable),
            RootCert::Unset,
        );
        check_split(
            &format!("{u}?sslmode=prefer"),
            u,
            Some(Prefer),
            RootCert::Unset,
        );
        check_split(
            &format!(
                "{u}?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20b.pem&connect_timeout=3"
            ),
            &format!("{u}?application_name=x&connect_timeout=3"),
            Some(VerifyFull),
            file("/etc/ca b.pem"),
        );
        check_split(
            "postgresql://h/db?sslmode=require&sslmode=verify-ca",
            "postgresql://h/db",
            Some(VerifyCa),
            RootCert::Unset,
        );
        check_split(
            &format!("{u}?sslrootcert=system"),
            u,
            None,
            RootCert::System,
        );
        check_split(&format!("{u}?sslrootcert="), u, None, RootCert::Unset);
        check_split(
            &format!("{u}?password=a%26b"),
            &format!("{u}?password=a%26b"),
            None,
            RootCert::Unset,
        );
    }

    #[test]
    fn tls_keys_are_taken_out_of_key_value_strings() {
        use SslMode::*;
        check_split(
            "host=h sslmode=verify-full user=u",
            "host=h  user=u",
            Some(VerifyFull),
            RootCert::Unset,
        );
        check_split(
            "host=h sslrootcert = '/a b/c\\'d.pem' sslmode=require",
            "host=h  ",
            Some(Require),
            file("/a b/c'd.pem"),
        );
        check_split(
            "sslrootcert=/x\\ y.pem password='p w'",
            " password='p w'",
            None,
            file("/x y.pem"),
        );
        // Not a key=value list: left for the driver's parser to refuse.
        check_split("host=h 'oops", "host=h 'oops", None, RootCert::Unset);
        check_split("host='h", "host='h", None, RootCert::Unset);
    }

    /// A `key=value` parameter as libpq writes it: quoted, `\\` and `'` escaped.
    fn quoted(key: &str, value: &str) -> String {
        let value = value.replace('\\', "\\\\").replace('\'', "\\'");
        format!("{key}='{value}'")
    }

    proptest::proptest! {
        /// Any list of quoted parameters: the TLS keys come out with their last values, and
        /// what is left tokenizes to exactly the other parameters, in order, values intact.
        #[test]
        fn key_value_strings_split_into_the_tls_keys_and_the_rest(
            params in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["host", "user", "password", "sslrootcert", "sslmode"]),
                    "[ -~]{0,12}",
                ),
                0..8,
            ),
            spaces in "[ \t\n]{1,3}",
        ) {
            let params: Vec<(&str, String)> = params
                .into_iter()
                .map(|(k, v)| if k == "sslmode" { (k, "verify-ca".to_owned()) } else { (k, v) })
                .collect();
            let text = params
                .iter()
                .map(|(k, v)| quoted(k, v))
                .collect::<Vec<_>>()
                .join(&spaces);
            let (rest, tls) = split_tls_params(&text).unwrap();
            let kept: Vec<(String, String)> = tokenize_key_values(&rest)
                .unwrap()
                .into_iter()
                .map(|(k, v, _)| (k, v))
                .collect();
            let expected: Vec<(String, String)> = params
                .iter()
                .filter(|(k, _)| !k.starts_with("ssl"))
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect();
            proptest::prop_assert_eq!(kept, expected);
            let last_root = params.iter().rev().find(|(k, _)| *k == "sslrootcert");
            let expected_root = match last_root.map(|(_, v)| v.as_str()) {
                None | Some("") => RootCert::Unset,
                Some("system") => RootCert::System,
                Some(path) => RootCert::File(PathBuf::from(path)),
            };
            proptest::prop_assert_eq!(tls.root_cert, expected_root);
            let has_mode = params.iter().any(|(k, _)| *k == "sslmode");
            proptest::prop_assert_eq!(tls.mode, has_mode.then_some(SslMode::VerifyCa));
        }
    }

    #[test]
    fn an_unknown_sslmode_is_refused_with_the_choices() {
        for url in [
            "postgres://h/db?sslmode=verify_full",
            "postgres://h/db?sslmode=allow",
            "host=h sslmode=VERIFY-FULL",
        ] {
            let err = split_tls_params(url).unwrap_err();
            let text = err.to_string();
            assert!(
                matches!(err, StoreError::InvalidInput { what, .. } if what.contains("sslmode")),
                "{url}: {text}"
            );
            assert!(
                text.contains("disable, prefer, require, verify-ca, verify-full"),
                "{text}"
            );
        }
        let long = format!("postgres://h/db?sslmode={}", "x".repeat(500));
        let text = split_tls_params(&long).unwrap_err().to_string();
        assert!(text.len() < 200, "the value is echoed bounded: {text}");
    }

    #[test]
    fn the_mode_defaults_to_prefer_and_to_verify_full_with_system_roots() {
        let params = |mode, root_cert| TlsParams { mode, root_cert };
        let mode = |p: TlsParams| p.effective_mode().map_err(|e| e.to_string());
        assert_eq!(mode(params(None, RootCert::Unset)), Ok(SslMode::Prefer));
        assert_eq!(mode(params(None, file("/ca.pem"))), Ok(SslMode::Prefer));
        assert_eq!(
            mode(params(None, RootCert::System)),
            Ok(SslMode::VerifyFull)
        );
        assert_eq!(
            mode(params(Some(SslMode::VerifyFull), RootCert::System)),
            Ok(SslMode::VerifyFull)
        );
        let weak = mode(params(Some(SslMode::Require), RootCert::System)).unwrap_err();
        assert!(
            weak.contains("sslmode=require may not be used with sslrootcert=system"),
            "{weak}"
        );
    }

    #[tokio::test]
    async fn unix_sockets_and_disable_get_no_tls_and_the_rest_get_a_connector() {
        use tokio_postgres::config::SslMode as Driver;
        let tcp = [Host::Tcp("db.example".to_owned())];
        let unix = [Host::Unix(PathBuf::from("/run/postgresql"))];
        let check = async |mode, hosts: &[Host], driver, with_connector| {
            let params = TlsParams {
                mode: Some(mode),
                root_cert: RootCert::Unset,
            };
            let tls = prepare(&params, hosts).await.unwrap();
            assert_eq!(
                (tls.mode, tls.driver_mode, tls.connector.is_some()),
                (mode, driver, with_connector),
                "{mode} {hosts:?}"
            );
        };
        check(SslMode::Disable, &tcp, Driver::Disable, false).await;
        check(SslMode::Prefer, &tcp, Driver::Prefer, true).await;
        check(SslMode::Require, &tcp, Driver::Require, true).await;
        check(SslMode::VerifyCa, &tcp, Driver::Require, true).await;
        check(SslMode::VerifyFull, &tcp, Driver::Require, true).await;
        check(SslMode::VerifyFull, &unix, Driver::Disable, false).await;
        check(SslMode::Require, &unix, Driver::Disable, false).await;
    }

    /// A CA of its own, made now.
    fn test_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.distinguished_name.push(DnType::CommonName, name);
        CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
    }

    /// A server certificate for `names`, issued by `ca`.
    fn server_cert(
        ca: &CertifiedIssuer<'static, KeyPair>,
        names: &[&str],
    ) -> CertificateDer<'static> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        params.signed_by(&key, ca).unwrap().der().clone()
    }

    fn roots_of(ca: &CertifiedIssuer<'static, KeyPair>) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        roots
    }

    #[track_caller]
    fn check_verdict(
        mode: SslMode,
        roots: &RootCertStore,
        cert: &CertificateDer<'static>,
        host: &str,
        expected: Result<(), &str>,
    ) {
        let verifier = verifier_for(mode, roots.clone());
        let name = ServerName::try_from(host.to_owned()).unwrap();
        let got = verifier
            .verify_server_cert(cert, &[], &name, &[], UnixTime::now())
            .map(drop)
            .map_err(|e| e.to_string());
        match (got, expected) {
            (Ok(()), Ok(())) => {}
            (Err(got), Err(want)) => assert!(got.contains(want), "{mode} {host}: {got}"),
            (got, want) => panic!("{mode} {host}: got {got:?}, expected {want:?}"),
        }
    }

    #[test]
    fn each_mode_verifies_what_libpq_does() {
        let ca = test_ca("OpenClaw test CA");
        let other_ca = test_ca("Another CA");
        let cert = server_cert(&ca, &["localhost", "127.0.0.1"]);
        let roots = roots_of(&ca);
        let wrong_roots = roots_of(&other_ca);
        use SslMode::*;
        // verify-full: chain and name (a DNS name or an IP address SAN).
        check_verdict(VerifyFull, &roots, &cert, "localhost", Ok(()));
        check_verdict(VerifyFull, &roots, &cert, "127.0.0.1", Ok(()));
        check_verdict(
            VerifyFull,
            &roots,
            &cert,
            "db.example",
            Err("not valid for name"),
        );
        check_verdict(
            VerifyFull,
            &wrong_roots,
            &cert,
            "localhost",
            Err("UnknownIssuer"),
        );
        // verify-ca: chain only.
        check_verdict(VerifyCa, &roots, &cert, "db.example", Ok(()));
        check_verdict(
            VerifyCa,
            &wrong_roots,
            &cert,
            "localhost",
            Err("UnknownIssuer"),
        );
        // require and prefer: any certificate.
        check_verdict(Require, &wrong_roots, &cert, "db.example", Ok(()));
        check_verdict(Prefer, &RootCertStore::empty(), &cert, "db.example", Ok(()));
    }

    #[test]
    fn tls_failures_get_a_hint_and_other_failures_do_not() {
        let check = |reason: &str, mode, hint: Option<&str>| {
            let got = with_hint(reason.to_owned(), mode);
            match hint {
                Some(hint) => {
                    assert!(got.starts_with(reason), "{got}");
                    assert!(got.contains(hint), "{got}");
                }
                None => assert_eq!(got, reason),
            }
        };
        let full = SslMode::VerifyFull;
        check(
            "invalid peer certificate: UnknownIssuer",
            full,
            Some("set sslrootcert"),
        );
        check(
            "invalid peer certificate: NotValidForName",
            full,
            Some("does not name the host"),
        );
        check(
            "invalid peer certificate: certificate not valid for name \"x\"; …",
            full,
            Some("use sslmode=verify-ca"),
        );
        check(
            "invalid peer certificate: Expired",
            full,
            Some("validity period"),
        );
        check(
            "server does not support TLS",
            SslMode::Require,
            Some("TLS off"),
        );
        check("server does not support TLS", SslMode::Prefer, None);
        check("Connection refused (os error 111)", full, None);
    }

    #[tokio::test]
    async fn root_files_are_read_bounded_and_regular_only() {
        let dir = tempfile::tempdir().unwrap();
        let ca = test_ca("OpenClaw test CA");
        let check = async |path: &Path, expected: Result<usize, &str>| {
            let got = load_root_file(path)
                .await
                .map(|roots| roots.len())
                .map_err(|e| e.to_string());
            match (got, expected) {
                (Ok(n), Ok(m)) => assert_eq!(n, m, "{path:?}"),
                (Err(got), Err(want)) => {
                    assert!(got.contains(want), "{path:?}: {got}");
                    assert!(got.starts_with("invalid sslrootcert: "), "{got}");
                }
                (got, want) => panic!("{path:?}: got {got:?}, expected {want:?}"),
            }
        };
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, format!("{}{}", ca.pem(), test_ca("second").pem())).unwrap();
        check(&good, Ok(2)).await;

        let at_limit = dir.path().join("at-limit.pem");
        let mut text = ca.pem();
        text.push_str(&" ".repeat(MAX_ROOT_CERT_BYTES as usize - text.len()));
        std::fs::write(&at_limit, &text).unwrap();
        check(&at_limit, Ok(1)).await;
        text.push(' ');
        let over = dir.path().join("over.pem");
        std::fs::write(&over, &text).unwrap();
        check(&over, Err("is larger than 1048576 bytes")).await;

        check(dir.path(), Err("is not a regular file")).await;
        check(Path::new("/dev/null"), Err("is not a regular file")).await;
        check(&dir.path().join("missing.pem"), Err("cannot be read")).await;
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        check(&empty, Err("holds no PEM certificate")).await;
        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        check(&broken, Err("certificate 1")).await;
    }
}
