//! Servers from the distribution's packages that some tasks need: a private PostgreSQL cluster
//! and an nginx load balancer, both on loopback, both in a scratch directory and stopped on
//! drop. `.ci/run` installs the packages (`postgresql`, `nginx`); nothing here installs.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};

use crate::procs::{Scratch, free_port};

/// The environment variable that names an existing PostgreSQL server for the tests (a libpq
/// URL). When it is set nothing is started.
pub(crate) const PG_URL_ENV: &str = "OPENCLAW_TEST_PG_URL";
/// Set for `cargo test` by `cargo xtask ci`: tests that need PostgreSQL fail instead of
/// skipping when [`PG_URL_ENV`] is missing.
pub(crate) const REQUIRE_PG_ENV: &str = "OPENCLAW_REQUIRE_POSTGRES";
/// The PEM file of the CA that issued the private cluster's server certificate (for the store's
/// TLS tests). Passed on as it is when [`PG_URL_ENV`] names an existing server.
pub(crate) const PG_CA_ENV: &str = "OPENCLAW_TEST_PG_CA";
/// How long a start may take.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// The system user that owns the cluster when we run as root (`initdb` refuses root); the
/// `postgresql` package creates it.
const PG_SYSTEM_USER: &str = "postgres";

const MISSING_PG: &str = "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin or on PATH; install them with `apt-get install postgresql` (.ci/run does), or set OPENCLAW_TEST_PG_URL to an existing server";

/// A PostgreSQL server for tests: a private cluster started here, or the one named by
/// [`PG_URL_ENV`].
#[derive(Debug)]
pub(crate) struct Postgres {
    url: String,
    /// The CA file of the server certificate, when known.
    ca: Option<PathBuf>,
    cluster: Option<Cluster>,
}

#[derive(Debug)]
struct Cluster {
    pg_ctl: PathBuf,
    data: PathBuf,
    run_as: Option<String>,
    _dir: Scratch,
}

impl Postgres {
    /// The server named by `OPENCLAW_TEST_PG_URL`, or a new private cluster on a free loopback
    /// port (trust authentication, superuser `openclaw`, `fsync` on: the benchmark compares
    /// durable commits; `ssl=on` with a certificate for `localhost` and `127.0.0.1` from a CA
    /// made now, plain connections still accepted).
    pub(crate) fn start() -> anyhow::Result<Self> {
        if let Ok(url) = std::env::var(PG_URL_ENV)
            && !url.trim().is_empty()
        {
            eprintln!("xtask: using the PostgreSQL server from {PG_URL_ENV}");
            let ca = std::env::var_os(PG_CA_ENV).map(PathBuf::from);
            return Ok(Self {
                url,
                ca,
                cluster: None,
            });
        }
        let bin = pg_bin_dir().ok_or_else(|| anyhow!(MISSING_PG))?;
        let dir = Scratch::new("pg")?;
        let run_as = running_as_root().then(|| PG_SYSTEM_USER.to_owned());
        let owner = match &run_as {
            Some(user) => {
                let out = Command::new("id")
                    .args(["-u", user])
                    .output()
                    .context("run id")?;
                let uid: u32 = String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse()
                    .map_err(|_| anyhow!("running as root, but there is no `{user}` user to own the PostgreSQL cluster (the postgresql package creates it)"))?;
                std::os::unix::fs::chown(dir.path(), Some(uid), None)
                    .with_context(|| format!("chown {} to {user}", dir.path().display()))?;
                Some(uid)
            }
            None => None,
        };
        let certs = ServerCerts::write(dir.path(), owner)?;
        let data = dir.path().join("data");
        let port = free_port()?;
        let mut initdb = as_user(run_as.as_deref(), &bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-A",
                "trust",
                "-U",
                "openclaw",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .stdout(Stdio::null());
        let out = initdb.output().context("run initdb")?;
        if !out.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c max_connections=300 -c fsync=on \
             -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            dir.path().display(),
            certs.cert.display(),
            certs.key.display()
        );
        let pg_ctl = bin.join("pg_ctl");
        let mut start = as_user(run_as.as_deref(), &pg_ctl);
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.path().join("server.log"))
            .args(["-o", &options, "-w", "-t", "30", "start"])
            .stdout(Stdio::null());
        let out = start.output().context("run pg_ctl start")?;
        if !out.status.success() {
            let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            bail!(
                "pg_ctl start failed: {}{log}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        eprintln!(
            "xtask: PostgreSQL started on 127.0.0.1:{port} ({}), TLS with the CA {}",
            bin.display(),
            certs.ca.display()
        );
        Ok(Self {
            url: format!("postgres://openclaw@127.0.0.1:{port}/postgres"),
            ca: Some(certs.ca),
            cluster: Some(Cluster {
                pg_ctl,
                data,
                run_as,
                _dir: dir,
            }),
        })
    }

    /// The libpq URL (no password: trust authentication on loopback).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// What the tests need to reach this server: [`PG_URL_ENV`], and [`PG_CA_ENV`] when the CA
    /// is known.
    pub(crate) fn test_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![(PG_URL_ENV, self.url.clone())];
        if let Some(ca) = &self.ca {
            env.push((PG_CA_ENV, ca.display().to_string()));
        }
        env
    }
}

/// The files of the private cluster's TLS: a CA made for this run (its key is not kept) and the
/// server's certificate and key, for `localhost` and `127.0.0.1`.
struct ServerCerts {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl ServerCerts {
    /// Writes the three PEM files into `dir`; the server's two owned by `owner` (the cluster's
    /// user when we run as root), the key readable by its owner only (PostgreSQL insists).
    fn write(dir: &Path, owner: Option<u32>) -> anyhow::Result<Self> {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
            IsCa, KeyPair, KeyUsagePurpose,
        };
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "OpenClaw test CA (xtask)");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca)?;
        let this = Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
        };
        std::fs::write(&this.ca, ca.pem())?;
        std::fs::write(&this.cert, cert.pem())?;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&this.key)
            .and_then(|mut file| file.write_all(key.serialize_pem().as_bytes()))
            .with_context(|| format!("write {}", this.key.display()))?;
        for file in [&this.cert, &this.key] {
            std::os::unix::fs::chown(file, owner, None)
                .with_context(|| format!("chown {}", file.display()))?;
        }
        Ok(this)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(cluster) = &self.cluster {
            let mut stop = as_user(cluster.run_as.as_deref(), &cluster.pg_ctl);
            stop.arg("-D")
                .arg(&cluster.data)
                .args(["-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let _ = stop.status();
        }
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb`, else the directory of an
/// `initdb` on `PATH`.
fn pg_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    })
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn as_user(user: Option<&str>, program: &Path) -> Command {
    match user {
        Some(user) => {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", user, "--"]).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// nginx as a round-robin load balancer on a loopback port in front of `upstreams`, failing
/// over to the next gateway when one refuses connections (a killed gateway).
#[derive(Debug)]
pub(crate) struct Nginx {
    child: Option<Child>,
    pub(crate) port: u16,
    _dir: Scratch,
}

impl Nginx {
    pub(crate) fn start(upstreams: &[u16]) -> anyhow::Result<Self> {
        let nginx = which("nginx").ok_or_else(|| {
            anyhow!("nginx not found; install it with `apt-get install nginx` (.ci/run does)")
        })?;
        let dir = Scratch::new("nginx")?;
        let port = free_port()?;
        let d = dir.path().display();
        let servers: String = upstreams
            .iter()
            .map(|p| format!("        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;\n"))
            .collect();
        // Workers of a root master run as `nobody`: `user root` keeps the scratch paths usable.
        let user = if running_as_root() {
            "user root;\n"
        } else {
            ""
        };
        let conf = format!(
            "{user}worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
events {{ worker_connections 1024; }}\n\
http {{\n    access_log off;\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n\
    fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n\
    upstream gateways {{\n{servers}        keepalive 32;\n        keepalive_timeout 5s;\n    }}\n\
    server {{\n        listen 127.0.0.1:{port};\n        location / {{\n\
            proxy_pass http://gateways;\n            proxy_http_version 1.1;\n\
            proxy_set_header Connection \"\";\n            proxy_set_header Host $http_host;\n\
            proxy_next_upstream error timeout;\n            proxy_connect_timeout 1s;\n\
            proxy_read_timeout 30s;\n        }}\n    }}\n}}\n"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        let log = std::fs::File::create(dir.path().join("stderr.log"))?;
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("start nginx")?;
        let mut this = Self {
            child: Some(child),
            port,
            _dir: dir,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(child) = this.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                let err = std::fs::read_to_string(this._dir.path().join("stderr.log"))
                    .unwrap_or_default();
                bail!("nginx exited with {status}: {err}");
            }
            if started.elapsed() > START_TIMEOUT {
                bail!("nginx did not listen on 127.0.0.1:{port} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(this)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM: the master stops its workers too (SIGKILL would orphan them).
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn which(program: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&paths)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// Runs one SQL statement with `psql` (from the PostgreSQL packages) and returns its unaligned,
/// tuples-only output.
pub(crate) fn psql(url: &str, sql: &str) -> anyhow::Result<String> {
    let program = pg_bin_dir()
        .map(|dir| dir.join("psql"))
        .filter(|p| p.is_file())
        .or_else(|| which("psql"))
        .ok_or_else(|| anyhow!("psql not found; install it with `apt-get install postgresql`"))?;
    let out = Command::new(program)
        .args([
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .output()
        .context("run psql")?;
    if !out.status.success() {
        bail!(
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
