//! TLS to PostgreSQL in each `sslmode`, against the test server started with `ssl=on` and a
//! certificate for `localhost` and `127.0.0.1` from the CA in `OPENCLAW_TEST_PG_CA`
//! (`cargo xtask ci` and `cargo xtask pg` make both). Whether a connection is encrypted is read
//! from the server's `pg_stat_ssl`, for every connection of the store (both pools).

use std::path::{Path, PathBuf};

use openclaw_store::{IngressQueue, PostgresOptions, PostgresStore, SslMode, StoreError};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

use crate::support::msg;
use crate::support::pg::{drop_schema, schema_name, url_and_ca};

/// Put in every URL as the password: it must never show in an error.
const SECRET: &str = "tls-hunter2-s3cret";

/// Where the test server listens, and as whom to log in.
struct Server {
    /// The plain URL of the test server (for checks from outside the store).
    url: String,
    port: u16,
    user: String,
    dbname: String,
    ca: PathBuf,
}

impl Server {
    fn from_env() -> Option<Self> {
        let (url, ca) = url_and_ca()?;
        let config: tokio_postgres::Config = url.parse().unwrap();
        Some(Self {
            port: config.get_ports().first().copied().unwrap_or(5432),
            user: config.get_user().unwrap_or("postgres").to_owned(),
            dbname: config.get_dbname().unwrap_or("postgres").to_owned(),
            url,
            ca,
        })
    }

    /// A URL to `host` (the password is [`SECRET`]: the server trusts loopback) with `query`.
    fn url_to(&self, host: &str, port: u16, query: &str) -> String {
        format!(
            "postgres://{}:{SECRET}@{host}:{port}/{}?{query}",
            self.user, self.dbname
        )
    }

    /// `sslrootcert=<the test CA>`, URL-encoded.
    fn root_cert(&self) -> String {
        format!("sslrootcert={}", encode(&self.ca))
    }
}

fn encode(path: &Path) -> String {
    percent_encoding::utf8_percent_encode(
        &path.display().to_string(),
        percent_encoding::NON_ALPHANUMERIC,
    )
    .to_string()
}

/// A store connected with `url` (plus a unique `application_name`) on a fresh schema, and the
/// `application_name` that finds its connections in `pg_stat_activity`.
async fn connect(url: &str) -> Result<(PostgresStore, String, String), StoreError> {
    let schema = schema_name();
    let app = format!("openclaw-tls-{schema}");
    let options = PostgresOptions {
        schema: Some(schema.clone()),
        max_connections: 2,
        connect_timeout: std::time::Duration::from_secs(5),
        ..PostgresOptions::default()
    };
    let url = format!("{url}&application_name={app}");
    let store = PostgresStore::connect(&url, &options).await?;
    // One enqueue, so that the ingress pool has a connection too.
    store.enqueue(msg("a", "SM1", "s", 1)).await?;
    Ok((store, app, schema))
}

/// Whether each open connection named `app` is encrypted, asked over a separate connection.
async fn encrypted(plain_url: &str, app: &str) -> Vec<bool> {
    let (client, connection) = tokio_postgres::connect(plain_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.application_name = $1",
            &[&app],
        )
        .await
        .unwrap();
    drop(client);
    let _ = task.await;
    rows.iter().map(|r| r.get::<_, bool>(0)).collect()
}

/// Connects with `url`, then asserts the mode in force and that every connection of both pools
/// is (or is not) encrypted.
async fn check_connects(server: &Server, url: &str, mode: SslMode, tls: bool) {
    let (store, app, schema) = connect(url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!(store.ssl_mode(), mode, "{url}");
    let seen = encrypted(&server.url, &app).await;
    assert!(
        seen.len() >= 2,
        "both pools hold a connection named {app}: {seen:?}"
    );
    assert!(
        seen.iter().all(|ssl| *ssl == tls),
        "{url}: encrypted {seen:?}, expected {tls}"
    );
    store.close().await;
    drop_schema(&server.url, &schema).await;
}

/// Asserts that `url` is refused while connecting, with an error that names the mode and
/// each of `expected` (the driver's reason and our hint), and never the password.
async fn check_refused(url: &str, mode: SslMode, expected: &[&str]) {
    let err = match connect(url).await {
        Ok((store, _, _)) => {
            store.close().await;
            panic!("{url}: connected, expected a refusal ({expected:?})")
        }
        Err(err) => err,
    };
    let text = err.to_string();
    assert!(
        matches!(err, StoreError::ConnectDatabase { .. }),
        "{url}: {err:?}"
    );
    assert!(text.contains(&format!("(sslmode={mode})")), "{text}");
    for part in expected {
        assert!(text.contains(part), "{url}: {text}");
    }
    assert!(!text.contains(SECRET), "password leaked: {text}");
    assert!(
        !format!("{err:?}").contains(SECRET),
        "password leaked: {err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_encrypts_every_connection_without_a_root_certificate() {
    let Some(server) = Server::from_env() else {
        return;
    };
    // 127.0.0.1 and no CA: encrypted, the certificate not verified (as libpq).
    let url = server.url_to("127.0.0.1", server.port, "sslmode=require");
    check_connects(&server, &url, SslMode::Require, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_connects_to_the_name_on_the_certificate() {
    let Some(server) = Server::from_env() else {
        return;
    };
    for host in ["localhost", "127.0.0.1"] {
        let query = format!("sslmode=verify-full&{}", server.root_cert());
        let url = server.url_to(host, server.port, &query);
        check_connects(&server, &url, SslMode::VerifyFull, true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_refuses_a_host_name_the_certificate_does_not_name() {
    let Some(server) = Server::from_env() else {
        return;
    };
    // The right server and CA under a name the certificate does not carry (`hostaddr` reaches
    // 127.0.0.1; `host` is the name checked).
    let query = format!(
        "sslmode=verify-full&hostaddr=127.0.0.1&{}",
        server.root_cert()
    );
    let url = server.url_to("db.example", server.port, &query);
    check_refused(
        &url,
        SslMode::VerifyFull,
        &["not valid for name", "does not name the host of the URL"],
    )
    .await;
    // verify-ca checks the chain only: the same connection is accepted.
    let query = format!(
        "sslmode=verify-ca&hostaddr=127.0.0.1&{}",
        server.root_cert()
    );
    let url = server.url_to("db.example", server.port, &query);
    check_connects(&server, &url, SslMode::VerifyCa, true).await;
}

/// The driver's reason and our hint for a certificate from a CA not trusted.
const UNKNOWN_ISSUER: &[&str] = &["UnknownIssuer", "set sslrootcert to the CA file"];

/// A CA that issued nothing the server has, as a PEM file in `dir`.
fn another_ca(dir: &Path) -> PathBuf {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    params
        .distinguished_name
        .push(DnType::CommonName, "Another CA");
    let cert = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
    let path = dir.join("another-ca.pem");
    std::fs::write(&path, cert.pem()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_ca_and_verify_full_refuse_a_certificate_from_another_ca() {
    let Some(server) = Server::from_env() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let wrong = encode(&another_ca(dir.path()));
    for mode in [SslMode::VerifyCa, SslMode::VerifyFull] {
        let query = format!("sslmode={mode}&sslrootcert={wrong}");
        let url = server.url_to("localhost", server.port, &query);
        check_refused(&url, mode, UNKNOWN_ISSUER).await;
    }
    // So is require given a root file (libpq: then it acts as verify-ca).
    let query = format!("sslmode=require&sslrootcert={wrong}");
    let url = server.url_to("localhost", server.port, &query);
    check_refused(&url, SslMode::Require, UNKNOWN_ISSUER).await;
    // And verify-full without sslrootcert trusts only the bundled public roots.
    let url = server.url_to("localhost", server.port, "sslmode=verify-full");
    check_refused(&url, SslMode::VerifyFull, UNKNOWN_ISSUER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_uses_no_tls_and_prefer_uses_it_when_offered() {
    let Some(server) = Server::from_env() else {
        return;
    };
    let url = server.url_to("127.0.0.1", server.port, "sslmode=disable");
    check_connects(&server, &url, SslMode::Disable, false).await;
    // No sslmode: prefer, as libpq; this server offers TLS.
    let url = server.url_to("127.0.0.1", server.port, "connect_timeout=5");
    check_connects(&server, &url, SslMode::Prefer, true).await;
}

/// A relay on loopback in front of the test server that answers PostgreSQL's TLS request with
/// "no" (`N`), as a server without `ssl=on` does, and relays everything else.
async fn tls_refusing_relay(port: u16) -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    /// The SSLRequest message: length 8, code 80877103.
    const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut links = tokio::task::JoinSet::new();
        while let Ok((mut inbound, _)) = listener.accept().await {
            links.spawn(async move {
                let mut first = [0u8; 8];
                let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                else {
                    return;
                };
                if inbound.read_exact(&mut first).await.is_err() {
                    return;
                }
                let sent = if first == SSL_REQUEST {
                    inbound.write_all(b"N").await
                } else {
                    outbound.write_all(&first).await
                };
                if sent.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (relay_port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefer_falls_back_to_plain_where_the_server_refuses_tls_and_require_does_not() {
    let Some(server) = Server::from_env() else {
        return;
    };
    let (relay, task) = tls_refusing_relay(server.port).await;
    let url = server.url_to("127.0.0.1", relay, "sslmode=prefer");
    check_connects(&server, &url, SslMode::Prefer, false).await;
    for mode in [SslMode::Require, SslMode::VerifyFull] {
        let query = format!("sslmode={mode}&{}", server.root_cert());
        let url = server.url_to("localhost", relay, &query);
        check_refused(&url, mode, &["server does not support TLS", "TLS off"]).await;
    }
    task.abort();
}

#[tokio::test]
async fn bad_tls_settings_are_refused_before_connecting() {
    // Port 1: nothing listens; these fail before any connection is tried, server or not.
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not-pem.txt");
    std::fs::write(&not_pem, "hello").unwrap();
    let cases = [
        (
            "sslmode=verify_full".to_owned(),
            "sslmode",
            "is not one of disable, prefer, require, verify-ca, verify-full",
        ),
        ("sslmode=".to_owned(), "sslmode", "is not one of"),
        (
            format!(
                "sslmode=verify-full&sslrootcert={}",
                encode(&dir.path().join("missing.pem"))
            ),
            "sslrootcert",
            "cannot be read",
        ),
        (
            format!("sslmode=verify-ca&sslrootcert={}", encode(dir.path())),
            "sslrootcert",
            "is not a regular file",
        ),
        (
            format!("sslmode=verify-ca&sslrootcert={}", encode(&not_pem)),
            "sslrootcert",
            "holds no PEM certificate",
        ),
        // A value that happens to be the password is not echoed.
        (format!("sslmode={SECRET}"), "sslmode", "is not one of"),
        (
            "sslmode=require&sslrootcert=system".to_owned(),
            "sslmode",
            "may not be used with sslrootcert=system",
        ),
    ];
    for (query, what, expected) in cases {
        let url = format!("postgres://alice:{SECRET}@127.0.0.1:1/state?{query}");
        let err = PostgresStore::connect(&url, &PostgresOptions::default())
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(&err, StoreError::InvalidInput { what: w, .. } if w.contains(what)),
            "{query}: {err:?}"
        );
        assert!(text.contains(expected), "{query}: {text}");
        assert!(!text.contains(SECRET), "password leaked: {text}");
    }
    // The key=value form takes the same keys.
    let err = PostgresStore::connect(
        &format!("host=127.0.0.1 port=1 password={SECRET} sslmode=verify_ca"),
        &PostgresOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("invalid sslmode"), "{err}");
}
