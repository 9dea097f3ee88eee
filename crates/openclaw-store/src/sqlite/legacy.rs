//! One-time import of the upstream plugin's JSON files (before it moved to SQLite).
//!
//! Shapes (as upstream, the npm `@openclaw/sms` plugin, writes them): `credentials/sms-pairing.json` is
//! `{"version":1,"requests":[{"id","code","createdAt","lastSeenAt","meta":{"accountId",...}}]}`
//! with ISO-8601 times, and `credentials/sms-<account>-allowFrom.json` is
//! `{"version":1,"allowFrom":[...]}`. Assumptions where the spec is silent: a request's `id`
//! is the sender (the E.164 number, as approval appends it to the allow list); a request without
//! `meta.accountId` belongs to account `default`; `credentials/sms-allowFrom.json` (no account
//! part) is the `default` account's list; numeric entries are taken as their decimal text;
//! `"*"` and blank entries are skipped (upstream never stores `"*"`); an unreadable time becomes
//! the import time; `version` other than 1 is refused. The files are left in place.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::SqliteStore;
use super::pairing::{insert_allow, insert_request};
use crate::StoreError;
use crate::pairing::{CreateRequestOutcome, NewPairingRequest, PairingKey};

/// The channel the legacy files belong to.
pub(crate) const LEGACY_CHANNEL: &str = "sms";
const MARKER: &str = "legacy_import_done_at";

/// What [`SqliteStore::import_legacy`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyImport {
    /// An earlier call already imported (at this time, unix milliseconds); nothing was read.
    AlreadyDone {
        /// When the import ran.
        at: i64,
    },
    /// The import ran now and is recorded.
    Imported {
        /// Pairing requests stored (requests whose sender or code already existed are skipped).
        requests: u64,
        /// Allow entries added (entries already present are skipped).
        allow_entries: u64,
        /// The files read.
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Default)]
struct LegacyFiles {
    /// (account, request, last seen).
    requests: Vec<(String, NewPairingRequest, i64)>,
    allow: Vec<(String, String)>,
    files: Vec<PathBuf>,
}

fn read_json(path: &Path) -> Result<Option<Value>, StoreError> {
    let fail = |reason: String| StoreError::ImportLegacy {
        path: path.to_owned(),
        reason,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail(e.to_string())),
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
    match value.get("version") {
        None => {}
        Some(v) if v.as_u64() == Some(1) => {}
        Some(v) => return Err(fail(format!("unsupported version {v}"))),
    }
    Ok(Some(value))
}

fn read_files(state_dir: &Path, now: i64) -> Result<LegacyFiles, StoreError> {
    let dir = state_dir.join("credentials");
    let mut out = LegacyFiles::default();
    let pairing = dir.join("sms-pairing.json");
    if let Some(value) = read_json(&pairing)? {
        out.requests = parse_requests(&value, now).map_err(|reason| StoreError::ImportLegacy {
            path: pairing.clone(),
            reason,
        })?;
        out.files.push(pairing);
    }
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => {
            return Err(StoreError::ImportLegacy {
                path: dir,
                reason: e.to_string(),
            });
        }
    };
    let mut lists = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::ImportLegacy {
            path: dir.clone(),
            reason: e.to_string(),
        })?;
        let name = entry.file_name();
        if let Some(account) = name.to_str().and_then(allow_file_account) {
            lists.push((account, entry.path()));
        }
    }
    lists.sort();
    for (account, path) in lists {
        if let Some(value) = read_json(&path)? {
            let list = parse_allow(&value).map_err(|reason| StoreError::ImportLegacy {
                path: path.clone(),
                reason,
            })?;
            out.allow
                .extend(list.into_iter().map(|e| (account.clone(), e)));
            out.files.push(path);
        }
    }
    Ok(out)
}

/// The account of an allow-list file name: `sms-<account>-allowFrom.json`, or `default` for
/// `sms-allowFrom.json`.
fn allow_file_account(name: &str) -> Option<String> {
    let middle = name.strip_prefix("sms-")?.strip_suffix("allowFrom.json")?;
    if middle.is_empty() {
        return Some("default".to_owned());
    }
    let account = middle.strip_suffix('-')?;
    (!account.is_empty()).then(|| account.to_owned())
}

fn parse_allow(value: &Value) -> Result<Vec<String>, String> {
    let list = value
        .get("allowFrom")
        .and_then(Value::as_array)
        .ok_or("no `allowFrom` array")?;
    Ok(list
        .iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .filter(|e| !e.is_empty() && e != "*")
        .collect())
}

fn parse_requests(
    value: &Value,
    now: i64,
) -> Result<Vec<(String, NewPairingRequest, i64)>, String> {
    let list = value
        .get("requests")
        .and_then(Value::as_array)
        .ok_or("no `requests` array")?;
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let text = |field: &str| item.get(field).and_then(Value::as_str).map(str::trim);
        let sender = text("id")
            .filter(|s| !s.is_empty())
            .ok_or(format!("request {i}: no `id`"))?;
        let code = text("code")
            .filter(|s| !s.is_empty())
            .ok_or(format!("request {i}: no `code`"))?;
        let meta = item
            .get("meta")
            .cloned()
            .unwrap_or(Value::Object(serde_json::Map::new()));
        let account = meta
            .get("accountId")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .unwrap_or("default")
            .to_owned();
        let created_at = text("createdAt").and_then(parse_iso_millis).unwrap_or(now);
        let last_seen = text("lastSeenAt")
            .and_then(parse_iso_millis)
            .unwrap_or(created_at);
        out.push((
            account,
            NewPairingRequest {
                code: code.to_owned(),
                sender_id: sender.to_owned(),
                meta,
                created_at,
                held_event_id: None,
                // Imported requests were admitted by the old store's own cap.
                pending_cap: None,
            },
            last_seen,
        ));
    }
    Ok(out)
}

/// Parses the `Date.toISOString()` shape `YYYY-MM-DDTHH:MM:SS[.fff...]Z` (also `+00:00`, or a
/// numeric offset `±HH:MM`) into unix milliseconds. Pure.
#[must_use]
pub(crate) fn parse_iso_millis(text: &str) -> Option<i64> {
    let b = text.trim().as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut millis = 0;
    if rest.first() == Some(&b'.') {
        let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let frac = &rest[1..=digits];
        for (i, d) in frac.iter().take(3).enumerate() {
            millis += i64::from(d - b'0') * [100, 10, 1][i];
        }
        rest = &rest[1 + digits..];
    }
    let offset_min = match rest {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let v = |a: u8, b: u8| i64::from(a - b'0') * 10 + i64::from(b - b'0');
            let total = v(digits[0], digits[1]) * 60 + v(digits[2], digits[3]);
            if *sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_min * 60;
    Some(secs * 1_000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl SqliteStore {
    /// Imports upstream's legacy pairing and allow-list files under `state_dir` once: the first
    /// successful call records itself, later calls answer [`LegacyImport::AlreadyDone`] without
    /// reading anything. Idempotent even without the record (existing rows are skipped). A
    /// malformed file fails the import and nothing is recorded, so it is retried next time.
    pub async fn import_legacy(
        &self,
        state_dir: &Path,
        now: i64,
    ) -> Result<LegacyImport, StoreError> {
        if let Some(at) = self.legacy_marker().await? {
            return Ok(LegacyImport::AlreadyDone { at });
        }
        let dir = state_dir.to_owned();
        let files = tokio::task::spawn_blocking(move || read_files(&dir, now))
            .await
            .map_err(|_| StoreError::WriterStopped)??;
        self.write(move |conn| {
            if let Some(at) = marker(conn)? {
                return Ok(LegacyImport::AlreadyDone { at });
            }
            let mut requests = 0;
            for (account, request, last_seen) in &files.requests {
                let key = PairingKey::new(LEGACY_CHANNEL, account.as_str());
                if let CreateRequestOutcome::Created(_) = insert_request(conn, &key, request)? {
                    requests += 1;
                    conn.execute(
                        "UPDATE pairing_requests SET last_seen_at = max(last_seen_at, ?4)
                         WHERE channel = ?1 AND account = ?2 AND sender_id = ?3",
                        rusqlite::params![key.channel, key.account, request.sender_id, last_seen],
                    )
                    .map_err(StoreError::query("import last seen"))?;
                }
            }
            let mut allow_entries = 0;
            for (account, entry) in &files.allow {
                if insert_allow(
                    conn,
                    &PairingKey::new(LEGACY_CHANNEL, account.as_str()),
                    entry,
                    now,
                )? {
                    allow_entries += 1;
                }
            }
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                rusqlite::params![MARKER, now.to_string()],
            )
            .map_err(StoreError::query("record legacy import"))?;
            tracing::info!(
                requests,
                allow_entries,
                files = files.files.len(),
                "legacy pairing files imported"
            );
            Ok(LegacyImport::Imported {
                requests,
                allow_entries,
                files: files.files,
            })
        })
        .await
    }

    async fn legacy_marker(&self) -> Result<Option<i64>, StoreError> {
        self.read(marker).await
    }
}

fn marker(conn: &rusqlite::Connection) -> Result<Option<i64>, StoreError> {
    use rusqlite::OptionalExtension as _;
    let value: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [MARKER], |r| {
            r.get(0)
        })
        .optional()
        .map_err(StoreError::query("read legacy import marker"))?;
    Ok(value.map(|v| v.parse().unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, expected: Option<i64>) {
        assert_eq!(parse_iso_millis(text), expected, "{text}");
    }

    #[test]
    fn iso_times() {
        check("1970-01-01T00:00:00.000Z", Some(0));
        check("1970-01-01T00:00:00Z", Some(0));
        // `new Date(Date.UTC(2026, 10, 25, 19, 14, 48, 123)).toISOString()`
        check("2026-11-25T19:14:48.123Z", Some(1_795_634_088_123));
        check("2000-02-29T12:00:00.5Z", Some(951_825_600_500));
        check("2000-02-29T12:00:00.123456Z", Some(951_825_600_123));
        check("1969-12-31T23:59:59.000Z", Some(-1_000));
        check("2026-11-25T21:14:48.123+02:00", Some(1_795_634_088_123));
        check("2026-11-25T17:14:48.123-02:00", Some(1_795_634_088_123));
        check("2026-11-25 19:14:48Z", Some(1_795_634_088_000));
        check("2026-13-25T19:14:48Z", None);
        check("2026-11-25T19:14:48", None);
        check("2026-11-25T19:14:48.Z", None);
        check("2026-11-25T25:14:48Z", None);
        check("not a date at all!!", None);
        check("", None);
    }

    #[track_caller]
    fn check_name(name: &str, expected: Option<&str>) {
        assert_eq!(allow_file_account(name).as_deref(), expected, "{name}");
    }

    #[test]
    fn allow_file_names() {
        check_name("sms-default-allowFrom.json", Some("default"));
        check_name("sms-work-2-allowFrom.json", Some("work-2"));
        check_name("sms-allowFrom.json", Some("default"));
        check_name("sms--allowFrom.json", None);
        check_name("sms-pairing.json", None);
        check_name("telegram-default-allowFrom.json", None);
        check_name("sms-defaultallowFrom.json", None);
    }

    #[test]
    fn allow_lists_skip_star_and_blanks() {
        let v: Value = serde_json::json!({"version": 1, "allowFrom": ["+15551234567", " * ", "", 15557654321_u64, null, " +15550000000 "]});
        assert_eq!(
            parse_allow(&v).unwrap(),
            ["+15551234567", "15557654321", "+15550000000"]
        );
        assert!(parse_allow(&serde_json::json!({"version": 1})).is_err());
    }

    #[test]
    fn requests_take_account_and_times() {
        let v = serde_json::json!({"version": 1, "requests": [
            {"id": "+15551234567", "code": "abcd2345", "createdAt": "1970-01-01T00:00:01.000Z", "lastSeenAt": "1970-01-01T00:00:02.000Z", "meta": {"accountId": "work"}},
            {"id": "+15557654321", "code": "WXYZ6789", "createdAt": "garbage"}
        ]});
        let parsed = parse_requests(&v, 42).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(
            (parsed[0].0.as_str(), parsed[0].1.created_at, parsed[0].2),
            ("work", 1_000, 2_000)
        );
        assert_eq!(parsed[0].1.code, "abcd2345");
        assert_eq!(
            (parsed[1].0.as_str(), parsed[1].1.created_at, parsed[1].2),
            ("default", 42, 42)
        );
        assert!(parse_requests(&serde_json::json!({"requests": [{"code": "X"}]}), 0).is_err());
    }
}
