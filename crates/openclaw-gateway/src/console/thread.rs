//! A sender's thread: every stored turn, every reply part with its segments, encoding and
//! delivery status, links to the inbound MMS attachments the gateway saved; kept live by
//! server-sent events (a bounded poll of the store per stream, at most [`MAX_STREAMS`] at once).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use openclaw_sms::AccountRuntime;
use openclaw_sms::outbound::reply_options;
use openclaw_sms_text::{Reply, prepare_reply};
use openclaw_store::{HISTORY_PER_PEER, HistoryEntry, IntentState, Role, ThreadReply};
use serde::Deserialize;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::pages::{account, failed, no_account, page, role_label, urlencode};
use super::{Console, SessionView};

/// Live thread streams open at once, across sessions; past it a stream is refused with 503.
pub(crate) const MAX_STREAMS: usize = 16;
/// How often a stream looks at the store.
const POLL: Duration = Duration::from_secs(1);
/// A stream ends after this long (the browser's `EventSource` reconnects): a stream outlives
/// no session by much, and no permit is held forever.
const STREAM_LIFETIME: Duration = Duration::from_secs(300);
/// Saved attachments looked at per thread render, at most (a bound on the directory scan).
const MAX_MEDIA_SCAN: usize = 10_000;
/// The largest attachment served (the pipeline saves at most this much per message).
const MAX_MEDIA_BYTES: u64 = openclaw_sms::media::MESSAGE_MEDIA_BUDGET;

/// The cap on concurrent live streams.
#[derive(Debug, Clone)]
pub(crate) struct StreamSlots(Arc<Semaphore>);

impl StreamSlots {
    pub(crate) fn new(max: usize) -> Self {
        Self(Arc::new(Semaphore::new(max)))
    }

    /// A slot for one stream (freed when dropped), or `None` when all are taken.
    pub(crate) fn try_open(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.0).try_acquire_owned().ok()
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ThreadQuery {
    #[serde(default)]
    sender: String,
    account: Option<String>,
}

/// What a thread shows, read from the store (and the media directory).
struct ThreadData {
    turns: Vec<HistoryEntry>,
    replies: Vec<ThreadReply>,
    /// Saved attachment file names per inbound MessageSid.
    media: HashMap<String, Vec<String>>,
}

/// The inbound MessageSid an agent's reply answers (`reply:<account>:<MessageSid>`).
fn inbound_sid<'a>(account: &str, reply_id: &'a str) -> Option<&'a str> {
    let sid = reply_id
        .strip_prefix("reply:")?
        .strip_prefix(account)?
        .strip_prefix(':')?;
    openclaw_twilio::sid::is_sid(sid, &["SM", "MM"]).then_some(sid)
}

/// The MessageSid of a saved attachment's file name (`mms-<MessageSid>-<n><.ext>`, as the
/// pipeline names them), or `None` for any other name.
pub(crate) fn media_name_sid(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("mms-")?;
    let (sid, tail) = rest.split_once('-')?;
    let (index, ext) = tail.split_once('.')?;
    let index_ok =
        !index.is_empty() && index.len() <= 2 && index.bytes().all(|b| b.is_ascii_digit());
    let ext_ok = (2..=4).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_alphanumeric());
    (index_ok && ext_ok && openclaw_twilio::sid::is_sid(sid, &["SM", "MM"])).then_some(sid)
}

/// The saved attachments of `sids`, by sid (names sorted), from one bounded directory scan.
async fn media_files(dir: Option<&Path>, sids: &HashSet<&str>) -> HashMap<String, Vec<String>> {
    let mut found: HashMap<String, Vec<String>> = HashMap::new();
    let Some(dir) = dir else { return found };
    if sids.is_empty() {
        return found;
    }
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return found;
    };
    let mut seen = 0;
    while let Ok(Some(entry)) = entries.next_entry().await {
        seen += 1;
        if seen > MAX_MEDIA_SCAN {
            break;
        }
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if let Some(sid) = media_name_sid(&name).filter(|sid| sids.contains(sid)) {
            found.entry(sid.to_owned()).or_default().push(name);
        }
    }
    for names in found.values_mut() {
        names.sort();
    }
    found
}

async fn load(
    console: &Console,
    account: &AccountRuntime,
    sender: &str,
) -> Result<ThreadData, openclaw_store::StoreError> {
    let store = console.channel().store();
    let turns = store
        .recent_history(account.id(), sender, HISTORY_PER_PEER)
        .await?;
    let replies = store
        .replies_to(account.id(), sender, HISTORY_PER_PEER)
        .await?;
    let sids: HashSet<&str> = replies
        .iter()
        .filter_map(|r| inbound_sid(account.id(), &r.reply_id))
        .collect();
    let media = media_files(console.media_dir(), &sids).await;
    Ok(ThreadData {
        turns,
        replies,
        media,
    })
}

/// One entry of the rendered thread: a stored turn (an agent's turn with the reply it was
/// sent as, when found) or a reply with no turn (a pairing code, a notice, an older answer).
enum Item<'a> {
    Turn(&'a HistoryEntry, Option<usize>),
    Reply(usize),
}

/// Turns in order; each agent turn matched to the first unused reply whose prepared text is
/// the turn's text; the other replies placed by the time of their first part.
fn timeline<'a>(
    turns: &'a [HistoryEntry],
    prepared: &[Option<Reply>],
    replies: &[ThreadReply],
) -> Vec<Item<'a>> {
    let mut used = vec![false; replies.len()];
    let mut items: Vec<(i64, Item<'a>)> = Vec::with_capacity(turns.len() + replies.len());
    for turn in turns {
        let matched = (turn.role == Role::Assistant)
            .then(|| {
                (0..replies.len()).find(|&i| {
                    !used[i] && prepared[i].as_ref().is_some_and(|p| p.text == turn.text)
                })
            })
            .flatten();
        if let Some(i) = matched {
            used[i] = true;
        }
        items.push((turn.at, Item::Turn(turn, matched)));
    }
    for (i, reply) in replies.iter().enumerate() {
        if !used[i] {
            items.push((reply.created_at, Item::Reply(i)));
        }
    }
    // Stable: at equal times a turn stays before a reply.
    items.sort_by_key(|(at, _)| *at);
    items.into_iter().map(|(_, item)| item).collect()
}

/// What a reply with no stored turn was, from its id's family.
fn reply_kind(reply_id: &str) -> &'static str {
    match reply_id.split(':').next().unwrap_or_default() {
        "reply" => "agent",
        "pairing" => "pairing code",
        "help" => "help text",
        "owner" => "owner command answer",
        _ => "notice",
    }
}

fn status_line(part: &openclaw_store::ReplyPart) -> (String, Option<String>) {
    if let Some(d) = &part.delivery {
        return (d.status.clone(), d.error_code.clone());
    }
    let state = match part.state {
        IntentState::Pending => "sending",
        IntentState::Sent => "accepted by Twilio",
        IntentState::Failed => "refused",
        IntentState::Ambiguous => "unknown (being checked)",
    };
    (state.to_owned(), None)
}

fn media_links(console: &Console, account: &str, sender: &str, names: &[String]) -> Markup {
    let base = console.base();
    html! {
        ul.media {
            @for (i, name) in names.iter().enumerate() {
                li { a.media href={ (base) "/media?account=" (urlencode(account)) "&sender=" (urlencode(sender)) "&name=" (urlencode(name)) } { "attachment " (i + 1) } }
            }
        }
    }
}

fn parts_markup(reply: &ThreadReply, prepared: Option<&Reply>) -> Markup {
    html! {
        ol.parts {
            @for part in &reply.parts {
                @let shape = prepared.and_then(|p| p.parts.get(part.part_index as usize));
                @let (status, code) = status_line(part);
                li.part data-sid=[part.message_sid.as_deref()] {
                    "part " (part.part_index + 1) "/" (part.part_count)
                    @if let Some(shape) = shape { " · " (shape.segments) " segment(s), " (shape.encoding.as_str()) }
                    " · " span.status { (status) }
                    @if let Some(code) = &code {
                        " (error " (code) ")"
                        @if let Some(hint) = code.parse::<u32>().ok().and_then(openclaw_twilio::hint_for_code) { " " small { (hint) } }
                    }
                    @if let Some(error) = &part.error { " " small.error { (error) } }
                }
            }
        }
    }
}

/// The thread's list (what a live update replaces).
fn render(console: &Console, account: &AccountRuntime, sender: &str, data: &ThreadData) -> Markup {
    let options = reply_options(account);
    let prepared: Vec<Option<Reply>> = data
        .replies
        .iter()
        .map(|r| r.text.as_deref().map(|t| prepare_reply(t, &options)))
        .collect();
    let items = timeline(&data.turns, &prepared, &data.replies);
    let media_of = |i: usize| {
        inbound_sid(account.id(), &data.replies[i].reply_id).and_then(|sid| data.media.get(sid))
    };
    // Attachments show on the inbound turn just before the agent's turn that answered it.
    let media_on_turn: HashSet<usize> = items
        .windows(2)
        .filter_map(|w| match (&w[0], &w[1]) {
            (Item::Turn(t, None), Item::Turn(_, Some(i))) if t.role == Role::User => Some(*i),
            _ => None,
        })
        .collect();
    let next_reply = |k: usize| match items.get(k + 1) {
        Some(Item::Turn(_, Some(i))) => Some(*i),
        _ => None,
    };
    html! {
        @if items.is_empty() { p { "No stored turns with this sender." } }
        ol.thread id="thread" {
            @for (k, item) in items.iter().enumerate() {
                @match item {
                    Item::Turn(turn, matched) => {
                        li class=(role_label(turn.role)) {
                            span.meta { (role_label(turn.role)) " · " (crate::cli::iso_time(turn.at))
                                @if let Some(i) = matched { " · " (prepared[*i].as_ref().map_or(0, |p| p.billed_segments)) " segment(s) in " (data.replies[*i].parts.len()) " part(s)" }
                                @else if turn.role == Role::Assistant { @let report = openclaw_sms_text::analyze(&turn.text); " · " (report.segments) " segment(s), " (report.encoding.as_str()) }
                            }
                            p.text { (turn.text) }
                            @if turn.role == Role::User {
                                @if let Some(names) = next_reply(k).filter(|i| media_on_turn.contains(i)).and_then(media_of) {
                                    (media_links(console, account.id(), sender, names))
                                }
                            }
                            @if let Some(i) = matched {
                                @if !media_on_turn.contains(i) { @if let Some(names) = media_of(*i) { (media_links(console, account.id(), sender, names)) } }
                                (parts_markup(&data.replies[*i], prepared[*i].as_ref()))
                            }
                        }
                    }
                    Item::Reply(i) => {
                        @let reply = &data.replies[*i];
                        li.agent {
                            span.meta { (reply_kind(&reply.reply_id)) " · " (crate::cli::iso_time(reply.created_at)) }
                            @match &prepared[*i] {
                                Some(p) => p.text { (p.text) },
                                None => p.text.muted { "(text not kept)" },
                            }
                            @if let Some(names) = media_of(*i) { (media_links(console, account.id(), sender, names)) }
                            (parts_markup(reply, prepared[*i].as_ref()))
                        }
                    }
                }
            }
        }
    }
}

/// `GET {base}/thread`: the page; its script follows `{base}/thread/events` for updates.
pub(crate) async fn thread(
    State(console): State<Console>,
    Extension(session): Extension<SessionView>,
    Query(q): Query<ThreadQuery>,
) -> Response {
    let Some(account) = account(&console, q.account.as_deref()) else {
        return no_account();
    };
    let sender = q.sender.trim();
    let data = match load(&console, &account, sender).await {
        Ok(data) => data,
        Err(err) => return failed("read the conversation", &err),
    };
    let base = console.base();
    let query = format!(
        "account={}&sender={}",
        urlencode(account.id()),
        urlencode(sender)
    );
    let body = html! {
        p.sender { "With " strong { (sender) } " · "
            a href={ (base) "/export?format=jsonl&" (query) } id="export-jsonl" { "Export JSON Lines" } " · "
            a href={ (base) "/export?format=csv&" (query) } id="export-csv" { "Export CSV" }
            " · " span id="live-state" { "live updates off" }
        }
        div id="live" data-events={ (base) "/thread/events?" (query) } {
            (render(&console, &account, sender, &data))
        }
    };
    page(&console, "Conversation", Some(&session), false, body)
}

/// One server-sent event: `event: <name>` and the data, one `data:` line per line.
fn sse_event(name: &str, data: &str) -> String {
    let mut out = format!("event: {name}\n");
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line.trim_end_matches('\r'));
        out.push('\n');
    }
    out.push('\n');
    out
}

/// `GET {base}/thread/events`: `thread` events carrying the thread's list whenever it
/// changes (first at once), a comment every poll otherwise; ends with the session or after
/// [`STREAM_LIFETIME`]. 503 when [`MAX_STREAMS`] are open.
pub(crate) async fn thread_events(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(q): Query<ThreadQuery>,
) -> Response {
    let Some(account) = account(&console, q.account.as_deref()) else {
        return no_account();
    };
    let Some(permit) = console.streams().try_open() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "10")],
            "too many live console streams: close a tab",
        )
            .into_response();
    };
    let cookie = super::session_cookie(&headers).unwrap_or_default();
    let (writer, reader) = tokio::io::duplex(64 * 1024);
    let sender = q.sender.trim().to_owned();
    tokio::spawn(pump(console, account, sender, cookie, writer, permit));
    let mut response = Body::from_stream(tokio_util::io::ReaderStream::new(reader)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    response
}

/// Feeds one stream until the client goes, the session ends, or the lifetime is over.
async fn pump(
    console: Console,
    account: Arc<AccountRuntime>,
    sender: String,
    cookie: String,
    mut out: tokio::io::DuplexStream,
    _slot: OwnedSemaphorePermit,
) {
    let started = Instant::now();
    let mut last: Option<String> = None;
    let mut warned = false;
    if out.write_all(b"retry: 2000\n\n").await.is_err() {
        return;
    }
    while started.elapsed() < STREAM_LIFETIME && console.session_alive(&cookie) {
        let chunk = match load(&console, &account, &sender).await {
            Ok(data) => {
                let html = render(&console, &account, &sender, &data).into_string();
                if last.as_ref() == Some(&html) {
                    ":\n\n".to_owned()
                } else {
                    let event = sse_event("thread", &html);
                    last = Some(html);
                    event
                }
            }
            Err(err) => {
                if !warned {
                    tracing::warn!("console: live thread: {err}");
                    warned = true;
                }
                ":\n\n".to_owned()
            }
        };
        if out.write_all(chunk.as_bytes()).await.is_err() {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct MediaQuery {
    #[serde(default)]
    sender: String,
    account: Option<String>,
    #[serde(default)]
    name: String,
}

/// How an attachment is answered: images inline, everything else as a download (never
/// rendered on the console's origin).
fn media_type(name: &str) -> (&'static str, bool) {
    match name.rsplit('.').next().unwrap_or_default() {
        "jpg" => ("image/jpeg", true),
        "png" => ("image/png", true),
        "gif" => ("image/gif", true),
        "webp" => ("image/webp", true),
        _ => ("application/octet-stream", false),
    }
}

/// `GET {base}/media`: a saved attachment of an inbound MMS of this sender (its MessageSid is
/// one the agent answered for this sender on this account), read bounded.
pub(crate) async fn media(State(console): State<Console>, Query(q): Query<MediaQuery>) -> Response {
    let Some(account) = account(&console, q.account.as_deref()) else {
        return no_account();
    };
    let not_found = || (StatusCode::NOT_FOUND, "no such attachment").into_response();
    let Some(sid) = media_name_sid(&q.name) else {
        return not_found();
    };
    let replies = match console
        .channel()
        .store()
        .replies_to(account.id(), q.sender.trim(), HISTORY_PER_PEER)
        .await
    {
        Ok(r) => r,
        Err(err) => return failed("read the conversation", &err),
    };
    let theirs = replies
        .iter()
        .any(|r| inbound_sid(account.id(), &r.reply_id) == Some(sid));
    let Some(dir) = console.media_dir().filter(|_| theirs) else {
        return not_found();
    };
    let path: PathBuf = dir.join(&q.name);
    let Ok(bytes) = read_bounded(&path, MAX_MEDIA_BYTES).await else {
        return not_found();
    };
    let (content_type, inline) = media_type(&q.name);
    let disposition = if inline {
        "inline".to_owned()
    } else {
        format!("attachment; filename=\"{}\"", q.name)
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response()
}

/// A file's bytes, refused past `max` (counted while reading, not from metadata).
async fn read_bounded(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt as _;
    let file = tokio::fs::File::open(path).await?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).await?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::other("attachment too large"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "SM0123456789abcdef0123456789abcdef";

    #[test]
    fn media_names_are_only_the_pipelines() {
        assert_eq!(media_name_sid(&format!("mms-{SID}-1.jpg")), Some(SID));
        assert_eq!(media_name_sid(&format!("mms-{SID}-10.heic")), Some(SID));
        for bad in [
            format!("mms-{SID}-1.jpg/../x"),
            format!("mms-{SID}-1"),
            format!("mms-{SID}-.jpg"),
            format!("mms-{SID}-123.jpg"),
            format!("mms-{SID}-1.j"),
            format!("mms-{SID}-1.jpeg5"),
            "mms-../../etc/passwd-1.txt".to_owned(),
            format!("x-{SID}-1.jpg"),
            "mms-SM123-1.jpg".to_owned(),
        ] {
            assert_eq!(media_name_sid(&bad), None, "{bad}");
        }
    }

    #[test]
    fn replies_name_the_inbound_they_answer() {
        assert_eq!(
            inbound_sid("default", &format!("reply:default:{SID}")),
            Some(SID)
        );
        assert_eq!(inbound_sid("other", &format!("reply:default:{SID}")), None);
        assert_eq!(inbound_sid("default", "pairing:default:+1555"), None);
        assert_eq!(inbound_sid("default", "reply:default:../x"), None);
    }

    #[test]
    fn replies_without_a_turn_say_what_they_were() {
        assert_eq!(reply_kind("pairing:default:+1555:0"), "pairing code");
        assert_eq!(reply_kind(&format!("reply:default:{SID}")), "agent");
        assert_eq!(reply_kind("approved:x"), "notice");
    }

    #[test]
    fn only_images_are_inline() {
        assert_eq!(media_type("mms-x-1.png"), ("image/png", true));
        assert_eq!(
            media_type("mms-x-1.txt"),
            ("application/octet-stream", false)
        );
        assert_eq!(
            media_type("mms-x-1.vcf"),
            ("application/octet-stream", false)
        );
    }

    #[test]
    fn sse_data_lines_cannot_end_the_event() {
        assert_eq!(
            sse_event("thread", "<li>a\n\nevent: x\r\nb</li>"),
            "event: thread\ndata: <li>a\ndata: \ndata: event: x\ndata: b</li>\n\n"
        );
    }

    #[tokio::test]
    async fn streams_are_capped_and_slots_come_back() {
        let slots = StreamSlots::new(2);
        let first = slots.try_open().expect("a slot");
        let _second = slots.try_open().expect("a second slot");
        assert!(slots.try_open().is_none(), "a third stream got a slot");
        drop(first);
        assert!(slots.try_open().is_some());
    }

    #[tokio::test]
    async fn reads_are_bounded_while_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [7u8; 11]).unwrap();
        assert_eq!(read_bounded(&path, 11).await.unwrap().len(), 11);
        assert!(read_bounded(&path, 10).await.is_err());
    }
}
