//! The console in a real browser: `gateway --dev`, Debian's headless Chromium driven through
//! chromedriver (WebDriver) with `fantoccini`. Both browser processes are started here, on
//! loopback, and killed by PID when their guards drop.
//!
//! Flow: a wrong token is refused; the dev banner's URL logs in (its token travels in the
//! fragment); the phone page texts the gateway and shows the pairing code; the pairing page
//! approves; the phone shows the held first text answered; the thread's export (JSON Lines,
//! CSV) holds both turns; with the thread open, a second text whose reply the simulator reports
//! undelivered (30007) shows up with its delivery status without a reload (server-sent
//! events); the overview lists the error with its hint; a STOP lands on the opt-outs page; the
//! account export holds every turn; a form POST without the CSRF token is refused; revoke
//! empties the approved list. Screenshots of the main pages go to `target/e2e/screenshots/` and are checked
//! not blank.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::procs::{Bins, Scratch, free_port};

const PHONE: &str = "+15557654321";
const TEXT: &str = "hello from the browser";
const SECOND: &str = "second text, watched live";
const STOPPER: &str = "+15550000001";
/// The dev account's number (`gateway --dev`).
const DEV_NUMBER: &str = "+15551234567";
/// How long any one wait in the browser lasts.
const WAIT: Duration = Duration::from_secs(30);

/// A child process killed (by its PID) and reaped on drop.
struct Guard {
    name: &'static str,
    child: Child,
}

impl Guard {
    fn spawn(name: &'static str, cmd: &mut Command) -> anyhow::Result<Self> {
        let child = cmd.spawn().with_context(|| {
            format!("start {name} (is it installed? apt-get install -y chromium chromium-driver)")
        })?;
        Ok(Self { name, child })
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // SIGKILL to this PID only; its exit is reaped so no zombie is left.
        if let Err(err) = self.child.kill() {
            eprintln!(
                "e2e: {} (pid {}) already gone: {err}",
                self.name,
                self.child.id()
            );
        }
        let _ = self.child.wait();
    }
}

fn chromium_binary() -> anyhow::Result<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .context("no chromium binary in /usr/bin: apt-get install -y chromium chromium-driver")
}

/// Polls `check` every 100 ms until it holds or [`WAIT`] passes.
async fn until<F, Fut>(what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if check().await? {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The dev gateway; returns its guard, the console URL of its banner and the simulator's URL.
fn start_dev_gateway(
    bins: &Bins,
    dir: &Path,
    port: u16,
) -> anyhow::Result<(Guard, String, String)> {
    let log = dir.join("gateway.out");
    let mut cmd = Command::new(&bins.openclaw);
    cmd.args(["gateway", "--dev", "--port", &port.to_string()])
        .arg("--config")
        .arg(dir.join("openclaw.json"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .env("RUST_LOG", "warn")
        .stdout(std::fs::File::create(&log)?)
        .stderr(Stdio::null());
    for var in openclaw_sms::config::ENV_VARS {
        cmd.env_remove(var);
    }
    let guard = Guard::spawn("gateway", &mut cmd)?;
    let deadline = Instant::now() + WAIT;
    loop {
        let file = std::fs::File::open(&log)?;
        let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
        let console = lines.iter().find_map(|l| {
            l.trim()
                .strip_prefix("http://")
                .filter(|u| u.contains("#token="))
                .map(|u| format!("http://{u}"))
        });
        let sim = lines.iter().find_map(|l| {
            l.split_once(" with a local Twilio at ")
                .map(|(_, url)| url.trim().to_owned())
        });
        if let (Some(console), Some(sim)) = (console, sim) {
            return Ok((guard, console, sim));
        }
        ensure!(
            Instant::now() < deadline,
            "the dev gateway printed no console URL"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Chromium (headless, its DevTools port on loopback) and chromedriver attached to it.
fn start_browser(dir: &Path) -> anyhow::Result<(Guard, Guard, u16, u16)> {
    let devtools = free_port()?;
    let profile = dir.join("chromium-profile");
    std::fs::create_dir_all(&profile)?;
    let chromium = Guard::spawn(
        "chromium",
        Command::new(chromium_binary()?)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--window-size=1100,900",
                "--remote-debugging-address=127.0.0.1",
            ])
            .arg(format!("--remote-debugging-port={devtools}"))
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;
    let webdriver = free_port()?;
    let driver = Guard::spawn(
        "chromedriver",
        Command::new("chromedriver")
            .arg(format!("--port={webdriver}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;
    let deadline = Instant::now() + WAIT;
    loop {
        let up = |port: u16| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        let (devtools_up, driver_up) = (up(devtools), up(webdriver));
        if devtools_up && driver_up {
            return Ok((chromium, driver, webdriver, devtools));
        }
        ensure!(
            Instant::now() < deadline,
            "chromium or chromedriver did not come up within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Writes a screenshot and checks it is a real picture: non-zero size, more than one colour.
fn check_screenshot(png_bytes: &[u8], path: &Path) -> anyhow::Result<(u32, u32, usize)> {
    std::fs::write(path, png_bytes)?;
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().context("decode the screenshot")?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf)?;
    let (w, h) = (info.width, info.height);
    ensure!(w > 0 && h > 0, "{} is empty", path.display());
    let channels = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let mut colours = std::collections::HashSet::new();
    for px in pixels.chunks(channels) {
        colours.insert(px.to_vec());
        if colours.len() > 16 {
            break;
        }
    }
    ensure!(colours.len() > 1, "{} is one flat colour", path.display());
    Ok((w, h, colours.len()))
}

async fn source_has(client: &Client, needle: &str) -> anyhow::Result<bool> {
    Ok(client.source().await?.contains(needle))
}

/// `fetch` from the page (same origin, the session cookie goes along): status and body.
async fn fetch(
    client: &Client,
    method: &str,
    url: &str,
    form: Option<&str>,
) -> anyhow::Result<(u64, String)> {
    let script = "const [method, url, form, done] = arguments;
        const init = {method, credentials: 'same-origin', redirect: 'manual'};
        if (form !== null) { init.body = new URLSearchParams(form); }
        fetch(url, init).then(async r => done([r.status, await r.text()])).catch(e => done([0, String(e)]));";
    let answer = client
        .execute_async(
            script,
            vec![
                json!(method),
                json!(url),
                form.map_or(Value::Null, |f| json!(f)),
            ],
        )
        .await?;
    Ok((
        answer[0].as_u64().unwrap_or(0),
        answer[1].as_str().unwrap_or_default().to_owned(),
    ))
}

/// The scenario.
pub(crate) fn console_in_a_real_browser(bins: &Bins) -> anyhow::Result<()> {
    let dir = Scratch::new("e2e-console")?;
    let port = free_port()?;
    let (_gateway, login_url, sim_url) = start_dev_gateway(bins, dir.path(), port)?;
    let (_chromium, _driver, webdriver, devtools) = start_browser(dir.path())?;
    let shots = crate::root().join("target/e2e/screenshots");
    std::fs::create_dir_all(&shots)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(drive(
        webdriver, devtools, &login_url, port, &sim_url, &shots,
    ))
}

/// Connects to chromedriver, which attaches to our Chromium through its DevTools port.
async fn drive(
    webdriver: u16,
    devtools: u16,
    login_url: &str,
    port: u16,
    sim_url: &str,
    shots: &Path,
) -> anyhow::Result<()> {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        json!({"debuggerAddress": format!("127.0.0.1:{devtools}")}),
    );
    // fantoccini's rustls connector needs a process-wide provider; ring is the workspace's.
    // (Already installed by an earlier scenario is fine.)
    let _already = rustls::crypto::ring::default_provider().install_default();
    let client = ClientBuilder::rustls()?
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{webdriver}"))
        .await
        .context("connect to chromedriver")?;
    let result = flow(&client, login_url, port, sim_url, shots).await;
    if let Err(err) = client.close().await {
        eprintln!("e2e: closing the WebDriver session: {err}");
    }
    result
}

async fn flow(
    client: &Client,
    login_url: &str,
    port: u16,
    sim_url: &str,
    shots: &Path,
) -> anyhow::Result<()> {
    let base = format!("http://127.0.0.1:{port}/console");
    let mut report = Vec::new();

    // A wrong token is refused.
    client.goto(&format!("{base}/login")).await?;
    client
        .find(Locator::Id("token"))
        .await?
        .send_keys("not-the-token-at-all")
        .await?;
    client
        .find(Locator::Css("#login button"))
        .await?
        .click()
        .await?;
    until("the wrong-token refusal", || {
        source_has(client, "Wrong token.")
    })
    .await?;

    // The banner's URL logs in (the script takes the token from the fragment).
    client.goto(login_url).await?;
    until("the overview after login", || async {
        Ok(client.current_url().await?.path() == "/console/")
    })
    .await?;
    ensure!(
        !client.current_url().await?.as_str().contains("token"),
        "the token stayed in the address bar"
    );
    report.push(check_screenshot(
        &client.screenshot().await?,
        &shots.join("overview.png"),
    )?);

    // The phone texts the gateway and gets a pairing code.
    client.goto(&format!("{base}/phone")).await?;
    client
        .find(Locator::Id("body"))
        .await?
        .send_keys(TEXT)
        .await?;
    client
        .find(Locator::Css("#compose button"))
        .await?
        .click()
        .await?;
    until("the pairing code on the phone", || {
        source_has(client, "Pairing code:")
    })
    .await?;
    report.push(check_screenshot(
        &client.screenshot().await?,
        &shots.join("phone.png"),
    )?);

    // The pairing page shows the request; approve it.
    client.goto(&format!("{base}/pairing")).await?;
    let pending = client.find(Locator::Id("pending")).await?.text().await?;
    ensure!(
        pending.contains(PHONE),
        "the pending request is not listed: {pending}"
    );
    report.push(check_screenshot(
        &client.screenshot().await?,
        &shots.join("pairing.png"),
    )?);
    client
        .find(Locator::Css("#pending button[name=approve]"))
        .await?
        .click()
        .await?;
    until("the approval note", || source_has(client, "Approved:")).await?;

    // The held first text is answered on the phone.
    client.goto(&format!("{base}/phone")).await?;
    let echo = format!("Echo: {TEXT}");
    until("the held text's answer on the phone", || async {
        client.refresh().await?;
        source_has(client, &echo).await
    })
    .await?;

    // The conversation list marks the sender as paired.
    client.goto(&format!("{base}/conversations")).await?;
    let list = client
        .find(Locator::Id("conversations"))
        .await?
        .text()
        .await?;
    ensure!(
        list.contains(&format!("{PHONE}\tpaired")) || list.contains(&format!("{PHONE} paired")),
        "the list does not mark the sender paired: {list:?}"
    );

    // The thread and its export.
    let thread = format!("{base}/thread?sender=%2B15557654321");
    client.goto(&thread).await?;
    until("both turns in the thread", || async {
        client.refresh().await?;
        source_has(client, &echo).await
    })
    .await?;
    report.push(check_screenshot(
        &client.screenshot().await?,
        &shots.join("thread.png"),
    )?);
    let (status, jsonl) = fetch(
        client,
        "GET",
        &format!("{base}/export?format=jsonl&sender=%2B15557654321"),
        None,
    )
    .await?;
    ensure!(status == 200, "JSON Lines export answered {status}");
    let turns: Vec<Value> = jsonl
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    ensure!(
        turns
            .iter()
            .any(|t| t["role"] == "user" && t["text"] == TEXT)
            && turns
                .iter()
                .any(|t| t["role"] == "assistant" && t["text"] == echo.as_str()),
        "the export lacks a turn: {jsonl}"
    );
    let (status, csv) = fetch(
        client,
        "GET",
        &format!("{base}/export?format=csv&sender=%2B15557654321"),
        None,
    )
    .await?;
    ensure!(
        status == 200
            && csv.starts_with("at,role,sender,text\r\n")
            && csv.contains(&format!("\"user\",\"'{PHONE}\",\"{TEXT}\"")),
        "CSV export: {status} {csv}"
    );

    live_thread_and_new_pages(client, &base, sim_url, shots, &mut report).await?;

    // A form POST without the CSRF token is refused, and changes nothing.
    let (status, _) = fetch(
        client,
        "POST",
        &format!("{base}/pairing/revoke"),
        Some(&format!("sender={}", PHONE.replace('+', "%2B"))),
    )
    .await?;
    ensure!(status == 403, "a POST without CSRF answered {status}");
    client.goto(&format!("{base}/pairing")).await?;
    let approved = client.find(Locator::Id("approved")).await?.text().await?;
    ensure!(
        approved.contains(PHONE),
        "the sender is not listed as approved: {approved}"
    );

    // Revoke (the button asks for confirmation).
    client
        .find(Locator::Css("#approved button[name=revoke]"))
        .await?
        .click()
        .await?;
    client.accept_alert().await?;
    until("the revoke note", || source_has(client, "Revoked:")).await?;
    ensure!(
        source_has(client, "No approved senders.").await?,
        "the sender is still approved"
    );

    for (w, h, colours) in &report {
        println!(
            "e2e console: screenshot {w}x{h}, {colours}{} colours",
            if *colours > 16 { "+" } else { "" }
        );
    }
    Ok(())
}

/// The session's CSRF token, from the page's logout form.
async fn page_csrf(client: &Client) -> anyhow::Result<String> {
    let source = client.source().await?;
    let start = source
        .find("name=\"csrf\" value=\"")
        .context("no CSRF field on the page")?
        + 19;
    Ok(source[start..start + 64].to_owned())
}

/// The simulator reports the phone's next messages undelivered with this code.
fn undeliver_to_phone(sim_url: &str, code: u32) -> anyhow::Result<()> {
    let body = json!({"outcome": "undelivered", "error_code": code}).to_string();
    let answer = crate::http::request(
        "PUT",
        &format!("{sim_url}/_sim/phones/%2B15557654321/delivery"),
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
        WAIT,
    )?;
    ensure!(
        answer.status == 204,
        "the simulator refused the delivery outcome: {}",
        answer.status
    );
    Ok(())
}

/// With the thread open, a second text is answered and its reply reported undelivered: both
/// show up without a reload. Then the overview's error list, the opt-outs page and the
/// account export.
async fn live_thread_and_new_pages(
    client: &Client,
    base: &str,
    sim_url: &str,
    shots: &Path,
    report: &mut Vec<(u32, u32, usize)>,
) -> anyhow::Result<()> {
    let thread = format!("{base}/thread?sender=%2B15557654321");
    client.goto(&thread).await?;
    until("the live stream", || {
        source_has(client, "id=\"live-state\">live<")
    })
    .await?;
    client
        .execute("window.e2eNotReloaded = true;", vec![])
        .await?;
    undeliver_to_phone(sim_url, 30007)?;
    let csrf = page_csrf(client).await?;
    let (status, _) = fetch(
        client,
        "POST",
        &format!("{base}/phone/text"),
        Some(&format!(
            "csrf={csrf}&from=%2B15557654321&body={}",
            SECOND.replace(' ', "+").replace(',', "%2C")
        )),
    )
    .await?;
    ensure!(
        status == 303 || status == 0,
        "the phone text answered {status}"
    );
    until("the undelivered status in the open thread", || async {
        let live = client.find(Locator::Id("live")).await?.text().await?;
        Ok(live.contains(SECOND) && live.contains("undelivered") && live.contains("30007"))
    })
    .await?;
    let still = client
        .execute("return window.e2eNotReloaded === true;", vec![])
        .await?;
    ensure!(
        still == Value::Bool(true),
        "the thread page reloaded instead of updating live"
    );
    report.push(check_screenshot(
        &client.screenshot().await?,
        &shots.join("thread-live.png"),
    )?);

    // The overview lists the error by code with its hint, and today's figures.
    client.goto(&format!("{base}/")).await?;
    let errors = client.find(Locator::Id("errors")).await?.text().await?;
    ensure!(
        errors.contains("30007"),
        "the overview lists no 30007: {errors}"
    );
    let today = client.find(Locator::Id("today")).await?.text().await?;
    ensure!(!today.is_empty(), "the overview has no figures for today");
    report.push(check_screenshot(
        &client.screenshot().await?,
        &shots.join("overview-errors.png"),
    )?);

    // A STOP from another phone lands on the opt-outs page.
    let stop = json!({"to": DEV_NUMBER, "body": "STOP"}).to_string();
    let answer = crate::http::request(
        "POST",
        &format!("{sim_url}/_sim/phones/%2B15550000001/text"),
        &[("Content-Type", "application/json")],
        Some(stop.as_bytes()),
        WAIT,
    )?;
    ensure!(
        answer.status < 300,
        "the simulator refused the STOP: {}",
        answer.status
    );
    client.goto(&format!("{base}/opt-outs")).await?;
    until("the opted-out sender", || async {
        client.refresh().await?;
        source_has(client, STOPPER).await
    })
    .await?;
    report.push(check_screenshot(
        &client.screenshot().await?,
        &shots.join("opt-outs.png"),
    )?);

    // The account export holds every turn of every sender.
    let (status, jsonl) = fetch(
        client,
        "GET",
        &format!("{base}/export/account?format=jsonl"),
        None,
    )
    .await?;
    ensure!(status == 200, "account export answered {status}");
    let turns: Vec<Value> = jsonl
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    ensure!(
        turns.iter().any(|t| t["text"] == TEXT) && turns.iter().any(|t| t["text"] == SECOND),
        "the account export lacks a turn: {jsonl}"
    );
    let (status, csv) = fetch(
        client,
        "GET",
        &format!("{base}/export/account?format=csv"),
        None,
    )
    .await?;
    ensure!(
        status == 200 && csv.starts_with("at,role,sender,text\r\n") && csv.contains(SECOND),
        "account CSV export: {status} {csv}"
    );
    Ok(())
}
