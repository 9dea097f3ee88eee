//! [`PipelineSteps`] on PostgreSQL: each step is one statement (one round trip and its own
//! commit; data-modifying CTEs make it atomic). The part that must hold (the saved answer, the
//! sent part, the completion) and the best-effort part (a history line, the provider's first
//! delivery status) go together; when the statement fails, the part that must hold is written
//! again alone, so that a failed best-effort part never undoes it (as a savepoint did, without
//! its three round trips on every step).

use async_trait::async_trait;

use super::conn::{Conn, Sql};
use super::delivery::{DeliveryParams, record_delivery_sql};
use super::ingress::{complete_in, query, query_opt, refused_completion, try_query_wrote};
use super::outbound::{reply_row, save_reply_in, saved_reply};
use super::usage::{MARK_SENT_SQL, mark_sent_refused};
use super::{PostgresStore, decode, pg};
use crate::steps::{HistoryLine, PipelineSteps};
use crate::{
    DeliveryObservation, HistoryEntry, IngressId, NewReply, SavedReply, SentPart, StoreError,
};

const HISTORY_FAILED: &str = "could not append to the conversation history";
const STATUS_FAILED: &str = "SMS delivery initial state could not be persisted";

/// Deletes a peer's oldest history lines so that `$keep` of those before this statement stay
/// (the line this statement adds makes the cap); `{account}` and `{peer}` are parameters.
fn cap_history(account: &str, peer: &str, keep: &str, guard: &str) -> String {
    format!(
        "DELETE FROM history WHERE {guard} account = {account} AND peer = {peer} AND id <= (
            SELECT id FROM history WHERE account = {account} AND peer = {peer}
            ORDER BY id DESC LIMIT 1 OFFSET {keep})"
    )
}

/// Saves a reply (the first writer's text wins) and appends the user's line (capped), then
/// answers what is saved: `$1..$5` the reply, `$6..$10` the line, `$11` lines kept besides it,
/// `$12` whether there is a line.
static SAVE_ANSWER_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH saved AS (
            INSERT INTO saved_replies (reply_id, account, recipient, text, created_at)
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT (reply_id) DO NOTHING
            RETURNING reply_id, account, recipient, text, created_at
        ),
        line AS (
            INSERT INTO history (account, peer, role, text, at)
            SELECT $6::text, $7::text, $8::text, $9::text, $10::bigint WHERE $12::boolean
        ),
        capped AS ({})
        SELECT reply_id, account, recipient, text, created_at FROM saved
        UNION ALL
        SELECT reply_id, account, recipient, text, created_at FROM saved_replies
        WHERE reply_id = $1 AND NOT EXISTS (SELECT 1 FROM saved)",
        cap_history("$6", "$7", "$11::bigint", "$12::boolean AND")
    )
});

/// Marks a part sent and counts it ([`MARK_SENT_SQL`], `$1..$5`), and reduces its first
/// delivery status in (`$6..$12`, when `$13`), only if it was marked; answers how many parts
/// were marked (0 or 1).
static PART_SENT_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH {MARK_SENT_SQL},
        status AS ({})
        SELECT count(*) FROM marked",
        record_delivery_sql(6, "WHERE $13::boolean AND EXISTS (SELECT 1 FROM marked)")
    )
});

/// Completes a message this node holds (`$1` id, `$2` node, `$3` now) and, only then, appends
/// the assistant's line (`$4..$8`, when `$10`) keeping `$9` lines besides it; answers how
/// many messages were completed (0 or 1).
static COMPLETE_ANSWERED_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH done AS (
            UPDATE ingress SET state = 'completed', payload = '\\x'::bytea, finished_at = $3,
                   last_error = NULL, owner = NULL, lease_until = NULL
            WHERE id = $1 AND state = 'claimed' AND owner = $2 RETURNING id
        ),
        line AS (
            INSERT INTO history (account, peer, role, text, at)
            SELECT $4::text, $5::text, $6::text, $7::text, $8::bigint FROM done
            WHERE $10::boolean
        ),
        capped AS ({})
        SELECT count(*) FROM done",
        cap_history(
            "$4",
            "$5",
            "$9::bigint",
            "$10::boolean AND EXISTS (SELECT 1 FROM done) AND"
        )
    )
});

/// Appends a line and drops the peer's oldest lines beyond `cap` (`$1..$5` the line, `$6`
/// lines kept besides it, `$7` whether to write it); answers the new line's id.
static APPEND_HISTORY_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH line AS (
            INSERT INTO history (account, peer, role, text, at)
            SELECT $1::text, $2::text, $3::text, $4::text, $5::bigint WHERE $7::boolean
            RETURNING id
        ),
        capped AS ({})
        SELECT id FROM line",
        cap_history("$1", "$2", "$6::bigint", "")
    )
});

/// Appends a history line (capped) on `c`, in one statement.
pub(super) async fn append_history_on<C: Sql + ?Sized>(
    c: &C,
    line: &HistoryLine,
    cap: i64,
) -> Result<(), StoreError> {
    let p = LineParams::new(Some(line), cap);
    query(
        c,
        "append history",
        &APPEND_HISTORY_SQL,
        &[
            &p.account, &p.peer, &p.role, &p.text, &p.at, &p.keep, &p.present,
        ],
    )
    .await
    .map(drop)
}

/// A history line's parameters: an absent line binds empty values (and is not written).
struct LineParams {
    account: String,
    peer: String,
    role: &'static str,
    text: String,
    at: i64,
    /// Lines kept besides this one.
    keep: i64,
    present: bool,
}

impl LineParams {
    fn new(line: Option<&HistoryLine>, cap: i64) -> Self {
        let keep = cap.saturating_sub(1).max(0);
        match line {
            Some(HistoryLine {
                account,
                peer,
                entry: HistoryEntry { role, text, at },
            }) => Self {
                account: account.clone(),
                peer: peer.clone(),
                role: role.as_str(),
                text: text.clone(),
                at: *at,
                keep,
                present: cap > 0,
            },
            None => Self {
                account: String::new(),
                peer: String::new(),
                role: "",
                text: String::new(),
                at: 0,
                keep,
                present: false,
            },
        }
    }
}

/// Whether a statement answering `SELECT count(*)` of what it changed wrote.
fn counted_some(rows: &[tokio_postgres::Row]) -> bool {
    rows.first()
        .and_then(|r| r.try_get::<_, i64>(0).ok())
        .is_some_and(|n| n > 0)
}

fn count_of(rows: &[tokio_postgres::Row], what: &'static str) -> Result<i64, StoreError> {
    rows.first()
        .map_or(Ok(0), |r| r.try_get::<_, i64>(0))
        .map_err(decode(what))
}

impl PostgresStore {
    /// The saved reply of `reply` and the user's line, in one statement; `Ok(None)` when the
    /// reply was saved by another writer after this statement began (read it again).
    async fn save_answer_once(
        client: &Conn<'_>,
        reply: &NewReply,
        line: &LineParams,
    ) -> Result<Option<SavedReply>, StoreError> {
        query_opt(
            client,
            "save answer",
            &SAVE_ANSWER_SQL,
            &[
                &reply.reply_id,
                &reply.account,
                &reply.recipient,
                &reply.text,
                &reply.created_at,
                &line.account,
                &line.peer,
                &line.role,
                &line.text,
                &line.at,
                &line.keep,
                &line.present,
            ],
        )
        .await?
        .as_ref()
        .map(reply_row)
        .transpose()
    }

    /// The part marked sent and counted, with its first status when `status` is set; how many
    /// parts were marked (0 or 1).
    async fn part_sent_once(
        client: &Conn<'_>,
        part: &SentPart,
        status: Option<&DeliveryParams>,
    ) -> Result<i64, StoreError> {
        let none = DeliveryParams::none();
        let delivery = status.unwrap_or(&none);
        let [d0, d1, d2, d3, d4, d5, d6] = delivery.params();
        let present = status.is_some();
        let segments = i64::from(part.segments);
        let rows = try_query_wrote(
            client,
            &PART_SENT_SQL,
            &[
                &part.intent.as_i64(),
                &part.message_sid,
                &part.now,
                &part.day,
                &segments,
                d0,
                d1,
                d2,
                d3,
                d4,
                d5,
                d6,
                &present,
            ],
            counted_some,
        )
        .await
        .map_err(pg("mark part sent"))?;
        count_of(&rows, "marked parts")
    }
}

#[async_trait]
impl PipelineSteps for PostgresStore {
    async fn save_answer(
        &self,
        reply: NewReply,
        user: HistoryLine,
    ) -> Result<SavedReply, StoreError> {
        let line = LineParams::new(Some(&user), self.history_cap());
        let client = self.conn().await?;
        match Self::save_answer_once(&client, &reply, &line).await {
            Ok(Some(saved)) => Ok(saved),
            Ok(None) => {
                saved_reply(&client, &reply.reply_id)
                    .await?
                    .ok_or_else(|| StoreError::DecodeRow {
                        what: "saved reply",
                        reason: "missing right after it was saved (pruned concurrently?)"
                            .to_owned(),
                    })
            }
            Err(err) => {
                tracing::warn!("{HISTORY_FAILED}: {err}");
                save_reply_in(&client, &reply).await
            }
        }
    }

    async fn part_sent(
        &self,
        part: SentPart,
        first_status: Option<DeliveryObservation>,
    ) -> Result<(), StoreError> {
        let status = first_status.as_ref().map(DeliveryParams::new);
        let client = self.conn().await?;
        let marked = match Self::part_sent_once(&client, &part, status.as_ref()).await {
            Err(err) if status.is_some() => {
                tracing::warn!("{STATUS_FAILED}: {err}");
                Self::part_sent_once(&client, &part, None).await?
            }
            other => other?,
        };
        if marked == 1 {
            return Ok(());
        }
        Err(mark_sent_refused(&client, part.intent).await)
    }

    /// The completion is the part that must hold and it is fenced (this node must still hold
    /// the claim): when it is refused (the lease was taken over, the message is no longer
    /// claimed), the assistant's line is not written either, so that the conversation does
    /// not gain a line for an answer another gateway now owns (as on SQLite, where the step is
    /// one write job).
    async fn complete_answered(
        &self,
        id: IngressId,
        now: i64,
        assistant: Option<HistoryLine>,
    ) -> Result<(), StoreError> {
        let line = LineParams::new(assistant.as_ref(), self.history_cap());
        let client = self.conn().await?;
        let node = self.node_id();
        let rows = try_query_wrote(
            &client,
            &COMPLETE_ANSWERED_SQL,
            &[
                &id.as_i64(),
                &node,
                &now,
                &line.account,
                &line.peer,
                &line.role,
                &line.text,
                &line.at,
                &line.keep,
                &line.present,
            ],
            counted_some,
        )
        .await
        .map_err(pg("complete ingress message"));
        match rows.and_then(|rows| count_of(&rows, "completed messages")) {
            Ok(1) => Ok(()),
            Ok(_) => Err(refused_completion(&client, node, id).await),
            Err(err) if line.present => {
                tracing::warn!("{HISTORY_FAILED}: {err}");
                complete_in(&client, node, id, now).await
            }
            Err(err) => Err(err),
        }
    }
}
